//! Tickets: the stored row as the core state machine, the excluded-experts column, and
//! the ticket's current assignment.

use crate::db::entity::{assignment, ticket};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::{BTreeSet, HashMap};
use sysops_core::ids::{ExpertId, TicketId};
use sysops_core::ticket::{CloseReason, Ticket, TicketStatus};
use uuid::Uuid;

/// The stored status.
pub fn status(t: &ticket::Model) -> anyhow::Result<TicketStatus> {
    t.status.parse().map_err(|e| anyhow::anyhow!("ticket {}: {e}", t.id))
}

/// Experts who passed on the ticket (declined or timed out).
pub fn excluded(t: &ticket::Model) -> Vec<Uuid> {
    serde_json::from_value(t.excluded_experts.clone()).unwrap_or_default()
}

/// The lifecycle state of a stored ticket.
pub fn machine(t: &ticket::Model) -> anyhow::Result<Ticket> {
    let status = status(t)?;
    let excluded: Vec<Uuid> = serde_json::from_value(t.excluded_experts.clone())?;
    let excluded: BTreeSet<ExpertId> = excluded.into_iter().map(ExpertId::from_uuid).collect();
    let close_reason = match t.close_reason.as_deref() {
        None => None,
        Some("survey_received") => Some(CloseReason::SurveyReceived),
        Some("no_survey") => Some(CloseReason::NoSurvey),
        Some(other) => anyhow::bail!("ticket {}: unknown close reason {other}", t.id),
    };
    let assignee = if status.has_assignee() { t.assigned_expert_id.map(ExpertId::from_uuid) } else { None };
    Ticket::restore(
        TicketId::from_uuid(t.id),
        status,
        assignee,
        excluded,
        t.completed_by.map(ExpertId::from_uuid),
        close_reason,
    )
    .map_err(|e| anyhow::anyhow!("ticket {}: {e}", t.id))
}

/// The excluded-experts column for a machine state.
pub fn excluded_json(t: &Ticket) -> serde_json::Value {
    serde_json::Value::Array(t.excluded().iter().map(|e| serde_json::Value::String(e.to_string())).collect())
}

/// The ticket, locked for update until the transaction ends (PostgreSQL; SQLite's single
/// writer serializes anyway).
pub async fn lock(c: &impl ConnectionTrait, id: Uuid) -> Result<Option<ticket::Model>, DbErr> {
    ticket::Entity::find_by_id(id).lock_exclusive().one(c).await
}

/// The ticket's open assignment, if any.
pub async fn current_assignment(c: &impl ConnectionTrait, ticket_id: Uuid) -> Result<Option<assignment::Model>, DbErr> {
    assignment::Entity::find()
        .filter(assignment::Column::TicketId.eq(ticket_id))
        .filter(assignment::Column::EndedAt.is_null())
        .order_by_desc(assignment::Column::Id)
        .one(c)
        .await
}

/// The open assignments of several tickets, in one query.
pub async fn current_assignments(
    c: &impl ConnectionTrait,
    ids: Vec<Uuid>,
) -> Result<HashMap<Uuid, assignment::Model>, DbErr> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(assignment::Entity::find()
        .filter(assignment::Column::TicketId.is_in(ids))
        .filter(assignment::Column::EndedAt.is_null())
        .all(c)
        .await?
        .into_iter()
        .map(|a| (a.ticket_id, a))
        .collect())
}

/// When `expert` explicitly declined the ticket, if they did (an accept timeout or a
/// reassignment is not a decline).
pub async fn declined_at(
    c: &impl ConnectionTrait,
    ticket_id: Uuid,
    expert: Uuid,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, DbErr> {
    Ok(assignment::Entity::find()
        .filter(assignment::Column::TicketId.eq(ticket_id))
        .filter(assignment::Column::ExpertId.eq(expert))
        .filter(assignment::Column::EndReason.eq("declined"))
        .order_by_desc(assignment::Column::Id)
        .one(c)
        .await?
        .and_then(|a| a.ended_at))
}
