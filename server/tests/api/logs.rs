//! What the server writes to its log: never a token, and client errors as at most one
//! short debug line each.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn tokens_in_urls_never_reach_the_log() {
    let s = Server::spawn_with(Backend::Sqlite, &[("SYSOPS_LOG", "info,sysops_server=debug")]).await;
    let token = s.admin().await;
    // The documented way into the sync endpoint, sent wrongly (no upgrade), plus a few
    // made-up secrets and a survey link.
    let survey = "Q".repeat(96);
    let urls = [
        format!("/api/v1/sync?access_token={token}"),
        format!("/api/v1/sync?peer=x&access_token={token}"),
        format!("/nowhere?token={token}"),
        format!("/survey/{survey}"),
        "/survey/short-survey-secret".to_owned(),
    ];
    for url in &urls {
        let st = s.http.get(s.url(url)).send().await.unwrap().status();
        assert!(st.is_client_error(), "{url}: {st}");
    }
    let (st, _) = s.post(&format!("/api/v1/surveys/{survey}"), None, &json!({"rating": 9})).await;
    assert!(st.is_client_error());
    let log = s.log();
    assert!(log.contains("request refused"), "the failures were logged (at debug): {log}");
    assert!(log.contains("[redacted]"));
    for secret in [token.as_str(), survey.as_str(), "short-survey-secret"] {
        assert!(!log.contains(secret), "a secret reached the log:\n{log}");
    }
}

#[tokio::test]
async fn client_errors_are_not_logged_at_info_and_are_short_at_debug() {
    let quiet = Server::spawn(Backend::Sqlite).await;
    let debug = Server::spawn_with(Backend::Sqlite, &[("SYSOPS_LOG", "info,sysops_server=debug")]).await;
    for s in [&quiet, &debug] {
        let before = s.log().len();
        for i in 0..50 {
            let (st, _) = s.get(&format!("/api/v1/tickets/{i}"), None).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED);
            let (st, _) = s.post("/api/v1/auth/refresh", None, &json!({"refresh_token": "x"})).await;
            assert_eq!(st, StatusCode::UNAUTHORIZED);
        }
        let grown = &s.log()[before..];
        if std::ptr::eq(s, &quiet) {
            assert_eq!(grown, "", "nothing logged at info for 100 client errors");
        } else {
            let lines: Vec<&str> = grown.lines().filter(|l| l.contains("request refused")).collect();
            assert_eq!(lines.len(), 100, "{grown}");
            let longest = lines.iter().map(|l| l.len()).max().unwrap();
            assert!(longest < 600, "a client error took a {longest}-byte line: {}", lines[0]);
            assert!(lines.iter().all(|l| l.contains("\"level\":\"DEBUG\"")), "{}", lines[0]);
        }
    }
}
