//! Background jobs, run by every node (each change is guarded by the ticket's row lock
//! and state machine, so two nodes never both act): accept timeouts, survey reminders
//! and expiry, SLA breach alerts, the retry of unassignable tickets, and tickets left
//! with a deactivated expert.

use super::effects::Effects;
use super::messages::TicketMessage;
use super::{Actor, Op, Tickets};
use crate::db::entity::{alert, survey_invite, ticket};
use crate::notify::contacts::Contacts;
use chrono::{SubsecRound, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
    sea_query::{Expr, OnConflict},
};
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;
use sysops_core::ticket::{CloseReason, TicketStatus};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const BATCH: u64 = 100;

/// Pages of waiting tickets one retry pass looks at.
const RETRY_PAGES: usize = 20;

/// Runs the jobs every `poll_ms` until `shutdown`.
pub fn spawn(tickets: Arc<Tickets>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_millis(tickets.rules.poll_ms);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(e) = tick(&tickets).await {
                tracing::error!(error = %format!("{e:#}"), "background jobs failed; retrying next tick");
            }
        }
    })
}

/// One pass of every job.
pub async fn tick(t: &Tickets) -> anyhow::Result<()> {
    accept_timeouts(t).await?;
    if t.dispatcher.take_freed() {
        retry_unassignable(t).await?;
    }
    survey_reminders(t).await?;
    survey_expiry(t).await?;
    sla(t).await?;
    super::gone::sweep(t).await?;
    Ok(())
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

async fn accept_timeouts(t: &Tickets) -> anyhow::Result<()> {
    let cutoff = now_ms() - t.rules.accept_timeout_secs * 1000;
    let due: Vec<Uuid> = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::Id)
        .filter(ticket::Column::Status.eq(TicketStatus::Assigned.as_str()))
        .filter(ticket::Column::AssignedAtMs.lt(cutoff))
        .limit(BATCH)
        .into_tuple()
        .all(&t.db.read)
        .await?;
    for id in due {
        if let Err(e) = t.run(Actor::System, id, Op::AcceptTimeout).await {
            tracing::debug!(ticket = %id, error = %e, "accept timeout skipped (already handled)");
        }
    }
    Ok(())
}

/// Offers waiting (unassignable) tickets to the pool again, oldest first (the oldest
/// is nearest its time-to-assign SLA), after an expert may have become able to take
/// one. A ticket nobody fits costs an in-memory check only; one that fits is placed
/// through the workflow, under its row lock.
async fn retry_unassignable(t: &Tickets) -> anyhow::Result<()> {
    let now = Utc::now();
    let mut after: Option<Uuid> = None;
    // Page through every waiting ticket (bounded per tick), so a backlog of tickets
    // nobody can take never hides a newer one that fits.
    for _ in 0..RETRY_PAGES {
        let mut q = ticket::Entity::find().filter(ticket::Column::Status.eq(TicketStatus::Unassignable.as_str()));
        if let Some(a) = after {
            q = q.filter(ticket::Column::Id.gt(a));
        }
        let waiting = q.order_by_asc(ticket::Column::Id).limit(BATCH).all(&t.db.read).await?;
        let full = waiting.len() as u64 == BATCH;
        after = waiting.last().map(|r| r.id);
        for row in waiting {
            let (Ok(category), Ok(location)) = (
                row.category.parse::<sysops_core::category::Category>(),
                sysops_core::geo::GeoPoint::new(row.lat, row.lon),
            ) else {
                continue;
            };
            let exclude = crate::repo::tickets::machine(&row).map(|m| m.excluded().clone()).unwrap_or_default();
            let req = sysops_core::assignment::Request { category, location, exclude: &exclude, now };
            let fits = matches!(t.dispatcher.pool().choose(&req), sysops_core::assignment::Decision::Assigned(_));
            if !fits {
                continue;
            }
            match t.run(Actor::System, row.id, Op::Retry).await {
                Ok(_) => tracing::info!(ticket = %row.id, "an unassignable ticket was assigned on retry"),
                Err(e) => tracing::debug!(ticket = %row.id, error = %e, "retry skipped"),
            }
        }
        if !full {
            return Ok(());
        }
    }
    // More waiting than one tick looks at: look again next tick.
    t.dispatcher.mark_freed();
    Ok(())
}

