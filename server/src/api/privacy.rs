//! A customer's data through the API: export (JSON) and erasure, by the customer (who
//! closes their account) or by an administrator (on request). See `crate::privacy`.

use super::extract::ApiJson;
use super::problem::{ApiError, ApiResult};
use crate::auth::{Caller, Role, SignInError, sign_in};
use crate::db::entity::user;
use crate::privacy::{self, PrivacyError};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use sea_orm::EntityTrait;
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

impl From<PrivacyError> for ApiError {
    fn from(e: PrivacyError) -> Self {
        match e {
            PrivacyError::NotFound => ApiError::not_found("customer"),
            PrivacyError::OpenTickets(_) => ApiError::Conflict(e.to_string()),
            PrivacyError::Internal(e) => ApiError::internal(e),
        }
    }
}

fn download(id: Uuid, doc: &serde_json::Value) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"sysops-data-{id}.json\"")))
        .json(doc)
}

/// Everything we hold about the signed-in customer, as one JSON document (account,
/// profile, subscriptions, tickets with their history, surveys, messages, sign-ins).
#[utoipa::path(tag = "privacy", responses((status = 200, description = "The customer's data", body = Object),
    (status = 401, body = super::problem::Problem), (status = 403, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/customers/me/export")]
pub async fn export_mine(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Customer], "exporting your data")?;
    Ok(download(caller.user_id, &privacy::export(&state, caller.user_id).await?))
}

/// Everything held about a customer (admins, for a request received otherwise).
#[utoipa::path(tag = "privacy", responses((status = 200, description = "The customer's data", body = Object),
    (status = 403, body = super::problem::Problem), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/customers/{id}/export")]
pub async fn export_one(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Admin], "exporting a customer's data")?;
    let id = id.into_inner();
    Ok(download(id, &privacy::export(&state, id).await?))
}

/// The customer's password, confirming they mean it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseAccount {
    /// Current password.
    pub password: String,
}

/// Closes the signed-in customer's account: personal data is erased, tickets are kept
/// anonymised, subscriptions end, and every token stops working. Refused (409) while a
/// ticket is open.
#[utoipa::path(tag = "privacy", request_body = CloseAccount,
    responses((status = 204, description = "Closed and erased"), (status = 409, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem, description = "Wrong password"),
        (status = 429, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/customers/me/close")]
pub async fn close_mine(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    body: ApiJson<CloseAccount>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Customer], "closing a customer account")?;
    let u = user::Entity::find_by_id(caller.user_id)
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("customer"))?;
    let client = crate::auth::client_addr(&req, &state.settings);
    match sign_in(&state, &u.email, &body.value.password, client).await {
        Ok(_) => {}
        Err(SignInError::WrongCredentials) => return Err(ApiError::field("password", "is not your current password")),
        Err(e) => return Err(e.into()),
    }
    privacy::erase(&state, caller.user_id, caller).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Erases a customer's personal data and closes the account (admins).
#[utoipa::path(tag = "privacy",
    responses((status = 204, description = "Erased"), (status = 403, body = super::problem::Problem),
        (status = 404, body = super::problem::Problem), (status = 409, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/customers/{id}/erase")]
pub async fn erase_one(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Admin], "erasing a customer's data")?;
    privacy::erase(&state, id.into_inner(), caller).await?;
    Ok(HttpResponse::NoContent().finish())
}
