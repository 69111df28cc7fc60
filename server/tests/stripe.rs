//! The Stripe client against `stripe-mock` (Stripe's own API description: every request
//! shape the client sends must be accepted) and against our stateful stand-in
//! (behaviour: test cards, idempotent replay, lost responses, refunds, signed webhooks).

use secrecy::SecretString;
use std::process::Stdio;
use std::time::Duration;
use sysops_server::billing::signature;
use sysops_server::billing::stripe::{ChargeRequest, Stripe, StripeError};
use sysops_standins::{StripeConfig, StripeFaults, StripeStandin};
use tokio::io::{AsyncBufReadExt, BufReader};

fn client(base: &str, key: &str) -> Stripe {
    Stripe::new(base, SecretString::from(key.to_owned()), Duration::from_secs(5)).unwrap()
}

/// `stripe-mock` from `STRIPE_MOCK`, `PATH` or Go's bin directory.
fn stripe_mock_binary() -> Option<std::path::PathBuf> {
    if let Ok(p) = std::env::var("STRIPE_MOCK") {
        return Some(p.into());
    }
    let mut dirs: Vec<std::path::PathBuf> =
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).collect();
    if let Some(gobin) = std::env::var_os("GOBIN") {
        dirs.push(gobin.into());
    }
    if let Some(home) = std::env::var_os("HOME") {
        dirs.push(std::path::Path::new(&home).join("go/bin"));
    }
    dirs.into_iter().map(|d| d.join("stripe-mock")).find(|p| p.is_file())
}

