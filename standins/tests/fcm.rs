//! The FCM stand-in driven by the production client stack: a real gcp_auth service account
//! obtains a token from it, and a real reqwest client sends messages with that token.

use std::time::Duration;

use gcp_auth::{CustomServiceAccount, TokenProvider};
use serde_json::{Value, json};
use sysops_standins::fcm::FCM_SCOPE;
use sysops_standins::{Faults, FcmConfig, FcmStandin, Provider};

struct Setup {
    standin: FcmStandin,
    http: reqwest::Client,
    bearer: String,
    _dir: tempfile::TempDir,
}

/// Starts the stand-in, writes its key file and gets a token the way production does.
async fn setup() -> Setup {
    let standin = FcmStandin::start(FcmConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("service-account.json");
    standin.write_service_account(&path).unwrap();
    let account = CustomServiceAccount::from_file(&path).unwrap();
    assert_eq!(account.project_id(), Some(standin.project_id()));
    let token = account.token(&[FCM_SCOPE]).await.unwrap();
    let http = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().unwrap();
    Setup { bearer: token.as_str().to_owned(), standin, http, _dir: dir }
}

impl Setup {
    async fn send(&self, message: Value) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(format!("{}/v1/projects/{}/messages:send", self.standin.url(), self.standin.project_id()))
            .bearer_auth(&self.bearer)
            .json(&json!({ "message": message }))
            .send()
            .await
    }
}

fn message(token: &str, id: &str) -> Value {
    json!({
        "token": token,
        "notification": {"title": "New ticket", "body": "Printer on fire"},
        "data": {"message_id": id, "ticket_id": "42"},
        "android": {"priority": "high"},
        "apns": {"headers": {"apns-priority": "10"}},
    })
}

#[tokio::test]
async fn gcp_auth_token_then_reqwest_send_is_recorded() {
    let s = setup().await;
    let resp = s.send(message("device-1", "m-1")).await.unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let name = body["name"].as_str().unwrap();
    let prefix = format!("projects/{}/messages/", s.standin.project_id());
    assert!(name.starts_with(&prefix), "{name}");

    let got = s.standin.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].provider, Provider::Fcm);
    assert_eq!(got[0].recipient, "device-1");
    assert_eq!(got[0].dedupe_id.as_deref(), Some("m-1"));
    assert!(!got[0].delayed);
    let sent = got[0].fcm_message().unwrap();
    assert_eq!(sent["notification"]["title"], "New ticket");

    // Without data.message_id the collapse key is the dedupe id.
    s.send(json!({"topic": "experts", "android": {"collapse_key": "ticket-42"}}))
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let got = s.standin.received();
    assert_eq!(got[1].recipient, "/topics/experts");
    assert_eq!(got[1].dedupe_id.as_deref(), Some("ticket-42"));

    s.standin.clear();
    assert!(s.standin.received().is_empty());
}

