//! The fleet on one node (issue 13): many experts' devices (the field app's own sync
//! stack, `tests/api/fleet.rs`, all in this process) connected to one release server on
//! SQLite. Phases, each printed with its figures:
//!
//! 1. baseline: one device connected alone; a dispatcher's note to it, `FLEET_BASELINE`
//!    times (default 20): the relay of one change to one device, p50/p99;
//! 2. connect: every device signs in and syncs its root, tickets, KB and own documents
//!    (`FLEET_PARALLEL` at a time); server RSS before and after, per connected device;
//! 3. fan-out: a dispatcher's note to `FLEET_FANOUT` devices (default half), sent as fast
//!    as 8 requests at a time go; per device, from its note's request to its arrival
//!    (p50/p99), and from the first request until the last device has its note;
//! 4. storm: the node stops, every expert writes a note offline, the node starts again
//!    on the same address and every device reconnects at once (with the app's jittered
//!    backoff); time until each device has caught up (both sides acknowledged every
//!    document on the new connection), "unavailable" answers, devices that never caught
//!    up (`FLEET_STORM_SECS`, default 300), server RSS after.
//!
//! `cargo bench -p sysops-server --bench fleet` (`FLEET_DEVICES`, default 2,000;
//! `FLEET_TICKETS`, tickets per expert, default 20, at most 20). The load generator
//! shares the machine's cores with the server. No time limits: figures only.

#[path = "../tests/api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

#[path = "../tests/api/fleet.rs"]
#[allow(dead_code)]
mod fleet;

mod common;

use common::{env, pct};
use fleet::*;
use helpers::{Backend, Server, metric};
use std::time::{Duration, Instant};

fn rss_mb(s: &Server) -> f64 {
    s.proc_status_kib("VmRSS") as f64 / 1024.0
}

fn main() {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(run());
}

