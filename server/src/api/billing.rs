//! Billing's write side over HTTP: the processor's webhooks, the card on file (saved
//! through a SetupIntent on the processor's page), plan changes with proration,
//! cancellation at the period's end, and admin refunds. Reading invoices is elsewhere.

use super::extract::ApiJson;
use super::idempotency::IdempotencyKey;
use super::problem::{ApiError, ApiResult};
use super::views::SubscriptionView;
use crate::auth::{Caller, Role};
use crate::billing::{BillingError, CardOnFile, CardSetup, PlanChange, RefundMade, RunSummary};
use crate::db::entity::subscription;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use sea_orm::EntityTrait;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// The one mapping from billing's errors to problems.
impl From<BillingError> for ApiError {
    fn from(e: BillingError) -> Self {
        match e {
            BillingError::NotFound(m) => Self::NotFound(m),
            BillingError::Refused(m) => Self::Conflict(m),
            BillingError::Invalid { field, message } => Self::field(&field, message),
            BillingError::Unavailable(detail) => Self::Overloaded { detail, retry_after_secs: 5 },
            BillingError::Storage(e) => e.into(),
            BillingError::Internal(e) => Self::Internal(e),
        }
    }
}

/// A webhook delivery taken.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookReceived {
    /// Always true.
    pub received: bool,
    /// True when this event id was seen before (a replay changes nothing).
    pub duplicate: bool,
}

/// Stripe's webhook deliveries, verified by `Stripe-Signature` (HMAC-SHA256 with the
/// webhook secret, five minutes' tolerance) and recorded once by event id. A forged or
/// stale signature is a 400; a replay is a 200 that changes nothing; a late "failed"
/// never moves a paid invoice back.
#[utoipa::path(tag = "billing", request_body(content = Object, content_type = "application/json",
        description = "A Stripe event"),
    params(("Stripe-Signature" = String, Header, description = "`t=…,v1=…`, as Stripe signs")),
    responses((status = 200, body = WebhookReceived), (status = 400, body = super::problem::Problem),
        (status = 404, body = super::problem::Problem, description = "Webhooks are not configured here")))]
#[post("/api/v1/webhooks/stripe")]
pub async fn stripe_webhook(state: web::Data<AppState>, req: HttpRequest, body: web::Bytes) -> ApiResult<HttpResponse> {
    let Some(secret) = state.settings.stripe_webhook_secret.as_ref() else {
        return Err(ApiError::NotFound(
            "Stripe webhooks are not configured on this server (SYSOPS_STRIPE_WEBHOOK_SECRET)".into(),
        ));
    };
    let header = req.headers().get("stripe-signature").and_then(|v| v.to_str().ok());
    match state.billing.webhook(secret.expose_secret(), header, &body).await {
        Ok(fresh) => Ok(HttpResponse::Ok().json(WebhookReceived { received: true, duplicate: !fresh })),
        Err(BillingError::Invalid { field, message }) => Err(ApiError::BadRequest(format!("{field}: {message}"))),
        Err(e) => Err(e.into()),
    }
}

/// The signed-in customer's card on file (brand, last four digits, expiry; never the number).
#[utoipa::path(tag = "billing", responses((status = 200, body = CardOnFile),
    (status = 404, body = super::problem::Problem, description = "No card on file yet")), security(("bearer" = [])))]
#[get("/api/v1/customers/me/card")]
pub async fn card(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Customer], "reading the card on file")?;
    match state.billing.card(caller.user_id).await? {
        Some(c) => Ok(HttpResponse::Ok().json(c)),
        None => Err(ApiError::NotFound("no card on file: POST /api/v1/customers/me/card/setup to add one".into())),
    }
}

/// Where to come back after entering the card.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardSetupBody {
    /// Where the processor's card page sends the browser afterwards (with
    /// `?setup_intent=seti_…`); default: the portal's billing page.
    #[serde(default)]
    pub return_url: Option<String>,
}

/// Begins saving a card: a SetupIntent at the processor and the page where the card is
/// entered (the card number never reaches this server). Finish with
/// `POST /customers/me/card`.
#[utoipa::path(tag = "billing", request_body = CardSetupBody,
    responses((status = 201, body = CardSetup)), security(("bearer" = [])))]
