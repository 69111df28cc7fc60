//! Failed sign-ins, counted in the database so the limit holds across nodes: per account
//! (the e-mail tried, whether or not it exists) and per client address, over a sliding
//! window. When either count reaches its limit, attempts are refused without checking
//! the password (and without being counted) until enough failures have aged out of the
//! window, so the account's owner is locked out for at most one window; a success
//! clears the account's count.

use crate::config::Settings;
use crate::db::Db;
use crate::db::entity::sign_in_failure as f;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// How many failures are allowed over which window.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// The sliding window, milliseconds.
    pub window_ms: i64,
    /// Failures allowed per account within the window.
    pub per_account: u64,
    /// Failures allowed per client address within the window.
    pub per_address: u64,
}

impl Limits {
    /// From the settings.
    pub fn from_settings(s: &Settings) -> Self {
        Self {
            window_ms: (s.sign_in_window_secs.max(1) * 1000) as i64,
            per_account: s.sign_in_max_failures_per_account.max(1),
            per_address: s.sign_in_max_failures_per_address.max(1),
        }
    }
}

const ACCOUNT: &str = "account";
const ADDRESS: &str = "address";

/// What is counted for one attempt: the account tried and the client's address, both
/// kept only as hashes.
#[derive(Debug, Clone)]
pub struct Subject {
    account: String,
    address: Option<String>,
}

fn digest(kind: &str, value: &str) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update([0]);
    h.update(value.as_bytes());
    hex::encode(&h.finalize()[..16])
}

impl Subject {
    /// An attempt on `email` (normalised) from `client`.
    pub fn new(email: &str, client: Option<IpAddr>) -> Self {
        Self {
            account: digest(ACCOUNT, &email.trim().to_lowercase()),
            address: client.map(|a| digest(ADDRESS, &a.to_string())),
        }
    }

    fn keys(&self) -> impl Iterator<Item = (&'static str, &str)> {
        std::iter::once((ACCOUNT, self.account.as_str())).chain(self.address.as_deref().map(|a| (ADDRESS, a)))
    }
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// `Err(seconds)` when the subject must wait that long before trying again.
pub async fn check(db: &Db, limits: Limits, subject: &Subject) -> Result<Result<(), u64>, sea_orm::DbErr> {
    let now = now_ms();
    let mut wait_ms = 0i64;
    for (scope, key) in subject.keys() {
        let max = if scope == ACCOUNT { limits.per_account } else { limits.per_address };
        // The newest `max` failures in the window: when the oldest of them ages out, the
        // count drops below the limit.
        let recent: Vec<i64> = f::Entity::find()
            .select_only()
            .column(f::Column::AtMs)
            .filter(f::Column::Scope.eq(scope))
            .filter(f::Column::Key.eq(key))
            .filter(f::Column::AtMs.gt(now - limits.window_ms))
            .order_by_desc(f::Column::AtMs)
            .limit(max)
            .into_tuple()
            .all(&db.read)
            .await?;
        if recent.len() as u64 >= max
            && let Some(oldest) = recent.last()
        {
            wait_ms = wait_ms.max(oldest + limits.window_ms - now);
        }
    }
    Ok(if wait_ms > 0 { Err((wait_ms as u64).div_ceil(1000).max(1)) } else { Ok(()) })
}

/// Counts a failed attempt.
pub async fn record_failure(db: &Db, subject: &Subject) -> Result<(), sea_orm::DbErr> {
    let at = now_ms();
    let rows = subject.keys().map(|(scope, key)| f::ActiveModel {
        id: Set(Uuid::now_v7()),
        scope: Set(scope.to_owned()),
        key: Set(key.to_owned()),
        at_ms: Set(at),
    });
    f::Entity::insert_many(rows).exec_without_returning(&db.write).await?;
    Ok(())
}

/// Attempts on one account take turns on this node, so a burst of guesses cannot all
/// pass the check before the first failure is counted (across nodes the overshoot is
/// at most one attempt per other node).
static TURNS: LazyLock<Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>> = LazyLock::new(Default::default);

/// This node's turn for the subject's account; `None` when it did not come within `wait`.
pub async fn turn(subject: &Subject, wait: Duration) -> Option<Turn> {
    let lock = {
        let mut map = TURNS.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(subject.account.clone()).or_default().clone()
    };
    let guard = tokio::time::timeout(wait, lock.lock_owned()).await.ok()?;
    Some(Turn { account: subject.account.clone(), guard: Some(guard) })
}

/// Held while one attempt on an account is judged.
pub struct Turn {
    account: String,
    guard: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = TURNS.lock().unwrap_or_else(|e| e.into_inner());
        // Nobody else holds or waits for it: forget the account's lock.
        if map.get(&self.account).is_some_and(|l| Arc::strong_count(l) == 1) {
            map.remove(&self.account);
        }
    }
}

/// Forgets the account's failures (after a successful sign-in or a password reset).
pub async fn clear_account(db: &Db, subject: &Subject) -> Result<(), sea_orm::DbErr> {
    f::Entity::delete_many()
        .filter(f::Column::Scope.eq(ACCOUNT))
        .filter(f::Column::Key.eq(subject.account.as_str()))
        .exec(&db.write)
        .await?;
    Ok(())
}

/// Deletes failures older than the window.
pub async fn prune(db: &Db, limits: Limits) -> Result<(), sea_orm::DbErr> {
    f::Entity::delete_many().filter(f::Column::AtMs.lt(now_ms() - limits.window_ms)).exec(&db.write).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_keep_only_hashes_and_normalise_the_email() {
        let a = Subject::new(" Ann@Example.com ", Some("10.0.0.1".parse().unwrap()));
        let b = Subject::new("ann@example.com", None);
        assert_eq!(a.account, b.account);
        assert!(!a.account.contains("ann") && a.address.as_deref().is_some_and(|x| !x.contains("10.0")));
        assert_eq!(a.keys().count(), 2);
        assert_eq!(b.keys().count(), 1);
    }
}
