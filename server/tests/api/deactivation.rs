//! Deactivating an expert: their tokens stop working and their open tickets, accepted or
//! not, go to the next expert at once (or become unassignable when nobody fits); a
//! ticket still held by a deactivated expert (a crash between the two writes) is passed
//! on by the background jobs.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;

async fn laptop_plan(s: &Server, admin: &str) -> String {
    let (st, plan) = s
        .post(
            "/api/v1/plans",
            Some(admin),
            &json!({"name": "Laptops", "categories": ["laptop"], "monthly_price_cents": 999, "currency": "USD"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{plan}");
    plan["id"].as_str().unwrap().to_owned()
}

async fn raise(s: &Server, c: &Customer, title: &str) -> Value {
    let (st, t) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "laptop", title)).await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    t
}

async fn ticket(s: &Server, admin: &str, id: &str) -> Value {
    let (st, t) = s.get(&format!("/api/v1/tickets/{id}"), Some(admin)).await;
    assert_eq!(st, StatusCode::OK, "{t}");
    t
}

async fn kinds(s: &Server, admin: &str, id: &str) -> Vec<(String, String)> {
    let (_, ev) = s.get(&format!("/api/v1/tickets/{id}/events"), Some(admin)).await;
    ev["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["kind"].as_str().unwrap().to_owned(), e["actor_role"].as_str().unwrap().to_owned()))
        .collect()
}

async fn set_available(s: &Server, admin: &str, expert: &Expert, available: bool) {
    let (st, e) =
        s.patch(&format!("/api/v1/experts/{}", expert.id), Some(admin), &json!({"available": available})).await;
    assert_eq!(st, StatusCode::OK, "{e}");
}

#[tokio::test]
async fn a_deactivated_experts_open_tickets_go_to_the_next_expert_at_once() {
    let s = Server::spawn(Backend::Postgres).await;
    let admin = s.admin().await;
    let plan = laptop_plan(&s, &admin).await;
    let gone = add_expert(&s, &admin, "gone", &["laptop"], 1.0).await;
    let next = add_expert(&s, &admin, "next", &["laptop"], 3.0).await;
    set_available(&s, &admin, &next, false).await;
    let customer = add_customer(&s, "casey", &plan).await;

    // Two tickets with the first expert, one of them accepted.
    let accepted = raise(&s, &customer, "Will not boot").await;
    let waiting = raise(&s, &customer, "Fan noise").await;
    for t in [&accepted, &waiting] {
        assert_eq!(t["assigned_expert_id"].as_str(), Some(gone.id.as_str()), "{t}");
    }
    let a = accepted["id"].as_str().unwrap();
    let w = waiting["id"].as_str().unwrap();
    let (st, _) = s.post(&format!("/api/v1/tickets/{a}/accept"), Some(&gone.token), &json!({})).await;
    assert_eq!(st, StatusCode::OK);
    set_available(&s, &admin, &next, true).await;

    let (st, u) = s.patch(&format!("/api/v1/users/{}", gone.id), Some(&admin), &json!({"disabled": true})).await;
    assert_eq!((st, u["disabled"].as_bool()), (StatusCode::OK, Some(true)), "{u}");

    // At once, in the answer's wake: both tickets are the next expert's, not accepted yet.
    for id in [a, w] {
        let t = ticket(&s, &admin, id).await;
        assert_eq!(
            (t["status"].as_str(), t["assigned_expert_id"].as_str()),
            (Some("assigned"), Some(next.id.as_str())),
            "{t}"
        );
        let k = kinds(&s, &admin, id).await;
        assert!(k.contains(&("assignee_gone".to_owned(), "admin".to_owned())), "{k:?}");
        assert_eq!(k.last().map(|x| x.0.as_str()), Some("assigned"), "{k:?}");
    }
    // Their tokens stop working; the next expert can work the ticket.
    assert_eq!(s.get("/api/v1/tickets", Some(&gone.token)).await.0, StatusCode::UNAUTHORIZED);
    let (st, t) = s.post(&format!("/api/v1/tickets/{a}/accept"), Some(&next.token), &json!({})).await;
    assert_eq!((st, t["status"].as_str()), (StatusCode::OK, Some("accepted")), "{t}");

    // Nobody left who fits: the ticket becomes unassignable (and managers hear of it).
    let (st, _) = s.patch(&format!("/api/v1/users/{}", next.id), Some(&admin), &json!({"disabled": true})).await;
    assert_eq!(st, StatusCode::OK);
    for id in [a, w] {
        let t = ticket(&s, &admin, id).await;
        assert_eq!((t["status"].as_str(), t["assigned_expert_id"].as_str()), (Some("unassignable"), None), "{t}");
    }
    // Re-enabling changes nothing for tickets already moved; deactivating twice is harmless.
    let (st, _) = s.patch(&format!("/api/v1/users/{}", gone.id), Some(&admin), &json!({"disabled": false})).await;
    assert_eq!(st, StatusCode::OK);
    let (st, _) = s.patch(&format!("/api/v1/users/{}", next.id), Some(&admin), &json!({"disabled": true})).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(ticket(&s, &admin, w).await["status"].as_str(), Some("unassignable"));
}

#[tokio::test]
async fn the_background_jobs_pass_on_a_ticket_left_with_a_deactivated_expert() {
    let s = Server::spawn(Backend::Sqlite).await;
    let admin = s.admin().await;
    let plan = laptop_plan(&s, &admin).await;
    let gone = add_expert(&s, &admin, "gone", &["laptop"], 1.0).await;
    let next = add_expert(&s, &admin, "next", &["laptop"], 3.0).await;
    let customer = add_customer(&s, "casey", &plan).await;
    let t = raise(&s, &customer, "Will not boot").await;
    let id = t["id"].as_str().unwrap();
    let holder = t["assigned_expert_id"].as_str().unwrap().to_owned();
    let (held_by, other) = if holder == gone.id { (&gone, &next) } else { (&next, &gone) };

    // The account is marked disabled, but the first pass never ran (as after a crash
    // between the two writes).
    let db = rusqlite::Connection::open(s.cfg.data_dir.join("sysops.db")).unwrap();
    db.busy_timeout(Duration::from_secs(5)).unwrap();
    assert_eq!(db.execute("UPDATE users SET disabled = 1 WHERE email = ?1", [&held_by.email]).unwrap(), 1);
    drop(db);

    let deadline = tokio::time::Instant::now() + Duration::from_secs(40);
    loop {
        let now = ticket(&s, &admin, id).await;
        if now["assigned_expert_id"].as_str() != Some(holder.as_str()) {
            assert_eq!(now["assigned_expert_id"].as_str(), Some(other.id.as_str()), "{now}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "still held by the deactivated expert: {now}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let k = kinds(&s, &admin, id).await;
    assert!(k.contains(&("assignee_gone".to_owned(), "system".to_owned())), "{k:?}");
}
