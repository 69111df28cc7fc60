//! Delivery guarantees of the outbox against misbehaving providers, a crash, and two
//! nodes sharing one PostgreSQL.

use crate::helpers::*;
use crate::providers::Stand;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;
use sysops_standins::{Faults, Provider};

/// Every outbox message: id → (channel, status, node).
async fn outbox(s: &Server, admin: &str) -> BTreeMap<String, (String, String, String)> {
    let mut out = BTreeMap::new();
    let mut cursor = String::new();
    loop {
        let (st, page) = s.get(&format!("/api/v1/admin/outbox?limit=200&cursor={cursor}"), Some(admin)).await;
        assert_eq!(st, StatusCode::OK, "{page}");
        for m in page["items"].as_array().unwrap() {
            out.insert(
                m["id"].as_str().unwrap().to_owned(),
                (
                    m["channel"].as_str().unwrap().to_owned(),
                    m["status"].as_str().unwrap().to_owned(),
                    m["node"].as_str().unwrap_or("").to_owned(),
                ),
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => return out,
        }
    }
}

/// Waits until every message in the outbox is sent; returns them.
async fn all_sent(s: &Server, admin: &str, secs: u64) -> BTreeMap<String, (String, String, String)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        let o = outbox(s, admin).await;
        if !o.is_empty() && o.values().all(|(_, st, _)| st == "sent") {
            return o;
        }
        assert!(tokio::time::Instant::now() < deadline, "not everything was sent: {o:#?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The stable id of each received message (FCM data.message_id, Twilio's status
/// callback, the e-mail's Message-ID), counted.
fn received_ids(stand: &Stand) -> HashMap<String, usize> {
    let mut n = HashMap::new();
    for r in stand.all() {
        let id = r.dedupe_id.clone().expect("every message carries a stable id");
        // The e-mail Message-ID is <outbox-id@domain>.
        let id = id.trim_start_matches('<').split('@').next().unwrap().to_owned();
        *n.entry(id).or_default() += 1;
        let _ = r.provider == Provider::Smtp;
    }
    n
}

async fn traffic(s: &Server, w: &World, n: usize) {
    for (i, e) in w.experts.iter().enumerate() {
        s.post("/api/v1/devices", Some(&e.token), &json!({"platform": "android", "push_token": format!("token-{i}")}))
            .await;
    }
    let c = &w.customer;
    for i in 0..n {
        let cat = if i % 2 == 0 { "television" } else { "laptop" };
        let (st, t) =
            s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, cat, &format!("Fault ticket {i}"))).await;
        assert_eq!(st, StatusCode::CREATED, "{t}");
    }
}

