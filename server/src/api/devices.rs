//! Push-token registration for experts' phones.

use super::create::{created, scope_of};
use super::extract::ApiJson;
use super::idempotency::IdempotencyKey;
use super::problem::{ApiError, ApiResult};
use crate::auth::{Caller, Role};
use crate::db::entity::device;
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, post, web};
use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

// The request body is shared with the device library (which sends it).
pub use sysops_core::wire::NewDevice;

/// A registered device.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeviceView {
    /// Id.
    pub id: Uuid,
    /// The expert.
    pub expert_id: Uuid,
    /// `android` or `ios`.
    pub platform: String,
    /// The push token.
    pub push_token: String,
    /// First registered.
    pub created_at: DateTime<Utc>,
}

/// Registers (or moves to the caller) a push token.
#[utoipa::path(tag = "devices", request_body = NewDevice,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = DeviceView), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/devices")]
pub async fn register(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    key: IdempotencyKey,
    body: ApiJson<NewDevice>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Expert], "registering devices")?;
    let platform = match body.value.platform.as_str() {
        p @ ("android" | "ios") => p.to_owned(),
        _ => {
            return Err(ApiError::field("platform", "must be \"android\" or \"ios\""));
        }
    };
    let token = body.value.push_token.trim().to_owned();
    if token.is_empty() || token.len() > 4096 || token.chars().any(char::is_control) {
        return Err(ApiError::field("push_token", "must be 1 to 4096 printable characters"));
    }
    created(&state, &req, key, &scope_of(Some(&caller)), &body.raw, move |txn| {
        Box::pin(async move {
            let now = Utc::now();
            let existing = device::Entity::find().filter(device::Column::PushToken.eq(token.clone())).one(txn).await?;
            let d = match existing {
                Some(d) => {
                    let mut am: device::ActiveModel = d.into();
                    am.expert_id = Set(caller.user_id);
                    am.platform = Set(platform);
                    am.last_seen_at = Set(now);
                    am.update(txn).await?
                }
                None => {
                    device::Entity::insert(device::ActiveModel {
                        id: Set(Uuid::now_v7()),
                        expert_id: Set(caller.user_id),
                        platform: Set(platform),
                        push_token: Set(token),
                        created_at: Set(now),
                        last_seen_at: Set(now),
                    })
                    .exec_with_returning(txn)
                    .await?
                }
            };
            Ok(DeviceView {
                id: d.id,
                expert_id: d.expert_id,
                platform: d.platform,
                push_token: d.push_token,
                created_at: d.created_at,
            })
        })
    })
    .await
}
