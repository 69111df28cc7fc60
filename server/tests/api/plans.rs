//! Changing or retiring a plan never changes what existing subscribers signed up for.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn changing_a_held_plan_puts_a_successor_on_offer_and_subscribers_keep_their_terms() {
    let s = Server::spawn(Backend::Sqlite).await;
    let w = World::new(&s).await;
    let plan = w.plan_id.clone();

    // A name change is made in place.
    let (st, p) =
        s.patch(&format!("/api/v1/plans/{plan}"), Some(&w.admin), &json!({"name": "Home and Office Plus"})).await;
    assert_eq!((st, p["id"].as_str()), (StatusCode::OK, Some(plan.as_str())), "{p}");

    // New terms for a plan someone holds: the plan is retired, a successor is on offer.
    let (st, next) = s
        .patch(
            &format!("/api/v1/plans/{plan}"),
            Some(&w.admin),
            &json!({"categories": ["laptop"], "monthly_price_cents": 3999}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{next}");
    assert_ne!(next["id"].as_str(), Some(plan.as_str()));
    assert_eq!((next["monthly_price_cents"].as_i64(), next["active"].as_bool()), (Some(3999), Some(true)));
    let (_, list) = s.get("/api/v1/plans", None).await;
    let ids: Vec<&str> = list["items"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids, [next["id"].as_str().unwrap()]);

    // The existing subscriber keeps the old plan: a television ticket is still covered.
    let (_, subs) = s.get("/api/v1/customers/me/subscriptions", Some(&w.customer.token)).await;
    assert_eq!(subs["items"][0]["plan_id"].as_str(), Some(plan.as_str()));
    let (st, t) =
        s.post("/api/v1/tickets", Some(&w.customer.token), &ticket_body(&w.customer, "television", "No picture")).await;
    assert_eq!(st, StatusCode::CREATED, "{t}");

    // Nobody new can take the retired plan; the retired plan cannot be changed.
    let other = add_customer(&s, "newbie", next["id"].as_str().unwrap()).await;
    let (st, p) = s
        .post("/api/v1/customers/me/subscriptions", Some(&other.token), &json!({"plan_id": plan, "product": "Old TV"}))
        .await;
    assert_eq!((st, p["errors"][0]["field"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("plan_id")));
    assert_eq!(
        s.patch(&format!("/api/v1/plans/{plan}"), Some(&w.admin), &json!({"name": "X"})).await.0,
        StatusCode::CONFLICT
    );

    // A plan nobody holds changes in place; retiring takes it off the catalogue.
    let (st, fresh) = s
        .post(
            "/api/v1/plans",
            Some(&w.admin),
            &json!({"name": "Spare", "categories": ["camera"], "monthly_price_cents": 500, "currency": "USD"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let fid = fresh["id"].as_str().unwrap();
    let (_, p) = s.patch(&format!("/api/v1/plans/{fid}"), Some(&w.admin), &json!({"monthly_price_cents": 700})).await;
    assert_eq!((p["id"].as_str(), p["monthly_price_cents"].as_i64()), (Some(fid), Some(700)));
    let (st, p) = s.post(&format!("/api/v1/plans/{fid}/retire"), Some(&w.admin), &json!({})).await;
    assert_eq!((st, p["active"].as_bool()), (StatusCode::OK, Some(false)), "{p}");
    let (_, list) = s.get("/api/v1/plans", None).await;
    assert!(list["items"].as_array().unwrap().iter().all(|p| p["id"].as_str() != Some(fid)));

    // Bad input and the wrong role.
    let (st, p) = s
        .patch(
            &format!("/api/v1/plans/{}", next["id"].as_str().unwrap()),
            Some(&w.admin),
            &json!({"monthly_price_cents": -1, "categories": ["toasters"]}),
        )
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{p}");
    assert_eq!(
        s.patch(&format!("/api/v1/plans/{plan}"), Some(&w.customer.token), &json!({"name": "X"})).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        s.patch(&format!("/api/v1/plans/{}", uuid::Uuid::now_v7()), Some(&w.admin), &json!({"name": "X"})).await.0,
        StatusCode::NOT_FOUND
    );
}
