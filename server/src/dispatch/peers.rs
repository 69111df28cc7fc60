//! Several nodes on one PostgreSQL: each keeps its own pool (ADR 2), so a node that
//! changes an expert or their load announces it with `NOTIFY`, and every other node
//! re-reads those experts at once. Missed announcements (a dropped connection) are made
//! good by reloading the whole pool on reconnect.

use super::Dispatcher;
use crate::db::Db;
use sea_orm::sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// The `NOTIFY` channel (payload: the announcing pool's id, then expert ids separated
/// by commas).
pub const CHANNEL: &str = "sysops_experts";

/// Listens until the process ends, reconnecting after failures.
pub async fn run(dispatcher: Arc<Dispatcher>, db: Db, url: String) {
    let mut first = true;
    loop {
        if let Err(e) = listen(&dispatcher, &db, &url, first).await {
            tracing::warn!(error = %e, "expert pool notifications interrupted; reconnecting");
        }
        first = false;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen(d: &Dispatcher, db: &Db, url: &str, first: bool) -> anyhow::Result<()> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    if !first {
        // Whatever was announced while disconnected is unknown: re-read everyone.
        d.reload_all(db).await?;
    }
    loop {
        let n = listener.recv().await?;
        let Some((from, ids)) = n.payload().split_once(' ') else { continue };
        if from == d.me.to_string() {
            continue;
        }
        for id in ids.split(',').filter_map(|s| s.parse::<Uuid>().ok()) {
            if let Err(e) = d.reload_expert(db, id).await {
                tracing::warn!(error = %e, expert = %id, "could not re-read an expert another node changed");
            }
        }
    }
}