async fn run() {
    let n = env("FLEET_DEVICES", 2000);
    let each = env("FLEET_TICKETS", 20).clamp(1, 20);
    let fanout = env("FLEET_FANOUT", n / 2).min(n);
    let parallel = env("FLEET_PARALLEL", 32);
    let storm_secs = env("FLEET_STORM_SECS", 300) as u64;
    println!("fleet: {n} devices, {each} tickets each, fan-out to {fanout}, one node, SQLite, release");

    let t = Instant::now();
    let mut s = Server::spawn(Backend::Sqlite).await;
    let world = FleetWorld::build(&s, n, each, 16).await;
    documents_written(&s).await;
    println!("setup: {n} experts and {} tickets in {:.1} s", n * each, t.elapsed().as_secs_f64());
    // Let the documents intake wrote leave memory (ADR 17) before measuring.
    tokio::time::sleep(Duration::from_secs(15)).await;
    let stats = Stats::default();

    // 1. Baseline: one device alone.
    let admin = s.admin().await;
    let (id0, email0) = world.experts[0].clone();
    let token = sign_in(&s, &email0).await;
    let alone = FleetDevice::connect(&s.base, id0, email0, token, each, &stats).await.expect("one device");
    let rounds = env("FLEET_BASELINE", 20);
    let mut base = Vec::new();
    for i in 0..rounds {
        let marker = format!("Baseline note {i}");
        let wait = alone.dispatcher_note_arrives(marker.clone());
        let sent = Instant::now();
        let (_, arrived) = tokio::join!(dispatcher_note(&s, &admin, &alone.tickets[0].0, &marker), wait);
        base.push(arrived.duration_since(sent).as_secs_f64() * 1e3);
    }
    alone.stop().await;
    let (b50, b99) = (pct(&mut base, 0.5), pct(&mut base, 0.99));
    println!(
        "baseline: a dispatcher's note to one connected device (request to arrival): p50 {b50:.1} ms, p99 {b99:.1} ms"
    );

    // 2. Connect everyone.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss_before = rss_mb(&s);
    let t = Instant::now();
    let devices = world.connect(&s, parallel, &stats).await;
    let connect_s = t.elapsed().as_secs_f64();
    let docs: usize = devices.iter().map(|d| d.docs().count()).sum();
    tokio::time::sleep(Duration::from_secs(10)).await;
    let rss_idle = rss_mb(&s);
    let open = metric(&s, "sysops_sync_documents_open").await;
    println!(
        "connect: {n} devices ({docs} documents) synced in {connect_s:.1} s ({:.1} devices/s); server RSS {rss_before:.0} -> {rss_idle:.0} MB idle, {:.0} KB per connected device (aim < 250); {open} documents open",
        n as f64 / connect_s,
        (rss_idle - rss_before) * 1024.0 / n as f64
    );

    // 3. Fan-out.
    let admin = s.admin().await;
    let targets = &devices[..fanout];
    let waits: Vec<_> =
        targets.iter().map(|d| tokio::spawn(d.dispatcher_note_arrives(format!("Fan-out {}", d.expert)))).collect();
    let first = Instant::now();
    let sent: Vec<Instant> = futures::StreamExt::collect::<Vec<_>>(futures::StreamExt::buffered(
        futures::stream::iter(targets.iter().map(|d| {
            let admin = admin.clone();
            let s = &s;
            async move {
                let at = Instant::now();
                dispatcher_note(s, &admin, &d.tickets[0].0, &format!("Fan-out {}", d.expert)).await;
                at
            }
        })),
        8,
    ))
    .await;
    let sent_all = first.elapsed().as_secs_f64();
    let mut lat = Vec::new();
    let mut last = first;
    for (w, at) in waits.into_iter().zip(sent) {
        let arrived = w.await.unwrap();
        lat.push(arrived.duration_since(at).as_secs_f64() * 1e3);
        last = last.max(arrived);
    }
    let (f50, f99) = (pct(&mut lat, 0.5), pct(&mut lat, 0.99));
    println!(
        "fan-out: {fanout} notes sent in {sent_all:.1} s; request to arrival p50 {f50:.1} ms ({:.1}x the baseline), p99 {f99:.1} ms (aim < 1,000); last device had its note {:.1} s after the first request",
        f50 / b50,
        last.duration_since(first).as_secs_f64()
    );

    // 4. Storm.
    let unavailable_before = stats.unavailable();
    s.stop();
    all_disconnected(&devices).await;
    for d in &devices {
        d.note_first(format!("Offline during the restart: {}", d.expert)).await;
    }
    let t = Instant::now();
    s.restart_in_place().await;
    let up = t.elapsed().as_secs_f64();
    let times: Vec<Option<f64>> = futures::future::join_all(devices.iter().map(|d| async move {
        tokio::time::timeout(Duration::from_secs(storm_secs), d.caught_up()).await.ok()?;
        Some(t.elapsed().as_secs_f64())
    }))
    .await;
    let mut caught: Vec<f64> = times.iter().flatten().copied().collect();
    let failed = times.len() - caught.len();
    let (c50, c99, all) = if caught.is_empty() {
        (f64::NAN, f64::NAN, f64::NAN)
    } else {
        (pct(&mut caught, 0.5), pct(&mut caught, 0.99), caught.iter().copied().fold(0.0, f64::max))
    };
    tokio::time::sleep(Duration::from_secs(10)).await;
    println!(
        "storm: node listening again {up:.1} s after it was started; {} of {n} devices caught up, p50 {:.1} s, p99 {:.1} s, all {:.1} s (aim < 30); never caught up: {failed}; unavailable: {} on devices, {} answered by the server; server RSS after {:.0} MB",
        caught.len(),
        c50,
        c99,
        all,
        stats.unavailable() - unavailable_before,
        metric(&s, "sysops_sync_unavailable_total").await,
        rss_mb(&s)
    );
    for d in devices {
        d.stop().await;
    }
}
