//! The real provider clients: FCM HTTP v1 (OAuth2 service-account token via gcp_auth),
//! the Twilio Messages API (form POST with basic auth) and SMTP (lettre). Every base URL
//! is configurable so the local stand-ins can take the real requests in tests.
//!
//! Each send ends in one of three outcomes. `Sent` and `Refused` are definite (the
//! provider answered), so a refused message can be retried without risk of a duplicate;
//! `Unknown` means the request may have gone out (a timeout, a dropped connection after
//! sending), so the retry carries the same stable id for the receiver to de-duplicate.

use super::Channel;
use crate::db::entity::outbox_message;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::time::Duration;

/// How one attempt ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted; the provider's reference.
    Sent(String),
    /// Refused with a definite answer; `permanent` ones are not retried.
    Refused {
        /// Retrying cannot help (bad recipient, unregistered token).
        permanent: bool,
        /// Why.
        error: String,
    },
    /// No definite answer: it may have been delivered.
    Unknown(String),
}

fn classify_http(status: reqwest::StatusCode, body: &str) -> Outcome {
    let permanent = status.is_client_error()
        && status != reqwest::StatusCode::TOO_MANY_REQUESTS
        && status != reqwest::StatusCode::UNAUTHORIZED
        && status != reqwest::StatusCode::FORBIDDEN
        && status != reqwest::StatusCode::REQUEST_TIMEOUT;
    Outcome::Refused { permanent, error: format!("{status}: {}", body.chars().take(300).collect::<String>()) }
}

fn classify_error(e: &reqwest::Error) -> Outcome {
    if e.is_connect() && !e.is_timeout() {
        // Never connected: nothing went out.
        Outcome::Refused { permanent: false, error: format!("cannot connect: {e}") }
    } else {
        Outcome::Unknown(format!("no answer: {e}"))
    }
}

/// FCM HTTP v1.
pub struct Fcm {
    project: String,
    base: String,
    auth: Arc<gcp_auth::CustomServiceAccount>,
    http: reqwest::Client,
}

/// The OAuth2 scope for FCM.
pub const FCM_SCOPE: &str = "https://www.googleapis.com/auth/firebase.messaging";

impl Fcm {
    /// A client for `project` with the service-account key at `credentials`.
    pub fn new(project: &str, credentials: &std::path::Path, base: &str, timeout: Duration) -> anyhow::Result<Self> {
        let auth = gcp_auth::CustomServiceAccount::from_file(credentials)
            .map_err(|e| anyhow::anyhow!("FCM credentials {}: {e}", credentials.display()))?;
        Ok(Self {
            project: project.to_owned(),
            base: base.trim_end_matches('/').to_owned(),
            auth: Arc::new(auth),
            http: reqwest::Client::builder().timeout(timeout).build()?,
        })
    }

    /// Sends one push; the message id travels as `data.message_id` and the collapse key.
    pub async fn send(&self, m: &outbox_message::Model) -> Outcome {
        use gcp_auth::TokenProvider;
        let token = match self.auth.token(&[FCM_SCOPE]).await {
            Ok(t) => t,
            Err(e) => return Outcome::Refused { permanent: false, error: format!("no OAuth2 token: {e}") },
        };
        let id = m.id.to_string();
        let mut data = serde_json::Map::new();
        data.insert("message_id".into(), id.clone().into());
        data.insert("kind".into(), m.template.clone().into());
        if let Some(t) = m.ticket_id {
            data.insert("ticket_id".into(), t.to_string().into());
        }
        let body = serde_json::json!({"message": {
            "token": m.recipient,
            "notification": {"title": m.subject.clone().unwrap_or_default(), "body": m.body},
            "data": data,
            "android": {"collapse_key": id, "priority": "high"},
            "apns": {"headers": {"apns-collapse-id": id}},
        }});
        let url = format!("{}/v1/projects/{}/messages:send", self.base, self.project);
        match self.http.post(url).bearer_auth(token.as_str()).json(&body).send().await {
            Err(e) => classify_error(&e),
            Ok(r) if r.status().is_success() => match r.json::<serde_json::Value>().await {
                Ok(v) => Outcome::Sent(v["name"].as_str().unwrap_or_default().to_owned()),
                Err(e) => Outcome::Unknown(format!("unreadable answer: {e}")),
            },
            Ok(r) => {
                let status = r.status();
                classify_http(status, &r.text().await.unwrap_or_default())
            }
        }
    }
}

