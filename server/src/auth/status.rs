//! Whether a token's user may still act: they exist, are not disabled, and still have
//! the role the token names. Checked on every request, cached for a few seconds per
//! node. A change made on this node forgets the entry at once; on PostgreSQL the change
//! is also announced with `NOTIFY`, so every other node forgets it at once too (the
//! short expiry covers a missed notification).

use super::Role;
use crate::db::Db;
use crate::db::entity::user;
use sea_orm::EntityTrait;
use sea_orm::sqlx::postgres::PgListener;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use uuid::Uuid;

/// The `NOTIFY` channel of account changes (payload: the user id).
pub const CHANNEL: &str = "sysops_auth";

/// A user's standing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UserStatus {
    /// Their role now.
    pub role: Role,
    /// Not disabled or closed.
    pub active: bool,
}

/// Entries beyond this are dropped wholesale (a flood of distinct users).
const MAX_ENTRIES: usize = 100_000;

/// The per-node cache.
pub struct StatusCache {
    ttl: Duration,
    entries: Mutex<HashMap<Uuid, (Instant, Option<UserStatus>)>>,
    changes: tokio::sync::broadcast::Sender<Uuid>,
}

impl StatusCache {
    /// Entries live `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self { ttl, entries: Mutex::new(HashMap::new()), changes: tokio::sync::broadcast::channel(256).0 }
    }

    /// Users whose account changed, here or on another node (`Uuid::nil()`: anyone may
    /// have). A long-lived session (a sync WebSocket) re-checks its user's status on each.
    pub fn changes(&self) -> tokio::sync::broadcast::Receiver<Uuid> {
        self.changes.subscribe()
    }

    fn cached(&self, id: Uuid) -> Option<Option<UserStatus>> {
        let map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        map.get(&id).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, s)| *s)
    }

    /// The user's status (`None`: no such user).
    pub async fn get(&self, db: &Db, id: Uuid) -> Result<Option<UserStatus>, sea_orm::DbErr> {
        if let Some(s) = self.cached(id) {
            return Ok(s);
        }
        let row = user::Entity::find_by_id(id).one(&db.read).await?;
        let status = row.and_then(|u| Some(UserStatus { role: u.role.parse().ok()?, active: !u.disabled }));
        let mut map = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_ENTRIES {
            map.clear();
        }
        map.insert(id, (Instant::now(), status));
        Ok(status)
    }

    /// Forgets one user (their account changed).
    pub fn forget(&self, id: Uuid) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).remove(&id);
        let _ = self.changes.send(id);
    }

    /// Forgets everyone (notifications may have been missed).
    pub fn clear(&self) {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).clear();
        let _ = self.changes.send(Uuid::nil());
    }
}

/// After a user's account changed (disabled, closed, erased, role or password changed):
/// forgets them here and tells the other nodes. Call after the change committed.
pub async fn changed(db: &Db, cache: &StatusCache, id: Uuid) {
    cache.forget(id);
    if db.backend() == sea_orm::DatabaseBackend::Postgres {
        use sea_orm::ConnectionTrait;
        let stmt = sea_orm::Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [CHANNEL.into(), id.to_string().into()],
        );
        if let Err(e) = db.write.execute_raw(stmt).await {
            tracing::warn!(error = %e, user_id = %id, "could not tell the other nodes of an account change; they learn within seconds");
        }
    }
}

/// Listens for account changes announced by any node and forgets those users here.
pub async fn run_listener(state: actix_web::web::Data<crate::state::AppState>, url: String) {
    loop {
        if let Err(e) = listen_once(&state, &url).await {
            tracing::warn!(error = %e, "account change notifications interrupted; reconnecting");
        }
        // Whatever was announced meanwhile is unknown: start afresh.
        state.auth.users.clear();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen_once(state: &crate::state::AppState, url: &str) -> anyhow::Result<()> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    state.auth.users.clear();
    loop {
        let n = listener.recv().await?;
        match n.payload().parse::<Uuid>() {
            Ok(id) => state.auth.users.forget(id),
            Err(_) => state.auth.users.clear(),
        }
    }
}
