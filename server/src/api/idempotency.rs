//! The HTTP side of idempotency keys: the `Idempotency-Key` header and replaying a
//! stored answer. The rules are in `crate::idempotency`.

use super::problem::ApiError;
use crate::idempotency::{self, Begin, InFlight, KeyError, Stored};
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use futures::future::{Ready, ready};
use sea_orm::ConnectionTrait;
use std::sync::Arc;

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

impl From<KeyError> for ApiError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Reused => ApiError::Unprocessable(e.to_string()),
            KeyError::InFlight | KeyError::Raced => ApiError::Conflict(e.to_string()),
            KeyError::Storage(e) => e.into(),
        }
    }
}

/// The fingerprint of an HTTP request with `body`.
pub fn fingerprint(req: &HttpRequest, body: &[u8]) -> String {
    idempotency::fingerprint(req.method().as_str(), req.path(), body)
}

/// Replays a stored answer.
pub fn replay(s: &Stored) -> HttpResponse {
    HttpResponse::build(StatusCode::from_u16(s.status).unwrap_or(StatusCode::OK))
        .content_type("application/json")
        .insert_header(("Idempotent-Replayed", "true"))
        .body(s.body.clone())
}

/// Looks the key of `req` up: replay, refuse, or claim it.
pub async fn begin(
    db: &impl ConnectionTrait,
    inflight: &Arc<InFlight>,
    scope: &str,
    key: &str,
    req: &HttpRequest,
    body: &[u8],
) -> Result<Begin, ApiError> {
    Ok(idempotency::begin(db, inflight, scope, key, fingerprint(req, body)).await?)
}
