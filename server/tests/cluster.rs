//! The fleet proof: three server nodes on one PostgreSQL behind a real load balancer
//! (Debian's nginx), under mixed load (ticket intake with idempotency keys and retries,
//! experts' devices syncing over WebSockets, page and list reads), through a `kill -9`
//! of one node and then a restart of PostgreSQL itself.
//!
//! It asserts what a customer and an expert would: every acknowledged ticket is there
//! exactly once (every key, retried until it succeeds, names one ticket), and every
//! device converges on what the server says is assigned to its expert. It prints, for
//! each fault, the window in which requests failed and the p99 latency around it.
//!
//! This binary starts its own PostgreSQL cluster (it restarts it), so it never touches
//! the cluster the other suites share.

#![allow(dead_code, missing_docs)]

#[path = "api/device.rs"]
mod device;
#[path = "api/helpers.rs"]
mod helpers;

use device::Device;
use helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// A PostgreSQL cluster of this test's own, which it may restart.
struct OwnPg {
    dir: PathBuf,
    port: u16,
    bin: PathBuf,
}

fn shell_as_postgres(cmd: &str) -> Command {
    let root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
    let mut c = if root {
        let mut c = Command::new("su");
        c.args(["postgres", "-s", "/bin/sh", "-c", cmd]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", cmd]);
        c
    };
    c.stdin(Stdio::null());
    c
}

impl OwnPg {
    fn start() -> OwnPg {
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .expect("PostgreSQL is not installed (tests/run installs it)")
            .filter_map(Result::ok)
            .map(|e| e.path().join("bin"))
            .collect();
        versions.sort();
        let bin = versions.pop().expect("a PostgreSQL version");
        let dir = std::env::temp_dir().join(format!("sysops-cluster-pg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let _ = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status();
        let d = dir.display().to_string();
        let ok = shell_as_postgres(&format!(
            "{}/initdb -D {d}/data -A trust -U postgres --no-sync >{d}/initdb.log 2>&1",
            bin.display()
        ))
        .status()
        .unwrap();
        assert!(ok.success(), "initdb failed: see {d}/initdb.log");
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let pg = OwnPg { dir, port, bin };
        pg.ctl("start -w");
        // Stop the cluster when this process goes away, however it ends.
        let me = std::process::id();
        let stop = format!(
            "while [ -d /proc/{me} ]; do sleep 1; done; {}/pg_ctl -D {d}/data stop -m immediate >/dev/null 2>&1; rm -rf {d}",
            pg.bin.display()
        );
        let _ = shell_as_postgres(&stop).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
        pg
    }

    fn ctl(&self, what: &str) {
        let d = self.dir.display();
        let opts = format!("-p {} -k {d} -c listen_addresses=127.0.0.1 -c max_connections=300", self.port);
        let ok = shell_as_postgres(&format!(
            "{}/pg_ctl -D {d}/data -o '{opts}' -l {d}/log {what} >/dev/null",
            self.bin.display()
        ))
        .status()
        .unwrap();
        assert!(ok.success(), "pg_ctl {what} failed: see {d}/log");
    }

    fn database(&self) -> String {
        let name = format!("cluster_{}", uuid::Uuid::new_v4().simple());
        let out = Command::new(self.bin.join("psql"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", "postgres", "-c"])
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }
}

/// nginx in front of the nodes, as a child process with a private prefix.
struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Nginx {
    fn start(upstreams: &[u16]) -> Nginx {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let d = dir.path().display();
        std::fs::create_dir_all(dir.path().join("tmp")).unwrap();
        let servers: String =
            upstreams.iter().map(|p| format!("    server 127.0.0.1:{p} max_fails=1 fail_timeout=2s;\n")).collect();
        let conf = format!(
            r#"worker_processes 1;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {d}/tmp; proxy_temp_path {d}/tmp; fastcgi_temp_path {d}/tmp;
  uwsgi_temp_path {d}/tmp; scgi_temp_path {d}/tmp;
  map $http_upgrade $connection_upgrade {{ default upgrade; '' ''; }}
  upstream sysops {{
{servers}    keepalive 64;
  }}
  server {{
    listen 127.0.0.1:{port};
    location / {{
      proxy_pass http://sysops;
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_set_header Host $host;
      proxy_buffering off;
      proxy_read_timeout 3600s;
      proxy_connect_timeout 1s;
      # Retrying a POST on another node is safe here: creating requests carry
      # Idempotency-Keys, so a retried ticket is the same ticket.
      proxy_next_upstream error timeout http_502 non_idempotent;
      proxy_next_upstream_tries 3;
    }}
  }}
}}
"#
        );
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("nginx")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&path)
            .arg("-e")
            .arg(dir.path().join("error.log"))
            .args(["-g", "daemon off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("nginx (tests/run installs Debian's nginx)");
        Nginx { child, port, _dir: dir }
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request's outcome, for the fault report.
#[derive(Clone, Copy)]
struct Sample {
    at: Duration,
    took: Duration,
    ok: bool,
}

/// Raises a ticket with `key`, retrying the same key until it is acknowledged; records
/// every attempt.
async fn raise(lb: &Server, token: &str, key: &str, body: &Value, t0: Instant, samples: &Mutex<Vec<Sample>>) -> String {
    let mut delay = Duration::from_millis(50);
    loop {
        let start = Instant::now();
        let r = lb
            .req(Method::POST, "/api/v1/tickets", Some(token))
            .header("Idempotency-Key", key)
            .timeout(Duration::from_secs(15))
            .json(body)
            .send()
            .await;
        let took = start.elapsed();
        let ok = match r {
            Ok(resp) if resp.status() == StatusCode::CREATED => {
                let v: Value = resp.json().await.unwrap_or(Value::Null);
                samples.lock().await.push(Sample { at: start - t0, took, ok: true });
                if let Some(id) = v["id"].as_str() {
                    return id.to_owned();
                }
                false
            }
            _ => false,
        };
        if !ok {
            samples.lock().await.push(Sample { at: start - t0, took, ok: false });
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
    }
}

fn report(name: &str, samples: &[Sample], from: Duration, to: Duration) {
    let window: Vec<&Sample> = samples.iter().filter(|s| s.at >= from && s.at <= to).collect();
    let errors: Vec<&&Sample> = window.iter().filter(|s| !s.ok).collect();
    let mut lat: Vec<Duration> = window.iter().filter(|s| s.ok).map(|s| s.took).collect();
    lat.sort();
    let p = |q: f64| lat.get(((lat.len() as f64 * q) as usize).min(lat.len().saturating_sub(1))).copied();
    let err_window = match (errors.first(), errors.last()) {
        (Some(a), Some(b)) => {
            format!("{:.2} s ({} failed attempts, all retried)", (b.at + b.took - a.at).as_secs_f64(), errors.len())
        }
        _ => "none (no request failed)".to_owned(),
    };
    println!(
        "cluster: {name}: error window {err_window}; {} ok requests, p50 {:?}, p99 {:?}",
        lat.len(),
        p(0.5).unwrap_or_default(),
        p(0.99).unwrap_or_default()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_nodes_behind_nginx_lose_and_duplicate_nothing_through_a_node_kill_and_a_postgres_restart() {
    let pg = OwnPg::start();
    let url = pg.database();
    let keep = std::env::var_os("SYSOPS_TEST_KEEP").is_some();
    let root = tempfile::Builder::new().prefix("sysops-cluster-").disable_cleanup(keep).tempdir().unwrap();
    if keep {
        eprintln!("cluster: logs kept in {}", root.path().display());
    }
    let cfg = |n: usize| Config {
        backend: Backend::Postgres,
        data_dir: root.path().join(format!("node{n}")),
        db_url: Some(url.clone()),
        env: vec![("SYSOPS_NODE_ID".to_owned(), format!("node-{n}"))],
    };
    let out = cfg(0).cli(&["create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let mut nodes = Vec::new();
    for n in 0..3 {
        nodes.push(Server::start(cfg(n)).await);
    }
    let ports: Vec<u16> = nodes.iter().map(|s| s.base.rsplit(':').next().unwrap().parse().unwrap()).collect();
    let lb_proc = Nginx::start(&ports);
    let lb = Arc::new(Server::remote(&format!("http://127.0.0.1:{}", lb_proc.port), cfg(0)));
    // Wait for nginx to listen.
    for _ in 0..100 {
        if lb.http.get(lb.url("/health/live")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A world: experts (each with a device) and customers, made through the balancer.
    let admin = lb.admin().await;
    let (st, plan) = lb
        .post(
            "/api/v1/plans",
            Some(&admin),
            &json!({"name": "Fleet", "categories": ["television", "laptop"], "monthly_price_cents": 1999, "currency": "USD"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{plan}");
    let plan_id = plan["id"].as_str().unwrap().to_owned();
    let mut experts = Vec::new();
    for i in 0..6 {
        experts.push(add_expert(&lb, &admin, &format!("fleet{i}"), &["television", "laptop"], 1.0 + i as f64).await);
    }
    let mut customers = Vec::new();
    for i in 0..4 {
        customers.push(add_customer(&lb, &format!("fleet-customer{i}"), &plan_id).await);
    }
    let mut devices = Vec::new();
    for e in &experts {
        devices.push(Device::connect(&lb, &e.email, PASSWORD).await);
    }

    // Mixed load: ticket intake with keys (retried until acknowledged) and reads.
    let t0 = Instant::now();
    let samples: Arc<Mutex<Vec<Sample>>> = Arc::default();
    let acked: Arc<Mutex<BTreeMap<String, String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let mut load = Vec::new();
    for (w, c) in customers.iter().enumerate() {
        for lane in 0..4 {
            let (lb, samples, acked, stop) = (lb.clone(), samples.clone(), acked.clone(), stop.clone());
            let (token, sub) = (c.token.clone(), c.subscription_id.clone());
            load.push(tokio::spawn(async move {
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let key = format!("fleet-{w}-{lane}-{i}");
                    let body = json!({"subscription_id": sub, "category": if i % 2 == 0 { "television" } else { "laptop" },
                                      "title": format!("Fleet ticket {key}"), "description": "Under load."});
                    let id = raise(&lb, &token, &key, &body, t0, &samples).await;
                    acked.lock().await.insert(key, id);
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
            }));
        }
    }
    {
        let (lb, samples, stop) = (lb.clone(), samples.clone(), stop.clone());
        load.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                for path in ["/api/v1/plans", "/health/ready"] {
                    let start = Instant::now();
                    let ok = lb.http.get(lb.url(path)).send().await.is_ok_and(|r| r.status().is_success());
                    samples.lock().await.push(Sample { at: start - t0, took: start.elapsed(), ok });
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }));
    }

    // Fault 1: kill -9 one node mid-load; bring it back later.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let kill_at = t0.elapsed();
    nodes[1].kill9();
    tokio::time::sleep(Duration::from_secs(6)).await;
    nodes[1].restart().await;
    let back_at = t0.elapsed();

    // Fault 2: restart PostgreSQL under load.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let pg_at = t0.elapsed();
    pg.ctl("restart -m fast -w");
    tokio::time::sleep(Duration::from_secs(8)).await;
    let pg_done = t0.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.await.unwrap();
    }

    let samples = samples.lock().await.clone();
    let acked = acked.lock().await.clone();
    report("before faults", &samples, Duration::ZERO, kill_at);
    report("kill -9 of node 1 (10 s from the kill)", &samples, kill_at, kill_at + Duration::from_secs(10));
    report("node 1 back", &samples, back_at, pg_at);
    report("PostgreSQL restart (10 s from the restart)", &samples, pg_at, pg_at + Duration::from_secs(10));
    println!("cluster: {} tickets acknowledged in {:.1} s", acked.len(), pg_done.as_secs_f64());
    assert!(acked.len() > 50, "the load barely ran: {} tickets", acked.len());

    // Every acknowledged ticket exactly once: each key names one ticket, and the
    // ticket list holds each title once.
    let ids: BTreeSet<&String> = acked.values().collect();
    assert_eq!(ids.len(), acked.len(), "two keys were answered with the same ticket");
    let mut titles: HashMap<String, usize> = HashMap::new();
    let mut by_expert: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/tickets?limit=200&cursor={c}"),
            None => "/api/v1/tickets?limit=200".to_owned(),
        };
        let (st, page) = lb.get(&path, Some(&admin)).await;
        assert_eq!(st, StatusCode::OK, "{page}");
        for t in page["items"].as_array().unwrap() {
            *titles.entry(t["title"].as_str().unwrap().to_owned()).or_default() += 1;
            if t["status"] == "assigned" || t["status"] == "accepted" {
                by_expert
                    .entry(t["assigned_expert_id"].as_str().unwrap().to_owned())
                    .or_default()
                    .insert(t["id"].as_str().unwrap().to_owned());
            }
        }
        cursor = page["next_cursor"].as_str().map(str::to_owned);
        if cursor.is_none() {
            break;
        }
    }
    for (key, id) in &acked {
        let title = format!("Fleet ticket {key}");
        assert_eq!(titles.get(&title), Some(&1), "ticket {id} (key {key}) is lost or duplicated");
        let (st, _) = lb.get(&format!("/api/v1/tickets/{id}"), Some(&admin)).await;
        assert_eq!(st, StatusCode::OK, "acknowledged ticket {id} lost");
    }
    assert_eq!(
        titles.keys().filter(|t| t.starts_with("Fleet ticket ")).count(),
        acked.len(),
        "tickets exist that no client was told about twice over"
    );

    // Every device converges on what the server says its expert holds.
    let converge = Instant::now();
    for (e, d) in experts.iter().zip(&devices) {
        let want = by_expert.get(&e.id).cloned().unwrap_or_default();
        let root = d.find(sysops_core::sync::ids::root(d.expert)).await.expect("the root document");
        let want2 = want.clone();
        let seen = Arc::new(std::sync::Mutex::new(BTreeSet::new()));
        let seen2 = seen.clone();
        let converged = tokio::time::timeout(
            Duration::from_secs(55),
            d.wait_for(&root, 60, "the root", move |doc| {
                let r = sysops_core::sync::docs::RootDoc::read(doc).ok()?;
                let have: BTreeSet<String> = r.tickets.keys().cloned().collect();
                *seen2.lock().unwrap() = have.clone();
                want2.is_subset(&have).then_some(())
            }),
        )
        .await;
        let have = seen.lock().unwrap().clone();
        assert!(
            converged.is_ok(),
            "{}'s device did not converge: the server assigns {want:?}, the device's root lists {have:?}",
            e.email
        );
        for id in &want {
            let (h, _) = d.ticket(id).await;
            d.wait_for(&h, 30, "the ticket document", |doc| sysops_core::sync::docs::TicketDoc::read(doc).ok()).await;
        }
    }
    println!(
        "cluster: {} devices converged on {} assigned tickets {:.1} s after the load stopped",
        devices.len(),
        by_expert.values().map(BTreeSet::len).sum::<usize>(),
        converge.elapsed().as_secs_f64()
    );
    for d in devices {
        d.stop().await;
    }
    drop(lb_proc);
}
