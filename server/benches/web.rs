//! The web pages under load (issue 9): the customer's ticket list page (`/my/tickets`)
//! and the agent's customer search (`/console?q=`) at BENCH_CUSTOMERS customers and
//! BENCH_TICKETS tickets (the size, and the default: 1,000,000 and 2,000,000),
//! requests per second and p50/p99 at BENCH_CONNECTIONS (64) connections, beside
//! `/health/live` in the same run (the server's ceiling on this machine).
//!
//! The population is written straight into SQLite in large transactions (customers with
//! their search terms, subscriptions, experts and tickets; the same rows and terms the
//! services write), then the real binary serves it and signed-in browsers' cookie
//! sessions ask for the pages. Each target is loaded for BENCH_SECS seconds (10) after a
//! one-second warm-up. The load generator runs on the same machine as the server.
//!
//! `cargo bench -p sysops-server --bench web`; a quick run:
//! `BENCH_CUSTOMERS=20000 BENCH_TICKETS=40000 BENCH_SECS=3 cargo bench -p sysops-server --bench web`.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::{Duration, Instant};
use sysops_core::customer::search;
use uuid::Uuid;

mod common;
use common::env;

const ADMIN: (&str, &str) = ("root@bench.test", "root-password-1");
const PASSWORD: &str = "a-good-password";
const FIRST: [&str; 32] = [
    "ana", "maria", "john", "li", "wei", "fatima", "omar", "sofia", "lucas", "emma", "noah", "olivia", "liam", "ava",
    "mateo", "isabella", "ethan", "mia", "james", "amelia", "yuki", "hana", "ravi", "priya", "ivan", "olga", "kofi",
    "amara", "diego", "lucia", "pierre", "chloe",
];
const LAST: [&str; 40] = [
    "garcia",
    "smith",
    "johnson",
    "lopez",
    "martinez",
    "brown",
    "davis",
    "miller",
    "wilson",
    "moore",
    "taylor",
    "anderson",
    "thomas",
    "jackson",
    "white",
    "harris",
    "martin",
    "thompson",
    "robinson",
    "clark",
    "rodriguez",
    "lewis",
    "lee",
    "walker",
    "hall",
    "allen",
    "young",
    "hernandez",
    "king",
    "wright",
    "nguyen",
    "kim",
    "patel",
    "singh",
    "mueller",
    "rossi",
    "dubois",
    "tanaka",
    "silva",
    "okafor",
];
const CHICAGO: (f64, f64) = (41.8781, -87.6298);

fn name_of(i: usize) -> String {
    let cap = |s: &str| s[..1].to_uppercase() + &s[1..];
    let first = FIRST[i % FIRST.len()];
    let last = LAST[(i / FIRST.len()) % LAST.len()];
    // A third word for every seventh customer (`Ana Maria Lopez`).
    if i.is_multiple_of(7) {
        format!("{} {} {}", cap(first), cap(FIRST[(i / 7) % FIRST.len()]), cap(last))
    } else {
        format!("{} {}", cap(first), cap(last))
    }
}

fn phone_of(i: usize) -> String {
    format!("+1312{:07}", i % 10_000_000)
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339()
}

