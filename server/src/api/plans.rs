//! The support-plan catalogue.

use super::create::{created, scope_of};
use super::extract::ApiJson;
use super::idempotency::IdempotencyKey;
use super::problem::ApiResult;
use super::views::{Page, PlanView};
use crate::auth::{Caller, Role};
use crate::db::entity::plan;
use crate::plans::PlanPatch;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::Utc;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use sysops_core::ValidationErrors;
use sysops_core::category::CategorySet;
use sysops_core::money::{Currency, Money};
use sysops_core::text::Name;
use utoipa::ToSchema;
use uuid::Uuid;

/// A new plan.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPlan {
    /// Name.
    pub name: String,
    /// Categories covered (`television`, `laptop`, …).
    pub categories: Vec<String>,
    /// Monthly price in minor units.
    pub monthly_price_cents: i64,
    /// ISO 4217 currency.
    pub currency: String,
}

/// Lists the plans on offer (no sign-in needed).
#[utoipa::path(tag = "plans", responses((status = 200, body = Page<PlanView>)))]
#[get("/api/v1/plans")]
pub async fn list(state: web::Data<AppState>) -> ApiResult<HttpResponse> {
    let rows = plan::Entity::find()
        .filter(plan::Column::Active.eq(true))
        .order_by_asc(plan::Column::MonthlyPriceCents)
        .order_by_asc(plan::Column::Id)
        .all(&state.db.read)
        .await?;
    Ok(HttpResponse::Ok().json(Page { items: rows.iter().map(PlanView::from).collect(), next_cursor: None }))
}

/// Adds a plan to the catalogue.
#[utoipa::path(tag = "plans", request_body = NewPlan,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = PlanView), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/plans")]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    key: IdempotencyKey,
    body: ApiJson<NewPlan>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Admin], "adding plans")?;
    let b = &body.value;
    let mut v = ValidationErrors::new();
    let name = v.check("name", Name::parse(&b.name));
    let categories = v.check("categories", CategorySet::parse_non_empty(&b.categories));
    let currency = v.check("currency", Currency::parse(&b.currency));
    let price = currency.and_then(|c| v.check("monthly_price_cents", Money::price(b.monthly_price_cents, c)));
    v.finish()?;
    let (Some(name), Some(categories), Some(price)) = (name, categories, price) else {
        unreachable!("validated above")
    };
    created(&state, &req, key, &scope_of(Some(&caller)), &body.raw, move |txn| {
        Box::pin(async move {
            let p = plan::ActiveModel {
                id: Set(Uuid::now_v7()),
                name: Set(name.to_string()),
                categories: Set(serde_json::json!(categories.slugs())),
                monthly_price_cents: Set(price.amount_cents()),
                currency: Set(price.currency().code().to_owned()),
                active: Set(true),
                created_at: Set(Utc::now()),
            };
            Ok(PlanView::from(&plan::Entity::insert(p).exec_with_returning(txn).await?))
        })
    })
    .await
}

/// Changes a plan (admins). Existing subscriptions keep their terms: when the
/// categories, price or currency of a plan someone holds change, the plan is retired
/// and the answer is its successor, with a new `id`, now on offer instead.
#[utoipa::path(tag = "plans", request_body = PlanPatch,
    responses((status = 200, body = PlanView), (status = 404, body = super::problem::Problem),
        (status = 409, body = super::problem::Problem), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[patch("/api/v1/plans/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: ApiJson<PlanPatch>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Admin], "changing plans")?;
    let p = crate::plans::change(&state.db, id.into_inner(), &body.value).await?;
    Ok(HttpResponse::Ok().json(PlanView::from(&p)))
}

/// Retires a plan (admins): no new subscriptions; existing ones go on unchanged.
#[utoipa::path(tag = "plans",
    responses((status = 200, body = PlanView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/plans/{id}/retire")]
pub async fn retire(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Admin], "retiring plans")?;
    let p = crate::plans::retire(&state.db, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(PlanView::from(&p)))
}
