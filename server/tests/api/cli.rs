//! The operator interface: migrate, create-admin, serve --demo.

use crate::helpers::*;
use reqwest::StatusCode;

#[tokio::test]
async fn the_operator_commands_do_what_they_say() {
    let mut s = Server::spawn(Backend::Sqlite).await;
    // migrate is idempotent on a live database.
    let out = s.cli(&["migrate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // create-admin refuses a bad e-mail with a clear message.
    let out = s.cli(&["create-admin", "--email", "nope", "--password", "long-enough-1"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--email"), "{}", String::from_utf8_lossy(&out.stderr));
    // create-admin on an existing admin resets the password.
    let out = s.cli(&["create-admin", "--email", ADMIN_EMAIL, "--password", "a-new-password-2"]);
    assert!(out.status.success());
    s.login(ADMIN_EMAIL, "a-new-password-2").await;

    // --demo loads its data once, beside what is there, and never twice.
    s.stop();
    s.cfg.env.push(("SYSOPS_DEMO".to_owned(), "true".to_owned()));
    s.restart().await;
    let admin = s.login(ADMIN_EMAIL, "a-new-password-2").await;
    let (_, experts) = s.get("/api/v1/experts", Some(&admin)).await;
    assert_eq!(experts["items"].as_array().unwrap().len(), 36);
    s.login("pat.customer@example.com", "customer-demo-pass").await;
    let (st, kb) = s.get("/api/v1/kb?q=hdmi", Some(&admin)).await;
    assert_eq!(st, StatusCode::OK);
    assert!(!kb["items"].as_array().unwrap().is_empty());
    s.stop();
    s.restart().await;
    let (_, experts) = s.get("/api/v1/experts", Some(&admin)).await;
    assert_eq!(experts["items"].as_array().unwrap().len(), 36, "demo data loaded twice");
    let (_, plans) = s.get("/api/v1/plans", None).await;
    assert_eq!(plans["items"].as_array().unwrap().len(), 3);
}

/// HTTPS settings (`tls_cert_file`, `tls_key_file`) that cannot work stop the server at
/// once with a message naming the setting; the working case is the device's TLS test
/// (tests/device/test_tls.py), with a certificate that test makes.
#[tokio::test]
async fn half_or_unreadable_tls_settings_stop_the_server_with_a_clear_message() {
    let mut s = Server::spawn(Backend::Sqlite).await;
    s.stop();
    let junk = s.cfg.data_dir.join("not-a-certificate.pem");
    std::fs::write(&junk, "hello").unwrap();
    let junk = junk.to_str().unwrap().to_owned();
    s.cfg.env.push(("SYSOPS_TLS_CERT_FILE".to_owned(), junk.clone()));
    let out = s.cli(&["serve", "--bind", "127.0.0.1:0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("tls_key_file"), "{err}");
    s.cfg.env.push(("SYSOPS_TLS_KEY_FILE".to_owned(), junk));
    let out = s.cli(&["serve", "--bind", "127.0.0.1:0"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("tls_cert_file") && err.contains("not-a-certificate.pem"), "{err}");
}
