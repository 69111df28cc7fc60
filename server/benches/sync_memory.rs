//! Memory that follows activity, not history (ADR 17): the server's resident memory
//! after the intake of many tickets, and again once the sync storage is idle, with the
//! document cache on (`SYSOPS_SYNC_CACHE_DOCUMENTS`, `SYSOPS_SYNC_IDLE_CLOSE_SECS`) and,
//! as the baseline in the same run, off (every document stays in memory once loaded).
//! Prints figures and ratios; no time limits.
//!
//! `cargo bench -p sysops-server --bench sync_memory` (`SYNC_MEMORY_TICKETS`, default
//! 100,000, checkpoints at 1,000, 10,000, 100,000 and 1,000,000 as far as it goes;
//! `SYNC_MEMORY_CONCURRENCY`, default 64; `SYNC_MEMORY_EXPERTS`, default 100;
//! `SYNC_MEMORY_WAITING`, default 0: every how many tickets one is raised that no expert
//! can take, in a category nobody serves).
//!
//! Every ticket lives a whole life, so its documents are loaded and written: raised (the
//! dispatcher assigns it: the ticket, work and the expert's root documents are written),
//! accepted and completed by its expert over REST. Tickets nobody can take only have a
//! document in storage.

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

fn start(dir: &std::path::Path, env: &[(&str, String)]) -> Server {
    let bin = env!("CARGO_BIN_EXE_sysops-server");
    let cmd = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.args(args)
            .arg("--data-dir")
            .arg(dir)
            .env("SYSOPS_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())));
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

/// One run's figures at a checkpoint: tickets, intake seconds, RSS right after the
/// intake, RSS once idle, seconds until idle, sync documents open once idle.
type Row = (u64, f64, f64, f64, f64, f64);

async fn metric(s: &Server, name: &str) -> f64 {
    let Ok(r) = s.http.get(format!("{}/metrics", s.base)).send().await else { return f64::NAN };
    let text = r.text().await.unwrap_or_default();
    text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok()).unwrap_or(f64::NAN)
}

async fn run(
    label: &str,
    env: &[(&str, String)],
    total: u64,
    concurrency: u64,
    experts: u64,
    waiting: u64,
) -> Vec<Row> {
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(start(dir.path(), env));
    let pid = s.child.id();
    let admin = s.login("memory@sysops.test").await;
    let (_, plan) = s
        .post(
            "/api/v1/plans",
            Some(&admin),
            &json!({"name": "Memory", "categories": ["television", "appliance"], "monthly_price_cents": 999, "currency": "USD"}),
        )
        .await;
    let plan_id = plan["id"].as_str().unwrap().to_owned();
    let mut tokens = std::collections::HashMap::new();
    for i in 0..experts {
        let email = format!("memory-expert{i}@sysops.test");
        let (st, e) = s
            .post(
                "/api/v1/experts",
                Some(&admin),
                &json!({"name": format!("Expert {i}"), "email": email, "password": PASSWORD,
                        "phone": format!("+1312555{:04}", 3000 + i), "skills": ["television"],
                        "service_area": {"center": north(0.0), "radius_km": 50.0}, "locale": "en-US",
                        "location": north((i % 40) as f64), "available": true, "capacity": 20}),
            )
            .await;
        assert_eq!(st, 201, "{e}");
        tokens.insert(e["id"].as_str().unwrap().to_owned(), s.login(&email).await);
    }
    let tokens = Arc::new(tokens);
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
    until_idle(pid, Duration::from_secs(2)).await;
    println!("sync_memory: [{label}] pid {pid}, {experts} experts; before intake: RSS {:.1} MB", rss_mb(pid));

    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut checkpoints: Vec<u64> = [1_000, 10_000, 100_000, 1_000_000].into_iter().filter(|c| *c <= total).collect();
    if checkpoints.last() != Some(&total) {
        checkpoints.push(total);
    }
    let mut rows = Vec::new();
    for cp in checkpoints {
        let phase = Instant::now();
        let mut tasks = Vec::new();
        for (token, sub) in customers.clone() {
            let (s, next, done, errors, tokens) =
                (s.clone(), next.clone(), done.clone(), errors.clone(), tokens.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= cp {
                        next.fetch_sub(1, Ordering::Relaxed);
                        break;
                    }
                    let category = if waiting > 0 && i % waiting == 0 { "appliance" } else { "television" };
                    let body = json!({"subscription_id": sub, "category": category, "title": format!("Ticket {i}"),
                                      "description": "A television that will not turn on."});
                    let r = s
                        .http
                        .post(format!("{}/api/v1/tickets", s.base))
                        .bearer_auth(&token)
                        .header("Idempotency-Key", format!("memory-{i}"))
                        .json(&body)
                        .send()
                        .await;
                    let t: Value = match r {
                        Ok(r) if r.status().as_u16() == 201 => r.json().await.unwrap_or(Value::Null),
                        _ => {
                            errors.fetch_add(1, Ordering::Relaxed);
                            continue;
                        }
                    };
                    let mut ok = true;
                    if let (Some(id), Some(expert)) = (t["id"].as_str(), t["assigned_expert_id"].as_str()) {
                        let et = &tokens[expert];
                        let (st, _) = s.post(&format!("/api/v1/tickets/{id}/accept"), Some(et), &json!({})).await;
                        let (st2, _) = s
                            .post(
                                &format!("/api/v1/tickets/{id}/complete"),
                                Some(et),
                                &json!({"resolution": "Replaced the fuse."}),
                            )
                            .await;
                        ok = st == 200 && st2 == 200;
                    }
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
        // Past the idle time: unused documents have left memory.
        let idle_close: u64 = env
            .iter()
            .find(|(k, _)| *k == "SYSOPS_SYNC_IDLE_CLOSE_SECS")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(60);
        if idle_close < 3600 {
            tokio::time::sleep(Duration::from_secs(idle_close + 2)).await;
        }
        let idle_rss = rss_mb(pid);
        let open = metric(&s, "sysops_sync_documents_open").await;
        if std::env::var_os("SYNC_MEMORY_TRIM").is_some() {
            // Diagnosis: how much of the idle RSS is free memory the allocator kept.
            let out = Command::new("gdb")
                .args(["-p", &pid.to_string(), "-batch", "-ex", "call (int)malloc_trim(0)"])
                .args(["-ex", "call (long long)sqlite3_memory_used()"])
                .output();
            // gdb prints `$2 = N` for SQLite's own heap (page caches and the rest).
            let sqlite = out.as_ref().ok().and_then(|o| {
                String::from_utf8_lossy(&o.stdout)
                    .lines()
                    .find_map(|l| l.strip_prefix("$2 = ")?.trim().parse::<f64>().ok())
            });
            println!(
                "sync_memory: [{label}] after malloc_trim(0) ({}): RSS {:.1} MB, of which SQLite {:.1} MB",
                if out.is_ok_and(|o| o.status.success()) { "gdb" } else { "gdb failed" },
                rss_mb(pid),
                sqlite.unwrap_or(f64::NAN) / 1048576.0
            );
        }
        println!(
            "sync_memory: [{label}] {cp:>9} tickets: intake {intake:.1} s ({:.0}/s), RSS {rss:.1} MB; idle after {:.1} s: RSS {idle_rss:.1} MB, {open} documents open",
            (cp - rows.last().map_or(0, |r: &Row| r.0)) as f64 / intake.max(0.001),
            settle.as_secs_f64()
        );
        rows.push((cp, intake, rss, idle_rss, settle.as_secs_f64(), open));
    }
    println!(
        "sync_memory: [{label}] {} tickets through their life, {} errors; peak RSS (VmHWM) {:.1} MB",
        done.load(Ordering::Relaxed),
        errors.load(Ordering::Relaxed),
        status_kb(pid, "VmHWM:") / 1024.0
    );
    rows
}

#[tokio::main]
async fn main() {
    let var = |k: &str, d: u64| std::env::var(k).ok().and_then(|v| v.parse().ok()).unwrap_or(d);
    let total = var("SYNC_MEMORY_TICKETS", 100_000);
    let concurrency = var("SYNC_MEMORY_CONCURRENCY", 64);
    let experts = var("SYNC_MEMORY_EXPERTS", 100);
    let waiting = var("SYNC_MEMORY_WAITING", 0);
    let idle_secs = 10;
    println!(
        "sync_memory: {total} tickets, {concurrency} at a time; cache off (baseline), then on (idle close {idle_secs} s, 1,000 idle documents kept)"
    );
    let off = run(
        "cache off",
        &[
            ("SYSOPS_SYNC_CACHE_DOCUMENTS", u32::MAX.to_string()),
            ("SYSOPS_SYNC_IDLE_CLOSE_SECS", (1u64 << 40).to_string()),
        ],
        total,
        concurrency,
        experts,
        waiting,
    )
    .await;
    let on = run(
        "cache on",
        &[("SYSOPS_SYNC_CACHE_DOCUMENTS", "1000".to_owned()), ("SYSOPS_SYNC_IDLE_CLOSE_SECS", idle_secs.to_string())],
        total,
        concurrency,
        experts,
        waiting,
    )
    .await;
    println!(
        "sync_memory:    tickets | cache off: rss_mb idle_rss_mb open | cache on: rss_mb idle_rss_mb open | idle on/off"
    );
    for (a, b) in off.iter().zip(&on) {
        println!(
            "sync_memory: {:>10} | {:>17.1} {:>11.1} {:>6} | {:>16.1} {:>11.1} {:>4} | {:>11.2}",
            a.0,
            a.2,
            a.3,
            a.5,
            b.2,
            b.3,
            b.5,
            b.3 / a.3
        );
    }
    println!("sync_memory: aim: idle RSS under 300 MB at every size with the cache on");
}