/// The Twilio Messages API.
pub struct Twilio {
    callback_base: String,
    sid: String,
    token: SecretString,
    from: String,
    base: String,
    http: reqwest::Client,
}

impl Twilio {
    /// A client for account `sid`.
    pub fn new(
        sid: &str,
        token: SecretString,
        from: &str,
        base: &str,
        timeout: Duration,
        callback_base: &str,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            callback_base: callback_base.trim_end_matches('/').to_owned(),
            sid: sid.to_owned(),
            token,
            from: from.to_owned(),
            base: base.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder().timeout(timeout).build()?,
        })
    }

    /// Sends one SMS.
    pub async fn send(&self, m: &outbox_message::Model) -> Outcome {
        let url = format!("{}/2010-04-01/Accounts/{}/Messages.json", self.base, self.sid);
        // The status callback carries the outbox id: Twilio reports delivery back to us,
        // and a retried request is recognisably the same message.
        let callback = format!("{}/api/v1/webhooks/twilio/status?message_id={}", self.callback_base, m.id);
        let form = [
            ("To", m.recipient.as_str()),
            ("From", self.from.as_str()),
            ("Body", m.body.as_str()),
            ("StatusCallback", callback.as_str()),
        ];
        match self.http.post(url).basic_auth(&self.sid, Some(self.token.expose_secret())).form(&form).send().await {
            Err(e) => classify_error(&e),
            Ok(r) if r.status().is_success() => match r.json::<serde_json::Value>().await {
                Ok(v) => Outcome::Sent(v["sid"].as_str().unwrap_or_default().to_owned()),
                Err(e) => Outcome::Unknown(format!("unreadable answer: {e}")),
            },
            Ok(r) => {
                let status = r.status();
                classify_http(status, &r.text().await.unwrap_or_default())
            }
        }
    }
}

/// An SMTP relay.
pub struct Smtp {
    url: SecretString,
    transport: std::sync::Mutex<Arc<AsyncSmtpTransport<Tokio1Executor>>>,
    timeout: Duration,
    from: lettre::message::Mailbox,
    domain: String,
}

impl Smtp {
    /// A client for `url` (`smtp://host:port`, `smtps://…`, credentials in the URL).
    pub fn new(url: &SecretString, from: &str, timeout: Duration) -> anyhow::Result<Self> {
        let transport = Self::transport(url, timeout)?;
        let from: lettre::message::Mailbox = from.parse().map_err(|e| anyhow::anyhow!("SYSOPS_MAIL_FROM: {e}"))?;
        let domain = from.email.domain().to_owned();
        Ok(Self { url: url.clone(), transport: std::sync::Mutex::new(Arc::new(transport)), timeout, from, domain })
    }

    fn transport(url: &SecretString, timeout: Duration) -> anyhow::Result<AsyncSmtpTransport<Tokio1Executor>> {
        Ok(AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose_secret())
            .map_err(|e| anyhow::anyhow!("SYSOPS_SMTP_URL: {e}"))?
            .timeout(Some(timeout))
            .pool_config(lettre::transport::smtp::PoolConfig::new().max_size(16))
            .build())
    }

    fn current(&self) -> Arc<AsyncSmtpTransport<Tokio1Executor>> {
        self.transport.lock().map_or_else(|p| p.into_inner().clone(), |t| t.clone())
    }

    /// lettre returns a connection whose send we cut short to its pool as healthy, and
    /// the next send would read the stale reply: after a timeout, start a fresh pool.
    fn renew(&self) {
        if let Ok(fresh) = Self::transport(&self.url, self.timeout)
            && let Ok(mut t) = self.transport.lock()
        {
            *t = Arc::new(fresh);
        }
    }

    /// Sends one e-mail; its Message-ID is derived from the outbox id, so a retry after
    /// an unknown outcome is recognisably the same message.
    pub async fn send(&self, m: &outbox_message::Model) -> Outcome {
        let to: lettre::message::Mailbox = match m.recipient.parse() {
            Ok(t) => t,
            Err(e) => return Outcome::Refused { permanent: true, error: format!("bad recipient: {e}") },
        };
        let message_id = format!("<{}@{}>", m.id, self.domain);
        let email = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(m.subject.clone().unwrap_or_default())
            .message_id(Some(message_id.clone()))
            .header(ContentType::TEXT_PLAIN)
            .body(m.body.clone());
        let email = match email {
            Ok(e) => e,
            Err(e) => return Outcome::Refused { permanent: true, error: format!("cannot build the e-mail: {e}") },
        };
        // lettre's own timeout bounds only connecting; bound the whole exchange.
        let transport = self.current();
        match tokio::time::timeout(self.timeout, transport.send(email)).await {
            Err(_) => {
                self.renew();
                Outcome::Unknown(format!("no answer within {:?}", self.timeout))
            }
            Ok(Ok(_)) => Outcome::Sent(message_id),
            Ok(Err(e)) if e.is_permanent() => Outcome::Refused { permanent: true, error: e.to_string() },
            Ok(Err(e)) if e.is_transient() => Outcome::Refused { permanent: false, error: e.to_string() },
            Ok(Err(e)) => Outcome::Unknown(e.to_string()),
        }
    }
}

