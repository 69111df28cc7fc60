//! The dispatcher: the in-memory expert pool the assignment runs on, loaded from the
//! database at start and kept in step by every write that changes an expert or their
//! load.

use crate::db::Db;
use crate::db::entity::{expert, ticket};
use anyhow::Context;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect};
use std::collections::HashMap;
use sysops_core::assignment::{Candidate, ExpertPool};
use sysops_core::category::{Category, CategorySet};
use sysops_core::geo::{GeoPoint, ServiceArea};
use sysops_core::ids::ExpertId;
use sysops_core::ticket::TicketStatus;
use tokio::sync::Mutex;
use uuid::Uuid;

/// The pool behind a lock; writers that assign hold it for their whole transaction.
pub struct Dispatcher {
    /// The pool.
    pub pool: Mutex<ExpertPool>,
}

/// Builds a candidate from a stored expert row.
pub fn candidate(row: &expert::Model, active_tickets: u32) -> anyhow::Result<Candidate> {
    let skills: Vec<String> = serde_json::from_value(row.skills.clone()).context("skills column")?;
    let skills: CategorySet = skills.iter().filter_map(|s| s.parse::<Category>().ok()).collect();
    let center = GeoPoint::new(row.area_lat, row.area_lon).map_err(|e| anyhow::anyhow!("area centre: {e}"))?;
    Ok(Candidate {
        id: ExpertId::from_uuid(row.user_id),
        skills,
        area: ServiceArea::new(center, row.area_radius_km).map_err(|e| anyhow::anyhow!("area: {e}"))?,
        location: GeoPoint::new(row.lat, row.lon).map_err(|e| anyhow::anyhow!("location: {e}"))?,
        on_duty: row.on_duty,
        active_tickets,
        capacity: u32::try_from(row.capacity).unwrap_or(0),
        last_assigned_at: row.last_assigned_at,
    })
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
        Ok(Self { pool: Mutex::new(ExpertPool::from_candidates(candidates)) })
    }

    /// Re-reads one expert (after an admin or the expert changed their profile).
    pub async fn refresh_expert(&self, db: &Db, id: Uuid) -> anyhow::Result<()> {
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
        let mut pool = self.pool.lock().await;
        match row {
            Some(row) => pool.upsert(candidate(&row, u32::try_from(active).unwrap_or(u32::MAX))?),
            None => {
                pool.remove(ExpertId::from_uuid(id));
            }
        }
        Ok(())
    }
}