fn set_faults(stand: &Stand, f: Faults) {
    stand.fcm.set_faults(f);
    stand.twilio.set_faults(f);
    stand.smtp.set_faults(f);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_half_the_requests_refused_every_message_is_delivered_exactly_once() {
    let stand = Stand::start().await;
    set_faults(&stand, Faults { fail_5xx: 0.5, timeout: 0.0, drop: 0.0, seed: 11 });
    let s = Server::spawn_env(Backend::Sqlite, stand.env()).await;
    let w = World::new(&s).await;
    traffic(&s, &w, 12).await;
    let sent = all_sent(&s, &w.admin, 60).await;
    let got = received_ids(&stand);
    assert!(sent.len() >= 24, "{}", sent.len());
    for id in sent.keys() {
        assert_eq!(got.get(id), Some(&1), "message {id} delivered {:?} times", got.get(id));
    }
    assert_eq!(got.len(), sent.len(), "something arrived that the outbox did not send");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_timeouts_every_message_arrives_at_least_once_with_its_stable_id() {
    let stand = Stand::start().await;
    set_faults(&stand, Faults { fail_5xx: 0.2, timeout: 0.25, drop: 0.15, seed: 5 });
    let s = Server::spawn_env(Backend::Sqlite, stand.env()).await;
    let w = World::new(&s).await;
    traffic(&s, &w, 8).await;
    let sent = all_sent(&s, &w.admin, 90).await;
    let got = received_ids(&stand);
    for id in sent.keys() {
        assert!(got.get(id).copied().unwrap_or(0) >= 1, "message {id} never arrived");
    }
    assert!(got.keys().all(|id| sent.contains_key(id)), "an unknown id arrived");
    let repeats = got.values().filter(|n| **n > 1).count();
    let delayed = stand.all().iter().filter(|r| r.delayed).count();
    assert!(delayed > 0, "the timeout fault never fired; the test proves nothing");
    assert!(repeats <= delayed, "a repeat without a timed-out first attempt");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanently_failing_provider_dead_letters_and_an_admin_retry_delivers() {
    let stand = Stand::start().await;
    stand.smtp.fail_permanently(true);
    let s = Server::spawn_env(Backend::Sqlite, stand.env()).await;
    let w = World::new(&s).await;
    let c = &w.customer;
    s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", "Dead letter")).await;
    let dead = loop {
        let (_, page) = s.get("/api/v1/admin/outbox?status=dead", Some(&w.admin)).await;
        if let Some(m) = page["items"].as_array().unwrap().first() {
            break m.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(dead["channel"], "email");
    assert_eq!(dead["attempts"], 1, "a definite refusal is not retried");
    assert!(dead["last_error"].as_str().unwrap().contains("550"), "{dead}");
    assert!(stand.smtp.received().is_empty());
    // Only admins see or retry dead letters.
    assert_eq!(s.get("/api/v1/admin/outbox?status=dead", Some(&c.token)).await.0, StatusCode::FORBIDDEN);
    stand.smtp.fail_permanently(false);
    let id = dead["id"].as_str().unwrap();
    let (st, m) = s.post(&format!("/api/v1/admin/outbox/{id}/retry"), Some(&w.admin), &Value::Null).await;
    assert_eq!((st, m["status"].as_str()), (StatusCode::OK, Some("pending")), "{m}");
    stand.wait(20, "the retried e-mail", |st| !st.smtp.received().is_empty()).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(stand.smtp.received().len(), 1);
    let (st, _) = s.post(&format!("/api/v1/admin/outbox/{id}/retry"), Some(&w.admin), &Value::Null).await;
    assert_eq!(st, StatusCode::CONFLICT, "only dead messages can be retried");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crash_while_the_outbox_is_busy_loses_nothing_and_repeats_only_the_sends_in_flight() {
    const CONCURRENCY: usize = 2;
    let stand = Stand::start().await;
    // Refusals and a small concurrency keep the outbox busy long enough to kill it
    // in the middle.
    set_faults(&stand, Faults { fail_5xx: 0.2, timeout: 0.0, drop: 0.0, seed: 3 });
    let mut env = stand.env();
    env.push(("SYSOPS_OUTBOX_CONCURRENCY".into(), CONCURRENCY.to_string()));
    env.push(("SYSOPS_OUTBOX_BATCH".into(), "4".into()));
    let mut s = Server::spawn_env(Backend::Sqlite, env).await;
    let w = World::new(&s).await;
    traffic(&s, &w, 30).await;
    stand.wait(30, "the outbox to be half way", |st| st.all().len() >= 30).await;
    s.kill9();
    let before = stand.all().len();
    s.restart().await;
    let sent = all_sent(&s, &w.admin, 90).await;
    let got = received_ids(&stand);
    for id in sent.keys() {
        assert!(got.get(id).copied().unwrap_or(0) >= 1, "message {id} lost in the crash");
    }
    let repeats: usize = got.values().map(|n| n - 1).sum();
    assert!(before < sent.len(), "the kill came after everything was sent ({before} of {})", sent.len());
    assert!(repeats <= CONCURRENCY, "{repeats} messages repeated; only the {CONCURRENCY} in flight may be");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_postgres_drain_one_outbox_without_sending_twice() {
    let stand = Stand::start().await;
    let a = Server::spawn_env(Backend::Postgres, stand.env()).await;
    let dir = tempfile::tempdir().unwrap();
    let b = Server::start(Config { data_dir: dir.path().join("data"), ..a.cfg.clone() }).await;
    let w = World::new(&a).await;
    for (i, e) in w.experts.iter().enumerate() {
        b.post("/api/v1/devices", Some(&e.token), &json!({"platform": "android", "push_token": format!("token-{i}")}))
            .await;
    }
    let c = &w.customer;
    for i in 0..30 {
        let node = if i % 2 == 0 { &a } else { &b };
        let (st, t) =
            node.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "laptop", &format!("Two nodes {i}"))).await;
        assert_eq!(st, StatusCode::CREATED, "{t}");
    }
    let sent = all_sent(&b, &w.admin, 60).await;
    let got = received_ids(&stand);
    for id in sent.keys() {
        assert_eq!(got.get(id), Some(&1), "message {id} delivered {:?} times", got.get(id));
    }
    let nodes: std::collections::HashSet<&str> = sent.values().map(|(_, _, n)| n.as_str()).collect();
    assert_eq!(nodes.len(), 2, "both nodes took part: {nodes:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_given_back_unsent_are_pending_again_with_the_attempt_undone() {
    // The worker claims ahead of its free send slots; when it stops, it gives back what
    // it never attempted. No provider is configured here, so every message waits.
    let mut s = Server::spawn(Backend::Sqlite).await;
    let w = World::new(&s).await;
    traffic(&s, &w, 3).await;
    assert_eq!(s.stop().code(), Some(0));
    let settings = sysops_server::config::Settings {
        data_dir: s.cfg.data_dir.clone(),
        database_url: s.cfg.db_url.clone(),
        ..Default::default()
    };
    let db = sysops_server::db::Db::connect(&settings).await.unwrap();
    use sysops_server::notify::{Channel, outbox};
    let channels = [Channel::Push, Channel::Sms, Channel::Email];
    let claimed = outbox::claim(&db, "node-a", &channels, 4, 60_000).await.unwrap();
    assert_eq!(claimed.len(), 4, "the tickets queued at least four messages");
    assert!(claimed.iter().all(|m| m.status == "sending" && m.attempts == 1));
    let ids: Vec<uuid::Uuid> = claimed.iter().map(|m| m.id).collect();
    // Another node's claim is not this node's to give back.
    assert_eq!(outbox::release(&db, "node-b", &ids).await.unwrap(), 0);
    assert_eq!(outbox::release(&db, "node-a", &ids).await.unwrap(), 4);
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    use sysops_server::db::entity::outbox_message;
    let rows =
        outbox_message::Entity::find().filter(outbox_message::Column::Id.is_in(ids)).all(&db.read).await.unwrap();
    assert_eq!(rows.len(), 4);
    for m in rows {
        assert_eq!((m.status.as_str(), m.attempts, m.claimed_by.as_deref()), ("pending", 0, None), "{}", m.id);
    }
    // …and the next claim takes them again, as first attempts.
    let again = outbox::claim(&db, "node-a", &channels, 100, 60_000).await.unwrap();
    assert!(again.len() >= 4 && again.iter().all(|m| m.attempts == 1), "{again:?}");
}
