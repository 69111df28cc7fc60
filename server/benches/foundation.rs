//! The foundation benchmark: ticket intake over HTTP against the same server's HTTP
//! ceiling and against the naive storage ceiling, and assignment latency against a
//! linear scan. Prints figures and ratios measured in this one run.
//!
//! `cargo bench -p sysops-server --bench foundation` (set `BENCH_SECS` to change the
//! duration of each HTTP phase; default 5).

use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use sysops_core::assignment::{Candidate, Decision, ExpertPool, Request};
use sysops_core::category::{Category, CategorySet};
use sysops_core::geo::{GeoPoint, ServiceArea};
use sysops_core::ids::ExpertId;

const CHICAGO: (f64, f64) = (41.8781, -87.6298);

struct Stats {
    ok: u64,
    errors: u64,
    per_sec: f64,
    p50_ms: f64,
    p99_ms: f64,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Runs `concurrency` loops of `make()` requests for `secs`, counting `want` statuses.
async fn hammer<F>(concurrency: usize, secs: f64, want: u16, make: F) -> Stats
where
    F: Fn(u64) -> reqwest::RequestBuilder + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let seq = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let make = make.clone();
        let seq = seq.clone();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut ok, mut err) = (Vec::new(), 0u64, 0u64);
            while Instant::now() < deadline {
                let n = seq.fetch_add(1, Ordering::Relaxed);
                let t = Instant::now();
                match make(n).send().await {
                    Ok(r) if r.status().as_u16() == want => {
                        let _ = r.bytes().await;
                        ok += 1;
                        lat.push(t.elapsed().as_secs_f64() * 1000.0);
                    }
                    _ => err += 1,
                }
            }
            (lat, ok, err)
        }));
    }
    let (mut lat, mut ok, mut errors) = (Vec::new(), 0, 0);
    for t in tasks {
        let (l, o, e) = t.await.unwrap();
        lat.extend(l);
        ok += o;
        errors += e;
    }
    let elapsed = start.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    Stats { ok, errors, per_sec: ok as f64 / elapsed, p50_ms: percentile(&lat, 0.5), p99_ms: percentile(&lat, 0.99) }
}

fn print(label: &str, s: &Stats) {
    println!(
        "  {label:<34} {:>9.0}/s   p50 {:>7.2} ms   p99 {:>7.2} ms   ok {:>7}   errors {}",
        s.per_sec, s.p50_ms, s.p99_ms, s.ok, s.errors
    );
}

struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(dir: &std::path::Path) -> Server {
    let bin = env!("CARGO_BIN_EXE_sysops-server");
    let out = Command::new(bin)
        .args(["create-admin", "--email", "bench@sysops.test", "--password", "bench-password"])
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut child = Command::new(bin)
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("SYSOPS_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let base = loop {
        let line = lines.next().expect("server exited").unwrap();
        if let Some(u) = line.strip_prefix("listening on ") {
            break u.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server { child, base }
}

async fn post(c: &reqwest::Client, url: &str, token: Option<&str>, body: Value) -> Value {
    let mut r = c.post(url).json(&body);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    let resp = r.send().await.unwrap();
    assert!(resp.status().is_success(), "{url}: {}", resp.status());
    resp.json().await.unwrap()
}

/// One durable transaction per ticket-sized row, on the same SQLite settings as the
/// server: the ceiling of storage without group commit.
async fn naive_storage_rate(dir: &std::path::Path, secs: f64) -> f64 {
    use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
    use sea_orm::{ConnectionTrait, SqlxSqliteConnector, Statement, TransactionTrait};
    let opts = SqliteConnectOptions::new()
        .filename(dir.join("naive.db"))
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full);
    let pool = SqlitePoolOptions::new().max_connections(1).connect_with(opts).await.unwrap();
    let db = SqlxSqliteConnector::from_sqlx_sqlite_pool(pool);
    db.execute_unprepared(
        "CREATE TABLE t (id BLOB PRIMARY KEY, customer_id BLOB, subscription_id BLOB, category TEXT, title TEXT, \
         description TEXT, address TEXT, lat REAL, lon REAL, status TEXT, created_at TEXT, detail TEXT)",
    )
    .await
    .unwrap();
    let be = db.get_database_backend();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    let mut n = 0u64;
    while Instant::now() < deadline {
        let txn = db.begin().await.unwrap();
        txn.execute_raw(Statement::from_sql_and_values(
            be,
            "INSERT INTO t VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)",
            [
                uuid::Uuid::now_v7().into(),
                uuid::Uuid::now_v7().into(),
                uuid::Uuid::now_v7().into(),
                "television".into(),
                format!("Benchmark ticket {n}").into(),
                "It stopped working this morning and shows no picture at all.".into(),
                "1 Main St, Chicago".into(),
                41.88.into(),
                (-87.63).into(),
                "assigned".into(),
                chrono::Utc::now().to_rfc3339().into(),
                "{\"reasons\":[\"skilled in television\",\"2.1 km away\",\"free\"]}".into(),
            ],
        ))
        .await
        .unwrap();
        txn.commit().await.unwrap();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn random_pool(n: usize, rng: &mut rand::rngs::StdRng) -> ExpertPool {
    // Experts spread over twenty metro areas, most within 40 km of their centre.
    let metros: Vec<(f64, f64)> =
        (0..20).map(|_| (rng.random_range(30.0..48.0), rng.random_range(-122.0..-72.0))).collect();
    ExpertPool::from_candidates((0..n).map(|i| {
        let (mlat, mlon) = metros[i % metros.len()];
        let at = |rng: &mut rand::rngs::StdRng, spread: f64| {
            GeoPoint::new(mlat + rng.random_range(-spread..spread), mlon + rng.random_range(-spread..spread)).unwrap()
        };
        let skills: CategorySet =
            (0..rng.random_range(1..4)).map(|_| Category::ALL[rng.random_range(0..Category::ALL.len())]).collect();
        Candidate {
            id: ExpertId::new(),
            skills,
            area: ServiceArea::new(at(rng, 0.3), rng.random_range(10.0..50.0)).unwrap(),
            location: at(rng, 0.4),
            on_duty: rng.random_bool(0.85),
            active_tickets: rng.random_range(0..3),
            capacity: 3,
            last_assigned_at: None,
        }
    }))
}

fn assignment_bench() {
    println!("\nassignment latency (best fit among experts in 20 metro areas; 2,000 requests each):");
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for n in [1_000usize, 10_000, 100_000] {
        let pool = random_pool(n, &mut rng);
        let none = BTreeSet::new();
        let requests: Vec<(Category, GeoPoint)> = (0..2_000)
            .map(|_| {
                let c = pool.candidates().nth(rng.random_range(0..n)).unwrap();
                let loc = GeoPoint::new(
                    c.area.center().lat() + rng.random_range(-0.1..0.1),
                    c.area.center().lon() + rng.random_range(-0.1..0.1),
                )
                .unwrap();
                (Category::ALL[rng.random_range(0..Category::ALL.len())], loc)
            })
            .collect();
        let now = chrono::Utc::now();
        let time = |scan: bool| {
            let mut lat = Vec::with_capacity(requests.len());
            let mut assigned = 0;
            for (category, location) in &requests {
                let req = Request { category: *category, location: *location, exclude: &none, now };
                let t = Instant::now();
                let d = if scan { pool.choose_by_scan(&req) } else { pool.choose(&req) };
                lat.push(t.elapsed().as_secs_f64() * 1e6);
                if matches!(d, Decision::Assigned(_)) {
                    assigned += 1;
                }
            }
            lat.sort_by(f64::total_cmp);
            (percentile(&lat, 0.5), percentile(&lat, 0.99), assigned)
        };
        let (i50, i99, a1) = time(false);
        let (s50, s99, a2) = time(true);
        assert_eq!(a1, a2, "index and scan disagree");
        println!(
            "  {n:>7} experts   index p50 {i50:>8.1} µs  p99 {i99:>8.1} µs   scan p50 {s50:>9.1} µs  p99 {s99:>9.1} µs   scan/index p50 {:>6.1}x   ({a1} of 2000 assigned)",
            s50 / i50
        );
    }
}

fn main() {
    let secs: f64 = std::env::var("BENCH_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(5.0);
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let server = start_server(&dir.path().join("data"));
        let base = server.base.clone();
        let c = reqwest::Client::builder().pool_max_idle_per_host(512).build().unwrap();
        let admin = post(&c, &format!("{base}/api/v1/auth/login"), None, json!({"email": "bench@sysops.test", "password": "bench-password"})).await;
        let admin = admin["access_token"].as_str().unwrap().to_owned();
        let plan = post(&c, &format!("{base}/api/v1/plans"), Some(&admin), json!({"name": "All", "categories": ["television", "laptop"], "monthly_price_cents": 1000, "currency": "USD"})).await;
        for i in 0..200 {
            let km = (i % 40) as f64;
            post(&c, &format!("{base}/api/v1/experts"), Some(&admin), json!({
                "name": format!("Expert {i}"), "email": format!("e{i}@bench.test"), "password": "bench-password",
                "phone": "+13125550100", "skills": if i % 2 == 0 { json!(["television"]) } else { json!(["television", "laptop"]) },
                "service_area": {"center": {"lat": CHICAGO.0, "lon": CHICAGO.1}, "radius_km": 60.0}, "locale": "en-US",
                "location": {"lat": CHICAGO.0 + km / 111.0, "lon": CHICAGO.1}, "available": true, "capacity": 20})).await;
        }
        post(&c, &format!("{base}/api/v1/customers"), None, json!({"name": "Bench", "email": "c@bench.test", "password": "bench-password",
            "phone": "+13125550199", "notify_by": "email", "address": "1 Main St", "location": {"lat": CHICAGO.0, "lon": CHICAGO.1}})).await;
        let customer = post(&c, &format!("{base}/api/v1/auth/login"), None, json!({"email": "c@bench.test", "password": "bench-password"})).await;
        let token = customer["access_token"].as_str().unwrap().to_owned();
        let sub = post(&c, &format!("{base}/api/v1/customers/me/subscriptions"), Some(&token), json!({"plan_id": plan["id"], "product": "TV"})).await;
        let sub_id = sub["id"].as_str().unwrap().to_owned();

        println!("foundation benchmark ({secs} s per phase, {} cores, SQLite WAL synchronous=FULL)", std::thread::available_parallelism().map_or(0, |n| n.get()));
        println!("\nHTTP on one server (client and server share the machine):");
        let mut ceiling = None;
        for conc in [64usize, 256] {
            let cl = c.clone();
            let url = format!("{base}/health/live");
            let h = hammer(conc, secs, 200, move |_| cl.get(&url)).await;
            print(&format!("/health/live @ {conc} connections"), &h);
            if conc == 64 {
                ceiling = Some(h.per_sec);
            }
        }
        let ceiling = ceiling.unwrap();
        let mut intake = Vec::new();
        for conc in [64usize, 256] {
            let cl = c.clone();
            let url = format!("{base}/api/v1/tickets");
            let (token, sub_id) = (token.clone(), sub_id.clone());
            let s = hammer(conc, secs, 201, move |n| {
                cl.post(&url)
                    .bearer_auth(&token)
                    .header("Idempotency-Key", format!("bench-{conc}-{n}"))
                    .json(&json!({"subscription_id": sub_id, "category": if n % 2 == 0 { "television" } else { "laptop" },
                                  "title": format!("Benchmark ticket {n}"), "description": "It stopped working this morning and shows no picture at all."}))
            })
            .await;
            print(&format!("POST /tickets @ {conc} connections"), &s);
            intake.push((conc, s));
        }
        let metrics = c.get(format!("{base}/metrics")).send().await.unwrap().text().await.unwrap();
        let read = |name: &str| metrics.lines().find(|l| l.starts_with(name)).and_then(|l| l.split_whitespace().last()).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
        println!("  mean tickets per group commit: {:.1}", read("sysops_intake_batch_size_sum") / read("sysops_intake_batch_size_count"));
        drop(server);

        let naive = naive_storage_rate(dir.path(), secs.min(3.0)).await;
        println!("\nnaive storage ceiling (one durable SQLite transaction per ticket-sized row): {naive:.0}/s");
        println!("\nratios:");
        for (conc, s) in &intake {
            println!(
                "  intake @ {conc:>3}: {:>5.1}% of the /health/live ceiling (aim ≥ 25%),  {:>5.2}x the naive storage ceiling (aim ≥ 1.5x),  errors {}",
                100.0 * s.per_sec / ceiling,
                s.per_sec / naive,
                s.errors
            );
        }
    });
    assignment_bench();
}
