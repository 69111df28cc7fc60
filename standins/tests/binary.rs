//! The `sysops-standins` binary as non-Rust tests use it: start it, read the address lines,
//! deliver through each stand-in with the real clients, read the record over the control
//! API, stop it with SIGTERM. Also checks that the TLS-capable clients start at all.

use std::process::Stdio;
use std::time::Duration;

use gcp_auth::{CustomServiceAccount, TokenProvider};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};
use sysops_standins::fcm::FCM_SCOPE;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

/// Reads `NAME URL...` lines until all three services are announced.
async fn announced(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
) -> (String, String, String, String) {
    let (mut fcm, mut twilio, mut smtp, mut control) = (None, None, None, None);
    while fcm.is_none() || twilio.is_none() || smtp.is_none() {
        let line = lines.next_line().await.unwrap().expect("binary exited early");
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            ["fcm", url] => fcm = Some(url.to_owned()),
            ["twilio", url] => twilio = Some(url.to_owned()),
            ["smtp", url, "control", ctl] => {
                smtp = Some(url.to_owned());
                control = Some(ctl.to_owned());
            }
            _ => panic!("unexpected line {line:?}"),
        }
    }
    (fcm.unwrap(), twilio.unwrap(), smtp.unwrap(), control.unwrap())
}

#[tokio::test]
async fn binary_serves_all_three_until_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("fcm.json");
    let mut child = Command::new(env!("CARGO_BIN_EXE_sysops-standins"))
        .arg("--fcm-credentials")
        .arg(&key)
        .args(["--fcm-project", "bin-test", "--timeout-delay-ms", "60000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (fcm, twilio, smtp, smtp_control) = announced(&mut lines).await;
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap();

    // FCM with the key file the binary wrote.
    let account = CustomServiceAccount::from_file(&key).unwrap();
    let token = account.token(&[FCM_SCOPE]).await.unwrap();
    http.post(format!("{fcm}/v1/projects/bin-test/messages:send"))
        .bearer_auth(token.as_str())
        .json(&json!({"message": {"token": "device", "data": {"message_id": "f1"}}}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    // Twilio with the default account.
    let sid = format!("AC{}", "0".repeat(32));
    let resp = http
        .post(format!("{twilio}/2010-04-01/Accounts/{sid}/Messages.json"))
        .basic_auth(&sid, Some("standin-auth-token"))
        .form(&[("To", "+14155550100"), ("From", "+14155550199"), ("Body", "hi")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);

    // SMTP with lettre.
    let port: u16 = smtp.rsplit(':').next().unwrap().parse().unwrap();
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(port)
        .build()
        .send(
            Message::builder()
                .from("noreply@sysops.example".parse().unwrap())
                .to("c@example.com".parse().unwrap())
                .subject("hi")
                .body(String::from("hello"))
                .unwrap(),
        )
        .await
        .unwrap();

    for (base, provider) in [(&fcm, "fcm"), (&twilio, "twilio"), (&smtp_control, "smtp")] {
        let got: Value = http.get(format!("{base}/_standin/received")).send().await.unwrap().json().await.unwrap();
        assert_eq!(got.as_array().unwrap().len(), 1, "{provider}: {got}");
        assert_eq!(got[0]["provider"], provider);
    }

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
    assert!(killed.success());
    let status = child.wait().await.unwrap();
    assert!(status.success(), "exit after SIGTERM: {status:?}");
}

#[tokio::test]
async fn tls_capable_clients_start() {
    // Each of these builds a rustls configuration; with two crypto providers compiled in
    // and none installed, this is where they would panic.
    reqwest::Client::builder().build().unwrap();
    let _: AsyncSmtpTransport<Tokio1Executor> =
        AsyncSmtpTransport::<Tokio1Executor>::relay("smtp.example.com").unwrap().build();
    let _: AsyncSmtpTransport<Tokio1Executor> =
        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay("smtp.example.com").unwrap().build();
    let standin = sysops_standins::FcmStandin::start(Default::default()).await.unwrap();
    let mut key: Value = serde_json::from_str(&standin.service_account_json()).unwrap();
    key["token_uri"] = json!("https://oauth2.googleapis.com/token");
    CustomServiceAccount::from_json(&key.to_string()).unwrap();
}
