//! Staff accounts, created by an administrator; any account disabled or re-enabled.

use super::create::{created, scope_of};
use super::customers::insert_user;
use super::extract::ApiJson;
use super::idempotency::IdempotencyKey;
use super::problem::{ApiError, ApiResult};
use super::views::UserView;
use crate::auth::accounts::{self, AccountError};
use crate::auth::{Caller, Role, hash_password};
use crate::db::entity::user;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::Utc;
use sea_orm::ActiveValue::Set;
use sea_orm::EntityTrait;
use serde::Deserialize;
use sysops_core::text::{Email, Name};
use sysops_core::{FieldError, ValidationErrors};
use utoipa::ToSchema;
use uuid::Uuid;

/// A new staff account.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    /// Name.
    pub name: String,
    /// E-mail (the login).
    pub email: String,
    /// Password, 8 to 128 characters, not one of the most common passwords (nor one with
    /// look-alike substitutions or added digits), nor the e-mail or name.
    pub password: String,
    /// `agent`, `manager` or `admin`.
    pub role: String,
}

/// Creates a staff account.
#[utoipa::path(tag = "users", request_body = NewUser,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = UserView), (status = 403, body = super::problem::Problem),
        (status = 409, body = super::problem::Problem), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/users")]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    key: IdempotencyKey,
    body: ApiJson<NewUser>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Admin], "creating staff accounts")?;
    let b = &body.value;
    let mut v = ValidationErrors::new();
    let name = v.check("name", Name::parse(&b.name));
    let email = v.check("email", Email::parse(&b.email));
    let password = v.check("password", crate::auth::passwords::parse(&b.password, &[&b.email, &b.name]));
    let role = v.check(
        "role",
        match b.role.as_str() {
            "agent" => Ok(Role::Agent),
            "manager" => Ok(Role::Manager),
            "admin" => Ok(Role::Admin),
            _ => Err(FieldError::new(
                "",
                "must be \"agent\", \"manager\" or \"admin\" (customers register themselves; experts are created with POST /experts)",
            )),
        },
    );
    v.finish()?;
    let (Some(name), Some(email), Some(password), Some(role)) = (name, email, password, role) else {
        unreachable!("validated above")
    };
    let hash = hash_password(password.expose().to_owned()).await?;
    created(&state, &req, key, &scope_of(Some(&caller)), &body.raw, move |txn| {
        Box::pin(async move {
            let u = user::ActiveModel {
                id: Set(Uuid::now_v7()),
                email: Set(email.to_string()),
                password_hash: Set(hash),
                role: Set(role.as_str().to_owned()),
                name: Set(name.to_string()),
                created_at: Set(Utc::now()),
                disabled: Set(false),
            };
            Ok(UserView::from(&insert_user(txn, u).await?))
        })
    })
    .await
}

/// Changes to a user's standing.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    /// `true` disables the account at once (sign-in refused, every token stops working on
    /// every node, an expert goes off duty and their open tickets, accepted or not, go to
    /// the next expert or become unassignable); `false` enables it again.
    pub disabled: bool,
}

impl From<AccountError> for ApiError {
    fn from(e: AccountError) -> Self {
        match e {
            AccountError::NotFound => ApiError::not_found("user"),
            AccountError::Refused(m) => ApiError::Unprocessable(m),
            AccountError::WrongPassword => ApiError::field("password", "is not your current password"),
            AccountError::Internal(e) => ApiError::internal(e),
        }
    }
}

/// A user account (admins).
#[utoipa::path(tag = "users", responses((status = 200, body = UserView), (status = 403, body = super::problem::Problem),
    (status = 404, body = super::problem::Problem)), security(("bearer" = [])))]
#[get("/api/v1/users/{id}")]
pub async fn get_one(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Admin], "reading user accounts")?;
    let u = user::Entity::find_by_id(id.into_inner())
        .one(&state.db.read)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(HttpResponse::Ok().json(UserView::from(&u)))
}

/// Disables or re-enables any account (admins).
#[utoipa::path(tag = "users", request_body = UserPatch,
    responses((status = 200, body = UserView), (status = 403, body = super::problem::Problem),
        (status = 404, body = super::problem::Problem), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[patch("/api/v1/users/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: ApiJson<UserPatch>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Admin], "disabling or enabling accounts")?;
    let u = accounts::set_disabled(&state, caller, id.into_inner(), body.value.disabled).await?;
    Ok(HttpResponse::Ok().json(UserView::from(&u)))
}