#[tokio::test]
async fn every_request_the_client_sends_is_accepted_by_stripe_mock() {
    let Some(bin) = stripe_mock_binary() else {
        eprintln!(
            "\n\n!!!!! SKIPPED: stripe-mock not found (set STRIPE_MOCK, or `go install \
             github.com/stripe/stripe-mock@v0.203.0`; ./tests/run installs it) !!!!!\n\n"
        );
        return;
    };
    let mut child = tokio::process::Command::new(&bin)
        .args(["-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("start stripe-mock");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = tokio::time::timeout(Duration::from_secs(60), lines.next_line())
            .await
            .expect("stripe-mock announces its address")
            .unwrap()
            .expect("stripe-mock exited");
        if let Some(addr) = line.strip_prefix("Listening for HTTP at address: ") {
            break format!("http://{}", addr.trim());
        }
    };
    let s = client(&base, "sk_test_123");
    // stripe-mock keeps no state: ids are its fixtures'. What matters is that no request
    // is refused as invalid (unknown or missing parameter, wrong type).
    let refused = |what: &str, e: &StripeError| {
        assert!(!matches!(e, StripeError::Invalid { .. } | StripeError::Unknown(_)), "{what} refused: {e}")
    };
    let cus = s.create_customer("c0ffee", "ada@example.com", "Ada Lovelace").await.unwrap_or_else(|e| {
        refused("customer", &e);
        unreachable!()
    });
    let si = s.create_setup_intent(&cus.id, "setup-1").await.unwrap_or_else(|e| {
        refused("setup intent", &e);
        unreachable!()
    });
    if let Err(e) = s.setup_intent(&si.id).await {
        refused("read setup intent", &e);
    }
    if let Err(e) = s.payment_method("pm_card_visa").await {
        refused("payment method", &e);
    }
    let charge = ChargeRequest {
        amount: 2999,
        currency: "USD",
        customer: &cus.id,
        payment_method: "pm_card_visa",
        invoice_id: "0193a000-0000-7000-8000-000000000001",
        description: "Sysops Squad invoice",
    };
    match s.charge(&charge, "0193a000-0000-7000-8000-000000000001").await {
        Ok(_) | Err(StripeError::Declined { .. }) => {}
        Err(e) => refused("payment intent", &e),
    }
    if let Err(e) = s.refund("pi_123", 500, "Duplicate visit", "refund-1").await {
        refused("refund", &e);
    }
    // And the check can fail: a parameter Stripe does not know is refused.
    let bad = reqwest::Client::new()
        .post(format!("{base}/v1/refunds"))
        .bearer_auth("sk_test_123")
        .form(&[("payment_intent", "pi_123"), ("refund_reason_text", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400, "{}", bad.text().await.unwrap());
}

async fn standin() -> (StripeStandin, Stripe) {
    let st = StripeStandin::start(StripeConfig::default()).await.unwrap();
    let c = client(&st.url(), st.secret_key());
    (st, c)
}

/// Saves `card` through the stand-in's card page, as a customer's browser would.
async fn save_card(st: &StripeStandin, s: &Stripe, customer: &str, card: &str) -> Result<String, String> {
    let si = s.create_setup_intent(customer, &format!("setup-{card}-{customer}")).await.unwrap();
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let resp = http
        .post(format!("{}/standin/setup/{}?return_url=http://back.test/card", st.url(), si.id))
        .form(&[("number", card)])
        .send()
        .await
        .unwrap();
    if resp.status() != 303 {
        return Err(resp.text().await.unwrap());
    }
    assert_eq!(resp.headers()["location"].to_str().unwrap(), format!("http://back.test/card?setup_intent={}", si.id));
    let si = s.setup_intent(&si.id).await.unwrap();
    assert_eq!(si.status, "succeeded");
    Ok(si.payment_method.unwrap())
}

fn charge<'a>(customer: &'a str, pm: &'a str, invoice: &'a str, amount: i64) -> ChargeRequest<'a> {
    ChargeRequest { amount, currency: "USD", customer, payment_method: pm, invoice_id: invoice, description: "Invoice" }
}

#[tokio::test]
async fn test_cards_behave_as_documented() {
    let (st, s) = standin().await;
    let cus = s.create_customer("c1", "a@example.com", "A").await.unwrap();
    let visa = save_card(&st, &s, &cus.id, "4242 4242 4242 4242").await.unwrap();
    let pm = s.payment_method(&visa).await.unwrap();
    let card = pm.card.unwrap();
    assert_eq!((card.brand.as_str(), card.last4.as_str()), ("visa", "4242"));
    s.charge(&charge(&cus.id, &visa, "inv-1", 1000), "inv-1").await.unwrap();

    for (number, code) in [("4000000000000002", "declined"), ("4000000000009995", "insufficient funds")] {
        let page = save_card(&st, &s, &cus.id, number).await.unwrap_err();
        assert!(page.to_lowercase().contains(code), "{number}: {page}");
    }
    let fails_later = save_card(&st, &s, &cus.id, "4000000000000341").await.unwrap();
    let e = s.charge(&charge(&cus.id, &fails_later, "inv-2", 1000), "inv-2").await.unwrap_err();
    assert!(
        matches!(&e, StripeError::Declined { code, payment_intent: Some(_), .. } if code == "generic_decline"),
        "{e:?}"
    );
    let e = s
        .charge(&charge(&cus.id, "pm_card_chargeDeclinedInsufficientFunds", "inv-3", 1000), "inv-3")
        .await
        .unwrap_err();
    assert!(matches!(&e, StripeError::Declined { code, .. } if code == "insufficient_funds"), "{e:?}");
    assert_eq!(st.charges().len(), 1);
}

#[tokio::test]
async fn the_same_key_replays_and_other_parameters_are_refused() {
    let (st, s) = standin().await;
    let cus = s.create_customer("c2", "b@example.com", "B").await.unwrap();
    assert_eq!(s.create_customer("c2", "b@example.com", "B").await.unwrap().id, cus.id);
    let first = s.charge(&charge(&cus.id, "pm_card_visa", "inv-9", 1500), "inv-9").await.unwrap();
    let again = s.charge(&charge(&cus.id, "pm_card_visa", "inv-9", 1500), "inv-9").await.unwrap();
    assert_eq!(first.id, again.id);
    let other = s.charge(&charge(&cus.id, "pm_card_visa", "inv-9", 1600), "inv-9").await.unwrap_err();
    assert!(matches!(&other, StripeError::Invalid { kind, .. } if kind == "idempotency_error"), "{other:?}");
    assert_eq!(st.charges().len(), 1);
    assert_eq!(st.charges()[0].idempotency_key.as_deref(), Some("inv-9"));
}

#[tokio::test]
async fn a_lost_response_is_unknown_and_the_retry_with_the_same_key_charges_once() {
    let (st, s) = standin().await;
    let cus = s.create_customer("c3", "c@example.com", "C").await.unwrap();
    st.set_faults(StripeFaults { lose_response: 1.0, ..StripeFaults::default() });
    let lost = s.charge(&charge(&cus.id, "pm_card_visa", "inv-5", 700), "inv-5").await.unwrap_err();
    assert!(lost.is_unknown(), "{lost:?}");
    assert_eq!(st.charges().len(), 1, "the charge was made before the answer was lost");
    st.set_faults(StripeFaults { fail_5xx: 1.0, ..StripeFaults::default() });
    assert!(s.charge(&charge(&cus.id, "pm_card_visa", "inv-5", 700), "inv-5").await.unwrap_err().is_unknown());
    st.set_faults(StripeFaults::default());
    let pi = s.charge(&charge(&cus.id, "pm_card_visa", "inv-5", 700), "inv-5").await.unwrap();
    assert_eq!(pi.status, "succeeded");
    assert_eq!(st.charges().len(), 1);
    assert_eq!(st.charges()[0].payment_intent, pi.id);
}

#[tokio::test]
async fn refunds_are_partial_or_full_and_never_more_than_charged() {
    let (st, s) = standin().await;
    let cus = s.create_customer("c4", "d@example.com", "D").await.unwrap();
    let pi = s.charge(&charge(&cus.id, "pm_card_visa", "inv-7", 1000), "inv-7").await.unwrap();
    assert_eq!(s.refund(&pi.id, 300, "late visit", "re-1").await.unwrap().amount, 300);
    assert_eq!(s.refund(&pi.id, 300, "late visit", "re-1").await.unwrap().amount, 300, "replayed");
    let e = s.refund(&pi.id, 701, "too much", "re-2").await.unwrap_err();
    assert!(matches!(&e, StripeError::Invalid { message, .. } if message.contains("greater than")), "{e:?}");
    s.refund(&pi.id, 700, "rest", "re-3").await.unwrap();
    assert_eq!(st.refunds().iter().map(|r| r.amount).sum::<i64>(), 1000);
}

#[tokio::test]
async fn webhooks_arrive_signed_and_verify() {
    use std::sync::{Arc, Mutex};
    type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;
    let got: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let g = got.clone();
    tokio::spawn(async move {
        loop {
            let (mut sock, _) = listener.accept().await.unwrap();
            let g = g.clone();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                loop {
                    let n = sock.read(&mut chunk).await.unwrap();
                    buf.extend_from_slice(&chunk[..n]);
                    let text = String::from_utf8_lossy(&buf).to_string();
                    if let Some(end) = text.find("\r\n\r\n") {
                        let len: usize = text[..end]
                            .lines()
                            .find_map(|l| {
                                l.to_ascii_lowercase()
                                    .strip_prefix("content-length:")
                                    .map(|v| v.trim().parse().unwrap())
                            })
                            .unwrap_or(0);
                        if buf.len() >= end + 4 + len {
                            let sig = text[..end]
                                .lines()
                                .find_map(|l| {
                                    l.split_once(':')
                                        .filter(|(k, _)| k.eq_ignore_ascii_case("stripe-signature"))
                                        .map(|(_, v)| v.trim().to_owned())
                                })
                                .unwrap_or_default();
                            g.lock().unwrap().push((sig, buf[end + 4..end + 4 + len].to_vec()));
                            sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").await.unwrap();
                            return;
                        }
                    }
                    if n == 0 {
                        return;
                    }
                }
            });
        }
    });
    let (st, s) = standin().await;
    st.set_webhook(&format!("http://{addr}/hook"));
    let cus = s.create_customer("c5", "e@example.com", "E").await.unwrap();
    s.charge(&charge(&cus.id, "pm_card_visa", "inv-8", 900), "inv-8").await.unwrap();
    for _ in 0..100 {
        if !got.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (sig, body) = got.lock().unwrap().first().cloned().expect("a delivery");
    let now = chrono::Utc::now().timestamp();
    signature::verify(&sig, &body, st.webhook_secret(), now, 300).unwrap();
    assert!(signature::verify(&sig, &body, "whsec_other", now, 300).is_err());
    let event: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["type"], "payment_intent.succeeded");
    assert_eq!(event["data"]["object"]["metadata"]["invoice_id"], "inv-8");
}
