//! Accounts: an administrator disables a user and every token of theirs stops working at
//! once on every node; signing keys live outside the database and survive upgrades,
//! restarts and rotation.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

async fn pair(s: &Server, email: &str, password: &str) -> serde_json::Value {
    let (st, v) = s.post("/api/v1/auth/login", None, &json!({"email": email, "password": password})).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v
}

#[tokio::test]
async fn a_disabled_users_tokens_stop_working_at_once_on_every_node() {
    let a = Server::spawn(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = a.cfg.clone();
    cfg.data_dir = dir.path().join("data");
    let b = Server::start(cfg).await;
    let admin = a.admin().await;
    let (st, agent) = a
        .post(
            "/api/v1/users",
            Some(&admin),
            &json!({"name": "Al", "email": "al@staff.test", "password": PASSWORD, "role": "agent"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{agent}");
    let id = agent["id"].as_str().unwrap();
    let tokens = pair(&b, "al@staff.test", PASSWORD).await;
    let access = tokens["access_token"].as_str().unwrap();
    // Both nodes know the agent (and cache that).
    assert_eq!(a.get("/api/v1/tickets", Some(access)).await.0, StatusCode::OK);
    assert_eq!(b.get("/api/v1/tickets", Some(access)).await.0, StatusCode::OK);

    let (st, u) = a.patch(&format!("/api/v1/users/{id}"), Some(&admin), &json!({"disabled": true})).await;
    assert_eq!((st, u["disabled"].as_bool()), (StatusCode::OK, Some(true)), "{u}");
    // At once, on both nodes: no waiting for the cache to expire.
    for node in [&a, &b] {
        let (st, body) = node.get("/api/v1/tickets", Some(access)).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{body}");
        assert!(body["detail"].as_str().unwrap().contains("disabled"), "{body}");
    }
    let (st, _) = b.post("/api/v1/auth/refresh", None, &json!({"refresh_token": tokens["refresh_token"]})).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = b.post("/api/v1/auth/login", None, &json!({"email": "al@staff.test", "password": PASSWORD})).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);

    // Only admins may do this, and not to themselves.
    assert_eq!(
        a.patch(&format!("/api/v1/users/{id}"), Some(access), &json!({"disabled": false})).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (_, me) = a.post("/api/v1/auth/login", None, &json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})).await;
    let (st, _) = a
        .patch(&format!("/api/v1/users/{}", me["user_id"].as_str().unwrap()), Some(&admin), &json!({"disabled": true}))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY);

    // Enabled again: signing in works (old refresh tokens stay revoked).
    let (st, _) = b.patch(&format!("/api/v1/users/{id}"), Some(&admin), &json!({"disabled": false})).await;
    assert_eq!(st, StatusCode::OK);
    let fresh = pair(&a, "al@staff.test", PASSWORD).await;
    assert_eq!(b.get("/api/v1/tickets", fresh["access_token"].as_str()).await.0, StatusCode::OK);
    let (st, _) = a.post("/api/v1/auth/refresh", None, &json!({"refresh_token": tokens["refresh_token"]})).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
}

#[cfg(unix)]
#[tokio::test]
async fn the_signing_key_lives_in_a_private_file_and_not_in_the_database() {
    use std::os::unix::fs::PermissionsExt;
    let mut s = Server::spawn(Backend::Sqlite).await;
    let token = s.admin().await;
    let file = s.cfg.data_dir.join("jwt-keys.toml");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let db = rusqlite::Connection::open(s.cfg.data_dir.join("sysops.db")).unwrap();
    let stored: i64 =
        db.query_row("SELECT count(*) FROM server_settings WHERE key = 'jwt_secret'", [], |r| r.get(0)).unwrap();
    assert_eq!(stored, 0, "no signing key in the database");
    drop(db);
    // A key file others can read is refused at start, with the fix in the message.
    s.stop();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = s.cli(&["migrate"]);
    assert!(out.status.success());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_sysops-server"))
        .args(["serve", "--bind", "127.0.0.1:0", "--data-dir"])
        .arg(&s.cfg.data_dir)
        .env_remove("SYSOPS_DATABASE_URL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"), "{}", String::from_utf8_lossy(&out.stderr));
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.restart().await;
    assert_eq!(s.get("/api/v1/plans", Some(&token)).await.0, StatusCode::OK, "tokens survive the restart");

    // Rotation: a new key signs, tokens signed with the old one still work.
    s.stop();
    let out = s.cli(&["rotate-jwt-key"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    s.restart().await;
    assert_eq!(s.get("/api/v1/customers/me", Some(&token)).await.0, StatusCode::FORBIDDEN, "old token still verifies");
    let fresh = s.admin().await;
    let kid = |t: &str| jsonwebtoken::decode_header(t).unwrap().kid;
    assert_ne!(kid(&fresh), kid(&token), "the new key signs");
    assert_eq!(s.get("/api/v1/plans", Some(&fresh)).await.0, StatusCode::OK);
}

#[tokio::test]
async fn tokens_signed_with_a_secret_stored_by_an_older_version_keep_working() {
    let mut s = Server::spawn(Backend::Sqlite).await;
    let (_, me) = s.post("/api/v1/auth/login", None, &json!({"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})).await;
    s.stop();
    // Make the database look like an older version's: the secret stored, no key file.
    let secret = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    std::fs::remove_file(s.cfg.data_dir.join("jwt-keys.toml")).unwrap();
    let db = rusqlite::Connection::open(s.cfg.data_dir.join("sysops.db")).unwrap();
    db.execute("INSERT INTO server_settings (key, value) VALUES ('jwt_secret', ?1)", [secret]).unwrap();
    drop(db);
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"iss": "sysops-squad", "sub": me["user_id"], "role": "admin", "typ": "access",
                        "iat": now, "exp": now + 600, "jti": uuid::Uuid::new_v4()});
    let old_token = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    s.restart().await;
    assert_eq!(s.get("/api/v1/plans", Some(&old_token)).await.0, StatusCode::OK);
    let keys = std::fs::read_to_string(s.cfg.data_dir.join("jwt-keys.toml")).unwrap();
    assert!(keys.contains(secret), "the stored secret moved into the key file");
    let db = rusqlite::Connection::open(s.cfg.data_dir.join("sysops.db")).unwrap();
    let stored: i64 =
        db.query_row("SELECT count(*) FROM server_settings WHERE key = 'jwt_secret'", [], |r| r.get(0)).unwrap();
    assert_eq!(stored, 0, "and left the database");
}
