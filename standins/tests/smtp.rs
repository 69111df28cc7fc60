//! The SMTP stand-in driven by lettre's async SMTP transport (as production sends mail), plus
//! a raw conversation to pin the protocol details lettre does not exercise.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::PoolConfig;
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use serde_json::{Value, json};
use sysops_standins::{Faults, Provider, SmtpConfig, SmtpStandin};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn transport(standin: &SmtpStandin) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(standin.addr().port())
        .timeout(Some(Duration::from_secs(5)))
        .build()
}

fn email(id: &str) -> Message {
    Message::builder()
        .from("Sysops Squad <noreply@sysops.example>".parse().unwrap())
        .to("Customer <customer@example.com>".parse().unwrap())
        .cc("manager@example.com".parse().unwrap())
        .subject("Ticket Übersicht")
        .message_id(Some(format!("<{id}@sysops.example>")))
        .header(ContentType::TEXT_PLAIN)
        .body(String::from("Hello,\r\n.leading dot must survive\r\n..two dots too\r\n.\r\nbye\r\n"))
        .unwrap()
}

#[tokio::test]
async fn lettre_delivers_and_the_message_is_recorded() {
    let standin = SmtpStandin::start(SmtpConfig::default()).await.unwrap();
    let resp = transport(&standin).send(email("m-1")).await.unwrap();
    assert!(resp.is_positive());

    let got = standin.received();
    assert_eq!(got.len(), 1);
    let r = &got[0];
    assert_eq!(r.provider, Provider::Smtp);
    assert_eq!(r.recipient, "customer@example.com, manager@example.com");
    assert_eq!(r.dedupe_id.as_deref(), Some("<m-1@sysops.example>"));
    assert_eq!(r.header("subject"), Some("Ticket Übersicht"));
    assert_eq!(r.header("To"), Some("Customer <customer@example.com>"));
    assert!(r.header("From").unwrap().contains("noreply@sysops.example"));
    let sysops_standins::Detail::Smtp { mail_from, rcpt_to, data, .. } = &r.detail else {
        panic!("not an SMTP record");
    };
    assert_eq!(mail_from, "noreply@sysops.example");
    assert_eq!(rcpt_to.len(), 2);
    // Dot-unstuffing gives back exactly what was written.
    assert!(data.contains("\r\n.leading dot must survive\r\n..two dots too\r\n.\r\nbye"));
}

#[tokio::test]
async fn auth_plain_and_login_with_configured_credentials() {
    let standin = SmtpStandin::start(SmtpConfig {
        credentials: Some(("mailer".into(), "s3cret".into())),
        ..SmtpConfig::default()
    })
    .await
    .unwrap();
    for mechanism in [Mechanism::Plain, Mechanism::Login] {
        let t = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(standin.addr().port())
            .credentials(Credentials::new("mailer".into(), "s3cret".into()))
            .authentication(vec![mechanism])
            .build();
        t.send(email(&format!("{mechanism:?}"))).await.unwrap();
    }
    let wrong = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(standin.addr().port())
        .credentials(Credentials::new("mailer".into(), "guess".into()))
        .build();
    let err = wrong.send(email("x")).await.unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    // Without credentials the server refuses MAIL.
    let err = transport(&standin).send(email("y")).await.unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(standin.received().len(), 2);
}

#[tokio::test]
async fn each_fault_kind() {
    let standin = SmtpStandin::start(SmtpConfig::default()).await.unwrap();
    let t = transport(&standin);

    standin.set_faults(Faults { fail_5xx: 1.0, ..Faults::NONE });
    let err = t.send(email("fail")).await.unwrap_err();
    assert!(err.is_transient(), "451 is a transient error: {err:?}");
    assert!(standin.received().is_empty());

    standin.set_faults(Faults { drop: 1.0, ..Faults::NONE });
    let err = t.send(email("drop")).await.unwrap_err();
    assert!(!err.is_transient() && !err.is_permanent(), "{err:?}");
    assert!(standin.received().is_empty());

    // lettre's own timeout only bounds connecting, so the caller bounds the send.
    standin.set_faults(Faults { timeout: 1.0, ..Faults::NONE });
    let outcome = tokio::time::timeout(Duration::from_millis(500), t.send(email("slow"))).await;
    assert!(outcome.is_err(), "the reply to DATA is held back");
    let got = standin.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].delayed);
    assert_eq!(got[0].dedupe_id.as_deref(), Some("<slow@sysops.example>"));

    standin.set_faults(Faults::NONE);
    transport(&standin).send(email("ok")).await.unwrap();
    assert_eq!(standin.received().len(), 2);
}

#[tokio::test]
async fn permanent_failure_is_550() {
    let standin = SmtpStandin::start(SmtpConfig::default()).await.unwrap();
    standin.fail_permanently(true);
    let err = transport(&standin).send(email("m")).await.unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.status().map(|c| c.to_string()).as_deref(), Some("550"));
    assert!(standin.received().is_empty());
}

