//! Memory that follows activity, not history: the server's resident memory after the
//! intake of many tickets, and again once the sync storage is idle and unused documents
//! have left memory (ADR 17). Prints figures and ratios against the RSS after the first
//! 1,000 tickets of the same run; no time limits.
//!
//! `cargo bench -p sysops-server --bench sync_memory` (`SYNC_MEMORY_TICKETS`, default
//! 100,000; checkpoints at 1,000, 10,000, 100,000 and 1,000,000 as far as it goes;
//! `SYNC_MEMORY_CONCURRENCY`, default 64).
//!
//! Twenty experts (capacity 20 each) take what the dispatcher assigns, so a few hundred
//! tickets have live documents; the rest are waiting for an expert and nobody may sync
//! them. A connected device keeps its documents in use while the rest leave memory.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CHICAGO: (f64, f64) = (41.8781, -87.6298);
const PASSWORD: &str = "memory-password-1";

struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path, idle_secs: u64) -> Server {
    let bin = env!("CARGO_BIN_EXE_sysops-server");
    let cmd = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.args(args)
            .arg("--data-dir")
            .arg(dir)
            .env("SYSOPS_LOG", "warn")
            .env("SYSOPS_SYNC_IDLE_CLOSE_SECS", idle_secs.to_string());
        c
    };
    let out = cmd(&["create-admin", "--email", "memory@sysops.test", "--password", PASSWORD]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut child =
        cmd(&["serve", "--bind", "127.0.0.1:0"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut base = String::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(u) = line.strip_prefix("listening on ") {
            base = u.trim().to_owned();
            break;
        }
    }
    assert!(!base.is_empty(), "the server did not start");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).pool_max_idle_per_host(256).build().unwrap();
    Server { child, base, http }
}

fn status_kb(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with(field)).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .unwrap_or(f64::NAN)
}

fn rss_mb(pid: u32) -> f64 {
    status_kb(pid, "VmRSS:") / 1024.0
}

/// The server's CPU time so far (user + system, clock ticks).
fn cpu_ticks(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            let rest = s.rsplit_once(')')?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
        })
        .unwrap_or(0)
}

/// Waits until the server has used (almost) no CPU for `quiet`: the intake's documents
/// and their storage writes are done.
async fn until_idle(pid: u32, quiet: Duration) -> Duration {
    let start = Instant::now();
    let mut last = cpu_ticks(pid);
    let mut calm_since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = cpu_ticks(pid);
        // Less than 2% of one core.
        if now.saturating_sub(last) > 1 {
            calm_since = Instant::now();
        }
        last = now;
        if calm_since.elapsed() >= quiet {
            return start.elapsed();
        }
    }
}

impl Server {
    async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (u16, Value) {
        let mut r = self.http.post(format!("{}{path}", self.base)).json(body);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        match r.send().await {
            Ok(resp) => (resp.status().as_u16(), resp.json().await.unwrap_or(Value::Null)),
            Err(_) => (0, Value::Null),
        }
    }

    async fn login(&self, email: &str) -> String {
        let (st, v) = self.post("/api/v1/auth/login", None, &json!({"email": email, "password": PASSWORD})).await;
        assert_eq!(st, 200, "login {email}: {v}");
        v["access_token"].as_str().unwrap().to_owned()
    }
}

fn north(km: f64) -> Value {
    json!({"lat": CHICAGO.0 + km / 111.2, "lon": CHICAGO.1})
}