/// The configured providers; in demo mode, channels without one go to the dev outbox.
pub struct Providers {
    /// Push.
    pub push: Option<Fcm>,
    /// SMS.
    pub sms: Option<Twilio>,
    /// E-mail.
    pub email: Option<Smtp>,
    /// Deliver unconfigured channels to the dev outbox page (demo mode only).
    pub dev_outbox: bool,
}

impl Providers {
    /// Builds the providers from settings, reporting each one that is not configured.
    pub fn from_settings(s: &crate::config::Settings, public_base: &str) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(s.provider_timeout_ms);
        let push = match (&s.fcm_project_id, &s.fcm_credentials) {
            (Some(p), Some(c)) => Some(Fcm::new(p, c, &s.fcm_base_url, timeout)?),
            _ => None,
        };
        let sms = match (&s.twilio_account_sid, &s.twilio_auth_token, &s.twilio_from) {
            (Some(sid), Some(tok), Some(from)) => {
                Some(Twilio::new(sid, tok.clone(), from, &s.twilio_base_url, timeout, public_base)?)
            }
            _ => None,
        };
        let email = match &s.smtp_url {
            Some(url) => Some(Smtp::new(url, &s.mail_from, timeout)?),
            None => None,
        };
        let p = Self { push, sms, email, dev_outbox: s.demo };
        for ch in [Channel::Push, Channel::Sms, Channel::Email] {
            if !p.has(ch) {
                if p.dev_outbox {
                    tracing::warn!(
                        channel = ch.as_str(),
                        "provider not configured: messages go to /dev/outbox (demo mode)"
                    );
                } else {
                    tracing::warn!(
                        channel = ch.as_str(),
                        "provider not configured: messages wait in the outbox until it is"
                    );
                }
            }
        }
        Ok(p)
    }

    /// Whether a real provider is configured for `ch`.
    pub fn has(&self, ch: Channel) -> bool {
        match ch {
            Channel::Push => self.push.is_some(),
            Channel::Sms => self.sms.is_some(),
            Channel::Email => self.email.is_some(),
        }
    }

    /// Channels the worker may deliver now.
    pub fn deliverable(&self) -> Vec<Channel> {
        [Channel::Push, Channel::Sms, Channel::Email].into_iter().filter(|c| self.dev_outbox || self.has(*c)).collect()
    }

    /// One attempt.
    pub async fn send(&self, m: &outbox_message::Model) -> Outcome {
        let ch: Channel = match m.channel.parse() {
            Ok(c) => c,
            Err(e) => return Outcome::Refused { permanent: true, error: e },
        };
        match ch {
            Channel::Push => {
                if let Some(p) = &self.push {
                    return p.send(m).await;
                }
            }
            Channel::Sms => {
                if let Some(p) = &self.sms {
                    return p.send(m).await;
                }
            }
            Channel::Email => {
                if let Some(p) = &self.email {
                    return p.send(m).await;
                }
            }
        }
        if self.dev_outbox {
            Outcome::Sent("dev-outbox".to_owned())
        } else {
            Outcome::Refused { permanent: false, error: format!("no {} provider configured", ch.as_str()) }
        }
    }
}
