//! Staff accounts, created by an administrator.

use super::create::{created, scope_of};
use super::customers::insert_user;
use super::extract::ApiJson;
use super::idempotency::IdempotencyKey;
use super::problem::ApiResult;
use super::views::UserView;
use crate::auth::{Caller, Role, hash_password};
use crate::db::entity::user;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::Utc;
use sea_orm::ActiveValue::Set;
use serde::Deserialize;
use sysops_core::text::{Email, Name, Password};
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
    /// Password, 8 to 128 characters.
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
    let password = v.check("password", Password::parse(&b.password));
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
