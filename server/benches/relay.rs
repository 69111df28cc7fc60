//! Edit relay latency (issue 13): how long an edit made on one connected device takes
//! to reach another connected device through the server, on loopback. Two samod
//! repositories (the device library's sync stack) connect over WebSocket; device A
//! edits a document, device B waits for the change. Baseline in the same run: the
//! same two devices through a bare samod relay in this process (in-memory storage, no
//! authentication, no access checks, no database), i.e. the protocol's own cost.
//!
//! `cargo bench -p sysops-server --bench relay` (`RELAY_ROUNDS`, default 400;
//! `RELAY_DOCUMENTS`, default 50: each round edits the next document, as a fleet would).
//! Prints p50/p90/p99 for both and the ratio; no time limits.

#[path = "../tests/api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use automerge::transaction::Transactable;
use automerge::{AutoCommit, ReadDoc};
use futures::{SinkExt, StreamExt};
use helpers::{Backend, Server, add_expert};
use samod::{BackoffConfig, DocHandle, PeerId, Repo, Transport};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sysops_core::client::WsDialer;
use tokio_tungstenite::tungstenite::Message;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.replace('_', "").parse().ok()).unwrap_or(default)
}

fn pct(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// A device: a samod repository dialing `base` with `token`.
async fn device(base: &str, token: &str, peer: String) -> Repo {
    let repo = Repo::build_tokio().with_peer_id(PeerId::from(peer)).load().await;
    let dialer = WsDialer::new(base, Arc::new(Mutex::new(token.to_owned()))).expect("a base URL");
    let handle = repo.dial(BackoffConfig::default(), Arc::new(dialer)).expect("dial");
    tokio::time::timeout(Duration::from_secs(20), handle.established())
        .await
        .expect("connected in time")
        .expect("connected");
    repo
}

/// A bare samod relay on loopback: accepts every WebSocket, shares everything.
async fn bare_relay() -> (String, Repo) {
    let repo = Repo::build_tokio().with_peer_id(PeerId::from("bare-relay".to_owned())).load().await;
    let acceptor = repo.make_acceptor(url::Url::parse("ws://127.0.0.1/relay").unwrap()).expect("acceptor");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let _ = tcp.set_nodelay(true);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(ws) = tokio_tungstenite::accept_async(tcp).await else { return };
                let (sink, stream) = ws.split();
                let incoming = stream.filter_map(|m| async move {
                    match m {
                        Ok(Message::Binary(b)) => Some(Ok(b.to_vec())),
                        Ok(_) => None,
                        Err(e) => Some(Err(std::io::Error::other(e.to_string()))),
                    }
                });
                let outgoing = sink
                    .sink_map_err(|e| std::io::Error::other(e.to_string()))
                    .with(|b: Vec<u8>| async move { Ok::<_, std::io::Error>(Message::Binary(b.into())) });
                let _ = acceptor.accept(Transport::new(Box::pin(incoming), Box::pin(outgoing)));
            });
        }
    });
    (base, repo)
}

/// Waits until `repo` has the document (the server may not have it yet).
async fn found(repo: &Repo, h: &DocHandle) -> DocHandle {
    for _ in 0..400 {
        if let Ok(Some(d)) = repo.find(h.document_id().clone()).await {
            return d;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("device B never found {}", h.document_id());
}

fn title(h: &DocHandle) -> Option<String> {
    h.with_document(|d| match d.get(automerge::ROOT, "title") {
        Ok(Some((automerge::Value::Scalar(s), _))) => match s.as_ref() {
            automerge::ScalarValue::Str(t) => Some(t.to_string()),
            _ => None,
        },
        _ => None,
    })
}

/// Relays `rounds` edits from A to B over `docs` documents; milliseconds per round.
async fn measure(a: &Repo, b: &Repo, docs: usize, rounds: usize) -> Vec<f64> {
    let mut pairs = Vec::new();
    for i in 0..docs {
        let mut doc = AutoCommit::new();
        doc.put(automerge::ROOT, "title", format!("document {i}")).unwrap();
        let mine = a.create(doc.document().clone()).await.expect("created");
        let theirs = found(b, &mine).await;
        pairs.push((mine, theirs));
    }
    // Warm up: every document relayed once before timing.
    for (r, (mine, theirs)) in pairs.iter().enumerate() {
        relay(mine, theirs, format!("warm {r}")).await;
    }
    let mut times = Vec::with_capacity(rounds);
    for r in 0..rounds {
        let (mine, theirs) = &pairs[r % docs];
        times.push(relay(mine, theirs, format!("round {r}")).await);
    }
    times
}

async fn relay(mine: &DocHandle, theirs: &DocHandle, marker: String) -> f64 {
    let mut changes = theirs.changes();
    let t0 = Instant::now();
    let m = marker.clone();
    mine.with_document(move |d| {
        let mut tx = d.transaction();
        tx.put(automerge::ROOT, "title", m).unwrap();
        tx.commit();
    });
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while title(theirs).as_deref() != Some(marker.as_str()) {
        match tokio::time::timeout_at(deadline, changes.next()).await {
            Ok(Some(_)) => {}
            _ => panic!("the edit {marker:?} did not arrive within 10 s"),
        }
    }
    t0.elapsed().as_secs_f64() * 1e3
}

fn report(name: &str, t: &[f64]) -> (f64, f64) {
    let (p50, p90, p99) = (pct(t, 0.5), pct(t, 0.9), pct(t, 0.99));
    println!("{name:<28} p50 {p50:>7.2} ms   p90 {p90:>7.2} ms   p99 {p99:>7.2} ms   ({} rounds)", t.len());
    (p50, p99)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let rounds = env("RELAY_ROUNDS", 400);
    let docs = env("RELAY_DOCUMENTS", 50).max(1);
    println!("edit relay on loopback: {rounds} rounds over {docs} documents, device A to device B");

    let (base, relay_repo) = bare_relay().await;
    let a = device(&base, "none", "device-a".into()).await;
    let b = device(&base, "none", "device-b".into()).await;
    let bare = measure(&a, &b, docs, rounds).await;
    a.stop().await;
    b.stop().await;
    relay_repo.stop().await;

    let s = Server::spawn(Backend::Sqlite).await;
    let admin = s.admin().await;
    let e = add_expert(&s, &admin, "relay", &["television"], 1.0).await;
    let a = device(&s.base, &e.token, format!("expert:{}:a", e.id)).await;
    let b = device(&s.base, &e.token, format!("expert:{}:b", e.id)).await;
    let ours = measure(&a, &b, docs, rounds).await;
    a.stop().await;
    b.stop().await;

    println!();
    let (bp50, bp99) = report("bare samod relay (baseline)", &bare);
    let (p50, p99) = report("sysops-server (SQLite)", &ours);
    println!();
    println!(
        "ratio sysops/baseline: p50 {:.2}x, p99 {:.2}x (aim: p50 under 2 ms, p99 under 10 ms)",
        p50 / bp50,
        p99 / bp99
    );
}
