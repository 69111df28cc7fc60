//! One scripted story of the foundation, run unchanged on SQLite and on PostgreSQL.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[tokio::test]
async fn the_story_holds_on_sqlite() {
    story(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_story_holds_on_postgres() {
    story(Backend::Postgres).await;
}

async fn story(backend: Backend) {
    let mut s = Server::spawn(backend).await;

    // Operations endpoints.
    let (st, v) = s.get("/health/ready", None).await;
    assert_eq!(
        (st, v["database"].as_str()),
        (StatusCode::OK, Some(if backend == Backend::Sqlite { "sqlite" } else { "postgres" }))
    );
    let (st, spec) = s.get("/api/v1/openapi.json", None).await;
    assert_eq!(st, StatusCode::OK);
    assert!(spec["paths"]["/api/v1/tickets"]["post"].is_object(), "OpenAPI lacks POST /tickets");
    let docs = s.http.get(s.url("/docs/")).send().await.unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"), "docs page is not the API reference");

    let w = World::new(&s).await;
    let c = &w.customer;

    // Registration never returns the password, and the customer can read their profile.
    let (st, me) = s.get("/api/v1/customers/me", Some(&c.token)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(me["email"], c.email.as_str());
    assert!(me.get("password").is_none() && me.get("password_hash").is_none());

    // One subscription per product.
    let (st, _) = s
        .post(
            "/api/v1/customers/me/subscriptions",
            Some(&c.token),
            &json!({"plan_id": w.plan_id, "product": "Living-room TV"}),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);

    // A ticket goes to the nearest expert skilled in its category, with reasons.
    let (st, t1) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", "TV shows no signal")).await;
    assert_eq!(st, StatusCode::CREATED, "{t1}");
    assert_eq!(t1["status"], "assigned");
    assert_eq!(t1["assigned_expert_id"], w.experts[0].id.as_str(), "nearest TV expert");
    assert_eq!(t1["assignment"]["expert_id"], w.experts[0].id.as_str());
    assert!(t1["assignment"]["score"].as_f64().unwrap() > 0.0);
    assert!(
        t1["assignment"]["reasons"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r.as_str().unwrap().contains("skilled in television"))
    );

    // Laptop: expert 2 is nearer than expert 1 and free.
    let (st, t2) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "laptop", "Laptop will not boot")).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(t2["assigned_expert_id"], w.experts[2].id.as_str());

    // A category the plan does not cover is refused, naming the field.
    let (st, p) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "phone", "Phone screen cracked")).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(p["errors"][0]["field"], "category");

    // Nobody repairs printers: unassignable, with the reason kept for the manager.
    let (st, t3) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "printer", "Printer offline")).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(t3["status"], "unassignable");
    assert!(t3["assignment"].is_null());
    assert!(t3["unassignable_reason"].as_str().unwrap().contains("no expert is skilled in printer"));

    // An agent raises a ticket on the customer's behalf.
    let (st, agent) = s
        .post(
            "/api/v1/users",
            Some(&w.admin),
            &json!({"name": "Ann Agent", "email": "ann@agents.test", "password": PASSWORD, "role": "agent"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{agent}");
    assert_eq!(agent["role"], "agent");
    let agent_token = s.login("ann@agents.test", PASSWORD).await;
    let mut body = ticket_body(c, "television", "Called in: TV has no sound");
    body["customer_id"] = json!(c.id);
    let (st, t4) = s.post("/api/v1/tickets", Some(&agent_token), &body).await;
    assert_eq!(st, StatusCode::CREATED, "{t4}");
    assert_eq!(t4["customer_id"], c.id.as_str());

    // Idempotency: the same key and body replay; a different body is refused.
    let key = uuid::Uuid::new_v4().to_string();
    let body = ticket_body(c, "laptop", "Laptop fan is loud");
    let first =
        send(s.req(Method::POST, "/api/v1/tickets", Some(&c.token)).header("Idempotency-Key", &key).json(&body)).await;
    let again = s
        .req(Method::POST, "/api/v1/tickets", Some(&c.token))
        .header("Idempotency-Key", &key)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers().get("idempotent-replayed").map(|v| v.to_str().unwrap()), Some("true"));
    let again: Value = again.json().await.unwrap();
    assert_eq!(first.1["id"], again["id"]);
    let (st, _) = send(
        s.req(Method::POST, "/api/v1/tickets", Some(&c.token)).header("Idempotency-Key", &key).json(&ticket_body(
            c,
            "laptop",
            "Something else entirely",
        )),
    )
    .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);

    // Lists: the customer's own tickets, newest first, filtered, paginated.
    let (st, list) = s.get("/api/v1/tickets", Some(&c.token)).await;
    assert_eq!(st, StatusCode::OK);
    let ids: Vec<&str> = list["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), 5);
    assert_eq!(ids[4], t1["id"].as_str().unwrap(), "oldest last");
    let (_, un) = s.get("/api/v1/tickets?status=unassignable", Some(&c.token)).await;
    assert_eq!(un["items"].as_array().unwrap().len(), 1);
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/tickets?limit=2&cursor={c}"),
            None => "/api/v1/tickets?limit=2".to_owned(),
        };
        let (_, page) = s.get(&path, Some(&c.token)).await;
        seen.extend(page["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap().to_owned()));
        match page["next_cursor"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids, "pages cover the list exactly once, in order");

    // The audit trail records who did what.
    let (st, ev) = s.get(&format!("/api/v1/tickets/{}/events", t4["id"].as_str().unwrap()), Some(&agent_token)).await;
    assert_eq!(st, StatusCode::OK);
    let kinds: Vec<&str> = ev["items"].as_array().unwrap().iter().map(|e| e["kind"].as_str().unwrap()).collect();
    assert_eq!(kinds, vec!["created", "assigned"]);
    assert_eq!(ev["items"][0]["actor_role"], "agent");

    // Experts: their own availability; not their skills.
    let e0 = &w.experts[0];
    let (st, me) = s.patch(&format!("/api/v1/experts/{}", e0.id), Some(&e0.token), &json!({"available": false})).await;
    assert_eq!((st, me["availability"].as_str()), (StatusCode::OK, Some("off")));
    let (st, _) =
        s.patch(&format!("/api/v1/experts/{}", e0.id), Some(&e0.token), &json!({"skills": ["printer"]})).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    // With expert 0 off duty, the next TV ticket goes to expert 1.
    let (_, t5) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", "TV remote unpaired")).await;
    assert_eq!(t5["assigned_expert_id"], w.experts[1].id.as_str());

    // Knowledge base: an admin's article is published and found; an expert's goes to review.
    let (st, a) = s
        .post("/api/v1/kb", Some(&w.admin), &json!({"title": "HDMI handshake fails after update", "body": "Power-cycle both devices, then reseat the HDMI cable.", "tags": ["hdmi", "television"]}))
        .await;
    assert_eq!((st, a["status"].as_str()), (StatusCode::CREATED, Some("published")));
    let (st, d) = s
        .post(
            "/api/v1/kb",
            Some(&e0.token),
            &json!({"title": "HDMI draft from the field", "body": "Reseat the HDMI cable.", "tags": []}),
        )
        .await;
    assert_eq!((st, d["status"].as_str()), (StatusCode::CREATED, Some("in_review")));
    let (st, hits) = s.get("/api/v1/kb?q=hdmi%20cable", Some(&e0.token)).await;
    assert_eq!(st, StatusCode::OK);
    let hits = hits["items"].as_array().unwrap();
    assert_eq!(hits.len(), 1, "drafts are not searchable: {hits:?}");
    assert_eq!(hits[0]["id"], a["id"]);
    assert!(hits[0]["snippet"].as_str().unwrap().to_lowercase().contains("hdmi"));
    let (st, _) = s.get(&format!("/api/v1/kb/{}", d["id"].as_str().unwrap()), Some(&w.experts[1].token)).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "another expert's draft is not visible");
    let (st, _) = s.get(&format!("/api/v1/kb/{}", d["id"].as_str().unwrap()), Some(&e0.token)).await;
    assert_eq!(st, StatusCode::OK);

    // Devices.
    let (st, dev) =
        s.post("/api/v1/devices", Some(&e0.token), &json!({"platform": "android", "push_token": "tok-1"})).await;
    assert_eq!((st, dev["expert_id"].as_str()), (StatusCode::CREATED, Some(e0.id.as_str())));

    // Refresh tokens work; tokens survive a restart (the key is stored, not per process).
    let (_, pair) = s.post("/api/v1/auth/login", None, &json!({"email": c.email, "password": PASSWORD})).await;
    let (st, refreshed) = s.post("/api/v1/auth/refresh", None, &json!({"refresh_token": pair["refresh_token"]})).await;
    assert_eq!((st, refreshed["role"].as_str()), (StatusCode::OK, Some("customer")));
    assert!(s.stop().success(), "graceful shutdown exits 0");
    s.restart().await;
    let (st, again) = s.get(&format!("/api/v1/tickets/{}", t1["id"].as_str().unwrap()), Some(&c.token)).await;
    assert_eq!(st, StatusCode::OK, "a token issued before the restart still works");
    assert_eq!(again["assignment"]["expert_id"], t1["assignment"]["expert_id"]);

    // Metrics count what happened.
    let metrics = s.http.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("sysops_http_requests_total"), "{metrics}");
}
