//! Passwords: common and patterned ones are refused with a message naming the field, and
//! a forgotten one is reset with a single-use, short-lived e-mailed link.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

fn customer(email: &str, password: &str) -> Value {
    json!({"name": "Robin Reset", "email": email, "password": password, "phone": "+13125550177",
           "notify_by": "email", "address": "2 Main St, Chicago", "location": north(0.4)})
}

#[tokio::test]
async fn common_and_patterned_passwords_are_refused_naming_the_field() {
    let s = Server::spawn(Backend::Sqlite).await;
    for (i, bad) in ["password", "12345678", "P@ssw0rd", "sunshine2026!", "iloveyou"].into_iter().enumerate() {
        let (st, body) = s.post("/api/v1/customers", None, &customer(&format!("weak{i}@x.test"), bad)).await;
        assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {body}");
        assert_eq!(body["errors"][0]["field"], "password", "{body}");
        assert!(
            body["errors"][0]["message"].as_str().unwrap().contains("common")
                || body["errors"][0]["message"].as_str().unwrap().contains("sequence"),
            "{body}"
        );
    }
    let (st, body) = s.post("/api/v1/customers", None, &customer("fine@x.test", "violet-kettle-harbour")).await;
    assert_eq!(st, StatusCode::CREATED, "{body}");
    // Staff accounts and the operator's command follow the same rule.
    let admin = s.admin().await;
    let (st, body) = s
        .post(
            "/api/v1/users",
            Some(&admin),
            &json!({"name": "Al", "email": "al@x.test", "password": "qwerty123", "role": "agent"}),
        )
        .await;
    assert_eq!(
        (st, body["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("password")),
        "{body}"
    );
    let out = s.cli(&["create-admin", "--email", "second@x.test", "--password", "letmein1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--password"), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The reset link's token from the newest e-mail to `email` in the outbox.
async fn reset_token(s: &Server, admin: &str, email: &str) -> Option<String> {
    let (_, page) = s.get("/api/v1/admin/outbox?limit=200", Some(admin)).await;
    let m = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["recipient"] == email && m["template"] == "password_reset")?;
    let body = m["body"].as_str().unwrap();
    let at = body.find("token=")? + "token=".len();
    Some(body[at..].split_whitespace().next().unwrap().to_owned())
}

#[tokio::test]
async fn a_reset_link_sets_a_new_password_once_and_signs_every_session_out() {
    let s = Server::spawn(Backend::Sqlite).await;
    let admin = s.admin().await;
    let email = "robin@x.test";
    let (st, _) = s.post("/api/v1/customers", None, &customer(email, "violet-kettle-harbour")).await;
    assert_eq!(st, StatusCode::CREATED);
    let (_, old) =
        s.post("/api/v1/auth/login", None, &json!({"email": email, "password": "violet-kettle-harbour"})).await;

    // Unknown addresses get the same answer, and no mail.
    let (st, _) = s.post("/api/v1/auth/password-reset", None, &json!({"email": "nobody@x.test"})).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    assert_eq!(reset_token(&s, &admin, "nobody@x.test").await, None);
    let (st, _) = s.post("/api/v1/auth/password-reset", None, &json!({"email": email})).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let token = reset_token(&s, &admin, email).await.expect("a reset e-mail in the outbox");

    let confirm = |password: &'static str| {
        let token = token.clone();
        let s = &s;
        async move {
            s.post("/api/v1/auth/password-reset/confirm", None, &json!({"token": token, "new_password": password}))
                .await
        }
    };
    let (st, body) = confirm("password1").await;
    assert_eq!(
        (st, body["errors"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("new_password")),
        "{body}"
    );
    let (st, body) = confirm("amber-lantern-meadow").await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{body}");
    // Single use; the old password and the old session are gone; the new one works.
    let (st, _) = confirm("another-fine-phrase").await;
    assert_eq!(st, StatusCode::GONE);
    let (st, _) =
        s.post("/api/v1/auth/login", None, &json!({"email": email, "password": "violet-kettle-harbour"})).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    let (st, _) = s.post("/api/v1/auth/refresh", None, &json!({"refresh_token": old["refresh_token"]})).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    s.login(email, "amber-lantern-meadow").await;
    let (st, _) = s
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            &json!({"token": "made-up", "new_password": "amber-lantern-meadow"}),
        )
        .await;
    assert_eq!(st, StatusCode::GONE);
}

#[tokio::test]
async fn a_reset_link_expires() {
    let s = Server::spawn_with(Backend::Sqlite, &[("SYSOPS_PASSWORD_RESET_TTL_SECS", "1")]).await;
    let admin = s.admin().await;
    let (st, _) = s.post("/api/v1/auth/password-reset", None, &json!({"email": ADMIN_EMAIL})).await;
    assert_eq!(st, StatusCode::ACCEPTED);
    let token = reset_token(&s, &admin, ADMIN_EMAIL).await.expect("a reset e-mail");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let (st, body) = s
        .post(
            "/api/v1/auth/password-reset/confirm",
            None,
            &json!({"token": token, "new_password": "amber-lantern-meadow"}),
        )
        .await;
    assert_eq!(st, StatusCode::GONE, "{body}");
    s.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
}
