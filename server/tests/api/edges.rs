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
