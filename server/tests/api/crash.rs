//! A crash never loses an acknowledged ticket, and retries never duplicate one.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use tokio::sync::Mutex;

#[tokio::test]
async fn acknowledged_tickets_survive_kill_9_and_retries_do_not_duplicate_on_sqlite() {
    crash_and_retry(Backend::Sqlite).await;
}

#[tokio::test]
async fn acknowledged_tickets_survive_kill_9_and_retries_do_not_duplicate_on_postgres() {
    crash_and_retry(Backend::Postgres).await;
}

async fn crash_and_retry(backend: Backend) {
    const N: usize = 240;
    const KILL_AFTER: usize = 60;
    let mut s = Server::spawn(backend).await;
    let w = World::new(&s).await;
    let c = &w.customer;
    let keys: Vec<(String, Value)> = (0..N)
        .map(|i| {
            (
                uuid::Uuid::new_v4().to_string(),
                ticket_body(c, if i % 2 == 0 { "television" } else { "laptop" }, &format!("Crash ticket {i}")),
            )
        })
        .collect();
    let acked: Arc<Mutex<HashMap<String, String>>> = Arc::default();
    let notify = Arc::new(tokio::sync::Notify::new());
    let mut tasks = Vec::new();
    for (key, body) in keys.clone() {
        let req =
            s.req(Method::POST, "/api/v1/tickets", Some(&c.token)).header("Idempotency-Key", key.clone()).json(&body);
        let acked = acked.clone();
        let notify = notify.clone();
        tasks.push(tokio::spawn(async move {
            if let Ok(resp) = req.send().await
                && resp.status() == StatusCode::CREATED
                && let Ok(v) = resp.json::<Value>().await
            {
                let mut a = acked.lock().await;
                a.insert(key, v["id"].as_str().unwrap().to_owned());
                if a.len() >= KILL_AFTER {
                    notify.notify_one();
                }
            }
        }));
    }
    notify.notified().await;
    s.kill9();
    for t in tasks {
        let _ = t.await;
    }
    let acked = acked.lock().await.clone();
    assert!(
        acked.len() >= KILL_AFTER && acked.len() < N,
        "the kill came mid-way ({} of {N} acknowledged)",
        acked.len()
    );

    s.restart().await;
    // Every acknowledged ticket is there.
    for (key, id) in &acked {
        let (st, t) = s.get(&format!("/api/v1/tickets/{id}"), Some(&c.token)).await;
        assert_eq!(st, StatusCode::OK, "acknowledged ticket {id} (key {key}) lost");
        assert!(t["status"] == "assigned" || t["status"] == "unassignable");
    }
    // Every key retried: acknowledged ones replay the same ticket, others are created once.
    let mut ids = HashSet::new();
    for (key, body) in &keys {
        let (st, v) =
            send(s.req(Method::POST, "/api/v1/tickets", Some(&c.token)).header("Idempotency-Key", key).json(body))
                .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
        let id = v["id"].as_str().unwrap().to_owned();
        if let Some(first) = acked.get(key) {
            assert_eq!(&id, first, "a retried key returned a different ticket");
        }
        ids.insert(id);
    }
    assert_eq!(ids.len(), N);
    // And the customer holds exactly N tickets: no duplicates from the retries.
    let mut total = 0;
    let mut cursor = String::new();
    loop {
        let (_, page) = s.get(&format!("/api/v1/tickets?limit=200&cursor={cursor}"), Some(&c.token)).await;
        total += page["items"].as_array().unwrap().len();
        match page["next_cursor"].as_str() {
            Some(n) => cursor = n.to_owned(),
            None => break,
        }
    }
    assert_eq!(total, N, "tickets stored");
}
