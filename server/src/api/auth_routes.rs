//! Login and token refresh.

use super::extract::ApiJson;
use super::problem::{ApiError, ApiResult};
use crate::auth::{Role, TokenPair, sign_in};
use crate::db::entity::user;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, post, web};
use sea_orm::EntityTrait;
use serde::Deserialize;
use utoipa::ToSchema;

/// Credentials.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// E-mail.
    pub email: String,
    /// Password.
    pub password: String,
}

/// A refresh token to exchange.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    /// The refresh token from login.
    pub refresh_token: String,
}

/// Exchanges an e-mail and password for tokens.
#[utoipa::path(tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = super::problem::Problem),
        (status = 429, body = super::problem::Problem, description = "Too many failed sign-ins; see Retry-After"),
        (status = 503, body = super::problem::Problem, description = "Busy checking passwords; see Retry-After")))]
#[post("/api/v1/auth/login")]
pub async fn login(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: ApiJson<LoginRequest>,
) -> ApiResult<HttpResponse> {
    let b = body.value;
    let client = crate::auth::client_addr(&req, &state.settings);
    let who = sign_in(&state, &b.email, &b.password, client).await?;
    Ok(HttpResponse::Ok().json(state.auth.issue(who.user_id, who.role)?))
}

/// Exchanges a refresh token for fresh tokens.
#[utoipa::path(tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = super::problem::Problem)))]
#[post("/api/v1/auth/refresh")]
pub async fn refresh(state: web::Data<AppState>, body: ApiJson<RefreshRequest>) -> ApiResult<HttpResponse> {
    let caller = state.auth.verify_refresh(body.value.refresh_token.trim())?;
    let u = user::Entity::find_by_id(caller.user_id).one(&state.db.read).await?;
    let Some(u) = u.filter(|u| !u.disabled) else {
        return Err(ApiError::Unauthorized("the account no longer exists or is disabled".to_owned()));
    };
    let role: Role = u.role.parse().map_err(|e: String| ApiError::Internal(anyhow::anyhow!(e)))?;
    Ok(HttpResponse::Ok().json(state.auth.issue(u.id, role)?))
}
