//! The HTTP edges an outside probe pokes at: who may read `/metrics` and what labels a
//! made-up method gets, where demo mode listens, headers, HEAD, 405 and oversized heads.

use crate::helpers::*;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn metrics_need_the_configured_token_and_made_up_methods_share_one_label() {
    let s = Server::spawn_with(Backend::Sqlite, &[("SYSOPS_METRICS_TOKEN", "scrape-secret-1234")]).await;
    for m in ["FROBNICATE", "BREW", "WHEN", "PURGEALL", "X-Y"] {
        let st = s
            .http
            .request(Method::from_bytes(m.as_bytes()).unwrap(), s.url("/api/v1/plans"))
            .send()
            .await
            .unwrap()
            .status();
        assert!(st.is_client_error(), "{m}: {st}");
    }
    let resp = s.http.get(s.url("/metrics")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let resp = s.http.get(s.url("/metrics")).bearer_auth("wrong-token").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let resp = s.http.get(s.url("/metrics")).bearer_auth("scrape-secret-1234").send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(text.contains("method=\"OTHER\""), "{text}");
    for m in ["FROBNICATE", "BREW", "PURGEALL"] {
        assert!(!text.contains(m), "{m} became a label:\n{text}");
    }
    // Without a configured token, /metrics stays open (the documented GET /metrics).
    let open = Server::spawn(Backend::Sqlite).await;
    assert_eq!(open.http.get(open.url("/metrics")).send().await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn demo_mode_refuses_to_listen_beyond_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sysops-server"))
        .args(["serve", "--demo", "--bind", "0.0.0.0:0", "--data-dir"])
        .arg(dir.path())
        .env_remove("SYSOPS_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback") && err.contains("127.0.0.1"), "{err}");
    // Without --demo the page does not exist.
    let s = Server::spawn(Backend::Sqlite).await;
    assert_eq!(s.get("/dev/outbox", None).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn pages_carry_security_headers_and_methods_are_answered_properly() {
    let s = Server::spawn(Backend::Sqlite).await;
    let page = s.http.get(s.url("/problems/not-found")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let h = page.headers();
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'self'"), "{csp}");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["referrer-policy"], "no-referrer");
    let api = s.http.get(s.url("/api/v1/plans")).send().await.unwrap();
    assert_eq!(api.headers()["x-content-type-options"], "nosniff");

    // HEAD is answered like GET, without a body.
    for path in ["/health/live", "/api/v1/plans", "/docs/"] {
        let head = s.http.head(s.url(path)).send().await.unwrap();
        assert_eq!(head.status(), StatusCode::OK, "HEAD {path}");
        assert!(head.bytes().await.unwrap().is_empty());
    }
    // A real route with a method it does not take: 405 with Allow, as a problem.
    for m in ["DELETE", "PUT", "FROBNICATE"] {
        let resp =
            s.http.request(Method::from_bytes(m.as_bytes()).unwrap(), s.url("/api/v1/plans")).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED, "{m}");
        let allow = resp.headers()["allow"].to_str().unwrap().to_owned();
        assert!(allow.contains("GET") && allow.contains("POST") && allow.contains("HEAD"), "{allow}");
        assert_eq!(resp.headers()["content-type"], "application/problem+json");
        let body: serde_json::Value = resp.json().await.unwrap();
        assert_eq!(body["status"], 405);
    }
    let id = uuid::Uuid::new_v4();
    let resp = s.http.post(s.url(&format!("/api/v1/tickets/{id}"))).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::METHOD_NOT_ALLOWED);
    let options = s.http.request(Method::OPTIONS, s.url("/api/v1/auth/login")).send().await.unwrap();
    assert_eq!(options.status(), StatusCode::NO_CONTENT);
    assert!(options.headers()["allow"].to_str().unwrap().contains("POST"));
    assert_eq!(s.http.delete(s.url("/no/such/route")).send().await.unwrap().status(), StatusCode::NOT_FOUND);
}

/// Sends raw bytes and returns the status line, headers and body of the answer.
fn raw(base: &str, request: &[u8]) -> (u16, String, String) {
    use std::io::{Read, Write};
    let addr = base.trim_start_matches("http://");
    let mut c = std::net::TcpStream::connect(addr).unwrap();
    c.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
    let _ = c.write_all(request);
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_ascii_lowercase(), body.to_owned())
}

#[tokio::test]
async fn oversized_and_malformed_request_heads_get_problem_bodies() {
    let s = Server::spawn(Backend::Sqlite).await;
    let big = format!("GET /api/v1/plans HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(200_000));
    let long_url = format!("GET /api/v1/plans?q={} HTTP/1.1\r\nHost: x\r\n\r\n", "b".repeat(200_000));
    let many =
        format!("GET / HTTP/1.1\r\nHost: x\r\n{}\r\n", (0..200).map(|i| format!("X-H{i}: v\r\n")).collect::<String>());
    let garbage = "GET /x HTTP/1.1\r\nHost: x\r\nBad Header Line\r\n\r\n".to_owned();
    for (name, req, want) in
        [("big header", big, 431), ("long url", long_url, 431), ("many headers", many, 431), ("garbage", garbage, 400)]
    {
        let (status, head, body) = raw(&s.base, req.as_bytes());
        assert_eq!(status, want, "{name}: {head}");
        assert!(head.contains("content-type: application/problem+json"), "{name}: {head}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{name}: {e}: {body:?}"));
        assert_eq!(v["status"], want);
        assert!(!v["detail"].as_str().unwrap().is_empty());
    }
}
