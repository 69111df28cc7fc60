//! Tokens: refresh tokens rotate (a reused one signs its whole session out), sign-out
//! and sign-out everywhere, token responses are never cached.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn login_pair(s: &Server, email: &str, password: &str) -> Value {
    let resp = s
        .http
        .post(s.url("/api/v1/auth/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["cache-control"], "no-store");
    resp.json().await.unwrap()
}

async fn refresh(s: &Server, token: &Value) -> (StatusCode, Value) {
    s.post("/api/v1/auth/refresh", None, &json!({"refresh_token": token})).await
}

#[tokio::test]
async fn a_refresh_token_works_once_and_its_reuse_signs_the_session_out() {
    let s = Server::spawn(Backend::Sqlite).await;
    let first = login_pair(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let other_session = login_pair(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (st, second) = refresh(&s, &first["refresh_token"]).await;
    assert_eq!(st, StatusCode::OK, "{second}");
    for key in ["access_token", "refresh_token", "token_type", "expires_in", "role", "user_id"] {
        assert!(second.get(key).is_some(), "the response keeps its shape: {key} missing in {second}");
    }
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    // The old one again: refused, and the session's current token dies with it.
    let (st, body) = refresh(&s, &first["refresh_token"]).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(refresh(&s, &second["refresh_token"]).await.0, StatusCode::UNAUTHORIZED);
    // Another sign-in of the same user is not affected.
    assert_eq!(refresh(&s, &other_session["refresh_token"]).await.0, StatusCode::OK);
    assert!(s.log().contains("a refresh token was used twice"), "the reuse is logged");
}

#[tokio::test]
async fn of_two_concurrent_refreshes_with_one_token_at_most_one_succeeds() {
    let s = Server::spawn(Backend::Postgres).await;
    let pair = login_pair(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let tries = (0..8).map(|_| refresh(&s, &pair["refresh_token"]));
    let results = futures::future::join_all(tries).await;
    let ok = results.iter().filter(|(st, _)| *st == StatusCode::OK).count();
    assert!(ok <= 1, "{results:?}");
    assert!(results.iter().all(|(st, _)| [StatusCode::OK, StatusCode::UNAUTHORIZED].contains(st)), "{results:?}");
}

#[tokio::test]
async fn logout_and_logout_all_stop_refresh_tokens() {
    let s = Server::spawn(Backend::Sqlite).await;
    let a = login_pair(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let b = login_pair(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let c = login_pair(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let (st, _) =
        s.post("/api/v1/auth/logout", a["access_token"].as_str(), &json!({"refresh_token": a["refresh_token"]})).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(refresh(&s, &a["refresh_token"]).await.0, StatusCode::UNAUTHORIZED);
    // Signing out twice is fine; a forged token is not.
    let (st, _) = s.post("/api/v1/auth/logout", None, &json!({"refresh_token": a["refresh_token"]})).await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, _) = s.post("/api/v1/auth/logout", None, &json!({"refresh_token": "x.y.z"})).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    // b is still signed in; then everywhere out.
    let (st, b2) = refresh(&s, &b["refresh_token"]).await;
    assert_eq!(st, StatusCode::OK);
    let resp = s.req(reqwest::Method::POST, "/api/v1/auth/logout-all", None).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "logout-all needs the caller's access token");
    let resp =
        s.req(reqwest::Method::POST, "/api/v1/auth/logout-all", c["access_token"].as_str()).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert_eq!(refresh(&s, &b2["refresh_token"]).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(refresh(&s, &c["refresh_token"]).await.0, StatusCode::UNAUTHORIZED);
    // Signing in again works.
    login_pair(&s, ADMIN_EMAIL, ADMIN_PASSWORD).await;
}
