//! A customer's data: exported as JSON, and erased (by the customer closing their account,
//! or by an administrator) with the tickets kept, anonymised.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn open_ticket(s: &Server, w: &World, title: &str) -> (String, String) {
    let c = &w.customer;
    let (st, t) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", title)).await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    (t["id"].as_str().unwrap().to_owned(), t["assigned_expert_id"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn a_customer_exports_their_data_and_closing_the_account_erases_it_keeping_tickets_anonymised() {
    let s = Server::spawn(Backend::Sqlite).await;
    let w = World::new(&s).await;
    let c = &w.customer;
    let (done, expert_id) = open_ticket(&s, &w, "Flat-screen flickers near the window").await;
    let expert = w.experts.iter().find(|e| e.id == expert_id).unwrap();
    let (st, _) = s
        .post(
            &format!("/api/v1/tickets/{done}/complete"),
            Some(&expert.token),
            &json!({"resolution": "New backlight."}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (open, _) = open_ticket(&s, &w, "Second set is dead").await;

    // Export: everything, as one JSON document, never cached.
    let resp = s.req(reqwest::Method::GET, "/api/v1/customers/me/export", Some(&c.token)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    let doc: Value = resp.json().await.unwrap();
    assert_eq!(doc["account"]["email"], c.email.as_str());
    assert_eq!(doc["profile"]["phone"], "+13125550199");
    assert_eq!(doc["tickets"].as_array().unwrap().len(), 2);
    assert!(doc["tickets"][0]["events"].as_array().unwrap().len() >= 2, "{doc}");
    assert!(!doc["messages"].as_array().unwrap().is_empty(), "{doc}");
    assert_eq!(doc["subscriptions"][0]["id"], c.subscription_id.as_str());
    // Only the customer themself, or an admin.
    assert_eq!(s.get("/api/v1/customers/me/export", Some(&expert.token)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.get(&format!("/api/v1/customers/{}/export", c.id), Some(&c.token)).await.0, StatusCode::FORBIDDEN);
    let (st, by_admin) = s.get(&format!("/api/v1/customers/{}/export", c.id), Some(&w.admin)).await;
    assert_eq!((st, &by_admin["account"]["email"]), (StatusCode::OK, &doc["account"]["email"]));

    // Closing needs the password, and waits while a ticket is open.
    let (st, body) =
        s.post("/api/v1/customers/me/close", Some(&c.token), &json!({"password": "not-my-password"})).await;
    assert_eq!(
        (st, body["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password")),
        "{body}"
    );
    let (st, body) = s.post("/api/v1/customers/me/close", Some(&c.token), &json!({"password": PASSWORD})).await;
    assert_eq!(st, StatusCode::CONFLICT, "{body}");
    let (st, _) = s
        .post(&format!("/api/v1/tickets/{open}/cancel"), Some(&c.token), &json!({"reason": "Call me on 555-0199"}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, pair) = s.post("/api/v1/auth/login", None, &json!({"email": c.email, "password": PASSWORD})).await;
    let (st, body) = s.post("/api/v1/customers/me/close", Some(&c.token), &json!({"password": PASSWORD})).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");

    // Signed out everywhere, and cannot sign in.
    assert_eq!(s.get("/api/v1/customers/me", Some(&c.token)).await.0, StatusCode::UNAUTHORIZED);
    let (st, _) = s.post("/api/v1/auth/refresh", None, &json!({"refresh_token": pair["refresh_token"]})).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = s.post("/api/v1/auth/login", None, &json!({"email": c.email, "password": PASSWORD})).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    // The tickets stay for reports, without anything that says who or where exactly.
    let (st, list) = s.get("/api/v1/tickets?limit=200", Some(&w.admin)).await;
    assert_eq!(st, StatusCode::OK);
    let mine: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["id"] == done.as_str() || t["id"] == open.as_str())
        .collect();
    assert_eq!(mine.len(), 2, "{list}");
    let (_, after) = s.get(&format!("/api/v1/customers/{}/export", c.id), Some(&w.admin)).await;
    let text = after.to_string();
    for personal in [c.email.as_str(), "+13125550199", "1 Main St", "Flat-screen flickers", "555-0199", "casey"] {
        assert!(!text.contains(personal), "{personal} survived erasure: {after}");
    }
    assert_eq!(after["tickets"].as_array().unwrap().len(), 2);
    assert_eq!(after["tickets"][0]["status"], "completed");
    assert_eq!(after["tickets"][0]["category"], "television");
    assert_eq!(after["tickets"][0]["resolution"], "New backlight.");
    let (_, outbox) = s.get("/api/v1/admin/outbox?limit=200", Some(&w.admin)).await;
    assert!(!outbox.to_string().contains(c.email.as_str()), "no message keeps the address");
    assert!(!outbox.to_string().contains("Flat-screen flickers"), "no message keeps the title");
}

#[tokio::test]
async fn an_admin_erases_a_customer_on_request() {
    let s = Server::spawn(Backend::Postgres).await;
    let w = World::new(&s).await;
    let c = &w.customer;
    let (st, _) = s.post(&format!("/api/v1/customers/{}/erase", c.id), Some(&c.token), &json!({})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let resp = s
        .req(reqwest::Method::POST, &format!("/api/v1/customers/{}/erase", c.id), Some(&w.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(s.get("/api/v1/customers/me", Some(&c.token)).await.0, StatusCode::UNAUTHORIZED);
    let (_, after) = s.get(&format!("/api/v1/customers/{}/export", c.id), Some(&w.admin)).await;
    assert!(after["account"]["email"].as_str().unwrap().ends_with("@erased.invalid"), "{after}");
    assert_eq!(after["subscriptions"][0]["status"], "cancelled");
    let unknown = uuid::Uuid::new_v4();
    let resp = s
        .req(reqwest::Method::POST, &format!("/api/v1/customers/{unknown}/erase"), Some(&w.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn erasure_reaches_the_experts_copy_of_the_ticket() {
    use sysops_core::sync::docs::TicketDoc;
    let s = Server::spawn(Backend::Sqlite).await;
    let w = World::new(&s).await;
    let (id, expert_id) = open_ticket(&s, &w, "Projector hums loudly").await;
    let expert = w.experts.iter().find(|e| e.id == expert_id).unwrap();
    let (st, _) = s
        .post(&format!("/api/v1/tickets/{id}/complete"), Some(&expert.token), &json!({"resolution": "Fan cleaned."}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let device = crate::device::Device::connect(&s, &expert.email, PASSWORD).await;
    let (ticket, _) = device.ticket(&id).await;
    device
        .wait_for(&ticket, 20, "the customer's name on the device", |d| {
            TicketDoc::read(d).ok().filter(|t| t.customer_name == "casey").map(|_| ())
        })
        .await;
    let resp = s
        .req(reqwest::Method::POST, &format!("/api/v1/customers/{}/erase", w.customer.id), Some(&w.admin))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let now = device
        .wait_for(&ticket, 20, "the erased ticket on the device", |d| {
            TicketDoc::read(d).ok().filter(|t| t.customer_phone.is_empty())
        })
        .await;
    assert_eq!((now.title.as_str(), now.address.as_str()), ("[erased]", ""));
    assert_eq!(now.customer_name, "Erased customer");
    device.stop().await;
}
