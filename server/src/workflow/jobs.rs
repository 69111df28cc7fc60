//! Background jobs, run by every node (each change is guarded by the ticket's row lock
//! and state machine, so two nodes never both act): accept timeouts, survey reminders
//! and expiry, and SLA breach alerts.

use super::effects::Effects;
use super::ops::{self, Op};
use super::place;
use super::survey::SurveyToken;
use crate::db::entity::{alert, survey_invite, ticket};
use crate::notify::contacts::Contacts;
use crate::state::AppState;
use crate::tickets::store::Actor;
use chrono::{SubsecRound, Utc};
use sea_orm::{
    ActiveValue::Set,
    ColumnTrait, EntityTrait, QueryFilter, QuerySelect,
    sea_query::{Expr, OnConflict},
};
use serde_json::json;
use std::time::Duration;
use sysops_core::ticket::{CloseReason, TicketStatus};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const BATCH: u64 = 100;

/// Runs the jobs every `poll_ms` until `shutdown`.
pub fn spawn(state: actix_web::web::Data<AppState>, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let every = Duration::from_millis(state.settings.poll_ms);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(every) => {}
            }
            if let Err(e) = tick(&state).await {
                tracing::error!(error = %format!("{e:#}"), "background jobs failed; retrying next tick");
            }
        }
    })
}

