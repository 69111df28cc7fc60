//! Login, token refresh (rotating), sign-out, and password reset by e-mail.

use super::extract::ApiJson;
use super::problem::{ApiError, ApiResult};
use crate::auth::reset::{self, ResetError};
use crate::auth::sessions::{self, Rotation, Session};
use crate::auth::{Caller, Role, TokenPair, sign_in};
use crate::db::entity::user;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, post, web};
use sea_orm::EntityTrait;
use serde::Deserialize;
use utoipa::ToSchema;

// The request bodies are shared with the device library (which sends them).
pub use sysops_core::wire::{LoginRequest, RefreshRequest};

/// A token response: never stored by a cache or a browser's history.
fn tokens(pair: &TokenPair) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::PRAGMA, "no-cache"))
        .json(pair)
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
    let session = sessions::start(&state.db, who.user_id, state.auth.refresh_ttl()).await?;
    Ok(tokens(&state.auth.issue(who.user_id, who.role, session)?))
}

fn signed_out() -> ApiError {
    ApiError::Unauthorized(
        "this refresh token is no longer valid (signed out, or already used); sign in again".to_owned(),
    )
}

/// Exchanges a refresh token for fresh tokens. Each refresh token works once: the answer
/// carries its successor, and presenting a used one again signs that session out.
#[utoipa::path(tag = "auth", request_body = RefreshRequest,
    responses((status = 200, body = TokenPair), (status = 401, body = super::problem::Problem)))]
#[post("/api/v1/auth/refresh")]
pub async fn refresh(state: web::Data<AppState>, body: ApiJson<RefreshRequest>) -> ApiResult<HttpResponse> {
    let token = state.auth.verify_refresh(body.value.refresh_token.trim())?;
    let ttl = state.auth.refresh_ttl();
    let presented = match token.family {
        Some(family) => Session { family, jti: token.jti },
        None => sessions::adopt_legacy(&state.db, token.caller.user_id, token.jti, ttl).await?,
    };
    let next = match sessions::rotate(&state.db, presented, ttl).await? {
        Rotation::Rotated(next) => next,
        Rotation::Reused | Rotation::Revoked => return Err(signed_out()),
    };
    let u = user::Entity::find_by_id(token.caller.user_id).one(&state.db.write).await?;
    let Some(u) = u.filter(|u| !u.disabled) else {
        return Err(ApiError::Unauthorized("the account no longer exists or is disabled".to_owned()));
    };
    let role: Role = u.role.parse().map_err(|e: String| ApiError::Internal(anyhow::anyhow!(e)))?;
    Ok(tokens(&state.auth.issue(u.id, role, next)?))
}

/// Signs one session out: its refresh token (and every later one of the same sign-in)
/// stops working. Signing out an already signed-out or expired session is a no-op.
#[utoipa::path(tag = "auth", request_body = RefreshRequest,
    responses((status = 204, description = "Signed out"), (status = 401, body = super::problem::Problem)))]
#[post("/api/v1/auth/logout")]
pub async fn logout(state: web::Data<AppState>, body: ApiJson<RefreshRequest>) -> ApiResult<HttpResponse> {
    let token = state.auth.verify_refresh_for_logout(body.value.refresh_token.trim())?;
    let family = match token.family {
        Some(f) => f,
        None => {
            sessions::adopt_legacy(&state.db, token.caller.user_id, token.jti, state.auth.refresh_ttl()).await?.family
        }
    };
    sessions::revoke(&state.db, family, sessions::reason::LOGOUT).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Signs the caller out everywhere: every refresh token of every session stops working.
#[utoipa::path(tag = "auth",
    responses((status = 204, description = "Signed out everywhere"), (status = 401, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/auth/logout-all")]
pub async fn logout_all(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    let n = sessions::revoke_all(&state.db.write, caller.user_id, sessions::reason::LOGOUT_ALL).await?;
    tracing::info!(user_id = %caller.user_id, sessions = n, "signed out everywhere");
    Ok(HttpResponse::NoContent().finish())
}

/// Asks for a password-reset link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetRequest {
    /// The account's e-mail.
    pub email: String,
}

/// Sets a new password with the token of a reset link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResetConfirm {
    /// The `token` of the link in the e-mail.
    pub token: String,
    /// The new password (same rules as at registration).
    pub new_password: String,
}

impl From<ResetError> for ApiError {
    fn from(e: ResetError) -> Self {
        match e {
            ResetError::LinkInvalid => ApiError::Gone(e.to_string()),
            ResetError::WeakPassword(f) => ApiError::Validation(f.under("new_password").into()),
            ResetError::Busy { retry_after_secs } => ApiError::Overloaded { detail: e.to_string(), retry_after_secs },
            ResetError::Internal(e) => ApiError::internal(e),
        }
    }
}

/// E-mails a single-use link to reset the password (valid for 30 minutes by default).
/// The answer is the same whether or not the address has an account.
#[utoipa::path(tag = "auth", request_body = ResetRequest,
    responses((status = 202, description = "If the address has an account, a link is on its way"),
        (status = 422, body = super::problem::Problem)))]
#[post("/api/v1/auth/password-reset")]
pub async fn password_reset(state: web::Data<AppState>, body: ApiJson<ResetRequest>) -> ApiResult<HttpResponse> {
    sysops_core::text::Email::parse(&body.value.email).map_err(|e| e.under("email"))?;
    reset::request(&state, &body.value.email).await?;
    Ok(HttpResponse::Accepted().json(serde_json::json!({
        "detail": "if this address has an account, a link to reset its password is on its way"
    })))
}

/// Sets a new password with a reset link's token. Every session of the account is signed
/// out; sign in with the new password.
#[utoipa::path(tag = "auth", request_body = ResetConfirm,
    responses((status = 204, description = "Password changed"),
        (status = 410, body = super::problem::Problem, description = "The link expired or was already used"),
        (status = 422, body = super::problem::Problem, description = "The new password is not acceptable")))]
#[post("/api/v1/auth/password-reset/confirm")]
pub async fn password_reset_confirm(
    state: web::Data<AppState>,
    body: ApiJson<ResetConfirm>,
) -> ApiResult<HttpResponse> {
    reset::confirm(&state, &body.value.token, &body.value.new_password).await?;
    Ok(HttpResponse::NoContent().finish())
}
