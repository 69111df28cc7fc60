//! The reports benchmark (issue 11): on a generated history (BENCH_TICKETS tickets over
//! two years, BENCH_EXPERTS experts, BENCH_CUSTOMERS customers; the full size is
//! 1,000,000 / 5,000 / 200,000), the rebuild's throughput, then each report's p50/p99
//! over HTTP (30 days and 365 days) against a trivial authenticated request in the same
//! run; intake throughput with reports read at the same time against intake alone; and
//! the read model's lag behind intake under that load.
//!
//! `cargo bench -p sysops-server --bench reports` (BENCH_TICKETS=1000000 BENCH_EXPERTS=5000
//! BENCH_CUSTOMERS=200000 for the size; the default is a tenth of it).

use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use sysops_server::reports::history::{self, Spec};

mod common;
use common::{bin, call, env, login, pct};

const ADMIN: (&str, &str) = ("root@bench.test", "root-password-1");
const PASSWORD: &str = "a-good-password";

/// Latencies (ms) of `n` sequential GETs of `path`.
async fn latencies(c: &reqwest::Client, base: &str, token: &str, path: &str, n: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let resp = c.get(format!("{base}{path}")).bearer_auth(token).send().await.unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
        let _ = resp.bytes().await.unwrap();
        out.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    out
}

