//! Idempotency keys for creating POSTs. The same key with the same body replays the
//! first response; with a different body it is refused (422); while the first request
//! is still running, 409. The response is stored in the same transaction as the effect,
//! so a crash either loses both or keeps both: a retry after a crash never duplicates.

use crate::api::problem::ApiError;
use crate::db::entity::idempotency_key as idem;
use crate::db::is_unique_violation;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use chrono::Utc;
use futures::future::{Ready, ready};
use sea_orm::{ActiveValue::Set, ConnectionTrait, EntityTrait};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

/// The `Idempotency-Key` header, if sent.
pub struct IdempotencyKey(pub Option<String>);

/// Longest key accepted.
const MAX_KEY_LEN: usize = 255;

impl FromRequest for IdempotencyKey {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let Some(v) = req.headers().get("idempotency-key") else {
            return ready(Ok(Self(None)));
        };
        let ok = v
            .to_str()
            .ok()
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= MAX_KEY_LEN && s.chars().all(|c| c.is_ascii_graphic()));
        ready(match ok {
            Some(k) => Ok(Self(Some(k.to_owned()))),
            None => Err(ApiError::BadRequest(format!(
                "Idempotency-Key must be 1 to {MAX_KEY_LEN} visible ASCII characters (a UUID is ideal)"
            ))),
        })
    }
}

/// Keys being processed on this node.
#[derive(Default)]
pub struct InFlight(Mutex<HashSet<(String, String)>>);

/// A key this request owns until it finishes.
pub struct Claim {
    scope: String,
    key: String,
    hash: String,
    inflight: Arc<InFlight>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut set) = self.inflight.0.lock() {
            set.remove(&(self.scope.clone(), self.key.clone()));
        }
    }
}

/// What to do with a request that carries a key.
pub enum Begin {
    /// The first response, to send again.
    Replay(HttpResponse),
    /// Go ahead; store the response with [`Claim::store`].
    Fresh(Claim),
}

fn fingerprint(req: &HttpRequest, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(req.method().as_str().as_bytes());
    h.update(b" ");
    h.update(req.path().as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// Replays a stored response.
pub fn replay(row: &idem::Model) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(u16::try_from(row.status_code).unwrap_or(500)).unwrap_or(StatusCode::OK))
        .content_type("application/json")
        .insert_header(("Idempotent-Replayed", "true"))
        .body(row.response_body.clone())
}

/// Looks the key up: replay, refuse, or claim it.
pub async fn begin(
    db: &impl ConnectionTrait,
    inflight: &Arc<InFlight>,
    scope: &str,
    key: &str,
    req: &HttpRequest,
    body: &[u8],
) -> Result<Begin, ApiError> {
    let row = idem::Entity::find_by_id((scope.to_owned(), key.to_owned())).one(db).await?;
    begin_with(row.as_ref(), inflight, scope, key, req, body)
}

/// Like [`begin`], with the stored row (if any) already looked up by the caller.
pub fn begin_with(
    stored: Option<&idem::Model>,
    inflight: &Arc<InFlight>,
    scope: &str,
    key: &str,
    req: &HttpRequest,
    body: &[u8],
) -> Result<Begin, ApiError> {
    let hash = fingerprint(req, body);
    if let Some(row) = stored {
        return existing(row, &hash).map(Begin::Replay);
    }
    let mut set = inflight.0.lock().map_err(|_| ApiError::Internal(anyhow::anyhow!("idempotency lock poisoned")))?;
    if !set.insert((scope.to_owned(), key.to_owned())) {
        return Err(in_flight());
    }
    Ok(Begin::Fresh(Claim { scope: scope.to_owned(), key: key.to_owned(), hash, inflight: inflight.clone() }))
}

fn in_flight() -> ApiError {
    ApiError::Conflict("a request with this Idempotency-Key is still being processed; retry shortly".to_owned())
}

/// The answer for a key already stored: the replay, or 422 if the body differs.
pub fn existing(row: &idem::Model, hash: &str) -> Result<HttpResponse, ApiError> {
    if row.request_hash == hash {
        Ok(replay(row))
    } else {
        Err(ApiError::Unprocessable(
            "this Idempotency-Key was already used with a different request body; use a new key for a new request"
                .to_owned(),
        ))
    }
}

impl Claim {
    /// The row that records `status` and `body` for this key.
    pub fn row(&self, status: StatusCode, body: &str) -> idem::ActiveModel {
        idem::ActiveModel {
            scope: Set(self.scope.clone()),
            key: Set(self.key.clone()),
            request_hash: Set(self.hash.clone()),
            status_code: Set(i32::from(status.as_u16())),
            response_body: Set(body.to_owned()),
            created_at: Set(Utc::now()),
        }
    }

    /// Stores the response inside the caller's transaction. A unique violation means
    /// another node finished the same key first: the caller rolls back and gets 409.
    pub async fn store(&self, txn: &impl ConnectionTrait, status: StatusCode, body: &str) -> Result<(), ApiError> {
        match idem::Entity::insert(self.row(status, body)).exec_without_returning(txn).await {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(in_flight()),
            Err(e) => Err(e.into()),
        }
    }
}