/// Writes the population into the migrated database at `path`; returns the plan id.
fn populate(path: &std::path::Path, customers: usize, tickets: usize, experts: usize) -> Uuid {
    let mut db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch("PRAGMA synchronous = OFF; PRAGMA cache_size = -1000000; PRAGMA temp_store = MEMORY;").unwrap();
    let now = chrono::Utc::now();
    let start = now - chrono::Duration::days(730);
    let mut rng = StdRng::seed_from_u64(9);
    let plan = Uuid::now_v7();
    db.execute(
        "INSERT INTO plans (id, name, categories, monthly_price_cents, currency, active, created_at) VALUES (?1, 'Bench plan', ?2, 2999, 'USD', 1, ?3)",
        rusqlite::params![&plan.as_bytes()[..], json!(sysops_core::category::Category::ALL.iter().map(|c| c.slug()).collect::<Vec<_>>()).to_string(), ts(start)],
    )
    .unwrap();
    let t = Instant::now();
    let mut expert_ids = Vec::with_capacity(experts);
    {
        let tx = db.transaction().unwrap();
        {
            let mut user = tx.prepare("INSERT INTO users (id, email, password_hash, role, name, created_at, disabled) VALUES (?1, ?2, '!generated', ?3, ?4, ?5, 0)").unwrap();
            let mut expert = tx.prepare("INSERT INTO experts (user_id, phone, skills, area_lat, area_lon, area_radius_km, locale, lat, lon, on_duty, capacity, last_assigned_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 60.0, 'en-US', ?4, ?5, 1, 3, NULL, ?6)").unwrap();
            let skills =
                json!(sysops_core::category::Category::ALL.iter().map(|c| c.slug()).collect::<Vec<_>>()).to_string();
            for i in 0..experts {
                let id = Uuid::now_v7();
                let b = &id.as_bytes()[..];
                user.execute(rusqlite::params![
                    b,
                    format!("expert{i}@bench.test"),
                    "expert",
                    format!("{} Expert{i}", name_of(i * 13)),
                    ts(start)
                ])
                .unwrap();
                expert
                    .execute(rusqlite::params![
                        b,
                        format!("+1555{i:07}"),
                        skills,
                        CHICAGO.0 + rng.random_range(-0.3..0.3),
                        CHICAGO.1 + rng.random_range(-0.3..0.3),
                        ts(start)
                    ])
                    .unwrap();
                expert_ids.push(id);
            }
        }
        tx.commit().unwrap();
    }
    let mut ids: Vec<(Uuid, Uuid)> = Vec::with_capacity(customers);
    for chunk in (0..customers).collect::<Vec<_>>().chunks(100_000) {
        let tx = db.transaction().unwrap();
        {
            let mut user = tx.prepare("INSERT INTO users (id, email, password_hash, role, name, created_at, disabled) VALUES (?1, ?2, '!generated', 'customer', ?3, ?4, 0)").unwrap();
            let mut cust = tx.prepare("INSERT INTO customers (user_id, phone, notify_by, address, lat, lon, created_at, locale) VALUES (?1, ?2, 'email', ?3, ?4, ?5, ?6, 'en-US')").unwrap();
            let mut sub = tx.prepare("INSERT INTO subscriptions (id, customer_id, plan_id, product, status, started_at, billing_interval, cancel_at_period_end) VALUES (?1, ?2, ?3, 'Home office', 'active', ?4, 'monthly', 0)").unwrap();
            let mut term =
                tx.prepare("INSERT OR IGNORE INTO customer_terms (term, customer_id) VALUES (?1, ?2)").unwrap();
            let created = ts(start);
            for &i in chunk {
                let (id, sid) = (Uuid::now_v7(), Uuid::now_v7());
                let b = &id.as_bytes()[..];
                let (name, email, phone) = (name_of(i), format!("customer{i}@bench.test"), phone_of(i));
                user.execute(rusqlite::params![b, email, name, created]).unwrap();
                cust.execute(rusqlite::params![
                    b,
                    phone,
                    format!("{i} Bench Street, Chicago"),
                    CHICAGO.0 + rng.random_range(-0.3..0.3),
                    CHICAGO.1 + rng.random_range(-0.3..0.3),
                    created
                ])
                .unwrap();
                sub.execute(rusqlite::params![&sid.as_bytes()[..], b, &plan.as_bytes()[..], created]).unwrap();
                for t in search::terms(&name, &email, &phone) {
                    term.execute(rusqlite::params![t, b]).unwrap();
                }
                ids.push((id, sid));
            }
        }
        tx.commit().unwrap();
    }
    println!(
        "population: {customers} customers (with terms and a subscription each), {experts} experts in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    let categories = sysops_core::category::Category::ALL;
    for chunk in (0..tickets).collect::<Vec<_>>().chunks(100_000) {
        let tx = db.transaction().unwrap();
        {
            let mut ins = tx.prepare(
                "INSERT INTO tickets (id, customer_id, subscription_id, category, title, description, address, lat, lon, status, assigned_expert_id, excluded_experts, completed_by, resolution, completed_at, close_reason, unassignable_reason, created_by, created_at, updated_at, version) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 'Generated for the web bench.', 'Bench Street, Chicago', ?6, ?7, ?8, ?9, '[]', ?9, ?10, ?11, ?12, NULL, ?2, ?13, ?13, 3)",
            ).unwrap();
            for _ in chunk {
                let (c, s) = ids[rng.random_range(0..ids.len())];
                let id = Uuid::now_v7();
                let created = start + chrono::Duration::seconds(rng.random_range(0..(700 * 86_400)));
                let closed = rng.random_bool(0.9);
                let expert = closed.then(|| expert_ids[rng.random_range(0..expert_ids.len())]);
                ins.execute(rusqlite::params![
                    &id.as_bytes()[..],
                    &c.as_bytes()[..],
                    &s.as_bytes()[..],
                    categories[rng.random_range(0..categories.len())].slug(),
                    "Generated",
                    CHICAGO.0,
                    CHICAGO.1,
                    if closed { "closed" } else { "cancelled" },
                    expert.as_ref().map(|e| e.as_bytes().to_vec()),
                    closed.then_some("Fixed"),
                    closed.then(|| ts(created + chrono::Duration::hours(3))),
                    closed.then_some("survey_received"),
                    ts(created),
                ])
                .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    // No ANALYZE: the server never runs it, so a real database has no sqlite_stat4; with
    // its samples (this SQLite is built with STAT4) every statement comparing an indexed
    // column with a bound value is re-prepared on each execution.
    db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    println!("tickets: {tickets} written in {:.1} s", t.elapsed().as_secs_f64());
    plan
}

/// A browser's cookie jar for one site, by hand (name=value pairs).
#[derive(Clone, Default)]
struct Jar(Vec<(String, String)>);

impl Jar {
    fn take(&mut self, r: &reqwest::Response) {
        for v in r.headers().get_all(reqwest::header::SET_COOKIE) {
            let Some((nv, _)) = v.to_str().unwrap().split_once(';').or(Some((v.to_str().unwrap(), ""))) else {
                continue;
            };
            if let Some((n, val)) = nv.split_once('=') {
                self.0.retain(|(k, _)| k != n);
                self.0.push((n.trim().to_owned(), val.trim().to_owned()));
            }
        }
    }

    fn header(&self) -> String {
        self.0.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }
}

/// Signs in through the sign-in form (CSRF token and all); the session's cookies.
async fn browser_session(c: &reqwest::Client, base: &str, email: &str, password: &str) -> String {
    let mut jar = Jar::default();
    let r = c.get(format!("{base}/sign-in")).header("accept", "text/html").send().await.unwrap();
    jar.take(&r);
    let html = r.text().await.unwrap();
    let token = html.split("name=\"csrf\" value=\"").nth(1).and_then(|s| s.split('"').next()).expect("csrf token");
    let r = c
        .post(format!("{base}/sign-in"))
        .header("cookie", jar.header())
        .header("origin", base)
        .form(&[("csrf", token), ("email", email), ("password", password), ("next", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "sign-in of {email}");
    jar.take(&r);
    jar.header()
}

async fn api(c: &reqwest::Client, method: reqwest::Method, url: String, token: Option<&str>, body: Value) -> Value {
    common::call(c, method, url, token, Some(body)).await
}

async fn login(c: &reqwest::Client, base: &str, email: &str) -> String {
    let pw = if email == ADMIN.0 { ADMIN.1 } else { PASSWORD };
    common::login(c, base, email, pw).await
}

struct Figures {
    rps: f64,
    p50: f64,
    p99: f64,
    errors: u64,
}

/// `conns` tasks, each on its own connection, asking for `paths[i]` (round robin, with
/// cookie `cookies[i]`) for `secs` seconds after a one-second warm-up.
async fn load(base: &str, conns: usize, secs: u64, cookies: Arc<Vec<String>>, paths: Arc<Vec<String>>) -> Figures {
    let warm = Instant::now() + Duration::from_secs(1);
    let stop = warm + Duration::from_secs(secs);
    let mut tasks = Vec::new();
    for w in 0..conns {
        let (base, cookies, paths) = (base.to_owned(), cookies.clone(), paths.clone());
        tasks.push(tokio::spawn(async move {
            let c = reqwest::Client::builder()
                .pool_max_idle_per_host(1)
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap();
            let (mut lat, mut errors, mut i) = (Vec::new(), 0u64, w);
            loop {
                let now = Instant::now();
                if now >= stop {
                    break;
                }
                let path = &paths[i % paths.len()];
                let mut r = c.get(format!("{base}{path}")).header("accept", "text/html");
                if !cookies.is_empty() {
                    r = r.header("cookie", &cookies[i % cookies.len()]);
                }
                let ok = match r.send().await {
                    Ok(resp) => resp.status().is_success() && resp.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if now >= warm {
                    if ok { lat.push(now.elapsed().as_secs_f64() * 1000.0) } else { errors += 1 }
                }
                i += conns;
            }
            (lat, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    all.sort_by(f64::total_cmp);
    let at = |p: f64| all.get(((all.len() as f64 - 1.0) * p).round() as usize).copied().unwrap_or(f64::NAN);
    Figures { rps: all.len() as f64 / secs as f64, p50: at(0.5), p99: at(0.99), errors }
}

#[tokio::main]
async fn main() {
    let customers = env("BENCH_CUSTOMERS", 1_000_000);
    let tickets = env("BENCH_TICKETS", 2_000_000);
    let experts = env("BENCH_EXPERTS", 1_000);
    let conns = env("BENCH_CONNECTIONS", 64);
    let secs = env("BENCH_SECS", 10) as u64;
    let dir =
        tempfile::tempdir_in(std::env::var("BENCH_DIR").unwrap_or_else(|_| std::env::temp_dir().display().to_string()))
            .unwrap();
    let data = dir.path().join("data");
    common::create_admin(&data, ADMIN.0, ADMIN.1);
    let plan = populate(&data.join("sysops.db"), customers, tickets, experts);
    let size = std::fs::metadata(data.join("sysops.db")).map(|m| m.len()).unwrap_or(0);
    println!("database: {:.0} MB", size as f64 / 1e6);

    let server = common::serve(&data, &[]);
    let base = server.1.clone();
    let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let admin = login(&c, &base, ADMIN.0).await;

    // Eight customers who sign in (through the API's registration, so real passwords),
    // each with 30 tickets besides the generated ones.
    let mut customer_cookies = Vec::new();
    for k in 0..8 {
        let email = format!("web-bench-{k}@bench.test");
        api(
            &c,
            reqwest::Method::POST,
            format!("{base}/api/v1/customers"),
            None,
            json!({
            "name": format!("Web Bench {k}"), "email": email, "password": PASSWORD, "phone": format!("+13125559{k:03}"),
            "notify_by": "email", "address": "1 Main St, Chicago", "location": {"lat": CHICAGO.0, "lon": CHICAGO.1}}),
        )
        .await;
        let token = login(&c, &base, &email).await;
        let sub = api(
            &c,
            reqwest::Method::POST,
            format!("{base}/api/v1/customers/me/subscriptions"),
            Some(&token),
            json!({"plan_id": plan, "product": "Laptop"}),
        )
        .await;
        let me = api(&c, reqwest::Method::GET, format!("{base}/api/v1/customers/me"), Some(&token), Value::Null).await;
        add_tickets(&data.join("sysops.db"), me["id"].as_str().unwrap(), sub["id"].as_str().unwrap(), 30);
        customer_cookies.push(browser_session(&c, &base, &email, PASSWORD).await);
    }
    api(
        &c,
        reqwest::Method::POST,
        format!("{base}/api/v1/users"),
        Some(&admin),
        json!({"name": "Bench Agent", "email": "agent@bench.test", "password": PASSWORD, "role": "agent"}),
    )
    .await;
    let agent = vec![browser_session(&c, &base, "agent@bench.test", PASSWORD).await];

    // What agents type: surnames, first and last names, the last digits of a phone, the
    // start of an e-mail address.
    let mut rng = StdRng::seed_from_u64(7);
    let queries: Vec<String> = (0..400)
        .map(|k| {
            let i = rng.random_range(0..customers);
            let q = match k % 4 {
                0 => LAST[(i / FIRST.len()) % LAST.len()].to_owned(),
                1 => name_of(i).to_lowercase(),
                2 => phone_of(i)[6..].to_owned(),
                _ => format!("customer{i}@"),
            };
            format!("/console?q={}", url_encode(&q))
        })
        .collect();
    // Every query finds someone (a quick check that the population is searchable).
    for q in queries.iter().take(8) {
        let r = c.get(format!("{base}{q}")).header("cookie", &agent[0]).send().await.unwrap();
        assert!(r.status().is_success(), "{q}: {}", r.status());
        let body = r.text().await.unwrap();
        assert!(body.contains("/console/customers/"), "{q} found nobody");
    }
    let r = c.get(format!("{base}/my/tickets")).header("cookie", &customer_cookies[0]).send().await.unwrap();
    assert!(r.status().is_success());
    assert!(r.text().await.unwrap().matches("/my/tickets/").count() >= 30, "the list shows the customer's tickets");

    println!(
        "load: {conns} connections, {secs} s each, {} cores shared with other work (load average {})",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split(' ').take(3).collect::<Vec<_>>().join(" ")
    );
    let health = load(&base, conns, secs, Arc::new(Vec::new()), Arc::new(vec!["/health/live".to_owned()])).await;
    report("/health/live (ceiling)", &health, &health);
    let list = load(&base, conns, secs, Arc::new(customer_cookies), Arc::new(vec!["/my/tickets".to_owned()])).await;
    report("/my/tickets (customer's list page)", &list, &health);
    let found = load(&base, conns, secs, Arc::new(agent), Arc::new(queries)).await;
    report("/console?q= (agent's customer search)", &found, &health);
    drop(server);
}

fn report(what: &str, f: &Figures, health: &Figures) {
    println!(
        "{what:<40} {:>8.0} req/s ({:>5.1}% of health), p50 {:>7.2} ms, p99 {:>7.2} ms, errors {}",
        f.rps,
        f.rps / health.rps * 100.0,
        f.p50,
        f.p99,
        f.errors
    );
}

fn url_encode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `n` closed tickets for one customer, written like the generated ones.
fn add_tickets(path: &std::path::Path, customer: &str, subscription: &str, n: usize) {
    let db = rusqlite::Connection::open(path).unwrap();
    db.busy_timeout(Duration::from_secs(30)).unwrap();
    let (c, s) = (Uuid::parse_str(customer).unwrap(), Uuid::parse_str(subscription).unwrap());
    let expert: Vec<u8> = db.query_row("SELECT user_id FROM experts LIMIT 1", [], |r| r.get(0)).unwrap();
    let now = chrono::Utc::now();
    for k in 0..n {
        let at = ts(now - chrono::Duration::days(k as i64 + 20));
        db.execute(
            "INSERT INTO tickets (id, customer_id, subscription_id, category, title, description, address, lat, lon, status, assigned_expert_id, excluded_experts, completed_by, resolution, completed_at, close_reason, created_by, created_at, updated_at, version) \
             VALUES (?1, ?2, ?3, 'laptop', ?4, 'Generated for the web bench.', '1 Main St, Chicago', ?5, ?6, 'closed', ?7, '[]', ?7, 'Fixed', ?8, 'survey_received', ?2, ?8, ?8, 3)",
            rusqlite::params![&Uuid::now_v7().as_bytes()[..], &c.as_bytes()[..], &s.as_bytes()[..], format!("Bench ticket {k}"), CHICAGO.0, CHICAGO.1, expert, at],
        )
        .unwrap();
    }
}