async fn survey_reminders(t: &Tickets) -> anyhow::Result<()> {
    let now = now_ms();
    let due = survey_invite::Entity::find()
        .filter(survey_invite::Column::UsedAt.is_null())
        .filter(survey_invite::Column::ReminderSentAtMs.is_null())
        .filter(survey_invite::Column::CreatedAtMs.lt(now - t.rules.survey_reminder_after_secs * 1000))
        .filter(survey_invite::Column::ExpiresAtMs.gt(now))
        .limit(BATCH)
        .all(&t.db.read)
        .await?;
    for inv in due {
        let txn = t.db.begin_write().await?;
        // Claim the reminder: only one node, once.
        let claimed = survey_invite::Entity::update_many()
            .col_expr(survey_invite::Column::ReminderSentAtMs, Expr::val(now))
            .filter(survey_invite::Column::TicketId.eq(inv.ticket_id))
            .filter(survey_invite::Column::ReminderSentAtMs.is_null())
            .filter(survey_invite::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        let Some(row) = ticket::Entity::find_by_id(inv.ticket_id).one(&txn).await? else { continue };
        if claimed.rows_affected != 1 || row.status != TicketStatus::Completed.as_str() {
            continue;
        }
        let contacts = Contacts::load(&txn, &[], &[row.customer_id], false).await?;
        let mut fx = Effects::new(&t.notifier, Utc::now().trunc_subsecs(6));
        let mut msg = TicketMessage::about(&row);
        msg.survey_url = Some(t.survey_url(&super::survey::token_for(&t.surveys, &inv)));
        fx.mail.customer(&contacts, row.customer_id, "customer_survey_reminder", &msg, Some(row.id), true);
        fx.event(row.id, "survey_reminder_sent", Actor::System, json!({}));
        fx.write(&txn).await?;
        txn.commit().await?;
        t.notifier.kick();
    }
    Ok(())
}

async fn survey_expiry(t: &Tickets) -> anyhow::Result<()> {
    let due: Vec<Uuid> = survey_invite::Entity::find()
        .select_only()
        .column(survey_invite::Column::TicketId)
        .filter(survey_invite::Column::UsedAt.is_null())
        .filter(survey_invite::Column::ExpiresAtMs.lt(now_ms()))
        .limit(BATCH)
        .into_tuple()
        .all(&t.db.read)
        .await?;
    for id in due {
        match t.run(Actor::System, id, Op::Close(CloseReason::NoSurvey)).await {
            Ok(_) => {}
            Err(e) => tracing::debug!(ticket = %id, error = %e, "survey expiry skipped"),
        }
        // Whatever happened, this invitation is finished.
        survey_invite::Entity::update_many()
            .col_expr(survey_invite::Column::UsedAt, Expr::val(Utc::now()))
            .filter(survey_invite::Column::TicketId.eq(id))
            .filter(survey_invite::Column::UsedAt.is_null())
            .exec(&t.db.write)
            .await?;
    }
    Ok(())
}

/// A UUIDv7 at `ms` with no random bits: every ticket created before `ms` sorts below.
fn v7_floor(ms: i64) -> Uuid {
    let ms = u64::try_from(ms.max(0)).unwrap_or(0) & 0xFFFF_FFFF_FFFF;
    Uuid::from_u128((u128::from(ms) << 80) | (0x7u128 << 76) | (0b10u128 << 62))
}

async fn sla(t: &Tickets) -> anyhow::Result<()> {
    let s = &t.rules;
    let now = now_ms();
    let mut breaches: Vec<(ticket::Model, &'static str, String)> = Vec::new();
    for row in ticket::Entity::find()
        .filter(ticket::Column::Status.is_in([TicketStatus::Created.as_str(), TicketStatus::Unassignable.as_str()]))
        .filter(ticket::Column::Id.lt(v7_floor(now - s.sla_assign_secs * 1000)))
        .limit(BATCH)
        .all(&t.db.read)
        .await?
    {
        let key = format!("sla_assign:{}", row.id);
        breaches.push((row, "time to assign", key));
    }
    for row in ticket::Entity::find()
        .filter(ticket::Column::Status.eq(TicketStatus::Assigned.as_str()))
        .filter(ticket::Column::AssignedAtMs.lt(now - s.sla_accept_secs * 1000))
        .limit(BATCH)
        .all(&t.db.read)
        .await?
    {
        let key = format!("sla_accept:{}:{}", row.id, row.assigned_at_ms.unwrap_or_default());
        breaches.push((row, "time to accept", key));
    }
    for row in ticket::Entity::find()
        .filter(ticket::Column::Status.eq(TicketStatus::Accepted.as_str()))
        .filter(ticket::Column::AcceptedAtMs.lt(now - s.sla_complete_secs * 1000))
        .limit(BATCH)
        .all(&t.db.read)
        .await?
    {
        let key = format!("sla_complete:{}", row.id);
        breaches.push((row, "time to complete", key));
    }
    for (row, what, key) in breaches {
        let txn = t.db.begin_write().await?;
        let now_ts = Utc::now().trunc_subsecs(6);
        let message = format!("SLA breached ({what}) on ticket \"{}\", now {}.", row.title, row.status);
        let inserted = alert::Entity::insert(alert::ActiveModel {
            id: Set(Uuid::now_v7()),
            kind: Set(format!("sla_{}", what.replace(' ', "_"))),
            ticket_id: Set(Some(row.id)),
            message: Set(message.clone()),
            created_at: Set(now_ts),
            acknowledged_at: Set(None),
            dedupe_key: Set(Some(key)),
        })
        .on_conflict(OnConflict::column(alert::Column::DedupeKey).do_nothing().to_owned())
        .exec_without_returning(&txn)
        .await?;
        if inserted == 0 {
            continue;
        }
        let contacts = Contacts::load(&txn, &[], &[], true).await?;
        let mut fx = Effects::new(&t.notifier, now_ts);
        let msg = TicketMessage::about(&row).alert(format!("SLA breach: {what}"), message);
        fx.mail.managers(&contacts, &msg, Some(row.id));
        fx.event(row.id, "sla_breached", Actor::System, json!({"sla": what}));
        fx.write(&txn).await?;
        txn.commit().await?;
        t.notifier.kick();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::v7_floor;

    #[test]
    fn the_v7_floor_orders_below_every_id_of_its_millisecond() {
        let id = uuid::Uuid::now_v7();
        let ms = chrono::Utc::now().timestamp_millis();
        assert!(v7_floor(ms + 1) > id);
        assert!(v7_floor(ms - 5_000) < id);
        assert_eq!(v7_floor(ms).get_version_num(), 7);
    }
}