#[tokio::test]
async fn requests_fcm_would_refuse_get_its_errors() {
    let s = setup().await;
    // Non-string data value: 400 INVALID_ARGUMENT.
    let resp = s.send(json!({"token": "t", "data": {"count": 3}})).await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["status"], "INVALID_ARGUMENT");
    assert_eq!(body["error"]["code"], 400);
    // Two targets.
    let resp = s.send(json!({"token": "t", "topic": "x"})).await.unwrap();
    assert_eq!(resp.status(), 400);
    // A bearer the stand-in never issued: 401 UNAUTHENTICATED.
    let resp = s
        .http
        .post(format!("{}/v1/projects/{}/messages:send", s.standin.url(), s.standin.project_id()))
        .bearer_auth("ya29.forged")
        .json(&json!({"message": message("t", "m")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["status"], "UNAUTHENTICATED");
    // Another project.
    let resp = s
        .http
        .post(format!("{}/v1/projects/other/messages:send", s.standin.url()))
        .bearer_auth(&s.bearer)
        .json(&json!({"message": message("t", "m")}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert!(s.standin.received().is_empty());
}

#[tokio::test]
async fn token_endpoint_refuses_a_key_it_did_not_issue() {
    let standin = FcmStandin::start(FcmConfig::default()).await.unwrap();
    let other = FcmStandin::start(FcmConfig::default()).await.unwrap();
    // The other stand-in's key, pointed at this stand-in's token endpoint.
    let mut key: Value = serde_json::from_str(&other.service_account_json()).unwrap();
    key["token_uri"] = json!(standin.token_uri());
    key["client_email"] = json!(standin.client_email());
    let account = CustomServiceAccount::from_json(&key.to_string()).unwrap();
    assert!(account.token(&[FCM_SCOPE]).await.is_err());
    // The raw answer is Google's invalid_grant.
    let resp = reqwest::Client::new()
        .post(standin.token_uri())
        .form(&[("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"), ("assertion", "a.b.c")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");
}

#[tokio::test]
async fn unregistered_token_and_permanent_failure_answer_404_unregistered() {
    let s = setup().await;
    s.standin.unregister_token("gone");
    let resp = s.send(message("gone", "m-1")).await.unwrap();
    assert_eq!(resp.status(), 404);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["status"], "NOT_FOUND");
    assert_eq!(body["error"]["details"][0]["errorCode"], "UNREGISTERED");
    assert_eq!(s.send(message("alive", "m-2")).await.unwrap().status(), 200);

    s.standin.fail_permanently(true);
    let resp = s.send(message("alive", "m-3")).await.unwrap();
    assert_eq!(resp.status(), 404);
    s.standin.fail_permanently(false);
    let ids: Vec<_> = s.standin.received().into_iter().map(|r| r.dedupe_id.unwrap()).collect();
    assert_eq!(ids, ["m-2"]);
}

#[tokio::test]
async fn each_fault_kind() {
    let s = setup().await;
    s.standin.set_timeout_delay(Duration::from_secs(30));

    s.standin.set_faults(Faults { fail_5xx: 1.0, ..Faults::NONE });
    let resp = s.send(message("t", "fail")).await.unwrap();
    assert!(resp.status().is_server_error(), "{}", resp.status());
    let body: Value = resp.json().await.unwrap();
    assert!(["UNAVAILABLE", "INTERNAL"].contains(&body["error"]["status"].as_str().unwrap()));
    assert!(s.standin.received().is_empty(), "5xx must not record");

    s.standin.set_faults(Faults { drop: 1.0, ..Faults::NONE });
    let err = s.send(message("t", "drop")).await.unwrap_err();
    assert!(!err.is_timeout() && err.status().is_none(), "{err:?}");
    assert!(s.standin.received().is_empty(), "drop must not record");

    // The client gives up after 500 ms; the stand-in would answer after 30 s.
    s.standin.set_faults(Faults { timeout: 1.0, ..Faults::NONE });
    let err = s.send(message("t", "slow")).await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    let got = s.standin.received();
    assert_eq!(got.len(), 1, "timeout records the message");
    assert!(got[0].delayed);
    assert_eq!(got[0].dedupe_id.as_deref(), Some("slow"));

    s.standin.set_faults(Faults::NONE);
    assert_eq!(s.send(message("t", "ok")).await.unwrap().status(), 200);
}

/// What a client saw for one send, for comparing runs.
async fn outcomes(s: &Setup, n: usize) -> Vec<String> {
    let mut seen = Vec::new();
    for i in 0..n {
        seen.push(match s.send(message("t", &format!("m-{i}"))).await {
            Ok(resp) => resp.status().as_u16().to_string(),
            Err(_) => "dropped".to_owned(),
        });
    }
    seen
}

#[tokio::test]
async fn seeded_faults_repeat_exactly() {
    let s = setup().await;
    let faults = Faults { fail_5xx: 0.3, timeout: 0.0, drop: 0.2, seed: 42 };
    s.standin.set_faults(faults);
    let first = outcomes(&s, 30).await;
    let recorded = s.standin.received().len();
    assert_eq!(recorded, first.iter().filter(|o| *o == "200").count());
    assert!(first.iter().any(|o| o == "dropped"));
    assert!(first.iter().any(|o| o.starts_with('5')));
    s.standin.set_faults(faults);
    assert_eq!(outcomes(&s, 30).await, first);
}

#[tokio::test]
async fn control_api_over_http() {
    let s = setup().await;
    let control = |path: &str| format!("{}/_standin/{path}", s.standin.url());
    let resp = s.http.post(control("faults")).json(&json!({"fail_5xx": 1.0, "seed": 3})).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(s.standin.faults().fail_5xx, 1.0);
    let bad = s.http.post(control("faults")).json(&json!({"drop": 2.0})).send().await.unwrap();
    assert_eq!(bad.status(), 400);
    assert!(s.send(message("t", "x")).await.unwrap().status().is_server_error());
    s.http.post(control("faults")).json(&json!({})).send().await.unwrap();
    s.http.post(control("unregister")).json(&json!({"token": "gone"})).send().await.unwrap();
    assert_eq!(s.send(message("gone", "y")).await.unwrap().status(), 404);
    assert_eq!(s.send(message("t", "z")).await.unwrap().status(), 200);
    let got: Value = s.http.get(control("received")).send().await.unwrap().json().await.unwrap();
    assert_eq!(got.as_array().unwrap().len(), 1);
    assert_eq!(got[0]["provider"], "fcm");
    assert_eq!(got[0]["dedupe_id"], "z");
    assert_eq!(got[0]["detail"]["message"]["token"], "t");
    s.http.post(control("clear")).send().await.unwrap();
    assert!(s.standin.received().is_empty());
}