/// Tickets raised per second by `workers` customers for `secs` seconds.
async fn intake(c: &reqwest::Client, base: &str, customers: &[(String, String)], secs: u64) -> f64 {
    let stop = Instant::now() + Duration::from_secs(secs);
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for (token, sub) in customers {
        let (c, base, done, token, sub) = (c.clone(), base.to_owned(), done.clone(), token.clone(), sub.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while Instant::now() < stop {
                let body = json!({"subscription_id": sub, "category": "laptop", "title": format!("Bench {i}"),
                                  "description": "It stopped working this morning."});
                let r = c.post(format!("{base}/api/v1/tickets")).bearer_auth(&token).json(&body).send().await.unwrap();
                assert!(r.status().is_success(), "{}", r.status());
                done.fetch_add(1, Ordering::Relaxed);
                i += 1;
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / secs as f64
}

async fn write_history(data: &std::path::Path, tickets: usize, experts: usize, customers: usize) {
    let db =
        sea_orm::Database::connect(format!("sqlite://{}?mode=rwc", data.join("sysops.db").display())).await.unwrap();
    let t = Instant::now();
    let spec = Spec { seed: 16, tickets, experts, customers, days: 730, end: Utc::now() };
    let g = history::generate(&db, &spec).await.unwrap();
    println!(
        "history: {} tickets, {} events, {} experts, {} customers over 730 days, written in {:.1} s",
        g.tickets,
        g.events,
        experts,
        customers,
        t.elapsed().as_secs_f64()
    );
    db.close().await.unwrap();

    // Rebuild (the same fold the job runs).
    let t = Instant::now();
    let out = bin().args(["reports", "rebuild", "--data-dir"]).arg(data).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let secs = t.elapsed().as_secs_f64();
    println!(
        "rebuild: {:.1} s, {:.0} tickets/s ({})",
        secs,
        tickets as f64 / secs,
        String::from_utf8_lossy(&out.stdout).trim()
    );
}

#[tokio::main]
async fn main() {
    let tickets = env("BENCH_TICKETS", 100_000);
    let experts = env("BENCH_EXPERTS", 500);
    let customers = env("BENCH_CUSTOMERS", 20_000);
    let dir = tempfile::tempdir().unwrap();
    // BENCH_DATA_DIR keeps the history for another run (which then skips writing it).
    let data = std::env::var_os("BENCH_DATA_DIR").map_or_else(|| dir.path().join("data"), Into::into);
    let kept = data.join("sysops.db").exists();
    if !kept {
        common::create_admin(&data, ADMIN.0, ADMIN.1);
        write_history(&data, tickets, experts, customers).await;
    }
    // Accounts made by this run are its own (a kept history has a previous run's).
    let run = uuid::Uuid::new_v4().simple().to_string()[..8].to_owned();

    let server = common::serve(&data, &[]);
    let base = server.1.clone();
    let c = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    let admin = login(&c, &base, ADMIN.0, ADMIN.1).await;
    let email = &format!("manager-{run}@bench.test");
    call(
        &c,
        reqwest::Method::POST,
        format!("{base}/api/v1/users"),
        Some(&admin),
        Some(json!({"name": "Bench Manager", "email": email, "password": PASSWORD, "role": "manager"})),
    )
    .await;
    let manager = login(&c, &base, email, PASSWORD).await;

    // Report latency, against a trivial authenticated request.
    let today = Utc::now().date_naive();
    let n = env("BENCH_REQUESTS", 40);
    let mut base_ms = latencies(&c, &base, &manager, "/api/v1/plans", n).await;
    let baseline = pct(&mut base_ms, 0.5);
    println!("baseline GET /api/v1/plans: p50 {:.2} ms, p99 {:.2} ms", baseline, pct(&mut base_ms, 0.99));
    for (which, days, filter) in [
        ("ticketing", 30, ""),
        ("ticketing", 365, ""),
        ("ticketing", 365, "&category=laptop"),
        ("experts", 30, ""),
        ("experts", 365, ""),
    ] {
        // A fresh sign-in per report: a slow one must not outlive the access token.
        let manager = login(&c, &base, email, PASSWORD).await;
        let from = today - chrono::Duration::days(days - 1);
        let path = format!("/api/v1/reports/{which}?from={from}&to={today}&tz=America/Chicago{filter}");
        let _ = latencies(&c, &base, &manager, &path, 2).await;
        let mut v = latencies(&c, &base, &manager, &path, n).await;
        let (p50, p99) = (pct(&mut v, 0.5), pct(&mut v, 0.99));
        println!(
            "{which} {days:>3} days{filter}: p50 {p50:8.2} ms, p99 {p99:8.2} ms ({:.1}× the baseline's p50)",
            p50 / baseline
        );
    }
    let manager = login(&c, &base, email, PASSWORD).await;

    // Intake alone, then intake while a manager reads reports.
    let plan = call(
        &c,
        reqwest::Method::POST,
        format!("{base}/api/v1/plans"),
        Some(&admin),
        Some(json!({"name": format!("Bench {run}"), "categories": ["laptop"], "monthly_price_cents": 999, "currency": "USD"})),
    )
    .await;
    let mut people = Vec::new();
    for i in 0..16 {
        let email = format!("bench-customer-{i}-{run}@bench.test");
        call(
            &c,
            reqwest::Method::POST,
            format!("{base}/api/v1/customers"),
            None,
            Some(json!({
            "name": format!("Bench {i}"), "email": email, "password": PASSWORD, "phone": "+13125550199",
            "notify_by": "email", "address": "1 Main St, Chicago", "location": {"lat": 41.88, "lon": -87.63}})),
        )
        .await;
        let token = login(&c, &base, &email, PASSWORD).await;
        let sub = call(
            &c,
            reqwest::Method::POST,
            format!("{base}/api/v1/customers/me/subscriptions"),
            Some(&token),
            Some(json!({"plan_id": plan["id"], "product": "Laptop"})),
        )
        .await;
        people.push((token, sub["id"].as_str().unwrap().to_owned()));
    }
    let secs = env("BENCH_SECS", 10) as u64;
    let alone = intake(&c, &base, &people, secs).await;
    let reading = Arc::new(AtomicBool::new(true));
    let lag_ms = Arc::new(std::sync::Mutex::new(Vec::new()));
    let reader = {
        let (c, base, manager, reading, lag_ms) =
            (c.clone(), base.clone(), manager.clone(), reading.clone(), lag_ms.clone());
        tokio::spawn(async move {
            let from = today - chrono::Duration::days(29);
            while reading.load(Ordering::Relaxed) {
                for which in ["ticketing", "experts"] {
                    let path = format!("{base}/api/v1/reports/{which}?from={from}&to={today}");
                    let v: Value = c.get(path).bearer_auth(&manager).send().await.unwrap().json().await.unwrap();
                    if let Some(at) = v["as_of"].as_str().and_then(|s| s.parse::<DateTime<Utc>>().ok()) {
                        lag_ms.lock().unwrap().push((Utc::now() - at).num_milliseconds() as f64);
                    }
                }
            }
        })
    };
    let with_reports = intake(&c, &base, &people, secs).await;
    reading.store(false, Ordering::Relaxed);
    reader.await.unwrap();
    println!(
        "intake: alone {alone:.0} tickets/s; while reports are read {with_reports:.0} tickets/s ({:.0}% of alone)",
        with_reports / alone * 100.0
    );
    let mut lags = lag_ms.lock().unwrap().clone();
    if !lags.is_empty() {
        println!(
            "read-model lag behind intake under load (now − as_of, sampled by the reader): p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
            pct(&mut lags, 0.5),
            pct(&mut lags, 0.99),
            lags.iter().copied().fold(0.0, f64::max)
        );
    }
    drop(server);
}
