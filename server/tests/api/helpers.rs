//! Test harness: starts the real `sysops-server` binary on port 0 against a fresh
//! database (SQLite in a temp dir, or a fresh database in a throwaway PostgreSQL
//! cluster that this harness starts itself), and small HTTP helpers.

use reqwest::StatusCode;
use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::Duration;

/// Which database a server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A server's configuration, kept to restart it on the same database.
#[derive(Clone)]
pub struct Config {
    #[allow(dead_code)]
    pub backend: Backend,
    pub data_dir: PathBuf,
    pub db_url: Option<String>,
    pub env: Vec<(String, String)>,
}

/// A running server process.
pub struct Server {
    pub base: String,
    pub cfg: Config,
    child: Option<Child>,
    pub http: reqwest::Client,
    _dir: Option<std::sync::Arc<tempfile::TempDir>>,
}

pub const ADMIN_EMAIL: &str = "root@sysops.test";
pub const ADMIN_PASSWORD: &str = "root-password-1";

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_sysops-server")
}

impl Config {
    /// Runs a subcommand with this configuration.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.command(args).output().expect("run cli")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(bin());
        c.args(args).arg("--data-dir").arg(&self.data_dir);
        c.env_remove("SYSOPS_DATABASE_URL");
        for (k, _) in std::env::vars() {
            if k.starts_with("SYSOPS_") {
                c.env_remove(k);
            }
        }
        if let Some(url) = &self.db_url {
            c.env("SYSOPS_DATABASE_URL", url);
        }
        c.env("SYSOPS_LOG_FORMAT", "json");
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c
    }
}

impl Server {
    /// A server on a fresh database, with an administrator created through the CLI.
    pub async fn spawn(backend: Backend) -> Server {
        Self::spawn_with(backend, &[]).await
    }

    /// Like [`Server::spawn`], with extra `SYSOPS_*` variables.
    pub async fn spawn_with(backend: Backend, env: &[(&str, &str)]) -> Server {
        Self::spawn_env(backend, env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()).await
    }

