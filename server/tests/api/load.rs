//! Under a spike the server sheds ticket intake with 503 + Retry-After instead of
//! freezing, and health keeps answering.

use crate::helpers::*;
use reqwest::{Method, StatusCode};

#[tokio::test]
async fn intake_sheds_load_with_503_while_health_stays_responsive() {
    let s = Server::spawn_with(
        Backend::Sqlite,
        &[
            ("SYSOPS_INTAKE_MAX_INFLIGHT", "2"),
            ("SYSOPS_INTAKE_ADMISSION_WAIT_MS", "0"),
            ("SYSOPS_INTAKE_BATCH_MAX", "1"),
        ],
    )
    .await;
    let w = World::new(&s).await;
    let c = &w.customer;
    let mut submissions = Vec::new();
    for i in 0..300 {
        let req = s.req(Method::POST, "/api/v1/tickets", Some(&c.token)).json(&ticket_body(
            c,
            "television",
            &format!("Spike {i}"),
        ));
        submissions.push(tokio::spawn(async move {
            let r = req.send().await.expect("request");
            let retry_after = r.headers().get("retry-after").map(|v| v.to_str().unwrap().to_owned());
            let ctype = r.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
            (r.status(), retry_after, ctype)
        }));
    }
    let mut probes = Vec::new();
    for _ in 0..50 {
        let req = s.req(Method::GET, "/health/live", None);
        probes.push(tokio::spawn(async move { req.send().await.map(|r| r.status()) }));
    }
    let (mut created, mut shed) = (0, 0);
    for t in submissions {
        let (status, retry_after, ctype) = t.await.unwrap();
        match status {
            StatusCode::CREATED => created += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                shed += 1;
                assert_eq!(retry_after.as_deref(), Some("1"), "503 without Retry-After");
                assert_eq!(ctype.as_deref(), Some("application/problem+json"));
            }
            other => panic!("unexpected status {other} under load"),
        }
    }
    for p in probes {
        assert_eq!(p.await.unwrap().expect("health request failed"), StatusCode::OK);
    }
    assert!(shed > 0, "the spike never saturated intake ({created} created)");
    assert!(created > 0, "nothing got through");
    // Exactly the acknowledged tickets exist: shedding stored nothing.
    let (_, list) = s.get("/api/v1/tickets?limit=200", Some(&c.token)).await;
    let mut stored = list["items"].as_array().unwrap().len();
    let mut cursor = list["next_cursor"].as_str().map(str::to_owned);
    while let Some(cur) = cursor {
        let (_, page) = s.get(&format!("/api/v1/tickets?limit=200&cursor={cur}"), Some(&c.token)).await;
        stored += page["items"].as_array().unwrap().len();
        cursor = page["next_cursor"].as_str().map(str::to_owned);
    }
    assert_eq!(stored, created);
    let metrics = s.http.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains(&format!("sysops_intake_shed_total {shed}")), "shed counter: {shed}");
}
