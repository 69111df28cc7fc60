//! Everything a ticket transition writes besides the ticket row: audit events,
//! assignment records, manager alerts, expert fairness stamps and queued messages,
//! collected in memory and written with one statement per table.

use super::Actor;
use crate::db::entity::{alert, assignment, expert, ticket, ticket_event};
use crate::notify::Notifier;
use crate::notify::contacts::Mail;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, sea_query::Expr};
use uuid::Uuid;

/// Collected effects of one transaction.
pub struct Effects<'a> {
    /// The transaction's time (microsecond precision, as both databases store it).
    pub now: DateTime<Utc>,
    events: Vec<ticket_event::ActiveModel>,
    ended: Vec<(Uuid, &'static str)>,
    assignments: Vec<assignment::ActiveModel>,
    alerts: Vec<alert::ActiveModel>,
    stamped: Vec<Uuid>,
    /// Messages to queue.
    pub mail: Mail<'a>,
}

impl<'a> Effects<'a> {
    /// Nothing yet.
    pub fn new(notifier: &'a Notifier, now: DateTime<Utc>) -> Self {
        Self {
            now,
            events: Vec::new(),
            ended: Vec::new(),
            assignments: Vec::new(),
            alerts: Vec::new(),
            stamped: Vec::new(),
            mail: Mail::new(notifier, now),
        }
    }

    /// An audit event.
    pub fn event(&mut self, ticket: Uuid, kind: &str, actor: Actor, detail: serde_json::Value) {
        let (actor_id, actor_role) = actor.parts();
        self.events.push(ticket_event::ActiveModel {
            id: Set(Uuid::now_v7()),
            ticket_id: Set(ticket),
            kind: Set(kind.to_owned()),
            actor_id: Set(actor_id),
            actor_role: Set(actor_role),
            at: Set(self.now),
            detail: Set(detail),
        });
    }

    /// Ends the ticket's open assignment with `reason`.
    pub fn end_assignment(&mut self, ticket: Uuid, reason: &'static str) {
        self.ended.push((ticket, reason));
    }

    /// A new assignment record.
    pub fn assignment(&mut self, row: assignment::ActiveModel, expert: Uuid) {
        self.assignments.push(row);
        self.stamped.push(expert);
    }

    /// A manager alert.
    pub fn alert(&mut self, kind: &str, ticket: Option<Uuid>, message: String, dedupe_key: Option<String>) {
        self.alerts.push(alert::ActiveModel {
            id: Set(Uuid::now_v7()),
            kind: Set(kind.to_owned()),
            ticket_id: Set(ticket),
            message: Set(message),
            created_at: Set(self.now),
            acknowledged_at: Set(None),
            dedupe_key: Set(dedupe_key),
        });
    }

    /// The experts given a ticket in this transaction who now hold more than their
    /// capacity. Locks their rows (in id order, so transactions never deadlock on them)
    /// and counts their open tickets, this transaction's included: a transaction on
    /// another node that gave one of them a ticket first has committed by then, so two
    /// nodes can never both fill an expert's last place. Call after the ticket rows are
    /// written, before commit.
    pub async fn over_capacity(&self, c: &impl ConnectionTrait) -> Result<Vec<Uuid>, DbErr> {
        use sea_orm::{QueryOrder, QuerySelect};
        use sysops_core::ticket::TicketStatus;
        let mut ids = self.stamped.clone();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows = expert::Entity::find()
            .filter(expert::Column::UserId.is_in(ids.clone()))
            .order_by_asc(expert::Column::UserId)
            .lock_exclusive()
            .all(c)
            .await?;
        let held: Vec<(Option<Uuid>, i64)> = ticket::Entity::find()
            .select_only()
            .column(ticket::Column::AssignedExpertId)
            .column_as(ticket::Column::Id.count(), "n")
            .filter(ticket::Column::AssignedExpertId.is_in(ids))
            .filter(ticket::Column::Status.is_in([TicketStatus::Assigned.as_str(), TicketStatus::Accepted.as_str()]))
            .group_by(ticket::Column::AssignedExpertId)
            .into_tuple()
            .all(c)
            .await?;
        let held: std::collections::HashMap<Uuid, i64> =
            held.into_iter().filter_map(|(id, n)| id.map(|id| (id, n))).collect();
        let over = rows
            .into_iter()
            .filter(|e| held.get(&e.user_id).copied().unwrap_or(0) > i64::from(e.capacity))
            .map(|e| e.user_id)
            .collect();
        Ok(over)
    }

    /// Writes everything (after the ticket rows it refers to).
    pub async fn write(self, c: &impl ConnectionTrait) -> Result<usize, DbErr> {
        for (ticket, reason) in &self.ended {
            assignment::Entity::update_many()
                .col_expr(assignment::Column::EndedAt, Expr::val(self.now))
                .col_expr(assignment::Column::EndReason, Expr::val(*reason))
                .filter(assignment::Column::TicketId.eq(*ticket))
                .filter(assignment::Column::EndedAt.is_null())
                .exec(c)
                .await?;
        }
        if !self.assignments.is_empty() {
            assignment::Entity::insert_many(self.assignments).exec_without_returning(c).await?;
        }
        if !self.stamped.is_empty() {
            expert::Entity::update_many()
                .col_expr(expert::Column::LastAssignedAt, Expr::val(self.now))
                .filter(expert::Column::UserId.is_in(self.stamped))
                .exec(c)
                .await?;
        }
        if !self.events.is_empty() {
            ticket_event::Entity::insert_many(self.events).exec_without_returning(c).await?;
        }
        if !self.alerts.is_empty() {
            alert::Entity::insert_many(self.alerts).exec_without_returning(c).await?;
        }
        self.mail.write(c).await
    }
}
