//! Idempotency keys for creating requests. The same key with the same request replays
//! the first answer; with a different request it is refused; while the first is still
//! running, it is refused as in flight. The answer is stored in the same transaction as
//! the effect, so a crash either loses both or keeps both: a retry after a crash never
//! duplicates. Front ends bring the key and a fingerprint of the request; the HTTP side
//! (the header, replaying a response) is `api::idempotency`.

use crate::db::entity::idempotency_key as idem;
use crate::db::is_unique_violation;
use chrono::Utc;
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::sync::{Arc, Mutex};

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

/// An answer stored for a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The status of the first answer (HTTP status code).
    pub status: u16,
    /// Its body (JSON).
    pub body: String,
}

/// What to do with a request that carries a key.
pub enum Begin {
    /// The first answer, to give again.
    Replay(Stored),
    /// Go ahead; store the answer with [`Claim::store`] or [`Claim::row`].
    Fresh(Claim),
}

/// Why a key cannot be used now.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Used before with a different request.
    #[error("this Idempotency-Key was already used with a different request body; use a new key for a new request")]
    Reused,
    /// The first request with this key is still running.
    #[error("a request with this Idempotency-Key is still being processed; retry shortly")]
    InFlight,
    /// The first request finished on another node while this one ran.
    #[error("a request with this Idempotency-Key was completed concurrently; retry to get its response")]
    Raced,
    /// The lookup failed.
    #[error(transparent)]
    Storage(#[from] DbErr),
}

/// The fingerprint of a request: what it asks (method and path) and its body.
pub fn fingerprint(method: &str, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// Looks the key up: replay, refuse, or claim it.
pub async fn begin(
    db: &impl ConnectionTrait,
    inflight: &Arc<InFlight>,
    scope: &str,
    key: &str,
    fingerprint: String,
) -> Result<Begin, KeyError> {
    let row = idem::Entity::find_by_id((scope.to_owned(), key.to_owned())).one(db).await?;
    begin_with(row.as_ref(), inflight, scope, key, fingerprint)
}

/// Like [`begin`], with the stored row (if any) already looked up by the caller.
pub fn begin_with(
    stored: Option<&idem::Model>,
    inflight: &Arc<InFlight>,
    scope: &str,
    key: &str,
    fingerprint: String,
) -> Result<Begin, KeyError> {
    if let Some(row) = stored {
        return existing(row, &fingerprint).map(Begin::Replay);
    }
    let mut set = inflight.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if !set.insert((scope.to_owned(), key.to_owned())) {
        return Err(KeyError::InFlight);
    }
    Ok(Begin::Fresh(Claim {
        scope: scope.to_owned(),
        key: key.to_owned(),
        hash: fingerprint,
        inflight: inflight.clone(),
    }))
}

/// The answer for a key already stored, or [`KeyError::Reused`] if the request differs.
pub fn existing(row: &idem::Model, fingerprint: &str) -> Result<Stored, KeyError> {
    if row.request_hash == fingerprint {
        Ok(Stored { status: u16::try_from(row.status_code).unwrap_or(500), body: row.response_body.clone() })
    } else {
        Err(KeyError::Reused)
    }
}

impl Claim {
    /// The row that records `status` and `body` for this key.
    pub fn row(&self, status: u16, body: &str) -> idem::ActiveModel {
        idem::ActiveModel {
            scope: Set(self.scope.clone()),
            key: Set(self.key.clone()),
            request_hash: Set(self.hash.clone()),
            status_code: Set(i32::from(status)),
            response_body: Set(body.to_owned()),
            created_at: Set(Utc::now()),
        }
    }

    /// Stores the answer inside the caller's transaction. A unique violation means
    /// another node finished the same key first: the caller rolls back.
    pub async fn store(&self, txn: &impl ConnectionTrait, status: u16, body: &str) -> Result<(), KeyError> {
        match idem::Entity::insert(self.row(status, body)).exec_without_returning(txn).await {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(KeyError::InFlight),
            Err(e) => Err(e.into()),
        }
    }
}
