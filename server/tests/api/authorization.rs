//! Who may see and do what: customers see only their tickets, experts only theirs,
//! admin-only calls refuse every other role.

use crate::helpers::*;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn customers_and_experts_see_only_their_own_tickets() {
    let s = Server::spawn(Backend::Sqlite).await;
    let w = World::new(&s).await;
    let a = &w.customer;
    let b = add_customer(&s, "bea", &w.plan_id).await;
    let (_, ta) = s.post("/api/v1/tickets", Some(&a.token), &ticket_body(a, "television", "A's TV")).await;
    let (_, tb) = s.post("/api/v1/tickets", Some(&b.token), &ticket_body(&b, "laptop", "B's laptop")).await;
    let ta_id = ta["id"].as_str().unwrap();
    let tb_id = tb["id"].as_str().unwrap();

    // Another customer's ticket does not exist for you.
    let (st, p) = s.get(&format!("/api/v1/tickets/{ta_id}"), Some(&b.token)).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{p}");
    let (_, list) = s.get("/api/v1/tickets", Some(&b.token)).await;
    let ids: Vec<&str> = list["items"].as_array().unwrap().iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(ids, vec![tb_id]);
    let (st, _) = s.get(&format!("/api/v1/tickets/{ta_id}/events"), Some(&b.token)).await;
    assert_eq!(st, StatusCode::NOT_FOUND);

    // Experts see the tickets assigned to them, and nothing else.
    let tv_expert = w.experts.iter().find(|e| e.id == ta["assigned_expert_id"].as_str().unwrap()).unwrap();
    let other_expert =
        w.experts.iter().find(|e| e.id != tv_expert.id && e.id != tb["assigned_expert_id"].as_str().unwrap()).unwrap();
    assert_eq!(s.get(&format!("/api/v1/tickets/{ta_id}"), Some(&tv_expert.token)).await.0, StatusCode::OK);
    assert_eq!(s.get(&format!("/api/v1/tickets/{ta_id}"), Some(&other_expert.token)).await.0, StatusCode::NOT_FOUND);
    let (_, mine) = s.get("/api/v1/tickets", Some(&other_expert.token)).await;
    assert!(mine["items"].as_array().unwrap().is_empty());
    // Nor another expert's profile.
    assert_eq!(
        s.get(&format!("/api/v1/experts/{}", tv_expert.id), Some(&other_expert.token)).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.patch(&format!("/api/v1/experts/{}", tv_expert.id), Some(&other_expert.token), &json!({"available": false}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );

    // Staff see everything.
    let (_, all) = s.get("/api/v1/tickets", Some(&w.admin)).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn admin_only_calls_refuse_every_other_role() {
    let s = Server::spawn(Backend::Sqlite).await;
    let w = World::new(&s).await;
    let (st, _) = s
        .post(
            "/api/v1/users",
            Some(&w.admin),
            &json!({"name": "Mo", "email": "mo@staff.test", "password": PASSWORD, "role": "manager"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _) = s
        .post(
            "/api/v1/users",
            Some(&w.admin),
            &json!({"name": "Al", "email": "al@staff.test", "password": PASSWORD, "role": "agent"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let roles = [
        ("customer", w.customer.token.clone()),
        ("expert", w.experts[0].token.clone()),
        ("agent", s.login("al@staff.test", PASSWORD).await),
        ("manager", s.login("mo@staff.test", PASSWORD).await),
    ];
    let expert_id = &w.experts[1].id;
    let calls = [
        (
            Method::POST,
            "/api/v1/plans".to_owned(),
            json!({"name": "P", "categories": ["laptop"], "monthly_price_cents": 1, "currency": "USD"}),
        ),
        (
            Method::POST,
            "/api/v1/users".to_owned(),
            json!({"name": "X", "email": "x@staff.test", "password": PASSWORD, "role": "admin"}),
        ),
        (
            Method::POST,
            "/api/v1/experts".to_owned(),
            json!({"name": "E", "email": "e2@x.test", "password": PASSWORD, "phone": "+13125550111", "skills": ["laptop"], "service_area": {"center": north(0.0), "radius_km": 5}, "locale": "en-US", "location": north(0.0), "available": true}),
        ),
        (Method::GET, "/api/v1/experts".to_owned(), json!(null)),
        (Method::PATCH, format!("/api/v1/experts/{expert_id}"), json!({"skills": ["printer"]})),
    ];
    for (role, token) in &roles {
        for (method, path, body) in &calls {
            let mut r = s.req(method.clone(), path, Some(token));
            if !body.is_null() {
                r = r.json(body);
            }
            let (st, p) = send(r).await;
            let expected = if *role == "expert" && path.contains(expert_id.as_str()) {
                StatusCode::NOT_FOUND // another expert's profile does not exist for them
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(st, expected, "{role} {method} {path}: {p}");
        }
        let (st, _) = send(s.req(Method::POST, "/api/v1/plans", None).json(&calls[0].2)).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED);
    }
    // Nothing was created by the refused calls.
    let (_, plans) = s.get("/api/v1/plans", None).await;
    assert_eq!(plans["items"].as_array().unwrap().len(), 1);
    let (_, experts) = s.get("/api/v1/experts", Some(&w.admin)).await;
    assert_eq!(experts["items"].as_array().unwrap().len(), 3);
    // Customers and experts may not raise tickets for others; experts may not raise any.
    let (st, _) =
        s.post("/api/v1/tickets", Some(&w.experts[0].token), &ticket_body(&w.customer, "laptop", "Nope")).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
}
