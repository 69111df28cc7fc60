//! Login and token refresh.

use super::extract::ApiJson;
use super::problem::{ApiError, ApiResult};
use crate::auth::{Role, TokenPair, verify_password};
use crate::db::entity::user;
use crate::state::AppState;
use actix_web::{HttpResponse, post, web};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
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

fn wrong_credentials() -> ApiError {
    ApiError::Unauthorized("wrong e-mail or password".to_owned())
}

/// Exchanges an e-mail and password for tokens.
#[utoipa::path(tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = super::problem::Problem)))]
#[post("/api/v1/auth/login")]
pub async fn login(state: web::Data<AppState>, body: ApiJson<LoginRequest>) -> ApiResult<HttpResponse> {
    let b = body.value;
    if b.password.len() > sysops_core::text::Password::MAX * 4 {
        return Err(wrong_credentials());
    }
    let email = b.email.trim().to_lowercase();
    let row = user::Entity::find().filter(user::Column::Email.eq(email)).one(&state.db.read).await?;
    let hash = row.as_ref().map_or_else(|| state.auth.dummy_hash().to_owned(), |u| u.password_hash.clone());
    let ok = verify_password(b.password, hash).await;
    let Some(u) = row.filter(|u| ok && !u.disabled) else {
        return Err(wrong_credentials());
    };
    let role: Role = u.role.parse().map_err(|e: String| ApiError::Internal(anyhow::anyhow!(e)))?;
    Ok(HttpResponse::Ok().json(state.auth.issue(u.id, role)?))
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