    /// Like [`Server::spawn`], with extra `SYSOPS_*` variables.
    pub async fn spawn_env(backend: Backend, env: Vec<(String, String)>) -> Server {
        let dir = std::sync::Arc::new(tempfile::tempdir().expect("tempdir"));
        let db_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(pg().fresh_database()),
        };
        let cfg = Config { backend, data_dir: dir.path().join("data"), db_url, env };
        let out = cfg
            .command(&["create-admin", "--email", ADMIN_EMAIL, "--password", ADMIN_PASSWORD])
            .output()
            .expect("run create-admin");
        assert!(out.status.success(), "create-admin failed: {}", String::from_utf8_lossy(&out.stderr));
        let mut s = Self::start(cfg).await;
        s._dir = Some(dir);
        s
    }

    /// Starts the binary with `cfg` and waits until it listens.
    pub async fn start(cfg: Config) -> Server {
        Self::start_bind(cfg, "127.0.0.1:0").await
    }

    /// Starts the binary with `cfg` listening on `bind` and waits until it listens.
    pub async fn start_bind(cfg: Config, bind: &str) -> Server {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(cfg.data_dir.parent().unwrap_or(Path::new(".")).join("server.log"))
            .expect("log file");
        let mut child = cfg
            .command(&["serve", "--bind", bind])
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn sysops-server");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.strip_prefix("listening on ") {
                    let _ = tx.send(url.trim().to_owned());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                let log =
                    std::fs::read_to_string(cfg.data_dir.parent().unwrap().join("server.log")).unwrap_or_default();
                panic!("server did not start; its log:\n{log}");
            }
        };
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        Server { base, cfg, child: Some(child), http, _dir: None }
    }

    /// The server process's id.
    #[allow(dead_code)] // tests/cluster.rs includes this file
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// The server's log so far (JSON lines on stderr).
    #[allow(dead_code)]
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.cfg.data_dir.parent().unwrap_or(Path::new(".")).join("server.log"))
            .unwrap_or_default()
    }

    /// A figure from `/proc/PID/status` (e.g. `VmRSS`, `VmHWM`), in KiB.
    #[allow(dead_code)]
    pub fn proc_status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("proc status");
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("no {field} in /proc status"))
    }

    /// A server this test did not start (e.g. a load balancer in front of several):
    /// requests only; it cannot be stopped or restarted from here.
    #[allow(dead_code)] // used by tests/cluster.rs, which includes this file
    pub fn remote(base: &str, cfg: Config) -> Server {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("client");
        Server { base: base.trim_end_matches('/').to_owned(), cfg, child: None, http, _dir: None }
    }

    /// `kill -9`: no chance to flush or finish anything.
    pub fn kill9(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().expect("SIGKILL");
            let _ = c.wait();
        }
    }

    /// Waits up to `timeout` for the process to end by itself (a test-only fault).
    #[allow(dead_code)]
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Some(c) = self.child.as_mut()
                && let Ok(Some(status)) = c.try_wait()
            {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// SIGTERM and wait for a graceful exit.
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let mut c = self.child.take().expect("running");
        Command::new("kill").arg("-TERM").arg(c.id().to_string()).status().expect("kill -TERM");
        c.wait().expect("wait")
    }

    /// Starts again on the same database.
    pub async fn restart(&mut self) {
        assert!(self.child.is_none(), "stop or kill the server first");
        let mut s = Server::start(self.cfg.clone()).await;
        self.base = s.base.clone();
        self.child = s.child.take();
    }

    /// Starts again on the same database and the same address, as a restarted node
    /// would (connected clients find it where it was).
    #[allow(dead_code)]
    pub async fn restart_in_place(&mut self) {
        assert!(self.child.is_none(), "stop or kill the server first");
        let addr = self.base.trim_start_matches("http://").to_owned();
        let mut s = Server::start_bind(self.cfg.clone(), &addr).await;
        self.child = s.child.take();
    }

    /// Runs another subcommand on the same database.
    pub fn cli(&self, args: &[&str]) -> std::process::Output {
        self.cfg.command(args).output().expect("run cli")
    }

    /// Full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request with an optional bearer token.
    pub fn req(&self, method: reqwest::Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
        let r = self.http.request(method, self.url(path));
        match token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    /// GET, returning status and JSON (Null when the body is not JSON).
    pub async fn get(&self, path: &str, token: Option<&str>) -> (StatusCode, Value) {
        send(self.req(reqwest::Method::GET, path, token)).await
    }

    /// POST JSON.
    pub async fn post(&self, path: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        send(self.req(reqwest::Method::POST, path, token).json(body)).await
    }

    /// PATCH JSON.
    pub async fn patch(&self, path: &str, token: Option<&str>, body: &Value) -> (StatusCode, Value) {
        send(self.req(reqwest::Method::PATCH, path, token).json(body)).await
    }

    /// Logs in and returns the access token.
    pub async fn login(&self, email: &str, password: &str) -> String {
        let (s, v) = self.post("/api/v1/auth/login", None, &json!({"email": email, "password": password})).await;
        assert_eq!(s, StatusCode::OK, "login {email}: {v}");
        v["access_token"].as_str().expect("access_token").to_owned()
    }

    /// The administrator's token.
    pub async fn admin(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Sends and decodes.
pub async fn send(r: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let resp = r.send().await.expect("request failed");
    let status = resp.status();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// A throwaway PostgreSQL cluster shared by the tests of this binary.
pub struct Pg {
    pub base_url: String,
    port: u16,
}

static PG: OnceLock<Pg> = OnceLock::new();

/// The cluster: `SYSOPS_TEST_PG_URL` if set (e.g. `postgres://postgres@127.0.0.1:5432`),
/// otherwise one started here with initdb/pg_ctl and stopped when this process exits.
pub fn pg() -> &'static Pg {
    PG.get_or_init(|| {
        if let Ok(url) = std::env::var("SYSOPS_TEST_PG_URL") {
            let port =
                url.rsplit(':').next().and_then(|p| p.split('/').next()).and_then(|p| p.parse().ok()).unwrap_or(5432);
            return Pg { base_url: url.trim_end_matches('/').to_owned(), port };
        }
        start_cluster()
    })
}

fn pg_bin(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    versions.sort();
    let dir = versions.pop().expect(
        "PostgreSQL is not installed (apt-get install -y postgresql), and SYSOPS_TEST_PG_URL is not set; tests/run installs it",
    );
    dir.join("bin").join(name)
}

fn as_postgres(cmd: &str) -> Command {
    let is_root = Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0")).unwrap_or(false);
    if is_root {
        let mut c = Command::new("su");
        c.args(["postgres", "-s", "/bin/sh", "-c", cmd]);
        c
    } else {
        let mut c = Command::new("sh");
        c.args(["-c", cmd]);
        c
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn start_cluster() -> Pg {
    let dir = std::env::temp_dir().join(format!("sysops-pg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let _ = Command::new("chown").args(["-R", "postgres:postgres"]).arg(&dir).status();
    let d = dir.display();
    let initdb = pg_bin("initdb");
    let out =
        as_postgres(&format!("{} -D {d}/data -A trust -U postgres --no-sync >{d}/initdb.log 2>&1", initdb.display()))
            .status()
            .expect("initdb");
    assert!(out.success(), "initdb failed: see {d}/initdb.log");
    let port = free_port();
    let pg_ctl = pg_bin("pg_ctl");
    let opts = format!("-p {port} -k {d} -c listen_addresses=127.0.0.1 -c fsync=on -c max_connections=300");
    let ok = as_postgres(&format!("{} -D {d}/data -o '{opts}' -l {d}/log start -w >/dev/null", pg_ctl.display()))
        .status()
        .expect("pg_ctl start");
    assert!(ok.success(), "pg_ctl start failed: see {d}/log");
    // Stop the cluster when this test process goes away, however it ends.
    let me = std::process::id();
    let stop = format!(
        "while [ -d /proc/{me} ]; do sleep 1; done; {} -D {d}/data stop -m immediate >/dev/null 2>&1; rm -rf {d}",
        pg_ctl.display()
    );
    let _ = as_postgres(&stop).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).spawn();
    Pg { base_url: format!("postgres://postgres@127.0.0.1:{port}"), port }
}

impl Pg {
    /// A new, empty database; returns its URL.
    pub fn fresh_database(&self) -> String {
        let name = format!("t_{}", uuid::Uuid::new_v4().simple());
        let psql = pg_bin("psql");
        let out = Command::new(psql)
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "postgres", "-d", "postgres", "-c"])
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .expect("psql");
        assert!(out.status.success(), "CREATE DATABASE failed: {}", String::from_utf8_lossy(&out.stderr));
        format!("{}/{name}", self.base_url)
    }
}

/// A figure on the server's `/metrics` (panics if it is not there).
#[allow(dead_code)] // tests/cluster.rs includes this file
pub async fn metric(s: &Server, name: &str) -> f64 {
    let text = s.http.get(format!("{}/metrics", s.base)).send().await.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse::<f64>().ok())
        .unwrap_or_else(|| panic!("{name} is not on /metrics"))
}

/// A small world: an admin, a plan covering television and laptop, experts, a customer
/// with a subscription.
pub struct World {
    pub admin: String,
    pub plan_id: String,
    pub customer: Customer,
    pub experts: Vec<Expert>,
}

pub struct Customer {
    pub id: String,
    pub email: String,
    pub token: String,
    pub subscription_id: String,
}

pub struct Expert {
    pub id: String,
    pub email: String,
    pub token: String,
    pub phone: String,
}

pub const PASSWORD: &str = "a-good-password";
pub const CHICAGO: (f64, f64) = (41.8781, -87.6298);

/// `km` kilometres north of Chicago.
pub fn north(km: f64) -> Value {
    json!({"lat": CHICAGO.0 + km / 111.2, "lon": CHICAGO.1})
}

impl World {
    pub async fn new(s: &Server) -> World {
        let admin = s.admin().await;
        let (st, plan) = s
            .post(
                "/api/v1/plans",
                Some(&admin),
                &json!({"name": "Home and Office", "categories": ["television", "laptop", "printer"],
                        "monthly_price_cents": 2999, "currency": "USD"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{plan}");
        let mut experts = Vec::new();
        for (i, (skills, km)) in [(vec!["television"], 1.0), (vec!["television", "laptop"], 4.0), (vec!["laptop"], 2.0)]
            .into_iter()
            .enumerate()
        {
            experts.push(add_expert(s, &admin, &format!("expert{i}"), &skills, km).await);
        }
        let customer = add_customer(s, "casey", plan["id"].as_str().unwrap()).await;
        World { admin, plan_id: plan["id"].as_str().unwrap().to_owned(), customer, experts }
    }
}

static PHONES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(1000);

/// A distinct phone number per expert in this test process.
pub fn next_phone() -> String {
    format!("+1312555{:04}", PHONES.fetch_add(1, std::sync::atomic::Ordering::Relaxed))
}

pub async fn add_expert(s: &Server, admin: &str, name: &str, skills: &[&str], km_north: f64) -> Expert {
    let email = format!("{name}-{}@experts.test", uuid::Uuid::new_v4().simple());
    let phone = next_phone();
    let (st, e) = s
        .post(
            "/api/v1/experts",
            Some(admin),
            &json!({"name": name, "email": email, "password": PASSWORD, "phone": phone,
                    "skills": skills, "service_area": {"center": north(0.0), "radius_km": 40.0},
                    "locale": "en-US", "location": north(km_north), "available": true}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{e}");
    Expert { id: e["id"].as_str().unwrap().to_owned(), token: s.login(&email, PASSWORD).await, email, phone }
}

pub async fn add_customer(s: &Server, name: &str, plan_id: &str) -> Customer {
    let email = format!("{name}-{}@customers.test", uuid::Uuid::new_v4().simple());
    let (st, c) = s
        .post(
            "/api/v1/customers",
            None,
            &json!({"name": name, "email": email, "password": PASSWORD, "phone": "+13125550199",
                    "notify_by": "email", "address": "1 Main St, Chicago", "location": north(0.5)}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    let token = s.login(&email, PASSWORD).await;
    let (st, sub) = s
        .post(
            "/api/v1/customers/me/subscriptions",
            Some(&token),
            &json!({"plan_id": plan_id, "product": "Living-room TV"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{sub}");
    Customer {
        id: c["id"].as_str().unwrap().to_owned(),
        email,
        token,
        subscription_id: sub["id"].as_str().unwrap().to_owned(),
    }
}

/// A valid ticket body for `c`.
pub fn ticket_body(c: &Customer, category: &str, title: &str) -> Value {
    json!({"subscription_id": c.subscription_id, "category": category, "title": title,
           "description": "It stopped working this morning."})
}
