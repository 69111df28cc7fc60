//! Memory follows activity (ADR 17): a sync document nobody is using leaves memory and
//! comes back from storage, whole, when a device asks for it; a document a device is
//! syncing stays; no edit is lost to an eviction. The server runs with an idle time of
//! one second and no idle documents kept, so evictions happen all the time; what is
//! open and what left memory is read from `/metrics`.

use crate::device::*;
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;
use std::time::Duration;
use sysops_core::sync::docs::{RootDoc, TicketDoc, WorkDoc};

/// Documents leave memory as soon as they may, and the registry keeps almost nothing in
/// memory (every access decision but a handful is read from the database).
const EAGER: [(&str, &str); 3] =
    [("SYSOPS_SYNC_IDLE_CLOSE_SECS", "1"), ("SYSOPS_SYNC_CACHE_DOCUMENTS", "0"), ("SYSOPS_SYNC_CACHE_ENTRIES", "4")];

const OPEN: &str = "sysops_sync_documents_open";
const CLOSED: &str = "sysops_sync_documents_closed_total";

/// Waits (up to 20 s) until no sync document is in memory.
async fn until_none_open(s: &Server, what: &str) {
    for _ in 0..200 {
        if metric(s, OPEN).await == 0.0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: still {} documents open", metric(s, OPEN).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_document_leaves_memory_and_a_device_gets_it_back_whole_on_sqlite() {
    idle_documents_leave_and_come_back(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_document_leaves_memory_and_a_device_gets_it_back_whole_on_postgres() {
    idle_documents_leave_and_come_back(Backend::Postgres).await;
}

async fn idle_documents_leave_and_come_back(backend: Backend) {
    let s = Server::spawn_with(backend, &EAGER).await;
    let w = World::new(&s).await;
    let c = &w.customer;
    let (_, t) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", "Evicted and back")).await;
    let id = t["id"].as_str().unwrap().to_owned();
    let e0 = &w.experts[0];
    assert_eq!(t["assigned_expert_id"], e0.id.as_str(), "{t}");
    let (st, _) =
        s.post(&format!("/api/v1/tickets/{id}/notes"), Some(&w.admin), &json!({"text": "Dog in the yard"})).await;
    assert_eq!(st, StatusCode::OK);
    // The server wrote the ticket's, the work and the root documents; nobody syncs them.
    until_none_open(&s, "nobody uses the documents").await;
    let closed_before = metric(&s, CLOSED).await;
    assert!(closed_before >= 3.0, "the ticket, work and root documents left memory: {closed_before}");

    // A device asks: the documents load from storage, with everything written before.
    let device = Device::connect(&s, &e0.email, PASSWORD).await;
    let (ticket, work) = device.ticket(&id).await;
    let doc = device
        .wait_for(&ticket, 20, "the ticket document", |d| {
            TicketDoc::read(d).ok().filter(|t| t.dispatcher_notes.contains("Dog in the yard"))
        })
        .await;
    assert_eq!((doc.title.as_str(), doc.status.as_str()), ("Evicted and back", "assigned"));
    assert!(!doc.customer_name.is_empty(), "the whole ticket: {doc:?}");
    assert!(metric(&s, OPEN).await >= 3.0, "the device's documents are open");

    // While the device is connected its documents stay, through several eviction rounds.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(metric(&s, CLOSED).await, closed_before, "a document in use left memory");
    // …and stay live both ways: the server's change reaches the device, the device's
    // change reaches the server.
    let (st, _) =
        s.post(&format!("/api/v1/tickets/{id}/notes"), Some(&w.admin), &json!({"text": "Gate code 4711"})).await;
    assert_eq!(st, StatusCode::OK);
    device
        .wait_for(&ticket, 20, "the second note", |d| {
            TicketDoc::read(d).ok().filter(|t| t.dispatcher_notes.contains("4711"))
        })
        .await;
    device.edit(&work, |tx| WorkDoc::set_notes(tx, "Bring the long ladder.").unwrap()).await;
    let mut notes = String::new();
    for _ in 0..200 {
        let (_, t) = s.get(&format!("/api/v1/tickets/{id}"), Some(&w.admin)).await;
        notes = t["expert_notes"].as_str().unwrap_or_default().to_owned();
        if notes.contains("ladder") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(notes.contains("Bring the long ladder."), "the device's notes were projected: {notes:?}");
    assert_eq!(metric(&s, CLOSED).await, closed_before, "a document in use left memory");

    // The device goes away: its documents leave memory too, and come back whole for the
    // next device.
    device.stop().await;
    until_none_open(&s, "the device disconnected").await;
    assert!(metric(&s, CLOSED).await > closed_before);
    let tablet = Device::connect(&s, &e0.email, PASSWORD).await;
    let (ticket, work) = tablet.ticket(&id).await;
    let notes = tablet
        .wait_for(&ticket, 20, "both notes", |d| {
            TicketDoc::read(d).ok().map(|t| t.dispatcher_notes).filter(|n| n.contains("Dog") && n.contains("4711"))
        })
        .await;
    assert!(notes.contains("admin: Dog in the yard") && notes.contains("admin: Gate code 4711"), "{notes}");
    let work = tablet.wait_for(&work, 20, "the work notes", |d| WorkDoc::read(d).ok()).await;
    assert_eq!(work.notes, "Bring the long ladder.");
    tablet.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_made_while_documents_come_and_go_are_all_kept() {
    let s = Server::spawn_with(Backend::Sqlite, &EAGER).await;
    let w = World::new(&s).await;
    let c = &w.customer;
    let (_, t) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", "Many notes")).await;
    let id = t["id"].as_str().unwrap().to_owned();
    // Notes at intervals around the idle time: the document is written, evicted, loaded
    // again and written again, sometimes while it is being closed.
    let closed_before = metric(&s, CLOSED).await;
    for i in 0..24u64 {
        let (st, _) = s
            .post(&format!("/api/v1/tickets/{id}/notes"), Some(&w.admin), &json!({"text": format!("note {i};")}))
            .await;
        assert_eq!(st, StatusCode::OK);
        tokio::time::sleep(Duration::from_millis(150 + 100 * (i % 12))).await;
    }
    assert!(metric(&s, CLOSED).await > closed_before + 3.0, "documents left memory between the notes");
    until_none_open(&s, "after the notes").await;
    let device = Device::connect(&s, &w.experts[0].email, PASSWORD).await;
    let (ticket, _) = device.ticket(&id).await;
    let notes = device
        .wait_for(&ticket, 20, "the last note", |d| {
            TicketDoc::read(d).ok().map(|t| t.dispatcher_notes).filter(|n| n.contains("note 23;"))
        })
        .await;
    for i in 0..24 {
        assert!(notes.contains(&format!("admin: note {i};")), "note {i} is missing: {notes}");
    }
    device.stop().await;
}

/// An expert's root lists their open tickets and only their latest completions, so
/// changing it costs the same after a year as on the first day.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_experts_root_lists_open_tickets_and_only_the_latest_completions() {
    let limit = sysops_server::sync::reconcile::ROOT_COMPLETED as usize;
    let s = Server::spawn_with(Backend::Sqlite, &EAGER).await;
    let w = World::new(&s).await;
    let (c, e0) = (&w.customer, &w.experts[0]);
    // Only e0 is on duty, so every ticket is theirs.
    for e in &w.experts[1..] {
        s.patch(&format!("/api/v1/experts/{}", e.id), Some(&w.admin), &json!({"available": false})).await;
    }
    let mut completed = Vec::new();
    for i in 0..limit + 2 {
        let (st, t) =
            s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", &format!("TV {i}"))).await;
        assert_eq!((st, t["assigned_expert_id"].as_str()), (StatusCode::CREATED, Some(e0.id.as_str())), "{t}");
        let id = t["id"].as_str().unwrap().to_owned();
        let (st, _) = s.post(&format!("/api/v1/tickets/{id}/accept"), Some(&e0.token), &json!({})).await;
        assert_eq!(st, StatusCode::OK);
        let (st, p) =
            s.post(&format!("/api/v1/tickets/{id}/complete"), Some(&e0.token), &json!({"resolution": "Fixed."})).await;
        assert_eq!(st, StatusCode::OK, "{p}");
        completed.push(id);
    }
    let (_, open) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", "TV still open")).await;
    let open = open["id"].as_str().unwrap().to_owned();
    let device = Device::connect(&s, &e0.email, PASSWORD).await;
    let root = device.find(sysops_core::sync::ids::root(e0.id.parse().unwrap())).await.expect("the root");
    let wanted = open.clone();
    let listed = device
        .wait_for(&root, 20, "the open ticket in the root", move |d| {
            let r = RootDoc::read(d).ok()?;
            r.tickets.contains_key(&wanted).then_some(r.tickets)
        })
        .await;
    assert_eq!(listed.len(), limit + 1, "the open ticket and the latest {limit} completions");
    for (i, id) in completed.iter().enumerate() {
        assert_eq!(listed.contains_key(id), i >= 2, "completion {i} listed: {}", listed.contains_key(id));
    }
    // An older completion left the device's list, not the server.
    let (st, old) = s.get(&format!("/api/v1/tickets/{}", completed[0]), Some(&e0.token)).await;
    assert_eq!((st, old["status"].as_str()), (StatusCode::OK, Some("completed")), "{old}");
    device.stop().await;
}
