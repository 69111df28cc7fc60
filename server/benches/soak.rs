//! The soak: mixed load on one server for a long time, printing its resident memory
//! each minute, to show that memory stays flat once warm (not in CI: it runs for half an
//! hour by default).
//!
//! `cargo bench -p sysops-server --bench soak` (`SOAK_MINUTES`, default 30;
//! `SOAK_DATABASE_URL=postgres://…` to soak on PostgreSQL instead of SQLite).
//!
//! Load, all at once: ticket intake with idempotency keys (a few retried on purpose),
//! experts accepting and completing through the API, customers reading their lists,
//! logins (password hashing), and the health and metrics endpoints. Each minute prints
//! RSS, requests done and errors; at the end, the growth after warm-up (aim: within 10%).

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const CHICAGO: (f64, f64) = (41.8781, -87.6298);
const PASSWORD: &str = "soak-password-1";

struct Server {
    child: Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for Server {
    fn drop(&mut self) {
        // A graceful stop first, so a profiler under SOAK_WRAPPER writes its data.
        let pid = server_pid(self.child.id());
        let _ = Command::new("kill").arg("-TERM").arg(pid.to_string()).status();
        for _ in 0..100 {
            if self.child.try_wait().is_ok_and(|s| s.is_some()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(dir: &std::path::Path, db_url: Option<&str>) -> Server {
    let bin = env!("CARGO_BIN_EXE_sysops-server");
    // `SOAK_WRAPPER="heaptrack -o /tmp/soak"` runs the server under a profiler (its RSS
    // is then the wrapper's child's, found through /proc).
    let wrapper = std::env::var("SOAK_WRAPPER").ok();
    let cmd = |args: &[&str]| {
        let mut c = match (&wrapper, args[0]) {
            (Some(w), "serve") => {
                let mut words = w.split_whitespace();
                let mut c = Command::new(words.next().expect("SOAK_WRAPPER names a program"));
                c.args(words).arg(bin);
                c
            }
            _ => Command::new(bin),
        };
        c.args(args).arg("--data-dir").arg(dir).env("SYSOPS_LOG", "warn");
        if let Some(u) = db_url {
            c.env("SYSOPS_DATABASE_URL", u);
        }
        c
    };
    let out = cmd(&["create-admin", "--email", "soak@sysops.test", "--password", PASSWORD]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut child = cmd(&["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(match std::env::var("SOAK_SERVER_LOG") {
            Ok(path) => Stdio::from(std::fs::File::create(path).expect("SOAK_SERVER_LOG is a writable path")),
            Err(_) => Stdio::null(),
        })
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut base = String::new();
    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
        if let Some(u) = line.strip_prefix("listening on ") {
            base = u.trim().to_owned();
            break;
        }
    }
    assert!(!base.is_empty(), "the server did not start");
    Server { child, base, http: reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap() }
}

/// The server's process: the child itself, or under `SOAK_WRAPPER` the descendant
/// running the server binary.
fn server_pid(child: u32) -> u32 {
    let mut queue = vec![child];
    while let Some(pid) = queue.pop() {
        if std::fs::read_link(format!("/proc/{pid}/exe"))
            .is_ok_and(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("sysops-server")))
        {
            return pid;
        }
        let kids = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
        queue.extend(kids.split_whitespace().filter_map(|k| k.parse::<u32>().ok()));
    }
    child
}

fn rss_mb(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("VmRSS:")).and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
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

/// An access token signed in again every ten minutes (they live fifteen): the soak
/// outlives them, as a real client does.
struct Fresh {
    token: String,
    at: Instant,
}

impl Fresh {
    fn new(token: String) -> Self {
        Fresh { token, at: Instant::now() }
    }

    async fn get(&mut self, s: &Server, email: &str) -> String {
        if self.at.elapsed() > Duration::from_secs(600) {
            self.token = s.login(email).await;
            self.at = Instant::now();
        }
        self.token.clone()
    }
}

fn north(km: f64) -> Value {
    json!({"lat": CHICAGO.0 + km / 111.2, "lon": CHICAGO.1})
}

#[tokio::main]
async fn main() {
    let minutes: u64 = std::env::var("SOAK_MINUTES").ok().and_then(|v| v.parse().ok()).unwrap_or(30);
    let db_url = std::env::var("SOAK_DATABASE_URL").ok();
    let dir = tempfile::tempdir().unwrap();
    let s = Arc::new(start(dir.path(), db_url.as_deref()));
    let pid = server_pid(s.child.id());
    let admin = s.login("soak@sysops.test").await;
    let (_, plan) = s
        .post(
            "/api/v1/plans",
            Some(&admin),
            &json!({"name": "Soak", "categories": ["television", "laptop"], "monthly_price_cents": 999, "currency": "USD"}),
        )
        .await;
    let plan_id = plan["id"].as_str().unwrap().to_owned();
    let mut experts = Vec::new();
    for i in 0..20 {
        let email = format!("soak-expert{i}@sysops.test");
        let (st, e) = s
            .post(
                "/api/v1/experts",
                Some(&admin),
                &json!({"name": format!("Expert {i}"), "email": email, "password": PASSWORD,
                        "phone": format!("+1312555{:04}", 3000 + i), "skills": ["television", "laptop"],
                        "service_area": {"center": north(0.0), "radius_km": 50.0}, "locale": "en-US",
                        "location": north(i as f64), "available": true, "capacity": 20}),
            )
            .await;
        assert_eq!(st, 201, "{e}");
        experts.push((s.login(&email).await, email));
    }
    let mut customers = Vec::new();
    for i in 0..10 {
        let email = format!("soak-customer{i}@sysops.test");
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
        customers.push((token, sub["id"].as_str().unwrap().to_owned(), email));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let errors = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    // Intake: each customer raises tickets; one key in ten is sent twice.
    for (w, (token, sub, email)) in customers.iter().cloned().enumerate() {
        let (s, stop, done, errors) = (s.clone(), stop.clone(), done.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = 0u64;
            let mut token = Fresh::new(token);
            while !stop.load(Ordering::Relaxed) {
                let token = token.get(&s, &email).await;
                let key = format!("soak-{w}-{i}");
                let body = json!({"subscription_id": sub, "category": "television", "title": format!("Soak {key}"),
                                  "description": "A long-running test ticket."});
                for _ in 0..if i.is_multiple_of(10) { 2 } else { 1 } {
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
                let _ = s.http.get(format!("{}/api/v1/tickets?limit=20", s.base)).bearer_auth(&token).send().await;
                i += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }));
    }
    // Experts accept and complete what they hold.
    for (token, email) in experts.clone() {
        let (s, stop, done, errors) = (s.clone(), stop.clone(), done.clone(), errors.clone());
        tasks.push(tokio::spawn(async move {
            let mut token = Fresh::new(token);
            while !stop.load(Ordering::Relaxed) {
                let token = token.get(&s, &email).await;
                let list: Value = match s
                    .http
                    .get(format!("{}/api/v1/tickets?status=assigned&limit=20", s.base))
                    .bearer_auth(&token)
                    .send()
                    .await
                {
                    Ok(r) => r.json().await.unwrap_or(Value::Null),
                    Err(_) => Value::Null,
                };
                for t in list["items"].as_array().into_iter().flatten() {
                    let id = t["id"].as_str().unwrap_or_default();
                    let a = s.post(&format!("/api/v1/tickets/{id}/accept"), Some(&token), &json!({})).await.0;
                    let c = s
                        .post(&format!("/api/v1/tickets/{id}/complete"), Some(&token), &json!({"resolution": "Fixed."}))
                        .await
                        .0;
                    for st in [a, c] {
                        (if st == 200 { &done } else { &errors }).fetch_add(1, Ordering::Relaxed);
                    }
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }));
    }
    // Logins (password hashing) and the operational endpoints.
    {
        let (s, stop, done) = (s.clone(), stop.clone(), done.clone());
        let emails: Vec<String> = customers.iter().map(|c| c.2.clone()).collect();
        tasks.push(tokio::spawn(async move {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) {
                let _ = s
                    .post("/api/v1/auth/login", None, &json!({"email": emails[i % emails.len()], "password": PASSWORD}))
                    .await;
                let _ = s.http.get(format!("{}/health/ready", s.base)).send().await;
                let _ = s.http.get(format!("{}/metrics", s.base)).send().await;
                done.fetch_add(3, Ordering::Relaxed);
                i += 1;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        }));
    }

    println!("soak: {minutes} min on {}, pid {pid}", if db_url.is_some() { "PostgreSQL" } else { "SQLite" });
    println!("soak: minute  rss_mb  requests  errors  sync_pending  sync_open");
    let start = Instant::now();
    let mut samples = Vec::new();
    for m in 1..=minutes {
        let next = start + Duration::from_secs(60 * m);
        tokio::time::sleep_until(next.into()).await;
        let rss = rss_mb(pid);
        samples.push(rss);
        let metrics = match s.http.get(format!("{}/metrics", s.base)).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        let gauge = |name: &str| {
            metrics
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().last())
                .unwrap_or("-")
                .to_owned()
        };
        println!(
            "soak: {m:>6}  {rss:>6.1}  {:>8}  {:>6}  {:>8}  {:>8}",
            done.load(Ordering::Relaxed),
            errors.load(Ordering::Relaxed),
            gauge("sysops_sync_intents_pending"),
            gauge("sysops_sync_documents_open"),
        );
    }
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    // Warm-up: the first fifth of the run (at least a minute).
    let warm = (samples.len() / 5).max(1).min(samples.len().saturating_sub(1));
    if let (Some(base), Some(last)) = (samples.get(warm), samples.last()) {
        let max = samples[warm..].iter().copied().fold(f64::MIN, f64::max);
        println!(
            "soak: after warm-up (minute {}): {base:.1} MB; end {last:.1} MB ({:+.1}%); peak {max:.1} MB ({:+.1}%) (aim: within 10%)",
            warm + 1,
            (last / base - 1.0) * 100.0,
            (max / base - 1.0) * 100.0
        );
    }
}
