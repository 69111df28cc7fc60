//! Every bad input gets the right 4xx problem, never a 5xx, and changes nothing stored.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const SECRET: &str = "a-test-signing-secret-of-at-least-32-bytes";

fn token(secret: &str, sub: &str, role: &str, exp_offset: i64) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"iss": "sysops-squad", "sub": sub, "role": role, "typ": "access", "iat": now - 3600,
                        "exp": now + exp_offset, "jti": uuid::Uuid::new_v4()});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

struct Case {
    name: &'static str,
    method: Method,
    path: String,
    token: Option<String>,
    content_type: Option<&'static str>,
    body: Vec<u8>,
    extra_header: Option<(&'static str, String)>,
    status: StatusCode,
    field: Option<&'static str>,
}

fn case(
    name: &'static str,
    path: &str,
    token: &str,
    body: Value,
    status: StatusCode,
    field: Option<&'static str>,
) -> Case {
    Case {
        name,
        method: Method::POST,
        path: path.to_owned(),
        token: Some(token.to_owned()),
        content_type: Some("application/json"),
        body: serde_json::to_vec(&body).unwrap(),
        extra_header: None,
        status,
        field,
    }
}

async fn snapshot(s: &Server, token: &str) -> Value {
    let (st, v) = s.get("/api/v1/tickets?limit=200", Some(token)).await;
    assert_eq!(st, StatusCode::OK);
    v
}

#[tokio::test]
async fn bad_input_gets_a_precise_4xx_problem_and_changes_nothing() {
    let s = Server::spawn_with(Backend::Sqlite, &[("SYSOPS_JWT_SECRET", SECRET)]).await;
    let w = World::new(&s).await;
    let c = &w.customer;
    let other = add_customer(&s, "other", &w.plan_id).await;
    let (st, existing) =
        s.post("/api/v1/tickets", Some(&c.token), &ticket_body(c, "television", "Existing ticket")).await;
    assert_eq!(st, StatusCode::CREATED);
    let before = snapshot(&s, &w.admin).await;

    let t = c.token.clone();
    let good = ticket_body(c, "television", "A valid title");
    let with = |k: &str, v: Value| {
        let mut b = good.clone();
        b[k] = v;
        b
    };
    let without = |k: &str| {
        let mut b = good.clone();
        b.as_object_mut().unwrap().remove(k);
        b
    };
    use StatusCode as S;
    let mut cases = vec![
        case(
            "wrong type",
            "/api/v1/tickets",
            &t,
            with("subscription_id", json!(5)),
            S::UNPROCESSABLE_ENTITY,
            Some("subscription_id"),
        ),
        case(
            "string for an object",
            "/api/v1/tickets",
            &t,
            with("location", json!("north")),
            S::UNPROCESSABLE_ENTITY,
            Some("location"),
        ),
        case(
            "null for a required field",
            "/api/v1/tickets",
            &t,
            with("title", Value::Null),
            S::UNPROCESSABLE_ENTITY,
            Some("title"),
        ),
        case("missing field", "/api/v1/tickets", &t, without("title"), S::UNPROCESSABLE_ENTITY, Some("title")),
        case(
            "unknown field",
            "/api/v1/tickets",
            &t,
            with("priority", json!("urgent")),
            S::UNPROCESSABLE_ENTITY,
            Some("priority"),
        ),
        case(
            "overlong title",
            "/api/v1/tickets",
            &t,
            with("title", json!("x".repeat(201))),
            S::UNPROCESSABLE_ENTITY,
            Some("title"),
        ),
        case(
            "overlong description",
            "/api/v1/tickets",
            &t,
            with("description", json!("y".repeat(5001))),
            S::UNPROCESSABLE_ENTITY,
            Some("description"),
        ),
        case(
            "control characters",
            "/api/v1/tickets",
            &t,
            with("title", json!("bad\u{0007}title")),
            S::UNPROCESSABLE_ENTITY,
            Some("title"),
        ),
        case(
            "latitude out of range",
            "/api/v1/tickets",
            &t,
            with("location", json!({"lat": 91.0, "lon": 0.0})),
            S::UNPROCESSABLE_ENTITY,
            Some("location.lat"),
        ),
        case(
            "longitude out of range",
            "/api/v1/tickets",
            &t,
            with("location", json!({"lat": 0.0, "lon": -180.5})),
            S::UNPROCESSABLE_ENTITY,
            Some("location.lon"),
        ),
        case(
            "unknown category",
            "/api/v1/tickets",
            &t,
            with("category", json!("toaster")),
            S::UNPROCESSABLE_ENTITY,
            Some("category"),
        ),
        case(
            "another customer's subscription",
            "/api/v1/tickets",
            &t,
            with("subscription_id", json!(other.subscription_id)),
            S::UNPROCESSABLE_ENTITY,
            Some("subscription_id"),
        ),
        case("a JSON array", "/api/v1/tickets", &t, json!([1, 2]), S::UNPROCESSABLE_ENTITY, Some("body")),
        case(
            "bad notify_by",
            "/api/v1/customers",
            &t,
            json!({"name": "N", "email": "n@x.test", "password": PASSWORD, "phone": "+13125550111", "notify_by": "fax", "address": "1 Main St", "location": north(0.0)}),
            S::UNPROCESSABLE_ENTITY,
            Some("notify_by"),
        ),
        case(
            "bad e-mail",
            "/api/v1/customers",
            &t,
            json!({"name": "N", "email": "not-an-email", "password": PASSWORD, "phone": "+13125550111", "notify_by": "sms", "address": "1 Main St", "location": north(0.0)}),
            S::UNPROCESSABLE_ENTITY,
            Some("email"),
        ),
        case(
            "short password",
            "/api/v1/customers",
            &t,
            json!({"name": "N", "email": "n@x.test", "password": "short", "phone": "+13125550111", "notify_by": "sms", "address": "1 Main St", "location": north(0.0)}),
            S::UNPROCESSABLE_ENTITY,
            Some("password"),
        ),
        case(
            "zero radius",
            "/api/v1/experts",
            &w.admin,
            json!({"name": "E", "email": "e@x.test", "password": PASSWORD, "phone": "+13125550111", "skills": ["laptop"], "service_area": {"center": north(0.0), "radius_km": 0}, "locale": "en-US", "location": north(0.0), "available": true}),
            S::UNPROCESSABLE_ENTITY,
            Some("service_area.radius_km"),
        ),
        case(
            "no skills",
            "/api/v1/experts",
            &w.admin,
            json!({"name": "E", "email": "e@x.test", "password": PASSWORD, "phone": "+13125550111", "skills": [], "service_area": {"center": north(0.0), "radius_km": 5}, "locale": "en-US", "location": north(0.0), "available": true}),
            S::UNPROCESSABLE_ENTITY,
            Some("skills"),
        ),
        case(
            "lower-case currency",
            "/api/v1/plans",
            &w.admin,
            json!({"name": "P", "categories": ["laptop"], "monthly_price_cents": 100, "currency": "usd"}),
            S::UNPROCESSABLE_ENTITY,
            Some("currency"),
        ),
        case(
            "negative price",
            "/api/v1/plans",
            &w.admin,
            json!({"name": "P", "categories": ["laptop"], "monthly_price_cents": -1, "currency": "USD"}),
            S::UNPROCESSABLE_ENTITY,
            Some("monthly_price_cents"),
        ),
        case("no token", "/api/v1/tickets", "", good.clone(), S::UNAUTHORIZED, None),
        case("garbage token", "/api/v1/tickets", "garbage", good.clone(), S::UNAUTHORIZED, None),
        case(
            "expired token",
            "/api/v1/tickets",
            &token(SECRET, &c.id, "customer", -600),
            good.clone(),
            S::UNAUTHORIZED,
            None,
        ),
        case(
            "token signed by someone else",
            "/api/v1/tickets",
            &token("another-secret-that-is-also-32-bytes-long", &c.id, "customer", 600),
            good.clone(),
            S::UNAUTHORIZED,
            None,
        ),
    ];
    for c in cases.iter_mut().filter(|c| c.name == "no token") {
        c.token = None;
    }
    let raw = |name, body: &[u8], content_type, status| Case {
        name,
        method: Method::POST,
        path: "/api/v1/tickets".to_owned(),
        token: Some(t.clone()),
        content_type,
        body: body.to_vec(),
        extra_header: None,
        status,
        field: None,
    };
    cases.push(raw("malformed JSON", b"{\"title\": ", Some("application/json"), S::BAD_REQUEST));
    cases.push(raw("empty body", b"", Some("application/json"), S::BAD_REQUEST));
    cases.push(raw("trailing garbage", b"{} }", Some("application/json"), S::BAD_REQUEST));
    cases.push(raw(
        "wrong content type",
        &serde_json::to_vec(&good).unwrap(),
        Some("text/plain"),
        S::UNSUPPORTED_MEDIA_TYPE,
    ));
    cases.push(raw("no content type", &serde_json::to_vec(&good).unwrap(), None, S::UNSUPPORTED_MEDIA_TYPE));
    let mut big = b"{\"title\": \"".to_vec();
    big.extend(std::iter::repeat_n(b'a', 10 * 1024 * 1024));
    big.extend(b"\"}");
    cases.push(raw("a 10 MB body", &big, Some("application/json"), S::PAYLOAD_TOO_LARGE));
    let mut bad_key =
        raw("overlong Idempotency-Key", &serde_json::to_vec(&good).unwrap(), Some("application/json"), S::BAD_REQUEST);
    bad_key.extra_header = Some(("Idempotency-Key", "k".repeat(300)));
    cases.push(bad_key);
    for (name, path, status, field) in [
        ("not a UUID in the path", "/api/v1/tickets/not-a-uuid", S::NOT_FOUND, None),
        ("unknown status filter", "/api/v1/tickets?status=open", S::UNPROCESSABLE_ENTITY, Some("status")),
        ("limit out of range", "/api/v1/tickets?limit=0", S::UNPROCESSABLE_ENTITY, Some("limit")),
        ("foreign cursor", "/api/v1/tickets?cursor=zzz", S::UNPROCESSABLE_ENTITY, Some("cursor")),
        ("unknown query parameter", "/api/v1/tickets?sort=desc", S::BAD_REQUEST, None),
        ("unknown route", "/api/v1/nothing-here", S::NOT_FOUND, None),
    ] {
        cases.push(Case {
            name,
            method: Method::GET,
            path: path.to_owned(),
            token: Some(t.clone()),
            content_type: None,
            body: Vec::new(),
            extra_header: None,
            status,
            field,
        });
    }

    for case in &cases {
        let mut r = s.req(case.method.clone(), &case.path, case.token.as_deref());
        if let Some(ct) = case.content_type {
            r = r.header("content-type", ct);
        }
        if let Some((k, v)) = &case.extra_header {
            r = r.header(*k, v);
        }
        if !case.body.is_empty() || case.method == Method::POST {
            r = r.body(case.body.clone());
        }
        let resp = r.send().await.unwrap_or_else(|e| panic!("{}: {e}", case.name));
        let status = resp.status();
        let ctype = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
        let problem: Value = resp.json().await.unwrap_or(Value::Null);
        assert_eq!(status, case.status, "{}: {problem}", case.name);
        assert_eq!(ctype.as_deref(), Some("application/problem+json"), "{}", case.name);
        assert_eq!(problem["status"].as_u64(), Some(u64::from(status.as_u16())), "{}: {problem}", case.name);
        assert!(!problem["detail"].as_str().unwrap_or("").is_empty(), "{}: no detail", case.name);
        assert!(problem["type"].is_string() && problem["title"].is_string(), "{}", case.name);
        if let Some(field) = case.field {
            let fields: Vec<&str> =
                problem["errors"].as_array().map_or(vec![], |e| e.iter().filter_map(|e| e["field"].as_str()).collect());
            assert!(fields.contains(&field), "{}: expected an error on {field}, got {problem}", case.name);
        }
    }

    // Nothing stored changed.
    assert_eq!(snapshot(&s, &w.admin).await, before);
    let (_, again) = s.get(&format!("/api/v1/tickets/{}", existing["id"].as_str().unwrap()), Some(&c.token)).await;
    assert_eq!(again, existing);
    let health = s.get("/health/ready", None).await.0;
    assert_eq!(health, StatusCode::OK);
}

/// A JDK or curl client on plain HTTP asks to upgrade to h2c; the server does not switch,
/// answers over HTTP/1.1 and closes the connection rather than leaving it in limbo.
#[tokio::test]
async fn an_h2c_upgrade_request_is_answered_over_http1_and_the_connection_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = Server::spawn(Backend::Sqlite).await;
    let addr = s.base.trim_start_matches("http://").to_owned();
    let mut c = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let req = format!(
        "GET /health/live HTTP/1.1\r\nHost: {addr}\r\nConnection: Upgrade, HTTP2-Settings\r\n\
         Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n"
    );
    c.write_all(req.as_bytes()).await.unwrap();
    let mut resp = Vec::new();
    // The server closes the connection, so reading to the end finishes.
    c.read_to_end(&mut resp).await.unwrap();
    let resp = String::from_utf8_lossy(&resp).to_lowercase();
    assert!(resp.starts_with("http/1.1 200"), "{resp}");
    assert!(resp.contains("connection: close"), "{resp}");
    assert!(resp.contains("\"status\":\"ok\""), "{resp}");
}
