//! What the HTTP benches share: the real server binary started on a free port, JSON
//! calls, sign-in, settings from the environment and percentiles. Each bench uses part
//! of it.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running `sysops-server` and its base URL; killed when dropped.
pub struct Server(pub Child, pub String);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The server binary built with the benches.
pub fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_sysops-server"))
}

/// `sysops-server create-admin` on a data directory (panics with its error output).
pub fn create_admin(data: &std::path::Path, email: &str, password: &str) {
    let out = bin()
        .args(["create-admin", "--email", email, "--password", password, "--data-dir"])
        .arg(data)
        .output()
        .unwrap();
    assert!(out.status.success(), "create-admin: {}", String::from_utf8_lossy(&out.stderr));
}

/// Starts `serve` on `dir` with extra environment; returns once it listens.
/// `BENCH_SERVER_LOG=debug` shows the server's log on stderr.
pub fn serve(dir: &std::path::Path, env: &[(String, String)]) -> Server {
    let log = std::env::var("BENCH_SERVER_LOG").ok();
    let mut cmd = bin();
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(dir)
        .env("SYSOPS_LOG", log.as_deref().unwrap_or("warn"))
        .stderr(if log.is_some() { Stdio::inherit() } else { Stdio::null() });
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(Stdio::piped()).spawn().unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let l = lines.next().expect("server exited").unwrap();
        if let Some(u) = l.strip_prefix("listening on ") {
            break u.trim().to_owned();
        }
    };
    std::thread::spawn(move || for _ in lines {});
    Server(child, base)
}

/// A number from the environment, or `default`.
pub fn env(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The `p` percentile (0..=1) of `v`, nearest rank.
pub fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// A JSON call that must succeed; its body (or null).
pub async fn call(
    c: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    token: Option<&str>,
    body: Option<Value>,
) -> Value {
    let mut r = c.request(method, url);
    if let Some(t) = token {
        r = r.bearer_auth(t);
    }
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.json().await.unwrap_or(Value::Null)
}

/// Signs in; the access token.
pub async fn login(c: &reqwest::Client, base: &str, email: &str, password: &str) -> String {
    let v = call(
        c,
        reqwest::Method::POST,
        format!("{base}/api/v1/auth/login"),
        None,
        Some(json!({"email": email, "password": password})),
    )
    .await;
    v["access_token"].as_str().unwrap().to_owned()
}
