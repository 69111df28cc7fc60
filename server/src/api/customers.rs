//! Customer registration, the customer's own profile, and their subscriptions.

use super::create::{created, scope_of};
use super::extract::ApiJson;
use super::idempotency::IdempotencyKey;
use super::problem::{ApiError, ApiResult};
use super::views::{CustomerView, Location, Page, SubscriptionView};
use crate::auth::{Caller, Role, hash_password};
use crate::customers::{self, CustomerDetail, CustomerSummary, ProfilePatch};
use crate::db::entity::subscription;
use crate::state::AppState;
use actix_web::web::Query;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use sysops_core::ValidationErrors;
use sysops_core::geo::GeoPoint;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

pub use crate::customers::{NewCustomer, insert_user, load};

/// Validates a location, reporting errors under `field`.
pub fn parse_location(v: &mut ValidationErrors, field: &str, l: &Location) -> Option<GeoPoint> {
    v.check(field, GeoPoint::new(l.lat, l.lon))
}

/// Registers a customer.
#[utoipa::path(tag = "customers", request_body = NewCustomer,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = CustomerView), (status = 409, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem)))]
#[post("/api/v1/customers")]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    key: IdempotencyKey,
    body: ApiJson<NewCustomer>,
) -> ApiResult<HttpResponse> {
    let valid = customers::validate(&body.value)?;
    let hash = hash_password(valid.password.expose().to_owned()).await?;
    created(&state, &req, key, &scope_of(None), &body.raw, move |txn| {
        Box::pin(async move {
            let (u, c) = customers::insert(txn, valid, hash).await?;
            Ok(CustomerView::new(&u, &c))
        })
    })
    .await
}

/// The signed-in customer's profile.
#[utoipa::path(tag = "customers", responses((status = 200, body = CustomerView)), security(("bearer" = [])))]
#[get("/api/v1/customers/me")]
pub async fn me(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Customer], "reading a customer profile")?;
    let (u, c) = load(&state.db.read, caller.user_id).await?;
    Ok(HttpResponse::Ok().json(CustomerView::new(&u, &c)))
}

/// A new subscription.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    /// The plan.
    pub plan_id: Uuid,
    /// The product it covers (one subscription per product).
    pub product: String,
    /// `monthly` (the default) or `annual`.
    #[serde(default)]
    pub billing: Option<String>,
}

/// Subscribes the signed-in customer to a plan for one product.
#[utoipa::path(tag = "customers", request_body = NewSubscription,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = SubscriptionView), (status = 409, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem)), security(("bearer" = [])))]
#[post("/api/v1/customers/me/subscriptions")]
pub async fn subscribe(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    key: IdempotencyKey,
    body: ApiJson<NewSubscription>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Customer], "subscribing")?;
    let mut valid = customers::validate_subscription(&state.db, body.value.plan_id, &body.value.product).await?;
    if let Some(b) = &body.value.billing {
        valid.billing = b.parse().map_err(|_| {
            super::problem::ApiError::field(
                "billing",
                format!("{b:?} is not a billing interval; use monthly or annual"),
            )
        })?;
    }
    let customer_id = caller.user_id;
    created(&state, &req, key, &scope_of(Some(&caller)), &body.raw, move |txn| {
        Box::pin(async move { Ok(customers::subscribe(txn, customer_id, valid).await?) })
    })
    .await
}

/// The signed-in customer's subscriptions.
#[utoipa::path(tag = "customers", responses((status = 200, body = Page<SubscriptionView>)), security(("bearer" = [])))]
#[get("/api/v1/customers/me/subscriptions")]
pub async fn subscriptions(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Customer], "listing subscriptions")?;
    let rows = subscription::Entity::find()
        .filter(subscription::Column::CustomerId.eq(caller.user_id))
        .order_by_asc(subscription::Column::Id)
        .all(&state.db.read)
        .await?;
    Ok(HttpResponse::Ok().json(Page { items: rows.iter().map(SubscriptionView::from).collect(), next_cursor: None }))
}

/// Changes the signed-in customer's profile and notification preference.
#[utoipa::path(tag = "customers", request_body = ProfilePatch,
    responses((status = 200, body = CustomerView), (status = 403, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem)), security(("bearer" = [])))]
#[patch("/api/v1/customers/me")]
pub async fn update_me(
    state: web::Data<AppState>,
    caller: Caller,
    body: ApiJson<ProfilePatch>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Customer], "changing a customer profile")?;
    Ok(HttpResponse::Ok().json(customers::update_profile(&state.db, caller.user_id, &body.value).await?))
}

/// Search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct FindQuery {
    /// Part of a name (each word a prefix: `ann smi`), the start of an e-mail address,
    /// or at least 4 digits of a phone number (matched from its end, so a local number
    /// without the country code finds it).
    pub q: String,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Finds customers by name, e-mail or phone (call-center agents and admins).
#[utoipa::path(tag = "customers", params(FindQuery),
    responses((status = 200, body = Page<CustomerSummary>), (status = 403, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem)), security(("bearer" = [])))]
#[get("/api/v1/customers")]
pub async fn find(state: web::Data<AppState>, caller: Caller, q: Query<FindQuery>) -> ApiResult<HttpResponse> {
    caller.require(customers::FINDERS, "finding customers")?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 100"));
    }
    Ok(HttpResponse::Ok().json(customers::find(&state.db, &q.q, limit, q.cursor.as_deref()).await?))
}

/// One customer with their subscriptions (call-center agents and admins).
#[utoipa::path(tag = "customers",
    responses((status = 200, body = CustomerDetail), (status = 403, body = super::problem::Problem),
        (status = 404, body = super::problem::Problem)), security(("bearer" = [])))]
#[get("/api/v1/customers/{id}")]
pub async fn get_one(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    caller.require(customers::FINDERS, "reading a customer")?;
    Ok(HttpResponse::Ok().json(customers::detail(&state.db, id.into_inner()).await?))
}