/// One pass of every job.
pub async fn tick(state: &AppState) -> anyhow::Result<()> {
    accept_timeouts(state).await?;
    survey_reminders(state).await?;
    survey_expiry(state).await?;
    sla(state).await?;
    Ok(())
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

async fn accept_timeouts(state: &AppState) -> anyhow::Result<()> {
    let cutoff = now_ms() - state.settings.accept_timeout_secs * 1000;
    let due: Vec<Uuid> = ticket::Entity::find()
        .select_only()
        .column(ticket::Column::Id)
        .filter(ticket::Column::Status.eq(TicketStatus::Assigned.as_str()))
        .filter(ticket::Column::AssignedAtMs.lt(cutoff))
        .limit(BATCH)
        .into_tuple()
        .all(&state.db.read)
        .await?;
    for id in due {
        if let Err(e) = ops::run(state, Actor::System, id, Op::AcceptTimeout).await {
            tracing::debug!(ticket = %id, error = %e, "accept timeout skipped (already handled)");
        }
    }
    Ok(())
}

fn token_for(state: &AppState, inv: &survey_invite::Model) -> String {
    let mut nonce = [0u8; 16];
    if let Ok(b) = hex::decode(&inv.nonce)
        && b.len() == 16
    {
        nonce.copy_from_slice(&b);
    }
    state.surveys.sign(&SurveyToken { ticket_id: inv.ticket_id, nonce, expires_at_ms: inv.expires_at_ms })
}

async fn survey_reminders(state: &AppState) -> anyhow::Result<()> {
    let now = now_ms();
    let due = survey_invite::Entity::find()
        .filter(survey_invite::Column::UsedAt.is_null())
        .filter(survey_invite::Column::ReminderSentAtMs.is_null())
        .filter(survey_invite::Column::CreatedAtMs.lt(now - state.settings.survey_reminder_after_secs * 1000))
        .filter(survey_invite::Column::ExpiresAtMs.gt(now))
        .limit(BATCH)
        .all(&state.db.read)
        .await?;
    for inv in due {
        let txn = state.db.begin_write().await?;
        // Claim the reminder: only one node, once.
        let claimed = survey_invite::Entity::update_many()
            .col_expr(survey_invite::Column::ReminderSentAtMs, Expr::val(now))
            .filter(survey_invite::Column::TicketId.eq(inv.ticket_id))
            .filter(survey_invite::Column::ReminderSentAtMs.is_null())
            .filter(survey_invite::Column::UsedAt.is_null())
            .exec(&txn)
            .await?;
        let Some(t) = ticket::Entity::find_by_id(inv.ticket_id).one(&txn).await? else { continue };
        if claimed.rows_affected != 1 || t.status != TicketStatus::Completed.as_str() {
            continue;
        }
        let contacts = Contacts::load(&txn, &[], &[t.customer_id], false).await?;
        let mut fx = Effects::new(&state.notifier, Utc::now().trunc_subsecs(6));
        let mut ctx = place::ticket_ctx(&t);
        ctx["survey_url"] = json!(format!("{}/survey/{}", state.public_base, token_for(state, &inv)));
        fx.mail.customer(&contacts, t.customer_id, "customer_survey_reminder", &ctx, Some(t.id), true);
        fx.event(t.id, "survey_reminder_sent", Actor::System, json!({}));
        fx.write(&txn).await?;
        txn.commit().await?;
        state.notifier.kick();
    }
    Ok(())
}

async fn survey_expiry(state: &AppState) -> anyhow::Result<()> {
    let due: Vec<Uuid> = survey_invite::Entity::find()
        .select_only()
        .column(survey_invite::Column::TicketId)
        .filter(survey_invite::Column::UsedAt.is_null())
        .filter(survey_invite::Column::ExpiresAtMs.lt(now_ms()))
        .limit(BATCH)
        .into_tuple()
        .all(&state.db.read)
        .await?;
    for id in due {
        match ops::run(state, Actor::System, id, Op::Close(CloseReason::NoSurvey)).await {
            Ok(_) => {}
            Err(e) => tracing::debug!(ticket = %id, error = %e, "survey expiry skipped"),
        }
        // Whatever happened, this invitation is finished.
        survey_invite::Entity::update_many()
            .col_expr(survey_invite::Column::UsedAt, Expr::val(Utc::now()))
            .filter(survey_invite::Column::TicketId.eq(id))
            .filter(survey_invite::Column::UsedAt.is_null())
            .exec(&state.db.write)
            .await?;
    }
    Ok(())
}

/// A UUIDv7 at `ms` with no random bits: every ticket created before `ms` sorts below.
fn v7_floor(ms: i64) -> Uuid {
    let ms = u64::try_from(ms.max(0)).unwrap_or(0) & 0xFFFF_FFFF_FFFF;
    Uuid::from_u128((u128::from(ms) << 80) | (0x7u128 << 76) | (0b10u128 << 62))
}

async fn sla(state: &AppState) -> anyhow::Result<()> {
    let s = &state.settings;
    let now = now_ms();
    let mut breaches: Vec<(ticket::Model, &'static str, String)> = Vec::new();
    for t in ticket::Entity::find()
        .filter(ticket::Column::Status.is_in([TicketStatus::Created.as_str(), TicketStatus::Unassignable.as_str()]))
        .filter(ticket::Column::Id.lt(v7_floor(now - s.sla_assign_secs * 1000)))
        .limit(BATCH)
        .all(&state.db.read)
        .await?
    {
        let key = format!("sla_assign:{}", t.id);
        breaches.push((t, "time to assign", key));
    }
    for t in ticket::Entity::find()
        .filter(ticket::Column::Status.eq(TicketStatus::Assigned.as_str()))
        .filter(ticket::Column::AssignedAtMs.lt(now - s.sla_accept_secs * 1000))
        .limit(BATCH)
        .all(&state.db.read)
        .await?
    {
        let key = format!("sla_accept:{}:{}", t.id, t.assigned_at_ms.unwrap_or_default());
        breaches.push((t, "time to accept", key));
    }
    for t in ticket::Entity::find()
        .filter(ticket::Column::Status.eq(TicketStatus::Accepted.as_str()))
        .filter(ticket::Column::AcceptedAtMs.lt(now - s.sla_complete_secs * 1000))
        .limit(BATCH)
        .all(&state.db.read)
        .await?
    {
        let key = format!("sla_complete:{}", t.id);
        breaches.push((t, "time to complete", key));
    }
    for (t, what, key) in breaches {
        let txn = state.db.begin_write().await?;
        let now_ts = Utc::now().trunc_subsecs(6);
        let message = format!("SLA breached ({what}) on ticket \"{}\", now {}.", t.title, t.status);
        let inserted = alert::Entity::insert(alert::ActiveModel {
            id: Set(Uuid::now_v7()),
            kind: Set(format!("sla_{}", what.replace(' ', "_"))),
            ticket_id: Set(Some(t.id)),
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
        let mut fx = Effects::new(&state.notifier, now_ts);
        let mut ctx = place::ticket_ctx(&t);
        ctx["alert"] = json!({"kind_label": format!("SLA breach: {what}"), "message": message});
        fx.mail.managers(&contacts, &ctx, Some(t.id));
        fx.event(t.id, "sla_breached", Actor::System, json!({"sla": what}));
        fx.write(&txn).await?;
        txn.commit().await?;
        state.notifier.kick();
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
