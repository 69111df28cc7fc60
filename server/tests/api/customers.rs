//! The call center finds customers by name, e-mail or phone, a page at a time, and reads
//! one with their plans; customers change their own profile. Run on SQLite and
//! PostgreSQL: the search is one index range on either.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn register(s: &Server, name: &str, email: &str, phone: &str) -> String {
    let (st, c) = s
        .post(
            "/api/v1/customers",
            None,
            &json!({"name": name, "email": email, "password": PASSWORD, "phone": phone, "notify_by": "sms",
                    "address": "1 Main St", "location": north(1.0)}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    c["id"].as_str().unwrap().to_owned()
}

async fn agent(s: &Server, admin: &str) -> String {
    let email = format!("agent-{}@sysops.test", uuid::Uuid::new_v4().simple());
    let (st, u) = s
        .post(
            "/api/v1/users",
            Some(admin),
            &json!({"name": "Ada Agent", "email": email, "password": PASSWORD, "role": "agent"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{u}");
    s.login(&email, PASSWORD).await
}

fn names(page: &Value) -> Vec<String> {
    let mut n: Vec<String> =
        page["items"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap().to_owned()).collect();
    n.sort();
    n
}

#[tokio::test]
async fn an_agent_finds_customers_by_name_email_or_phone_on_sqlite() {
    finds_customers(Backend::Sqlite).await;
}

#[tokio::test]
async fn an_agent_finds_customers_by_name_email_or_phone_on_postgres() {
    finds_customers(Backend::Postgres).await;
}

async fn finds_customers(backend: Backend) {
    let s = Server::spawn(backend).await;
    let admin = s.admin().await;
    let agent = agent(&s, &admin).await;
    let ana = register(&s, "Ana Smith", "ana.smith@example.com", "+1 312 555 0101").await;
    register(&s, "José Smithers", "jose@example.org", "+1 415 555 0102").await;
    register(&s, "Bob Jones", "bob_100%@example.net", "+44 20 7946 0103").await;
    register(&s, "Anabel Brown", "anabel@example.com", "+1 312 555 0104").await;

    let find = |q: &str| {
        format!("/api/v1/customers?q={}", url::form_urlencoded::byte_serialize(q.as_bytes()).collect::<String>())
    };
    // Any word of a name, as a prefix; several words must all match.
    assert_eq!(names(&s.get(&find("smi"), Some(&agent)).await.1), ["Ana Smith", "José Smithers"]);
    assert_eq!(names(&s.get(&find("ana"), Some(&agent)).await.1), ["Ana Smith", "Anabel Brown"]);
    assert_eq!(names(&s.get(&find("ana smi"), Some(&agent)).await.1), ["Ana Smith"]);
    assert_eq!(names(&s.get(&find("smith ana"), Some(&agent)).await.1), ["Ana Smith"], "words out of order");
    assert!(names(&s.get(&find("ana jones"), Some(&agent)).await.1).is_empty());
    assert_eq!(names(&s.get(&find("jose"), Some(&agent)).await.1), ["José Smithers"], "accents fold");
    // The start of an e-mail address, LIKE's wildcards taken literally.
    assert_eq!(names(&s.get(&find("ANA.S"), Some(&agent)).await.1), ["Ana Smith"]);
    assert_eq!(names(&s.get(&find("bob_100%@"), Some(&agent)).await.1), ["Bob Jones"]);
    assert!(names(&s.get(&find("bob_1000@"), Some(&agent)).await.1).is_empty());
    // The last digits of a phone, however they are written, with or without the country code.
    assert_eq!(names(&s.get(&find("(312) 555-0101"), Some(&agent)).await.1), ["Ana Smith"]);
    assert_eq!(names(&s.get(&find("+13125550101"), Some(&agent)).await.1), ["Ana Smith"]);
    assert_eq!(names(&s.get(&find("7946 0103"), Some(&agent)).await.1), ["Bob Jones"]);
    assert!(names(&s.get(&find("9999 0101"), Some(&agent)).await.1).is_empty());

    // Pages: every match once, in a stable order, then no cursor.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    for _ in 0..5 {
        let (st, page) = s.get(&format!("{}&limit=1&cursor={cursor}", find("a")), Some(&agent)).await;
        assert_eq!(st, StatusCode::OK, "{page}");
        seen.extend(names(&page));
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => break,
        }
    }
    seen.sort();
    assert_eq!(seen, ["Ana Smith", "Anabel Brown"]);

    // One customer with their plans.
    let (st, plan) = s
        .post(
            "/api/v1/plans",
            Some(&admin),
            &json!({"name": "Home", "categories": ["television"], "monthly_price_cents": 1500, "currency": "USD"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let ana_token = s.login("ana.smith@example.com", PASSWORD).await;
    let (st, _) = s
        .post(
            "/api/v1/customers/me/subscriptions",
            Some(&ana_token),
            &json!({"plan_id": plan["id"], "product": "Kitchen TV"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, one) = s.get(&format!("/api/v1/customers/{ana}"), Some(&agent)).await;
    assert_eq!(st, StatusCode::OK, "{one}");
    assert_eq!(one["name"], "Ana Smith");
    assert_eq!(one["subscriptions"][0]["product"], "Kitchen TV");
    assert_eq!(one["subscriptions"][0]["plan_name"], "Home");
    assert_eq!(one["subscriptions"][0]["categories"], json!(["television"]));
    assert_eq!(s.get(&format!("/api/v1/customers/{ana}"), Some(&admin)).await.0, StatusCode::OK);
    assert_eq!(
        s.get(&format!("/api/v1/customers/{}", uuid::Uuid::now_v7()), Some(&agent)).await.0,
        StatusCode::NOT_FOUND
    );

    // Only the call center and admins; a query that cannot be searched is a field error.
    assert_eq!(s.get(&find("ana"), Some(&ana_token)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.get(&format!("/api/v1/customers/{ana}"), Some(&ana_token)).await.0, StatusCode::FORBIDDEN);
    assert_eq!(s.get(&find("ana"), None).await.0, StatusCode::UNAUTHORIZED);
    let (st, p) = s.get(&find(" -- "), Some(&agent)).await;
    assert_eq!((st, p["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("q")));
    let (st, p) = s.get(&format!("{}&cursor=nonsense", find("ana")), Some(&agent)).await;
    assert_eq!((st, p["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("cursor")));
    assert_eq!(s.get(&format!("{}&limit=0", find("ana")), Some(&agent)).await.0, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_customer_changes_their_profile_and_is_found_under_the_new_details() {
    let s = Server::spawn(Backend::Sqlite).await;
    let admin = s.admin().await;
    let agent = agent(&s, &admin).await;
    register(&s, "Casey Old", "casey@example.com", "+1 312 555 0111").await;
    let me = s.login("casey@example.com", PASSWORD).await;

    let (st, c) = s
        .patch("/api/v1/customers/me", Some(&me), &json!({"name": "Casey Newname", "phone": "+1 646 555 0199", "notify_by": "email", "location": {"lat": 40.7, "lon": -74.0}}))
        .await;
    assert_eq!(st, StatusCode::OK, "{c}");
    assert_eq!(
        (c["name"].as_str(), c["phone"].as_str(), c["notify_by"].as_str()),
        (Some("Casey Newname"), Some("+16465550199"), Some("email"))
    );
    assert_eq!(c["address"], "1 Main St", "absent fields stay");
    assert_eq!(s.get("/api/v1/customers/me", Some(&me)).await.1["location"]["lat"], 40.7);
    assert_eq!(names(&s.get("/api/v1/customers?q=newname", Some(&agent)).await.1), ["Casey Newname"]);
    assert_eq!(names(&s.get("/api/v1/customers?q=6465550199", Some(&agent)).await.1), ["Casey Newname"]);
    assert!(
        names(&s.get("/api/v1/customers?q=old", Some(&agent)).await.1).is_empty(),
        "the old name is no longer filed"
    );
    assert!(names(&s.get("/api/v1/customers?q=3125550111", Some(&agent)).await.1).is_empty());

    // Bad fields: all named, nothing changed.
    let (st, p) = s
        .patch(
            "/api/v1/customers/me",
            Some(&me),
            &json!({"name": "", "notify_by": "pigeon", "location": {"lat": 91, "lon": 0}}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    let fields: Vec<&str> = p["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "notify_by", "location.lat"]);
    assert_eq!(s.get("/api/v1/customers/me", Some(&me)).await.1["name"], "Casey Newname");
    let (st, _) = s.patch("/api/v1/customers/me", Some(&me), &json!({"email": "x@example.com"})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "unknown fields are refused");
    assert_eq!(s.patch("/api/v1/customers/me", Some(&agent), &json!({"name": "X"})).await.0, StatusCode::FORBIDDEN);
}