#[post("/api/v1/customers/me/card/setup")]
pub async fn card_setup(
    state: web::Data<AppState>,
    caller: Caller,
    body: ApiJson<CardSetupBody>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Customer], "saving a card")?;
    let return_url = match &body.value.return_url {
        Some(u) => {
            let ok = url::Url::parse(u).is_ok_and(|p| matches!(p.scheme(), "http" | "https"));
            if !ok {
                return Err(ApiError::field("return_url", "an absolute http(s) URL"));
            }
            u.clone()
        }
        None => format!("{}/portal/billing", state.public_base),
    };
    let setup = state.billing.start_card_setup(caller.user_id, &return_url).await?;
    Ok(HttpResponse::Created().json(setup))
}

/// A confirmed card setup to keep.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CardBody {
    /// The `seti_…` the processor confirmed.
    pub setup_intent: String,
}

/// The card kept, and what charging the open invoices with it did.
#[derive(Debug, Serialize, ToSchema)]
pub struct CardSaved {
    /// The card.
    pub card: CardOnFile,
    /// Open invoices charged at once (a suspended subscription is restored when paid).
    pub charged: RunSummary,
}

/// Keeps the card of a confirmed SetupIntent as the card on file, then charges any open
/// invoice with it at once (paying restores a suspended subscription).
#[utoipa::path(tag = "billing", request_body = CardBody,
    responses((status = 200, body = CardSaved), (status = 409, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/customers/me/card")]
pub async fn card_save(state: web::Data<AppState>, caller: Caller, body: ApiJson<CardBody>) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Customer], "saving a card")?;
    let seti = body.value.setup_intent.trim();
    let well_formed = seti.len() <= 255
        && seti
            .strip_prefix("seti_")
            .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if !well_formed {
        return Err(ApiError::field("setup_intent", "a SetupIntent id (seti_…)"));
    }
    let (saved, charged) = state.billing.finish_card_setup(caller.user_id, seti).await?;
    Ok(HttpResponse::Ok().json(CardSaved { card: saved, charged }))
}

/// A plan to move to.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanChangeBody {
    /// The new plan (same currency).
    pub plan_id: Uuid,
}

/// Changes a subscription's plan today: the old plan's unused days are credited and the
/// new plan's remaining days charged, on the next invoice.
#[utoipa::path(tag = "billing", request_body = PlanChangeBody,
    params(("id" = Uuid, Path, description = "The subscription")),
    responses((status = 200, body = PlanChange), (status = 409, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/customers/me/subscriptions/{id}/plan")]
pub async fn change_plan(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: ApiJson<PlanChangeBody>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Customer], "changing plan")?;
    let change = state.billing.change_plan(caller.user_id, *id, body.value.plan_id).await?;
    Ok(HttpResponse::Ok().json(change))
}

/// Cancels a subscription at the end of its paid period (at once if nothing is paid).
#[utoipa::path(tag = "billing", params(("id" = Uuid, Path, description = "The subscription")),
    responses((status = 200, body = SubscriptionView), (status = 409, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/customers/me/subscriptions/{id}/cancel")]
pub async fn cancel(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Customer], "cancelling a subscription")?;
    state.billing.cancel(caller.user_id, *id).await?;
    let s = subscription::Entity::find_by_id(*id)
        .one(&state.db.write)
        .await?
        .ok_or_else(|| ApiError::not_found("subscription"))?;
    Ok(HttpResponse::Ok().json(SubscriptionView::from(&s)))
}

/// A refund to make.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundBody {
    /// Minor units; absent: everything not yet refunded.
    #[serde(default)]
    pub amount_cents: Option<i64>,
    /// Why (1 to 500 characters; kept in the ledger).
    pub reason: String,
}

/// Refunds a paid invoice in full or in part, with a reason. With `Idempotency-Key`, a
/// retried request refunds once.
#[utoipa::path(tag = "billing", request_body = RefundBody,
    params(("id" = Uuid, Path, description = "The invoice"),
        ("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = RefundMade), (status = 409, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/invoices/{id}/refunds")]
pub async fn refund(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    key: IdempotencyKey,
    body: ApiJson<RefundBody>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Admin], "refunding")?;
    let b = &body.value;
    let made = state.billing.refund(*id, b.amount_cents, &b.reason, caller.user_id, key.0.as_deref()).await?;
    Ok(HttpResponse::Created().json(made))
}
