//! Customer registration, the customer's own profile, and their subscriptions.

use super::create::{created, scope_of};
use super::extract::ApiJson;
use super::idempotency::IdempotencyKey;
use super::problem::{ApiError, ApiResult};
use super::views::{CustomerView, Location, Page, SubscriptionView};
use crate::auth::{Caller, Role, hash_password};
use crate::db::entity::{customer, plan, subscription, user};
use crate::db::is_unique_violation;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::Utc;
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use sysops_core::ValidationErrors;
use sysops_core::customer::NotifyBy;
use sysops_core::geo::GeoPoint;
use sysops_core::plan::SubscriptionStatus;
use sysops_core::text::{Address, Email, Name, Phone, Product};
use utoipa::ToSchema;
use uuid::Uuid;

/// A new customer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    /// Full name.
    pub name: String,
    /// E-mail (the login).
    pub email: String,
    /// Password, 8 to 128 characters, not one of the most common passwords (nor one with
    /// look-alike substitutions or added digits), nor the e-mail or name.
    pub password: String,
    /// Phone in international form (+14155550123).
    pub phone: String,
    /// `sms` or `email`.
    pub notify_by: String,
    /// Address.
    pub address: String,
    /// Where the address is.
    pub location: Location,
    /// Language of messages to the customer (`en-US`, `es-US`, …); default `en-US`.
    pub locale: Option<String>,
}

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
    let b = &body.value;
    let mut v = ValidationErrors::new();
    let name = v.check("name", Name::parse(&b.name));
    let email = v.check("email", Email::parse(&b.email));
    let password = v.check("password", crate::auth::passwords::parse(&b.password, &[&b.email, &b.name]));
    let phone = v.check("phone", Phone::parse(&b.phone));
    let notify_by = v.check("notify_by", b.notify_by.parse::<NotifyBy>());
    let address = v.check("address", Address::parse(&b.address));
    let location = parse_location(&mut v, "location", &b.location);
    let locale = v.check("locale", sysops_core::text::Locale::parse(b.locale.as_deref().unwrap_or("en-US")));
    v.finish()?;
    let (
        Some(name),
        Some(email),
        Some(password),
        Some(phone),
        Some(notify_by),
        Some(address),
        Some(location),
        Some(locale),
    ) = (name, email, password, phone, notify_by, address, location, locale)
    else {
        unreachable!("validated above")
    };
    let hash = hash_password(password.expose().to_owned()).await?;
    created(&state, &req, key, &scope_of(None), &body.raw, move |txn| {
        Box::pin(async move {
            let now = Utc::now();
            let id = Uuid::now_v7();
            let u = user::ActiveModel {
                id: Set(id),
                email: Set(email.to_string()),
                password_hash: Set(hash),
                role: Set(Role::Customer.as_str().to_owned()),
                name: Set(name.to_string()),
                created_at: Set(now),
                disabled: Set(false),
            };
            let u = insert_user(txn, u).await?;
            let c = customer::ActiveModel {
                user_id: Set(id),
                phone: Set(phone.to_string()),
                notify_by: Set(notify_by.as_str().to_owned()),
                address: Set(address.to_string()),
                lat: Set(location.lat()),
                lon: Set(location.lon()),
                created_at: Set(now),
                locale: Set(locale.to_string()),
            };
            let c = customer::Entity::insert(c).exec_with_returning(txn).await?;
            Ok(CustomerView::new(&u, &c))
        })
    })
    .await
}

/// Inserts a user, turning a taken e-mail into 409.
pub async fn insert_user(txn: &impl ConnectionTrait, u: user::ActiveModel) -> ApiResult<user::Model> {
    match user::Entity::insert(u).exec_with_returning(txn).await {
        Ok(u) => Ok(u),
        Err(e) if is_unique_violation(&e) => {
            Err(ApiError::Conflict("an account with this e-mail address already exists".to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Loads a customer's two rows.
pub async fn load(c: &impl ConnectionTrait, id: Uuid) -> ApiResult<(user::Model, customer::Model)> {
    let u = user::Entity::find_by_id(id).one(c).await?;
    let cu = customer::Entity::find_by_id(id).one(c).await?;
    match (u, cu) {
        (Some(u), Some(cu)) => Ok((u, cu)),
        _ => Err(ApiError::not_found("customer")),
    }
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
    let product = Product::parse(&body.value.product).map_err(|e| e.under("product"))?;
    let plan_id = body.value.plan_id;
    let p = plan::Entity::find_by_id(plan_id).one(&state.db.read).await?;
    if !p.is_some_and(|p| p.active) {
        return Err(ApiError::field("plan_id", "no such plan in the catalogue"));
    }
    let customer_id = caller.user_id;
    created(&state, &req, key, &scope_of(Some(&caller)), &body.raw, move |txn| {
        Box::pin(async move {
            let s = subscription::ActiveModel {
                id: Set(Uuid::now_v7()),
                customer_id: Set(customer_id),
                plan_id: Set(plan_id),
                product: Set(product.to_string()),
                status: Set(SubscriptionStatus::Active.as_str().to_owned()),
                started_at: Set(Utc::now()),
                cancelled_at: Set(None),
            };
            match subscription::Entity::insert(s).exec_with_returning(txn).await {
                Ok(s) => Ok(SubscriptionView::from(&s)),
                Err(e) if is_unique_violation(&e) => Err(ApiError::Conflict(format!(
                    "you already have a subscription for the product {:?}; one per product",
                    product.as_str()
                ))),
                Err(e) => Err(e.into()),
            }
        })
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
