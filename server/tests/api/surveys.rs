//! Survey links: a tampered, expired, reused or wrong-ticket link is refused with a
//! clear error; an unanswered survey gets one reminder, then the ticket closes with
//! "no survey".

use crate::helpers::*;
use crate::providers::{Stand, survey_link, text};
use base64::Engine;
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::json;
use sha2::Sha256;

const SECRET: &str = "survey-test-secret-that-is-long-enough";

fn resign(token: &str, ticket: uuid::Uuid) -> String {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).unwrap();
    let mut data = raw[..40].to_vec();
    data[..16].copy_from_slice(ticket.as_bytes());
    let mut k = Hmac::<Sha256>::new_from_slice(SECRET.as_bytes()).unwrap();
    k.update(b"sysops survey links v1");
    let key = k.finalize().into_bytes();
    let mut m = Hmac::<Sha256>::new_from_slice(&key).unwrap();
    m.update(&data);
    data.extend_from_slice(&m.finalize().into_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(data)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn survey_links_are_signed_single_use_and_expire() {
    let stand = Stand::start().await;
    let mut env = stand.env();
    env.push(("SYSOPS_JWT_SECRET".into(), SECRET.into()));
    env.push(("SYSOPS_SURVEY_REMINDER_AFTER_SECS".into(), "1".into()));
    env.push(("SYSOPS_SURVEY_EXPIRE_AFTER_SECS".into(), "6".into()));
    let s = Server::spawn_env(Backend::Sqlite, env).await;
    let w = World::new(&s).await;
    let c = &w.customer;
    let mut ids = Vec::new();
    for title in ["Laptop hinge cracked", "Laptop battery swollen"] {
        let (_, t) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "laptop", title)).await;
        let expert = w.experts.iter().find(|e| e.id == t["assigned_expert_id"].as_str().unwrap()).unwrap();
        let id = t["id"].as_str().unwrap().to_owned();
        let (st, _) = s
            .post(
                &format!("/api/v1/tickets/{id}/complete"),
                Some(&expert.token),
                &json!({"resolution": "Replaced the part."}),
            )
            .await;
        assert_eq!(st, StatusCode::OK);
        ids.push((id, title));
    }
    stand
        .wait(20, "two survey e-mails", |st| {
            st.smtp.received().iter().filter(|r| text(r).starts_with("How did we do?")).count() == 2
        })
        .await;
    let link_for = |title: &str| {
        let r = stand
            .smtp
            .received()
            .into_iter()
            .find(|r| text(r).starts_with(&format!("How did we do? ({title})")))
            .unwrap();
        survey_link(&r).unwrap().rsplit('/').next().unwrap().to_owned()
    };
    let (a, b) = (link_for(ids[0].1), link_for(ids[1].1));

    // Tampered: one character changed.
    let mut bytes = a.clone().into_bytes();
    bytes[10] = if bytes[10] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(bytes).unwrap();
    let (st, p) = s.post(&format!("/api/v1/surveys/{tampered}"), None, &json!({"rating": 4})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{p}");
    assert!(p["detail"].as_str().unwrap().contains("damaged or was altered"));
    // Wrong ticket: a correctly signed link whose invitation belongs to another ticket.
    let wrong = resign(&a, ids[1].0.parse().unwrap());
    let (st, p) = s.post(&format!("/api/v1/surveys/{wrong}"), None, &json!({"rating": 4})).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{p}");
    // Bad rating: refused, and the link stays usable.
    let (st, p) = s.post(&format!("/api/v1/surveys/{a}"), None, &json!({"rating": 9})).await;
    assert_eq!((st, p["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("rating")));
    // The page's own form (no JavaScript): answered once, then refused.
    let form =
        s.http.post(s.url(&format!("/survey/{a}"))).form(&[("rating", "4"), ("comment", "Fine")]).send().await.unwrap();
    assert_eq!(form.status(), StatusCode::CREATED);
    assert!(form.text().await.unwrap().contains("Thank you"));
    let (st, p) = s.post(&format!("/api/v1/surveys/{a}"), None, &json!({"rating": 5})).await;
    assert_eq!(st, StatusCode::CONFLICT, "{p}");
    let reused = s.http.post(s.url(&format!("/survey/{a}"))).form(&[("rating", "5")]).send().await.unwrap();
    assert_eq!(reused.status(), StatusCode::CONFLICT);

    // B is never answered: one reminder, then closed with "no survey"; its link expires.
    stand
        .wait(20, "the reminder", |st| {
            st.smtp.received().iter().any(|r| text(r).starts_with(&format!("Reminder: how did we do? ({})", ids[1].1)))
        })
        .await;
    let mut closed = serde_json::Value::Null;
    for _ in 0..200 {
        let (_, t) = s.get(&format!("/api/v1/tickets/{}", ids[1].0), Some(&c.token)).await;
        if t["status"] == "closed" {
            closed = t;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(closed["close_reason"], "no_survey", "{closed}");
    let (st, p) = s.post(&format!("/api/v1/surveys/{b}"), None, &json!({"rating": 3})).await;
    assert_eq!(st, StatusCode::GONE, "{p}");
    let reminders = stand.smtp.received().iter().filter(|r| text(r).starts_with("Reminder")).count();
    assert_eq!(reminders, 1, "exactly one reminder");
    let (_, a_ticket) = s.get(&format!("/api/v1/tickets/{}", ids[0].0), Some(&c.token)).await;
    assert_eq!(a_ticket["close_reason"], "survey_received");
}
