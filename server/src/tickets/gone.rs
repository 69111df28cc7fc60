//! Tickets held by an expert whose account was deactivated go to the next expert:
//! at once when an admin deactivates the account, and by a sweep of the background
//! jobs for any the first pass missed (a crash between the two writes, a concurrent
//! assignment on another node).

use super::{Actor, Op, Tickets};
use crate::db::entity::{expert, ticket, user};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use std::sync::atomic::{AtomicI64, Ordering};
use sysops_core::ticket::TicketStatus;
use uuid::Uuid;

/// How many tickets one pass moves at most.
const BATCH: u64 = 100;

/// Open tickets (assigned or accepted) held by one of `experts`.
async fn held(t: &Tickets, experts: &[Uuid]) -> Result<Vec<Uuid>, sea_orm::DbErr> {
    let open = [TicketStatus::Assigned.as_str(), TicketStatus::Accepted.as_str()];
    ticket::Entity::find()
        .select_only()
        .column(ticket::Column::Id)
        .filter(ticket::Column::AssignedExpertId.is_in(experts.to_vec()))
        .filter(ticket::Column::Status.is_in(open))
        .limit(BATCH)
        .into_tuple()
        .all(&t.db.read)
        .await
}

/// Deactivated experts: the experts (a small table) looked up by primary key among the
/// users (customers included, so never scanned).
async fn deactivated(t: &Tickets) -> Result<Vec<Uuid>, sea_orm::DbErr> {
    let experts: Vec<Uuid> =
        expert::Entity::find().select_only().column(expert::Column::UserId).into_tuple().all(&t.db.read).await?;
    let mut out = Vec::new();
    for chunk in experts.chunks(500) {
        let gone: Vec<Uuid> = user::Entity::find()
            .select_only()
            .column(user::Column::Id)
            .filter(user::Column::Id.is_in(chunk.to_vec()))
            .filter(user::Column::Disabled.eq(true))
            .into_tuple()
            .all(&t.db.read)
            .await?;
        out.extend(gone);
    }
    Ok(out)
}

/// Passes on every open ticket of `expert` (just deactivated by `by`); how many moved.
pub async fn pass_on(t: &Tickets, by: Actor, expert: Uuid) -> Result<usize, sea_orm::DbErr> {
    let mut moved = 0;
    loop {
        let ids = held(t, &[expert]).await?;
        let mut progressed = false;
        for id in &ids {
            match t.run(by, *id, Op::AssigneeGone).await {
                Ok(_) => {
                    moved += 1;
                    progressed = true;
                }
                Err(e) => {
                    tracing::warn!(ticket = %id, %expert, error = %e, "a deactivated expert's ticket was not passed on")
                }
            }
        }
        if (ids.len() as u64) < BATCH || !progressed {
            return Ok(moved);
        }
    }
}

/// When the sweep last ran (ms since the epoch): it runs every [`SWEEP_EVERY_MS`], not
/// on every tick of the jobs.
static LAST_SWEEP_MS: AtomicI64 = AtomicI64::new(0);
/// How often the sweep looks.
const SWEEP_EVERY_MS: i64 = 10_000;

/// The jobs' sweep: tickets still held by deactivated experts go to the next expert.
pub async fn sweep(t: &Tickets) -> Result<(), sea_orm::DbErr> {
    let now = chrono::Utc::now().timestamp_millis();
    if now - LAST_SWEEP_MS.load(Ordering::Relaxed) < SWEEP_EVERY_MS {
        return Ok(());
    }
    LAST_SWEEP_MS.store(now, Ordering::Relaxed);
    let gone = deactivated(t).await?;
    if gone.is_empty() {
        return Ok(());
    }
    for chunk in gone.chunks(500) {
        for id in held(t, chunk).await? {
            if let Err(e) = t.run(Actor::System, id, Op::AssigneeGone).await {
                tracing::debug!(ticket = %id, error = %e, "a deactivated expert's ticket was not passed on (already moved?)");
            }
        }
    }
    Ok(())
}
