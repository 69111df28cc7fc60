//! The dispatcher: the in-memory expert pool the assignment runs on, loaded from the
//! database at start and kept in step by every write that changes an expert or their
//! load.
//!
//! The pool sits behind a plain (blocking) mutex that is held only for in-memory
//! decisions, never across I/O: a `std::sync::MutexGuard` cannot live across an
//! `.await` in the server's `Send` futures, so the compiler enforces the rule written in
//! `docs/adr/0008-dispatcher-lock.md`.

pub mod peers;

use crate::db::Db;
use crate::db::entity::{expert, ticket};
use crate::repo::experts::candidate;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use sysops_core::assignment::ExpertPool;
use sysops_core::ids::ExpertId;
use sysops_core::ticket::TicketStatus;
use uuid::Uuid;

/// The pool behind a short-held lock.
pub struct Dispatcher {
    pool: Mutex<ExpertPool>,
    /// Set when an expert may have become able to take a waiting ticket (a profile,
    /// availability or location change, or a released ticket); the retry job clears it.
    freed: AtomicBool,
    /// This pool's id in the announcements other nodes hear (its own are skipped).
    me: Uuid,
}

/// Active tickets (assigned or accepted) per expert.
pub async fn active_loads(db: &Db) -> anyhow::Result<HashMap<Uuid, u32>> {
    let rows: Vec<(Option<Uuid>, i64)> = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::AssignedExpertId)
        .column_as(ticket::Column::Id.count(), "n")
        .filter(ticket::Column::Status.is_in([TicketStatus::Assigned.as_str(), TicketStatus::Accepted.as_str()]))
        .filter(ticket::Column::AssignedExpertId.is_not_null())
        .group_by(ticket::Column::AssignedExpertId)
        .into_tuple()
        .all(&db.read)
        .await?;
    Ok(rows.into_iter().filter_map(|(id, n)| id.map(|id| (id, u32::try_from(n).unwrap_or(u32::MAX)))).collect())
}

impl Dispatcher {
    /// Loads every expert and their current load.
    pub async fn load(db: &Db) -> anyhow::Result<Self> {
        let loads = active_loads(db).await?;
        let rows = expert::Entity::find().all(&db.read).await?;
        let mut candidates = Vec::with_capacity(rows.len());
        for row in &rows {
            match candidate(row, loads.get(&row.user_id).copied().unwrap_or(0)) {
                Ok(c) => candidates.push(c),
                Err(e) => {
                    tracing::error!(expert = %row.user_id, error = %e, "expert row unusable for dispatch")
                }
            }
        }
        // Tickets left unassignable before a restart are looked at once.
        Ok(Self {
            pool: Mutex::new(ExpertPool::from_candidates(candidates)),
            freed: AtomicBool::new(true),
            me: Uuid::new_v4(),
        })
    }

    /// The pool, for an in-memory decision. Never hold the guard across I/O (the
    /// compiler refuses to keep it across an `.await` in a `Send` future).
    pub fn pool(&self) -> MutexGuard<'_, ExpertPool> {
        // A panic while the lock was held cannot leave the pool half-changed in a way
        // that matters more than losing dispatch altogether: keep going.
        self.pool.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Re-reads every expert and their load (after missed announcements).
    pub async fn reload_all(&self, db: &Db) -> anyhow::Result<()> {
        let fresh = Self::load(db).await?;
        let pool = fresh.pool.into_inner().unwrap_or_else(std::sync::PoisonError::into_inner);
        *self.pool() = pool;
        self.mark_freed();
        Ok(())
    }

    /// Notes that an expert may now be able to take a waiting ticket.
    pub fn mark_freed(&self) {
        self.freed.store(true, Ordering::Release);
    }

    /// Whether anything was freed since the last call (and clears the mark).
    pub fn take_freed(&self) -> bool {
        self.freed.swap(false, Ordering::AcqRel)
    }

    /// Tickets an expert holds now, as the pool knows it.
    pub fn active_tickets(&self, id: Uuid) -> u32 {
        self.pool().get(ExpertId::from_uuid(id)).map_or(0, |c| c.active_tickets)
    }

    /// Re-reads one expert (after an admin or the expert changed their profile) and
    /// tells the other nodes' pools.
    pub async fn refresh_expert(&self, db: &Db, id: Uuid) -> anyhow::Result<()> {
        self.reload_expert(db, id).await?;
        self.announce(db, &[id]).await;
        Ok(())
    }

    /// Tells the other nodes (PostgreSQL `NOTIFY`) that these experts changed (their
    /// profile, or their load after a committed assignment or release), so their pools
    /// re-read them at once. A lost announcement costs accuracy, never correctness: the
    /// capacity check in the database stands (ADR 22).
    pub async fn announce(&self, db: &Db, experts: &[Uuid]) {
        if experts.is_empty() || db.backend() != sea_orm::DatabaseBackend::Postgres {
            return;
        }
        let ids: Vec<String> = experts.iter().map(Uuid::to_string).collect();
        let payload = format!("{} {}", self.me, ids.join(","));
        let stmt = sea_orm::Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Postgres,
            "SELECT pg_notify($1, $2)",
            [peers::CHANNEL.into(), payload.into()],
        );
        use sea_orm::ConnectionTrait;
        if let Err(e) = db.write.execute_raw(stmt).await {
            tracing::warn!(error = %e, "could not tell the other nodes of an expert change");
        }
    }

    /// Re-reads one expert and their load from the database, here only.
    pub async fn reload_expert(&self, db: &Db, id: Uuid) -> anyhow::Result<()> {
        let row = expert::Entity::find_by_id(id).one(&db.write).await?;
        let active: u64 = {
            use sea_orm::PaginatorTrait;
            ticket::Entity::find()
                .filter(ticket::Column::AssignedExpertId.eq(id))
                .filter(
                    ticket::Column::Status.is_in([TicketStatus::Assigned.as_str(), TicketStatus::Accepted.as_str()]),
                )
                .count(&db.write)
                .await?
        };
        let c = row.map(|row| candidate(&row, u32::try_from(active).unwrap_or(u32::MAX))).transpose()?;
        {
            let mut pool = self.pool();
            match c {
                Some(c) => pool.upsert(c),
                None => {
                    pool.remove(ExpertId::from_uuid(id));
                }
            }
        }
        self.mark_freed();
        Ok(())
    }
}
