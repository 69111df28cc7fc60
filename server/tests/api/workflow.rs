//! The seed's ticket workflow end to end, against the real server and the provider
//! stand-ins: who is told what, in which order, and the survey at the end.

use crate::helpers::*;
use crate::providers::{SMS_FROM, Stand, survey_link, text};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sysops_standins::Received;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_workflow_tells_everyone_in_order_on_sqlite() {
    whole_workflow(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_workflow_tells_everyone_in_order_on_postgres() {
    whole_workflow(Backend::Postgres).await;
}

pub async fn manager(s: &Server, admin: &str) -> (String, String) {
    let email = format!("manager-{}@staff.test", uuid::Uuid::new_v4().simple());
    let (st, m) = s
        .post(
            "/api/v1/users",
            Some(admin),
            &json!({"name": "Morgan Manager", "email": email, "password": PASSWORD, "role": "manager"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{m}");
    (email.clone(), s.login(&email, PASSWORD).await)
}

async fn whole_workflow(backend: Backend) {
    let stand = Stand::start().await;
    let s = Server::spawn_env(backend, stand.env()).await;
    let w = World::new(&s).await;
    let (e0, e1) = (&w.experts[0], &w.experts[1]);
    let c = &w.customer;
    let (st, _) =
        s.post("/api/v1/devices", Some(&e0.token), &json!({"platform": "android", "push_token": "token-e0"})).await;
    assert_eq!(st, StatusCode::CREATED);

    // 1. Raised and assigned: the expert gets a push and an SMS, the customer (who
    //    prefers e-mail) hears that the expert is on the way, with a name and an ETA.
    let (st, t) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", "TV shows no signal")).await;
    assert_eq!((st, t["assigned_expert_id"].as_str()), (StatusCode::CREATED, Some(e0.id.as_str())));
    let id = t["id"].as_str().unwrap().to_owned();
    stand.wait(20, "the assignment messages", |st| st.all().len() >= 3).await;
    let step1 = stand.all();
    assert_eq!(step1.len(), 3, "{:#?}", stand.summary());
    let push = &stand.fcm.received()[0];
    assert_eq!(push.recipient, "token-e0");
    assert!(text(push).starts_with("New ticket: TV shows no signal"), "{}", text(push));
    assert_eq!(push.fcm_message().unwrap()["data"]["ticket_id"], id.as_str());
    assert!(push.dedupe_id.is_some(), "the push carries its stable id");
    let sms = &stand.twilio.received()[0];
    assert_eq!((sms.recipient.as_str(), sms.form_field("From")), (e0.phone.as_str(), Some(SMS_FROM)));
    assert!(text(sms).contains("new ticket \"TV shows no signal\""), "{}", text(sms));
    let mail = &stand.smtp.received()[0];
    assert_eq!(mail.recipient, c.email);
    let body = text(mail);
    assert!(body.starts_with("expert0 is on the way"), "{body}");
    assert!(body.contains("Estimated arrival: in about") && body.contains("minutes"), "{body}");

    // 2. The expert declines: the next best expert is told, and the customer hears
    //    that someone else is coming. The decliner no longer sees the ticket.
    let (st, t) =
        s.post(&format!("/api/v1/tickets/{id}/decline"), Some(&e0.token), &json!({"reason": "Van broke down"})).await;
    assert_eq!((st, t["assigned_expert_id"].as_str()), (StatusCode::OK, Some(e1.id.as_str())), "{t}");
    assert_eq!(t["status"], "assigned");
    stand.wait(20, "the reassignment messages", |st| st.all().len() >= 5).await;
    let all = stand.all();
    let step2: Vec<&Received> = all.iter().filter(|r| !step1.contains(r)).collect();
    assert_eq!(step2.len(), 2, "{:#?}", stand.summary());
    assert!(step1.iter().all(|a| step2.iter().all(|b| a.at <= b.at)), "step 2 messages came before step 1's");
    let sms = stand.twilio.received()[1].clone();
    assert_eq!(sms.recipient, e1.phone);
    let mail = stand.smtp.received()[1].clone();
    assert!(text(&mail).starts_with("A different expert is on the way"), "{}", text(&mail));
    assert!(text(&mail).contains("expert1 is on the way instead"));
    assert_eq!(stand.fcm.received().len(), 1, "expert 1 has no device to push to");
    assert_eq!(s.get(&format!("/api/v1/tickets/{id}"), Some(&e0.token)).await.0, StatusCode::NOT_FOUND);
    // A decline from someone else, or a second one, is refused.
    assert_eq!(
        s.post(&format!("/api/v1/tickets/{id}/decline"), Some(&e0.token), &json!({})).await.0,
        StatusCode::NOT_FOUND
    );

    // 3. Accepted and completed: the customer gets the survey link by e-mail.
    let (st, t) = s.post(&format!("/api/v1/tickets/{id}/accept"), Some(&e1.token), &json!({})).await;
    assert_eq!((st, t["status"].as_str()), (StatusCode::OK, Some("accepted")));
    let (st, again) = s.post(&format!("/api/v1/tickets/{id}/accept"), Some(&e1.token), &json!({})).await;
    assert_eq!(st, StatusCode::CONFLICT, "{again}");
    let (st, t) = s
        .post(
            &format!("/api/v1/tickets/{id}/complete"),
            Some(&e1.token),
            &json!({"resolution": "Reseated the HDMI cable."}),
        )
        .await;
    assert_eq!(
        (st, t["status"].as_str(), t["completed_by"].as_str()),
        (StatusCode::OK, Some("completed"), Some(e1.id.as_str()))
    );
    stand.wait(20, "the survey e-mail", |st| st.smtp.received().len() >= 3).await;
    let survey = stand.smtp.received()[2].clone();
    assert!(text(&survey).starts_with("How did we do?"), "{}", text(&survey));
    assert!(text(&survey).contains("expert1 has completed"));
    let link = survey_link(&survey).expect("a survey link");
    assert!(link.starts_with(&s.base), "the link points at this server: {link}");
    assert_eq!(stand.all().len(), 6, "nothing else was sent: {:#?}", stand.summary());

    // 4. The survey page works without JavaScript; the answer is recorded once.
    let page = s.http.get(&link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("<form method=\"post\"") && html.contains("name=\"rating\""), "{html}");
    let token = link.rsplit('/').next().unwrap();
    let (st, v) =
        s.post(&format!("/api/v1/surveys/{token}"), None, &json!({"rating": 5, "comment": "Quick and friendly"})).await;
    assert_eq!((st, v["rating"].as_i64()), (StatusCode::CREATED, Some(5)), "{v}");
    let (st, p) =
        s.post(&format!("/api/v1/surveys/{token}"), None, &json!({"rating": 1, "comment": "changed my mind"})).await;
    assert_eq!(st, StatusCode::CONFLICT, "{p}");
    let (_, t) = s.get(&format!("/api/v1/tickets/{id}"), Some(&c.token)).await;
    assert_eq!((t["status"].as_str(), t["close_reason"].as_str()), (Some("closed"), Some("survey_received")));

    // 5. The audit trail has every step, with who did it.
    let (_, ev) = s.get(&format!("/api/v1/tickets/{id}/events"), Some(&w.admin)).await;
    let steps: Vec<(String, String)> = ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["actor_role"].as_str().unwrap().to_owned()))
        .collect();
    let want = [
        ("created", "customer"),
        ("assigned", "system"),
        ("declined", "expert"),
        ("assigned", "system"),
        ("accepted", "expert"),
        ("completed", "expert"),
        ("survey_received", "system"),
        ("closed", "system"),
    ];
    assert_eq!(steps, want.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_everyone_declines_the_ticket_is_unassignable_and_managers_are_alerted() {
    let stand = Stand::start().await;
    let s = Server::spawn_env(Backend::Sqlite, stand.env()).await;
    let w = World::new(&s).await;
    let (manager_email, manager_token) = manager(&s, &w.admin).await;
    let c = &w.customer;
    let (_, t) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", "Soundbar silent")).await;
    let id = t["id"].as_str().unwrap().to_owned();
    assert_eq!(t["assigned_expert_id"], w.experts[0].id.as_str());
    let (_, t) = s.post(&format!("/api/v1/tickets/{id}/decline"), Some(&w.experts[0].token), &json!({})).await;
    assert_eq!(t["assigned_expert_id"], w.experts[1].id.as_str(), "never back to the expert who declined");
    let (st, t) = s.post(&format!("/api/v1/tickets/{id}/decline"), Some(&w.experts[1].token), &json!({})).await;
    assert_eq!((st, t["status"].as_str()), (StatusCode::OK, Some("unassignable")), "{t}");
    assert!(t["assigned_expert_id"].is_null());
    let reason = t["unassignable_reason"].as_str().unwrap();
    assert!(reason.contains("2 already passed on this ticket"), "{reason}");

    stand.wait(20, "the manager alert", |st| st.smtp.received().iter().any(|r| r.recipient == manager_email)).await;
    let alert = stand.smtp.received().into_iter().find(|r| r.recipient == manager_email).unwrap();
    assert!(text(&alert).starts_with("Sysops Squad alert: ticket unassignable"), "{}", text(&alert));
    assert!(text(&alert).contains("Soundbar silent") && text(&alert).contains("already passed"));
    stand
        .wait(20, "the customer notice", |st| {
            st.smtp.received().iter().any(|r| r.recipient == c.email && text(r).starts_with("We are finding an expert"))
        })
        .await;
    let (st, alerts) = s.get("/api/v1/alerts", Some(&manager_token)).await;
    assert_eq!(st, StatusCode::OK);
    let alerts = alerts["items"].as_array().unwrap();
    assert!(alerts.iter().any(|a| a["kind"] == "unassignable" && a["ticket_id"] == id.as_str()), "{alerts:?}");
    assert_eq!(s.get("/api/v1/alerts", Some(&c.token)).await.0, StatusCode::FORBIDDEN);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_assignment_times_out_and_moves_on() {
    let stand = Stand::start().await;
    let mut env = stand.env();
    env.push(("SYSOPS_ACCEPT_TIMEOUT_SECS".into(), "1".into()));
    let s = Server::spawn_env(Backend::Sqlite, env).await;
    let w = World::new(&s).await;
    let e0 = &w.experts[0];
    s.post("/api/v1/devices", Some(&e0.token), &json!({"platform": "ios", "push_token": "token-timeout"})).await;
    let c = &w.customer;
    let (_, t) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", "Picture freezes")).await;
    let id = t["id"].as_str().unwrap().to_owned();
    assert_eq!(t["assigned_expert_id"], e0.id.as_str());
    let mut moved = Value::Null;
    for _ in 0..200 {
        let (_, t) = s.get(&format!("/api/v1/tickets/{id}"), Some(&w.admin)).await;
        if t["assigned_expert_id"] != e0.id.as_str() {
            moved = t;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(moved["assigned_expert_id"], w.experts[1].id.as_str(), "{moved}");
    let (_, ev) = s.get(&format!("/api/v1/tickets/{id}/events"), Some(&w.admin)).await;
    let kinds: Vec<&str> = ev["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(&kinds[..4], &["created", "assigned", "accept_timeout", "assigned"]);
    stand
        .wait(20, "the withdrawal push", |st| {
            st.fcm
                .received()
                .iter()
                .any(|r| r.recipient == "token-timeout" && text(r).starts_with("Ticket no longer yours"))
        })
        .await;
}
