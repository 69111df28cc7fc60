//! The Twilio stand-in driven the way production sends SMS: a reqwest form POST with basic
//! auth to `/2010-04-01/Accounts/{sid}/Messages.json`.

use std::time::Duration;

use serde_json::{Value, json};
use sysops_standins::{Faults, Provider, TwilioConfig, TwilioStandin};

struct Setup {
    standin: TwilioStandin,
    http: reqwest::Client,
}

async fn setup() -> Setup {
    let standin = TwilioStandin::start(TwilioConfig::default()).await.unwrap();
    let http = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    Setup { standin, http }
}

impl Setup {
    fn messages_url(&self) -> String {
        format!("{}/2010-04-01/Accounts/{}/Messages.json", self.standin.url(), self.standin.account_sid())
    }

    async fn send_as(&self, password: &str, form: &[(&str, &str)]) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(self.messages_url())
            .basic_auth(self.standin.account_sid(), Some(password))
            .form(form)
            .send()
            .await
    }

    async fn send(&self, form: &[(&str, &str)]) -> reqwest::Result<reqwest::Response> {
        let token = self.standin.auth_token().to_owned();
        self.send_as(&token, form).await
    }
}

const SMS: &[(&str, &str)] = &[("To", "+14155550100"), ("From", "+14155550199"), ("Body", "Your expert is on the way")];

#[tokio::test]
async fn form_post_with_basic_auth_is_recorded() {
    let s = setup().await;
    let resp = s.send(SMS).await.unwrap();
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    let sid = body["sid"].as_str().unwrap();
    assert!(sid.starts_with("SM") && sid.len() == 34, "{sid}");
    assert!(sid[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(body["status"], "queued");
    assert_eq!(body["to"], "+14155550100");
    assert_eq!(body["from"], "+14155550199");
    assert_eq!(body["body"], "Your expert is on the way");
    assert_eq!(body["account_sid"], s.standin.account_sid());
    assert!(body["date_created"].as_str().unwrap().ends_with("+0000"));
    assert!(body["uri"].as_str().unwrap().ends_with(&format!("{sid}.json")));

    let got = s.standin.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].provider, Provider::Twilio);
    assert_eq!(got[0].recipient, "+14155550100");
    assert_eq!(got[0].dedupe_id, None);
    assert_eq!(got[0].form_field("Body"), Some("Your expert is on the way"));
}

#[tokio::test]
async fn status_callback_message_id_is_the_dedupe_id_and_unknown_fields_are_kept() {
    let s = setup().await;
    let mut form = SMS.to_vec();
    form.push(("StatusCallback", "https://sysops.example/hooks/twilio?message_id=n-7"));
    form.push(("SomethingNew", "ignored"));
    assert_eq!(s.send(&form).await.unwrap().status(), 201);
    let got = s.standin.received();
    assert_eq!(got[0].dedupe_id.as_deref(), Some("n-7"));
    assert_eq!(got[0].form_field("SomethingNew"), Some("ignored"));
}

#[tokio::test]
async fn twilio_errors() {
    let s = setup().await;
    let resp = s.send(&[("To", "555-0100"), ("From", "+14155550199"), ("Body", "x")]).await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 21211);
    assert_eq!(body["status"], 400);
    assert_eq!(body["more_info"], "https://www.twilio.com/docs/errors/21211");

    let resp = s.send_as("wrong", SMS).await.unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["code"], 20003);

    let resp = s.send(&[("To", "+14155550100"), ("Body", "x")]).await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], 21603);
    let resp = s.send(&[("To", "+14155550100"), ("MessagingServiceSid", "MG00")]).await.unwrap();
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], 21602);
    assert!(s.standin.received().is_empty());

    let resp =
        s.send(&[("To", "+14155550100"), ("MessagingServiceSid", "MG00"), ("Body", "via a service")]).await.unwrap();
    assert_eq!(resp.status(), 201);
}

#[tokio::test]
async fn permanent_failure_is_400_21211() {
    let s = setup().await;
    s.standin.fail_permanently(true);
    let resp = s.send(SMS).await.unwrap();
    assert_eq!(resp.status(), 400);
    assert_eq!(resp.json::<Value>().await.unwrap()["code"], 21211);
    assert!(s.standin.received().is_empty());
}

#[tokio::test]
async fn each_fault_kind() {
    let s = setup().await;
    s.standin.set_faults(Faults { fail_5xx: 1.0, ..Faults::NONE });
    let resp = s.send(SMS).await.unwrap();
    assert!(resp.status().is_server_error());
    let body: Value = resp.json().await.unwrap();
    assert!([20500, 20503].contains(&body["code"].as_u64().unwrap()));
    assert!(s.standin.received().is_empty());

    s.standin.set_faults(Faults { drop: 1.0, ..Faults::NONE });
    let err = s.send(SMS).await.unwrap_err();
    assert!(!err.is_timeout() && err.status().is_none(), "{err:?}");
    assert!(s.standin.received().is_empty());

    s.standin.set_faults(Faults { timeout: 1.0, ..Faults::NONE });
    let err = s.send(SMS).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    let got = s.standin.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].delayed);
}

#[tokio::test]
async fn control_api_over_http() {
    let s = setup().await;
    let control = |path: &str| format!("{}/_standin/{path}", s.standin.url());
    s.http.post(control("fail_permanently")).json(&json!({"enabled": true})).send().await.unwrap();
    assert_eq!(s.send(SMS).await.unwrap().status(), 400);
    s.http.post(control("reset")).send().await.unwrap();
    assert_eq!(s.send(SMS).await.unwrap().status(), 201);
    let got: Value = s.http.get(control("received")).send().await.unwrap().json().await.unwrap();
    assert_eq!(got[0]["provider"], "twilio");
    assert_eq!(got[0]["recipient"], "+14155550100");
    let form: Vec<(String, String)> = serde_json::from_value(got[0]["detail"]["form"].clone()).unwrap();
    assert!(form.contains(&("To".to_owned(), "+14155550100".to_owned())));
}