#[tokio::main]
async fn main() {
    let total: u64 = std::env::var("SYNC_MEMORY_TICKETS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let concurrency: u64 = std::env::var("SYNC_MEMORY_CONCURRENCY").ok().and_then(|v| v.parse().ok()).unwrap_or(64);
    let idle_secs = 10;
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(start(dir.path(), idle_secs));
    let pid = s.child.id();
    let admin = s.login("memory@sysops.test").await;
    let (_, plan) = s
        .post(
            "/api/v1/plans",
            Some(&admin),
            &json!({"name": "Memory", "categories": ["television"], "monthly_price_cents": 999, "currency": "USD"}),
        )
        .await;
    let plan_id = plan["id"].as_str().unwrap().to_owned();
    for i in 0..20 {
        let email = format!("memory-expert{i}@sysops.test");
        let (st, e) = s
            .post(
                "/api/v1/experts",
                Some(&admin),
                &json!({"name": format!("Expert {i}"), "email": email, "password": PASSWORD,
                        "phone": format!("+1312555{:04}", 3000 + i), "skills": ["television"],
                        "service_area": {"center": north(0.0), "radius_km": 50.0}, "locale": "en-US",
                        "location": north(i as f64), "available": true, "capacity": 20}),
            )
            .await;
        assert_eq!(st, 201, "{e}");
    }
    let mut customers = Vec::new();
    for i in 0..concurrency {
        let email = format!("memory-customer{i}@sysops.test");
        let (st, c) = s
            .post(
                "/api/v1/customers",
                None,
                &json!({"name": format!("Customer {i}"), "email": email, "password": PASSWORD,
                        "phone": "+13125550100", "notify_by": "email", "address": "1 Main St", "location": north(0.5)}),
            )
            .await;
        assert_eq!(st, 201, "{c}");
        let token = s.login(&email).await;
        let (_, sub) = s
            .post("/api/v1/customers/me/subscriptions", Some(&token), &json!({"plan_id": plan_id, "product": "TV"}))
            .await;
        customers.push((token, sub["id"].as_str().unwrap().to_owned()));
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let base_rss = rss_mb(pid);
    println!("sync_memory: {total} tickets, {concurrency} at a time, idle close after {idle_secs} s; pid {pid}");
    println!("sync_memory: before intake: RSS {base_rss:.1} MB");

    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut checkpoints: Vec<u64> = [1_000, 10_000, 100_000, 1_000_000].into_iter().filter(|c| *c <= total).collect();
    if checkpoints.last() != Some(&total) {
        checkpoints.push(total);
    }
    let mut first_rss = None;
    let mut from = 0;
    println!("sync_memory:    tickets  intake_s  tickets/s  rss_mb  idle_rss_mb  settle_s  x_1000");
    for cp in checkpoints {
        let phase = Instant::now();
        let mut tasks = Vec::new();
        for (token, sub) in customers.clone() {
            let (s, next, done, errors) = (s.clone(), next.clone(), done.clone(), errors.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= cp {
                        next.fetch_sub(1, Ordering::Relaxed);
                        break;
                    }
                    let key = format!("memory-{i}");
                    let body = json!({"subscription_id": sub, "category": "television", "title": format!("Ticket {i}"),
                                      "description": "A television that will not turn on."});
                    let r = s
                        .http
                        .post(format!("{}/api/v1/tickets", s.base))
                        .bearer_auth(&token)
                        .header("Idempotency-Key", &key)
                        .json(&body)
                        .send()
                        .await;
                    let ok = r.is_ok_and(|r| r.status().as_u16() == 201);
                    (if ok { &done } else { &errors }).fetch_add(1, Ordering::Relaxed);
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let intake = phase.elapsed().as_secs_f64();
        let rss = rss_mb(pid);
        let settle = until_idle(pid, Duration::from_secs(3)).await;
        // Past the idle close: unused documents have left memory.
        tokio::time::sleep(Duration::from_secs(idle_secs + 3)).await;
        let idle_rss = rss_mb(pid);
        let first = *first_rss.get_or_insert(idle_rss);
        println!(
            "sync_memory: {cp:>10}  {:>8.1}  {:>9.0}  {rss:>6.1}  {idle_rss:>11.1}  {:>8.1}  {:>6.2}",
            intake,
            (cp - from) as f64 / (intake.max(0.001)),
            settle.as_secs_f64(),
            idle_rss / first
        );
        from = cp;
    }
    println!(
        "sync_memory: {} tickets taken, {} errors; peak RSS (VmHWM) {:.1} MB; aim: idle RSS under 300 MB at every size",
        done.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        status_kb(pid, "VmHWM:") / 1024.0
    );
}
