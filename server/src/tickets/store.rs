//! Row-level helpers shared by every path that reads or changes a ticket.

use crate::api::views::TicketView;
use crate::auth::Caller;
use crate::db::entity::{assignment, ticket};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use std::collections::BTreeSet;
use sysops_core::ids::{ExpertId, TicketId};
use sysops_core::ticket::{CloseReason, Ticket, TicketStatus};
use uuid::Uuid;

/// Who caused an event.
#[derive(Debug, Clone, Copy)]
pub enum Actor {
    /// A signed-in user.
    User(Caller),
    /// The server itself (assignment, timeouts, reminders).
    System,
}

impl Actor {
    /// The actor id and role recorded in the audit trail.
    pub fn parts(self) -> (Option<Uuid>, String) {
        match self {
            Actor::User(c) => (Some(c.user_id), c.role.as_str().to_owned()),
            Actor::System => (None, "system".to_owned()),
        }
    }
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

/// The ticket's response body.
pub async fn view(c: &impl ConnectionTrait, t: &ticket::Model) -> Result<TicketView, DbErr> {
    let a = current_assignment(c, t.id).await?;
    Ok(TicketView::new(t, a.as_ref()))
}

/// The lifecycle state of a stored ticket.
pub fn machine(t: &ticket::Model) -> anyhow::Result<Ticket> {
    let status: TicketStatus = t.status.parse().map_err(|e| anyhow::anyhow!("ticket {}: {e}", t.id))?;
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
