//! Device sync end to end: a JS automerge-repo client nobody here wrote, the Rust device
//! client, authorization, bad input on the wire, offline merge rules, two nodes.

use crate::device::*;
use crate::helpers::*;
use crate::workflow::manager;
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::json;
use std::time::{Duration, Instant};
use sysops_core::sync::docs::{RootDoc, TicketDoc, WorkDoc};
use sysops_core::sync::ids;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_automerge_repo_client_completes_a_ticket_and_the_server_projects_it_on_sqlite() {
    js_completes_a_ticket(Backend::Sqlite, "--peer-id=expert").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stock_automerge_repo_client_with_its_own_random_peer_id_completes_a_ticket_on_postgres() {
    js_completes_a_ticket(Backend::Postgres, "--peer-id=stock").await;
}

/// `peer_id`: `--peer-id=expert` (`expert:<user-id>:<suffix>`, as our device does) or
/// `--peer-id=stock` (none set: automerge-repo's own random id).
async fn js_completes_a_ticket(backend: Backend, peer_id: &str) {
    let s = Server::spawn(backend).await;
    let w = World::new(&s).await;
    let c = &w.customer;
    let (_, t) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", "TV shows no signal")).await;
    let id = t["id"].as_str().unwrap().to_owned();
    let e0 = &w.experts[0];
    let out = js_client(
        &s.base,
        &e0.email,
        &[
            peer_id,
            "--ticket",
            &id,
            "--resolution",
            "Reseated the HDMI cable.",
            "--draft-title",
            "HDMI: no signal after an update",
            "--draft-body",
            "Power-cycle both devices, then reseat the cable.",
            "--draft-tags",
            "hdmi,television",
        ],
    );
    assert_eq!(out["ok"], true, "{out}");
    let expert_prefix = out["peer_id"].as_str().unwrap().starts_with(&format!("expert:{}:", e0.id));
    assert_eq!(expert_prefix, peer_id == "--peer-id=expert", "the client used the peer id asked for: {out}");
    assert_eq!(out["ticket"]["title"], "TV shows no signal", "the device read the dispatched ticket");
    let completed_at = out["work"]["completed"]["at"].as_str().unwrap().to_owned();
    // The server projected the completion, with the device's time, through the workflow.
    let mut t = serde_json::Value::Null;
    for _ in 0..100 {
        t = s.get(&format!("/api/v1/tickets/{id}"), Some(&w.admin)).await.1;
        if t["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!((t["status"].as_str(), t["completed_by"].as_str()), (Some("completed"), Some(e0.id.as_str())), "{t}");
    assert_eq!(t["resolution"], "Reseated the HDMI cable.");
    let device_time = chrono::DateTime::parse_from_rfc3339(&completed_at).unwrap();
    let stored = chrono::DateTime::parse_from_rfc3339(t["completed_at"].as_str().unwrap()).unwrap();
    assert_eq!(stored, device_time, "the device's completion time is kept");
    // …which sends the survey e-mail exactly as a REST completion does.
    let (_, queued) = s.get(&format!("/api/v1/admin/outbox?ticket_id={id}"), Some(&w.admin)).await;
    assert!(queued["items"].as_array().unwrap().iter().any(|m| m["template"] == "customer_survey"), "{queued}");
    // The draft written on the device is a KB article in review (its own document,
    // projected on its own: it may land after the completion).
    let article = format!("/api/v1/kb/{}", uuid_of(out["draft"]["url"].as_str().unwrap()));
    let mut kb = serde_json::Value::Null;
    for _ in 0..100 {
        kb = s.get(&article, Some(&w.admin)).await.1;
        if kb["status"] == "in_review" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        (kb["title"].as_str(), kb["status"].as_str()),
        (Some("HDMI: no signal after an update"), Some("in_review")),
        "{kb}"
    );
    assert_eq!(kb["author_id"], e0.id.as_str());
}

/// A television ticket raised by the world's customer, which goes to its first expert;
/// returns its id.
async fn raise_for_first_expert(s: &Server, w: &World, title: &str) -> String {
    let c = &w.customer;
    let (_, t) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", title)).await;
    assert_eq!(t["assigned_expert_id"], w.experts[0].id.as_str(), "{t}");
    t["id"].as_str().unwrap().to_owned()
}

fn uuid_of(url: &str) -> uuid::Uuid {
    ids::parse_url(url).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expert_reads_only_their_documents_and_cannot_write_the_servers() {
    let s = Server::spawn(Backend::Sqlite).await;
    let w = World::new(&s).await;
    let id = raise_for_first_expert(&s, &w, "Whose ticket?").await;
    let (e0, e1) = (&w.experts[0], &w.experts[1]);
    let ticket_url = ids::url(ids::ticket(id.parse().unwrap()));
    // Another expert cannot read it, nor its work document, nor someone's root.
    for url in [
        ticket_url.clone(),
        ids::url(ids::work(id.parse().unwrap(), e0.id.parse().unwrap())),
        ids::url(ids::root(e0.id.parse().unwrap())),
    ] {
        let out = js_client(&s.base, &e1.email, &["--expect-unavailable", &url]);
        assert_eq!(out["ok"], true, "{url}: {out}");
    }
    // The assignee cannot write the server's ticket document, and is told so.
    let out = js_client(&s.base, &e0.email, &["--ticket", &id, "--write-ticket-doc"]);
    assert_eq!(out["ok"], true, "{out}");
    assert!(out["write_ticket_doc"]["notice"]["message"].as_str().unwrap().contains("written by the server"));
    let (_, again) = s.get(&format!("/api/v1/tickets/{id}"), Some(&w.admin)).await;
    assert_eq!(again["title"], "Whose ticket?", "the server's data is unchanged");
    // Reassigned: the former expert loses the ticket document.
    let (_, t) = s.post(&format!("/api/v1/tickets/{id}/decline"), Some(&e0.token), &json!({})).await;
    assert_eq!(t["assigned_expert_id"], e1.id.as_str());
    let mut lost = serde_json::Value::Null;
    for _ in 0..20 {
        lost = js_client(&s.base, &e0.email, &["--expect-unavailable", &ticket_url]);
        if lost["ok"] == true {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(lost["ok"], true, "the former expert still reads the ticket: {lost}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_document_asked_for_too_early_arrives_on_the_same_connection_once_the_expert_may_read_it() {
    // The race behind it: a device signing in asks for its root before the server has
    // written it. Here, deterministically: a ticket asked for before it is reassigned.
    let s = Server::spawn(Backend::Sqlite).await;
    let w = World::new(&s).await;
    let id = raise_for_first_expert(&s, &w, "Soon yours").await;
    let (e0, e1) = (&w.experts[0], &w.experts[1]);
    let device = Device::connect(&s, &e1.email, PASSWORD).await;
    let doc = samod::DocumentId::try_from(ids::ticket(id.parse().unwrap()).as_bytes().to_vec()).unwrap();
    assert!(device.repo.find(doc.clone()).await.unwrap().is_none(), "not theirs yet: unavailable");
    assert!(device.repo.find(doc.clone()).await.unwrap().is_none(), "and automerge-repo does not ask again");
    let (_, t) = s.post(&format!("/api/v1/tickets/{id}/decline"), Some(&e0.token), &json!({})).await;
    assert_eq!(t["assigned_expert_id"], e1.id.as_str());
    let h = device.find(ids::ticket(id.parse().unwrap())).await.expect("the ticket arrives without a reconnect");
    let title = device.wait_for(&h, 20, "the ticket's title", |d| Some(TicketDoc::read(d).ok()?.title)).await;
    assert_eq!(title, "Soon yours");
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customers_and_strangers_get_no_sync_at_all() {
    let s = Server::spawn(Backend::Sqlite).await;
    let w = World::new(&s).await;
    let ws = s.base.replace("http://", "ws://") + "/api/v1/sync";
    let refused = |r: Result<_, tokio_tungstenite::tungstenite::Error>| match r {
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => resp.status().as_u16(),
        Err(e) => panic!("{e}"),
        Ok(_) => 101,
    };
    assert_eq!(refused(tokio_tungstenite::connect_async(ws.as_str()).await.map(|_| ())), 401);
    let with_token = format!("{ws}?access_token={}", w.customer.token);
    assert_eq!(refused(tokio_tungstenite::connect_async(with_token.as_str()).await.map(|_| ())), 403);
    let garbage = format!("{ws}?access_token=garbage");
    assert_eq!(refused(tokio_tungstenite::connect_async(garbage.as_str()).await.map(|_| ())), 401);
    assert_eq!(s.get("/api/v1/sync/root", Some(&w.customer.token)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.get("/api/v1/sync/root", None).await.0, StatusCode::UNAUTHORIZED);
}

fn cbor(fields: &[(&str, &str)], data: Option<&[u8]>) -> Vec<u8> {
    let mut e = minicbor::Encoder::new(Vec::new());
    e.map((fields.len() + usize::from(data.is_some())) as u64).unwrap();
    for (k, v) in fields {
        e.str(k).unwrap().str(v).unwrap();
    }
    if let Some(d) = data {
        e.str("data").unwrap().bytes(d).unwrap();
    }
    e.into_writer()
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens a raw socket for `expert`, sends `join`, and returns it after the `peer` reply.
async fn raw(s: &Server, e: &Expert) -> (Ws, String, String) {
    let (ws, server) = join_as(s, e, &format!("expert:{}:raw", e.id)).await.expect("joined");
    (ws, format!("expert:{}:raw", e.id), server)
}

/// Opens a raw socket for `expert` and joins as `peer`: the socket and the server's peer
/// id, or the `error` message and close frame the server answered with.
async fn join_as(s: &Server, e: &Expert, peer: &str) -> Result<(Ws, String), (String, u16, String)> {
    let url = format!("{}/api/v1/sync?access_token={}", s.base.replace("http://", "ws://"), e.token);
    let (mut ws, _) = tokio_tungstenite::connect_async(url.as_str()).await.unwrap();
    let mut e = minicbor::Encoder::new(Vec::new());
    e.map(3).unwrap().str("type").unwrap().str("join").unwrap().str("senderId").unwrap().str(peer).unwrap();
    e.str("supportedProtocolVersions").unwrap().array(1).unwrap().str("1").unwrap();
    ws.send(Message::Binary(e.into_writer().into())).await.unwrap();
    // The server answers with `peer`, naming itself, or with `error` and a close.
    loop {
        match ws.next().await {
            Some(Ok(Message::Binary(b))) => {
                let env = sysops_server::sync::wire::decode(&b).unwrap();
                if env.kind == Some("error") {
                    let message: std::collections::BTreeMap<String, String> = minicbor::decode(&b).unwrap();
                    let (code, why) = closed_with(&mut ws).await;
                    return Err((message["message"].clone(), code, why));
                }
                return Ok((ws, env.sender.unwrap().to_owned()));
            }
            Some(Ok(_)) => continue,
            other => panic!("no peer message: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_peer_id_binds_to_its_expert_but_not_one_another_expert_is_using() {
    let s = Server::spawn(Backend::Sqlite).await;
    let w = World::new(&s).await;
    let (a, b) = (&w.experts[0], &w.experts[1]);
    // A random id of automerge-repo's own style is accepted and bound to expert A.
    let mine = format!("peer-{}", uuid::Uuid::new_v4().simple());
    let (mut ws, server) = join_as(&s, a, &mine).await.expect("a stock peer id is accepted");
    // Expert B cannot take it while A is connected with it…
    let Err((message, code, _)) = join_as(&s, b, &mine).await else { panic!("someone else's live peer id accepted") };
    assert_eq!(code, 1008);
    assert!(message.contains("in use by another account"), "{message}");
    // …nor name the server itself, nor send an empty or unprintable id.
    for bad in [server.as_str(), "", "bad\nid", &"x".repeat(201)] {
        let Err((message, code, _)) = join_as(&s, b, bad).await else { panic!("{bad:?} accepted") };
        assert_eq!(code, 1008, "{bad:?}");
        assert!(message.contains("peer id"), "{bad:?}: {message}");
    }
    // A's own second connection with the same id is A's business.
    let (again, _) = join_as(&s, a, &mine).await.expect("the same expert reconnects with its id");
    drop(again);
    // Once A is gone, the id is free; a message under another sender is still refused.
    ws.close(None).await.unwrap();
    drop(ws);
    let mut freed = None;
    for _ in 0..100 {
        if let Ok(joined) = join_as(&s, b, &mine).await {
            freed = Some(joined);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (mut ws, _) = freed.expect("the id is free once its connection ended");
    let doc = ids::url(uuid::Uuid::new_v4())[10..].to_owned();
    let spoof = cbor(&[("type", "sync"), ("senderId", "expert:other:1"), ("documentId", &doc)], Some(b"x"));
    ws.send(Message::Binary(spoof.into())).await.unwrap();
    assert_eq!(closed_with(&mut ws).await.0, 1008);
}

/// The close frame the server ends with (code, reason).
async fn closed_with(ws: &mut Ws) -> (u16, String) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(20), ws.next()).await {
            Ok(Some(Ok(Message::Close(Some(f))))) => return (f.code.into(), f.reason.to_string()),
            Ok(Some(Ok(Message::Close(None)))) | Ok(None) => return (0, String::new()),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return (1, e.to_string()),
            Err(_) => break,
        }
    }
    panic!("the server did not close the connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_the_wire_closes_only_that_connection_with_a_reason() {
    let s = Server::spawn_with(
        Backend::Sqlite,
        &[("SYSOPS_SYNC_MAX_NEW_DOCUMENTS", "20"), ("SYSOPS_SYNC_MAX_UNAVAILABLE", "20")],
    )
    .await;
    let w = World::new(&s).await;
    let e0 = &w.experts[0];
    // A healthy device stays connected throughout.
    let device = Device::connect(&s, &e0.email, PASSWORD).await;
    let (_, root) = s.get("/api/v1/sync/root", Some(&e0.token)).await;
    let root_id = Device::id(root["root"].as_str().unwrap());

    let doc = ids::url(uuid::Uuid::new_v4())[10..].to_owned();
    let cases: Vec<(&str, Vec<Message>, u16, &str)> = vec![
        ("malformed CBOR", vec![Message::Binary(vec![0xff, 0x00, 0x13].into())], 1007, "malformed"),
        (
            "truncated message",
            vec![Message::Binary(cbor(&[("type", "sync"), ("senderId", "x")], None)[..6].to_vec().into())],
            1007,
            "malformed",
        ),
        ("text frame", vec![Message::Text("hello".into())], 1003, "binary"),
        (
            "someone else's sender id",
            vec![Message::Binary(
                cbor(&[("type", "sync"), ("senderId", "expert:other:1"), ("documentId", &doc)], Some(b"x")).into(),
            )],
            1008,
            "senderId",
        ),
        ("invalid automerge data", vec![], 1007, "automerge"),
        ("an oversized message", vec![Message::Binary(vec![0u8; 33 * 1024 * 1024].into())], 1009, ""),
    ];
    for (name, msgs, code, reason) in cases {
        let (mut ws, peer, server) = raw(&s, e0).await;
        let msgs = if name == "invalid automerge data" {
            vec![Message::Binary(
                cbor(
                    &[("type", "sync"), ("senderId", &peer), ("targetId", &server), ("documentId", &doc)],
                    Some(b"\x42\x00garbage"),
                )
                .into(),
            )]
        } else {
            msgs
        };
        for m in msgs {
            let _ = ws.send(m).await;
        }
        let (got, why) = closed_with(&mut ws).await;
        assert!(got == code || (code == 1009 && got != 1000), "{name}: closed with {got} {why:?}");
        assert!(why.contains(reason), "{name}: reason {why:?}");
    }
    // A flood of new documents from one device is cut off.
    let (mut ws, peer, server) = raw(&s, e0).await;
    let mut last = (0, String::new());
    for _ in 0..30 {
        let mut d = automerge::AutoCommit::new();
        automerge::transaction::Transactable::put(&mut d, automerge::ROOT, "x", 1).unwrap();
        let mut state = automerge::sync::State::new();
        let msg = automerge::sync::SyncDoc::generate_sync_message(&d.sync(), &mut state).unwrap().encode();
        let id = ids::url(uuid::Uuid::new_v4())[10..].to_owned();
        if ws
            .send(Message::Binary(
                cbor(&[("type", "sync"), ("senderId", &peer), ("targetId", &server), ("documentId", &id)], Some(&msg))
                    .into(),
            ))
            .await
            .is_err()
        {
            break;
        }
    }
    last = closed_with(&mut ws).await.max(last);
    assert_eq!(last.0, 1008, "{last:?}");
    assert!(last.1.contains("too many new documents"), "{last:?}");
    // The healthy device was not disturbed, and stored documents still load.
    let h = device.find(root_id).await.expect("root");
    let r = device.wait_for(&h, 10, "the root", |d| RootDoc::read(d).ok()).await;
    assert_eq!(r.expert_id, e0.id);
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn work_done_offline_after_a_reassignment_stands_and_after_a_decline_or_cancellation_is_a_conflict() {
    let s = Server::spawn(Backend::Sqlite).await;
    let w = World::new(&s).await;
    let (_manager_email, manager_token) = manager(&s, &w.admin).await;
    let c = &w.customer;
    let (e0, e1) = (&w.experts[0], &w.experts[1]);
    s.post("/api/v1/devices", Some(&e1.token), &json!({"platform": "android", "push_token": "token-e1"})).await;
    // Only e0 is on duty while the tickets come in.
    s.patch(&format!("/api/v1/experts/{}", e1.id), Some(&w.admin), &json!({"available": false})).await;
    let (_, t) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", "Offline job")).await;
    let (_, t2) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", "Cancelled job")).await;
    let (_, t3) = s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", "Declined job")).await;
    assert_eq!(
        (t["assigned_expert_id"].as_str(), t2["assigned_expert_id"].as_str(), t3["assigned_expert_id"].as_str()),
        (Some(e0.id.as_str()), Some(e0.id.as_str()), Some(e0.id.as_str()))
    );
    s.patch(&format!("/api/v1/experts/{}", e1.id), Some(&w.admin), &json!({"available": true})).await;
    let id = t["id"].as_str().unwrap().to_owned();
    let (id2, id3) = (t2["id"].as_str().unwrap().to_owned(), t3["id"].as_str().unwrap().to_owned());
    // e0 gets the first ticket onto their device (two devices, in fact).
    let phone = Device::connect(&s, &e0.email, PASSWORD).await;
    let tablet = Device::connect(&s, &e0.email, PASSWORD).await;
    let work_id = ids::work(id.parse().unwrap(), e0.id.parse().unwrap());
    let ((_, wp), (_, wt)) = (phone.ticket(&id).await, tablet.ticket(&id).await);
    phone.ticket(&id3).await;
    // Both devices write notes; then the phone goes offline.
    phone.edit(&wp, |tx| WorkDoc::set_notes(tx, "Brought a ladder.").unwrap()).await;
    tablet.edit(&wt, |tx| WorkDoc::set_notes(tx, "Customer home after 5pm.").unwrap()).await;
    let mut merged = String::new();
    for _ in 0..100 {
        let notes = ticket_notes(&s, &w.admin, &id).await;
        if notes.contains("ladder") && notes.contains("5pm") {
            merged = notes;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(merged.contains("ladder") && merged.contains("5pm"), "notes from both devices are kept: {merged}");
    tablet.stop().await;
    phone.stop().await;
    // Meanwhile a manager reassigns the first ticket (e0 cannot be reached), and e0
    // declines the third by phone.
    let (st, t) = s
        .post(&format!("/api/v1/tickets/{id}/assign"), Some(&manager_token), &json!({"reason": "e0 unreachable"}))
        .await;
    assert_eq!((st, t["assigned_expert_id"].as_str()), (StatusCode::OK, Some(e1.id.as_str())), "{t}");
    let (_, t3) =
        s.post(&format!("/api/v1/tickets/{id3}/decline"), Some(&e0.token), &json!({"reason": "called in"})).await;
    assert_eq!(t3["assigned_expert_id"], e1.id.as_str());
    // …but the work on the first was done offline, and the device syncs later.
    let phone = Device::connect(&s, &e0.email, PASSWORD).await;
    let wp = phone.find(work_id).await.expect("the work document is still the expert's");
    phone
        .edit(&wp, |tx| WorkDoc::complete(tx, "2026-11-26T09:30:00Z", "Fixed before the reassignment.").unwrap())
        .await;
    let mut t = serde_json::Value::Null;
    for _ in 0..100 {
        t = s.get(&format!("/api/v1/tickets/{id}"), Some(&w.admin)).await.1;
        if t["status"] == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!((t["status"].as_str(), t["completed_by"].as_str()), (Some("completed"), Some(e0.id.as_str())), "{t}");
    let (_, alerts) = s.get("/api/v1/alerts", Some(&manager_token)).await;
    assert!(
        alerts["items"].as_array().unwrap().iter().any(|a| a["kind"] == "late_completion"),
        "the dispatcher is told: {alerts}"
    );
    // The superseded expert hears (push) that the job is done.
    let (_, queued) = s.get(&format!("/api/v1/admin/outbox?ticket_id={id}"), Some(&w.admin)).await;
    assert!(
        queued["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["template"] == "expert_ticket_done" && m["recipient"] == "token-e1"),
        "{queued}"
    );

    // The third ticket, which e0 declined, is completed offline too: refused, and a
    // conflict for the managers; the ticket stays with e1.
    let w3 = phone.find(ids::work(id3.parse().unwrap(), e0.id.parse().unwrap())).await.expect("e0's work document");
    phone.edit(&w3, |tx| WorkDoc::complete(tx, "2026-11-26T09:45:00Z", "Did it anyway.").unwrap()).await;
    let declined = conflict_for(&s, &manager_token, &id3).await;
    assert_eq!(declined["kind"], "completion_refused", "{declined}");
    assert!(declined["message"].as_str().unwrap().contains("you declined this ticket"), "{declined}");
    let (_, t3) = s.get(&format!("/api/v1/tickets/{id3}"), Some(&w.admin)).await;
    assert_eq!((t3["status"].as_str(), t3["assigned_expert_id"].as_str()), (Some("assigned"), Some(e1.id.as_str())));

    // The second ticket is cancelled while e0 completes it offline: a visible conflict.
    let (_, w2) = phone.ticket(&id2).await;
    let (st, _) =
        s.post(&format!("/api/v1/tickets/{id2}/cancel"), Some(&c.token), &json!({"reason": "fixed it myself"})).await;
    assert_eq!(st, StatusCode::OK);
    phone.edit(&w2, |tx| WorkDoc::complete(tx, "2026-11-26T10:00:00Z", "Done anyway.").unwrap()).await;
    let cancelled = conflict_for(&s, &manager_token, &id2).await;
    assert_eq!(cancelled["kind"], "completion_refused", "{cancelled}");
    let (_, t2) = s.get(&format!("/api/v1/tickets/{id2}"), Some(&w.admin)).await;
    assert_eq!(t2["status"], "cancelled");
    // The device learns the outcome on its next sync: a notice in its root.
    let root = phone.find(ids::root(e0.id.parse().unwrap())).await.unwrap();
    let n = phone
        .wait_for(&root, 10, "the conflict notice", |d| {
            RootDoc::read(d).ok().and_then(|r| r.notices.last().cloned()).filter(|n| n.message.contains("cancelled"))
        })
        .await;
    assert!(n.message.contains("completion_refused"), "{n:?}");
    phone.stop().await;
}

/// Waits for the managers' sync conflict about ticket `id`.
async fn conflict_for(s: &Server, manager_token: &str, id: &str) -> serde_json::Value {
    for _ in 0..100 {
        let conflicts = s.get("/api/v1/sync/conflicts", Some(manager_token)).await.1;
        if let Some(c) = conflicts["items"].as_array().and_then(|a| a.iter().find(|c| c["ticket_id"] == id)) {
            return c.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no sync conflict recorded for ticket {id}");
}

async fn ticket_notes(s: &Server, admin: &str, id: &str) -> String {
    let (_, t) = s.get(&format!("/api/v1/tickets/{id}"), Some(admin)).await;
    t["expert_notes"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_postgres_relay_a_change_to_a_device_within_a_second() {
    let a = Server::spawn(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let b = Server::start(Config { data_dir: dir.path().join("data"), ..a.cfg.clone() }).await;
    let w = World::new(&a).await;
    let c = &w.customer;
    let (_, t) = a.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", "Two nodes")).await;
    let id = t["id"].as_str().unwrap().to_owned();
    let e0 = &w.experts[0];
    // The device is connected to node A and holds the ticket document.
    let device = Device::connect(&a, &e0.email, PASSWORD).await;
    let (h, _) = device.ticket(&id).await;
    device.wait_for(&h, 10, "the ticket", |d| TicketDoc::read(d).ok()).await;
    // A dispatcher writes a note through node B.
    let started = Instant::now();
    let (st, _) =
        b.post(&format!("/api/v1/tickets/{id}/notes"), Some(&w.admin), &json!({"text": "Gate code 4711"})).await;
    assert_eq!(st, StatusCode::OK);
    let notes = device
        .wait_for(&h, 10, "the note from node B", |d| {
            TicketDoc::read(d).ok().map(|t| t.dispatcher_notes).filter(|n| n.contains("4711"))
        })
        .await;
    let took = started.elapsed();
    assert!(notes.contains("admin: Gate code 4711"), "{notes}");
    assert!(took < Duration::from_secs(1), "the change took {took:?} to reach a device on the other node");
    device.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_disabled_experts_open_sync_connection_is_closed_at_once() {
    let s = Server::spawn(Backend::Sqlite).await;
    let w = World::new(&s).await;
    let (mut ws, _, _) = raw(&s, &w.experts[0]).await;
    let (mut other, _, _) = raw(&s, &w.experts[1]).await;
    let (st, _) =
        s.patch(&format!("/api/v1/users/{}", w.experts[0].id), Some(&w.admin), &json!({"disabled": true})).await;
    assert_eq!(st, StatusCode::OK);
    let (code, reason) = closed_with(&mut ws).await;
    assert_eq!(code, 1008, "{reason}");
    assert!(reason.contains("disabled"), "{reason}");
    // Another expert's connection stays open: it still answers a ping.
    other.send(Message::Ping(vec![1, 2, 3].into())).await.unwrap();
    loop {
        match other.next().await {
            Some(Ok(Message::Pong(p))) => {
                assert_eq!(&p[..], &[1, 2, 3]);
                break;
            }
            Some(Ok(Message::Binary(_))) => continue,
            other => panic!("the other expert's connection ended: {other:?}"),
        }
    }
}
