//! The provider stand-ins (FCM, Twilio, SMTP) started in the test process, and the
//! server configuration that points the real provider clients at them.

use std::time::Duration;
use sysops_standins::{
    Detail, FcmConfig, FcmStandin, Provider, Received, SmtpConfig, SmtpStandin, TwilioConfig, TwilioStandin,
};

pub struct Stand {
    pub fcm: FcmStandin,
    pub twilio: TwilioStandin,
    pub smtp: SmtpStandin,
    creds: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

pub const SMS_FROM: &str = "+13125550000";

impl Stand {
    pub async fn start() -> Stand {
        let delay = Duration::from_secs(4);
        let fcm = FcmStandin::start(FcmConfig { timeout_delay: delay, ..Default::default() }).await.unwrap();
        let twilio = TwilioStandin::start(TwilioConfig { timeout_delay: delay, ..Default::default() }).await.unwrap();
        let smtp = SmtpStandin::start(SmtpConfig { timeout_delay: delay, ..Default::default() }).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let creds = dir.path().join("fcm.json");
        fcm.write_service_account(&creds).unwrap();
        Stand { fcm, twilio, smtp, creds, _dir: dir }
    }

    /// `SYSOPS_*` settings pointing the server's provider clients here, with fast
    /// retries so tests do not wait.
    pub fn env(&self) -> Vec<(String, String)> {
        let v = |k: &str, v: String| (k.to_owned(), v);
        vec![
            v("SYSOPS_FCM_PROJECT_ID", self.fcm.project_id().to_owned()),
            v("SYSOPS_FCM_CREDENTIALS", self.creds.display().to_string()),
            v("SYSOPS_FCM_BASE_URL", self.fcm.url()),
            v("SYSOPS_TWILIO_ACCOUNT_SID", self.twilio.account_sid().to_owned()),
            v("SYSOPS_TWILIO_AUTH_TOKEN", self.twilio.auth_token().to_owned()),
            v("SYSOPS_TWILIO_FROM", SMS_FROM.to_owned()),
            v("SYSOPS_TWILIO_BASE_URL", self.twilio.url()),
            v("SYSOPS_SMTP_URL", self.smtp.url()),
            v("SYSOPS_MAIL_FROM", "Sysops Squad <squad@sysops.test>".to_owned()),
            v("SYSOPS_POLL_MS", "50".to_owned()),
            v("SYSOPS_OUTBOX_BASE_DELAY_MS", "50".to_owned()),
            v("SYSOPS_OUTBOX_MAX_DELAY_MS", "400".to_owned()),
            v("SYSOPS_PROVIDER_TIMEOUT_MS", "1500".to_owned()),
        ]
    }

    /// Everything received, oldest first.
    pub fn all(&self) -> Vec<Received> {
        let mut v: Vec<Received> =
            self.fcm.received().into_iter().chain(self.twilio.received()).chain(self.smtp.received()).collect();
        v.sort_by_key(|r| r.at);
        v
    }

    /// Waits until `done` holds (or fails after `secs`).
    pub async fn wait(&self, secs: u64, what: &str, done: impl Fn(&Stand) -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        while !done(self) {
            if tokio::time::Instant::now() > deadline {
                panic!("timed out waiting for {what}; received so far:\n{:#?}", self.summary());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// (provider, recipient, first line of text) of everything received.
    pub fn summary(&self) -> Vec<(Provider, String, String)> {
        self.all()
            .iter()
            .map(|r| (r.provider, r.recipient.clone(), text(r).lines().next().unwrap_or("").to_owned()))
            .collect()
    }
}

/// The human text of a received message: push title and body, SMS body, e-mail
/// subject and body (quoted-printable decoded).
pub fn text(r: &Received) -> String {
    match &r.detail {
        Detail::Fcm { message, .. } => format!(
            "{}\n{}",
            message["notification"]["title"].as_str().unwrap_or(""),
            message["notification"]["body"].as_str().unwrap_or("")
        ),
        Detail::Twilio { .. } => r.form_field("Body").unwrap_or("").to_owned(),
        Detail::Smtp { data, .. } => {
            let body = data.split_once("\r\n\r\n").map_or(data.as_str(), |(_, b)| b);
            let qp = r.header("Content-Transfer-Encoding").is_some_and(|e| e.eq_ignore_ascii_case("quoted-printable"));
            let body = if qp { decode_qp(body) } else { body.to_owned() };
            format!("{}\n{}", r.header("Subject").unwrap_or(""), body)
        }
    }
}

fn decode_qp(s: &str) -> String {
    let s = s.replace("=\r\n", "");
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = (b[i] == b'=').then(|| b.get(i + 1..i + 3)).flatten();
        match hex.and_then(|h| u8::from_str_radix(std::str::from_utf8(h).ok()?, 16).ok()) {
            Some(v) => {
                out.push(v);
                i += 3;
            }
            None => {
                out.push(b[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The survey link in an e-mail.
pub fn survey_link(r: &Received) -> Option<String> {
    text(r).split_whitespace().find(|w| w.contains("/survey/")).map(str::to_owned)
}