/// lettre's pool takes back a connection whose send was cancelled mid-DATA as if it were
/// healthy, so the next send on that transport waits behind the stale reply. A transport
/// that keeps no idle connections (`max_size(0)`) starts each send afresh.
#[tokio::test]
async fn a_cancelled_lettre_send_poisons_its_pooled_connection() {
    let standin = SmtpStandin::start(SmtpConfig::default()).await.unwrap();
    let unpooled = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(standin.addr().port())
        .pool_config(PoolConfig::new().max_size(0))
        .build();
    for (transport, recovers) in [(transport(&standin), false), (unpooled, true)] {
        standin.set_faults(Faults { timeout: 1.0, ..Faults::NONE });
        let first = tokio::time::timeout(Duration::from_millis(300), transport.send(email("a"))).await;
        assert!(first.is_err());
        standin.set_faults(Faults::NONE);
        // Let the pool's recycling task run before the next checkout.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let second = tokio::time::timeout(Duration::from_secs(2), transport.send(email("b"))).await;
        assert_eq!(second.is_ok_and(|r| r.is_ok()), recovers);
    }
}

struct Raw {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Raw {
    async fn connect(standin: &SmtpStandin) -> (Raw, Vec<String>) {
        let (r, w) = TcpStream::connect(standin.addr()).await.unwrap().into_split();
        let mut raw = Raw { reader: BufReader::new(r), writer: w };
        let greeting = raw.reply().await;
        (raw, greeting)
    }

    /// Reads one (possibly multi-line) reply.
    async fn reply(&mut self) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            self.reader.read_line(&mut line).await.unwrap();
            assert!(line.ends_with("\r\n"), "{line:?}");
            let done = line.as_bytes().get(3) == Some(&b' ');
            lines.push(line.trim_end().to_owned());
            if done {
                return lines;
            }
        }
    }

    async fn cmd(&mut self, line: &str) -> Vec<String> {
        self.writer.write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
        self.reply().await
    }
}

#[tokio::test]
async fn raw_conversation() {
    let standin = SmtpStandin::start(SmtpConfig::default()).await.unwrap();
    let (mut c, greeting) = Raw::connect(&standin).await;
    assert!(greeting[0].starts_with("220 "));
    assert!(c.cmd("MAIL FROM:<a@b.c>").await[0].starts_with("503"));
    let ehlo = c.cmd("EHLO client.example").await;
    assert!(ehlo.iter().any(|l| l.ends_with("8BITMIME")));
    assert!(ehlo.iter().any(|l| l.contains("SIZE ")));
    assert!(!ehlo.iter().any(|l| l.contains("AUTH")), "no AUTH without credentials");
    assert!(c.cmd("NOOP").await[0].starts_with("250"));
    assert!(c.cmd("DATA").await[0].starts_with("503"));
    assert!(c.cmd("MAIL FROM:<a@b.c>").await[0].starts_with("250"));
    assert!(c.cmd("RCPT TO:<x@y.z>").await[0].starts_with("250"));
    assert!(c.cmd("RSET").await[0].starts_with("250"));
    assert!(c.cmd("DATA").await[0].starts_with("503"), "RSET forgot the transaction");
    assert!(c.cmd("HELO client.example").await[0].starts_with("250"));
    assert!(c.cmd("MAIL FROM:<> BODY=8BITMIME").await[0].starts_with("250"));
    assert!(c.cmd("RCPT TO:<x@y.z>").await[0].starts_with("250"));
    assert!(c.cmd("DATA").await[0].starts_with("354"));
    let sent = "Subject: raw\r\nMessage-ID: <raw-1@x>\r\n\r\n..dot\r\nlast\r\n.\r\n";
    assert!(c.cmd(sent.trim_end_matches("\r\n")).await[0].starts_with("250"));
    assert!(c.cmd("BOGUS").await[0].starts_with("500"));
    assert!(c.cmd("QUIT").await[0].starts_with("221"));

    let got = standin.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].header("Subject"), Some("raw"));
    let sysops_standins::Detail::Smtp { mail_from, data, .. } = &got[0].detail else {
        panic!("not an SMTP record");
    };
    assert_eq!(mail_from, "");
    assert_eq!(data, "Subject: raw\r\nMessage-ID: <raw-1@x>\r\n\r\n.dot\r\nlast\r\n");
}

#[tokio::test]
async fn control_api_over_http() {
    let standin = SmtpStandin::start(SmtpConfig::default()).await.unwrap();
    let http = reqwest::Client::new();
    let control = |path: &str| format!("{}/_standin/{path}", standin.control_url());
    http.post(control("faults"))
        .json(&json!({"fail_5xx": 1.0, "seed": 1}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    assert!(transport(&standin).send(email("a")).await.is_err());
    http.post(control("faults")).json(&json!({})).send().await.unwrap();
    transport(&standin).send(email("b")).await.unwrap();
    let got: Value = http.get(control("received")).send().await.unwrap().json().await.unwrap();
    assert_eq!(got.as_array().unwrap().len(), 1);
    assert_eq!(got[0]["provider"], "smtp");
    assert_eq!(got[0]["dedupe_id"], "<b@sysops.example>");
    assert_eq!(got[0]["detail"]["rcpt_to"][0], "customer@example.com");
    http.post(control("clear")).send().await.unwrap();
    assert!(standin.received().is_empty());
}
