//! The shape every creating POST shares: honour `Idempotency-Key`, run the effect in
//! one write transaction, store the response with it, answer 201.

use super::idempotency::{self, IdempotencyKey};
use super::problem::{ApiError, ApiResult};
use crate::idempotency::Begin;
use crate::state::AppState;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse};
use futures::future::BoxFuture;
use sea_orm::DatabaseTransaction;
use serde::Serialize;

/// Runs `work` in a write transaction and answers 201 with its result, replaying or
/// refusing repeated `Idempotency-Key`s. `scope` separates callers' keys.
pub async fn created<T, F>(
    state: &AppState,
    req: &HttpRequest,
    key: IdempotencyKey,
    scope: &str,
    raw_body: &[u8],
    work: F,
) -> ApiResult<HttpResponse>
where
    T: Serialize,
    F: for<'a> FnOnce(&'a DatabaseTransaction) -> BoxFuture<'a, ApiResult<T>>,
{
    let claim = match key.0 {
        Some(k) => match idempotency::begin(&state.db.read, &state.inflight, scope, &k, req, raw_body).await? {
            Begin::Replay(r) => return Ok(idempotency::replay(&r)),
            Begin::Fresh(c) => Some(c),
        },
        None => None,
    };
    let txn = state.db.begin_write().await?;
    let value = work(&txn).await?;
    let body = serde_json::to_string(&value).map_err(|e| ApiError::Internal(e.into()))?;
    if let Some(c) = &claim {
        c.store(&txn, StatusCode::CREATED.as_u16(), &body).await?;
    }
    txn.commit().await?;
    Ok(HttpResponse::Created().content_type("application/json").body(body))
}

/// The idempotency scope of a caller (anonymous callers share one).
pub fn scope_of(caller: Option<&crate::auth::Caller>) -> String {
    caller.map_or_else(|| "anonymous".to_owned(), |c| c.user_id.to_string())
}
