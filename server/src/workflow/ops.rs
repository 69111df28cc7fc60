//! The ticket workflow after intake: accept, decline (and reassign), the accept
//! timeout, completion (with the survey invitation), cancellation and closing. Every
//! operation locks the ticket row, moves the core state machine, and writes the row,
//! the audit trail, the assignment records and the queued messages in one transaction.
//! The REST handlers, the background jobs and the device sync all call these.

use super::effects::Effects;
use super::place::{self, Placed, Round};
use super::pooltx::PoolTx;
use super::survey::SurveyToken;
use crate::api::problem::ApiError;
use crate::auth::Role;
use crate::db::entity::{survey, survey_invite, ticket};
use crate::notify::contacts::Contacts;
use crate::state::AppState;
use crate::tickets::store::{self, Actor};
use chrono::{DateTime, SubsecRound, Utc};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait, QuerySelect};
use serde_json::json;
use sysops_core::category::Category;
use sysops_core::geo::GeoPoint;
use sysops_core::ids::ExpertId;
use sysops_core::ticket::{CloseReason, TicketEvent, TransitionError};
use uuid::Uuid;

/// What to do to a ticket.
#[derive(Debug, Clone)]
pub enum Op {
    /// The assigned expert accepts.
    Accept,
    /// The assigned expert declines; the ticket is reassigned.
    Decline {
        /// Why, if they said.
        reason: Option<String>,
    },
    /// The assigned expert did not answer in time; the ticket is reassigned.
    AcceptTimeout,
    /// The work is done.
    Complete {
        /// What was done.
        resolution: String,
        /// When, by the device's clock (completions made offline); default now.
        completed_at: Option<DateTime<Utc>>,
    },
    /// Withdrawn.
    Cancel {
        /// Why, if given.
        reason: Option<String>,
    },
    /// The survey came back or its time ran out.
    Close(CloseReason),
    /// A dispatcher's note (any open or completed ticket).
    Note {
        /// The note.
        text: String,
    },
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Accept => "accepted",
            Op::Decline { .. } => "declined",
            Op::AcceptTimeout => "accepted in time",
            Op::Complete { .. } => "completed",
            Op::Cancel { .. } => "cancelled",
            Op::Close(_) => "closed",
            Op::Note { .. } => "annotated",
        }
    }
}

fn conflict(e: TransitionError, op: &Op) -> ApiError {
    match e {
        TransitionError::NotAllowed { status, .. } => {
            ApiError::Conflict(format!("the ticket is {status}; it cannot be {} now", op.name()))
        }
        TransitionError::NotAssignee => ApiError::Conflict("the ticket is not assigned to you".to_owned()),
        TransitionError::ExpertExcluded => ApiError::Conflict("this expert already passed on the ticket".to_owned()),
    }
}

/// Whether `actor` may act on `row` at all (otherwise it does not exist for them). A
/// former assignee may still complete it (work done offline while it was reassigned).
fn may_touch(actor: &Actor, row: &ticket::Model, excluded: &[Uuid], op: &Op) -> bool {
    match actor {
        Actor::System => true,
        Actor::User(c) => match c.role {
            Role::Expert => {
                row.assigned_expert_id == Some(c.user_id)
                    || (matches!(op, Op::Complete { .. }) && excluded.contains(&c.user_id))
            }
            Role::Customer => row.customer_id == c.user_id,
            Role::Agent | Role::Admin | Role::Manager => true,
        },
    }
}

type Later = Box<dyn FnOnce(&mut Effects<'_>, &Contacts) + Send>;

/// Runs `op` on ticket `id` for `actor`; returns the updated row.
pub async fn run(state: &AppState, actor: Actor, id: Uuid, op: Op) -> Result<ticket::Model, ApiError> {
    let mut guard = state.dispatcher.pool.lock().await;
    let mut pool = PoolTx::new(&mut guard);
    let r = run_locked(state, &mut pool, actor, id, op).await;
    if r.is_err() {
        pool.rollback();
    }
    drop(guard);
    if r.is_ok() {
        state.notifier.kick();
        state.sync.handle.ticket(id);
    }
    r
}

async fn run_locked(
    state: &AppState,
    pool: &mut PoolTx<'_>,
    actor: Actor,
    id: Uuid,
    op: Op,
) -> Result<ticket::Model, ApiError> {
    let now = Utc::now().trunc_subsecs(6);
    let now_ms = now.timestamp_millis();
    let txn = state.db.begin_write().await?;
    let row = ticket::Entity::find_by_id(id)
        .lock_exclusive()
        .one(&txn)
        .await?
        .ok_or_else(|| ApiError::not_found("ticket"))?;
    let excluded: Vec<Uuid> = serde_json::from_value(row.excluded_experts.clone()).unwrap_or_default();
    if !may_touch(&actor, &row, &excluded, &op) {
        return Err(ApiError::not_found("ticket"));
    }
    let mut machine = store::machine(&row).map_err(ApiError::Internal)?;
    let me = match actor {
        Actor::User(c) => Some(ExpertId::from_uuid(c.user_id)),
        Actor::System => None,
    };
    let by = || me.ok_or_else(|| ApiError::Internal(anyhow::anyhow!("an expert action without an expert")));
    let mut am: ticket::ActiveModel = row.clone().into();
    let mut fx = Effects::new(&state.notifier, now);
    let mut experts: Vec<Uuid> = Vec::new();
    let mut managers = false;
    let mut later: Vec<Later> = Vec::new();
    let ctx = place::ticket_ctx(&row);
    let mut invite: Option<survey_invite::ActiveModel> = None;
    let replace = |pool: &mut PoolTx<'_>, machine: &mut sysops_core::ticket::Ticket, am: &mut ticket::ActiveModel| {
        let category: Category =
            row.category.parse().map_err(|e: sysops_core::FieldError| ApiError::Internal(e.into()))?;
        let location = GeoPoint::new(row.lat, row.lon).map_err(|e| ApiError::Internal(e.into()))?;
        let placed = place::choose(pool, machine, category, location, now)?;
        place::apply_to_row(am, &placed, now_ms);
        Ok::<Placed, ApiError>(placed)
    };
    match &op {
        Op::Accept => {
            machine.apply(TicketEvent::Accept { by: by()? }).map_err(|e| conflict(e, &op))?;
            am.accepted_at_ms = Set(Some(now_ms));
            fx.event(id, "accepted", actor, json!({}));
        }
        Op::Decline { reason } | Op::Cancel { reason } if reason.as_ref().is_some_and(|r| r.chars().count() > 2000) => {
            return Err(ApiError::field("reason", "must be at most 2000 characters"));
        }
        Op::Decline { reason } => {
            let tr = machine.apply(TicketEvent::Decline { by: by()? }).map_err(|e| conflict(e, &op))?;
            fx.event(id, "declined", actor, json!({"reason": reason}));
            fx.end_assignment(id, "declined");
            if let Some(e) = tr.released {
                pool.release(e);
            }
            let placed = replace(pool, &mut machine, &mut am)?;
            experts.extend(placed.expert().map(|e| e.as_uuid()));
            managers |= matches!(placed, Placed::Unassignable(_));
            let t = row.clone();
            later.push(Box::new(move |fx, c| place::effects(fx, c, &t, &placed, Round::Again)));
        }
        Op::AcceptTimeout => {
            let tr = machine.apply(TicketEvent::AcceptTimeout).map_err(|e| conflict(e, &op))?;
            let old = tr.released.map(|e| e.as_uuid());
            fx.event(id, "accept_timeout", actor, json!({"expert_id": old}));
            fx.end_assignment(id, "accept_timeout");
            if let Some(e) = tr.released {
                pool.release(e);
            }
            if let Some(old) = old {
                experts.push(old);
                let mut c = ctx.clone();
                c["reason"] = json!("It was not accepted in time and has gone to another expert.");
                later.push(Box::new(move |fx, contacts| {
                    fx.mail.expert(contacts, old, "expert_ticket_withdrawn", &c, Some(id), false)
                }));
            }
            let placed = replace(pool, &mut machine, &mut am)?;
            experts.extend(placed.expert().map(|e| e.as_uuid()));
            managers |= matches!(placed, Placed::Unassignable(_));
            let t = row.clone();
            later.push(Box::new(move |fx, c| place::effects(fx, c, &t, &placed, Round::Again)));
        }
        Op::Complete { resolution, completed_at } => {
            let resolution = sysops_core::text::Resolution::parse(resolution).map_err(|e| e.under("resolution"))?;
            let by = by()?;
            let tr = machine.apply(TicketEvent::Complete { by }).map_err(|e| conflict(e, &op))?;
            let at = completed_at.map_or(now, |t| t.trunc_subsecs(6));
            am.completed_by = Set(Some(by.as_uuid()));
            am.assigned_expert_id = Set(Some(by.as_uuid()));
            am.resolution = Set(Some(resolution.to_string()));
            am.completed_at = Set(Some(at));
            fx.event(
                id,
                "completed",
                actor,
                json!({"resolution": resolution.as_str(), "completed_at": at, "late": tr.superseded.is_some()}),
            );
            fx.end_assignment(id, if tr.superseded.is_some() { "superseded" } else { "completed" });
            if let Some(e) = tr.released {
                pool.release(e);
            }
            experts.push(by.as_uuid());
            if let Some(other) = tr.superseded.map(|e| e.as_uuid()) {
                // The work was done by the former expert: their completion stands, the
                // reassignment ends, and the dispatcher (managers) and the other
                // expert are told.
                experts.push(other);
                managers = true;
                let message = format!(
                    "Ticket \"{}\" was completed by a former assignee while reassigned; the reassignment was cancelled.",
                    row.title
                );
                fx.alert("late_completion", Some(id), message.clone(), None);
                let (mut c, mut m) = (ctx.clone(), ctx.clone());
                c["reason"] = json!("The previous expert has already completed it.");
                m["alert"] = json!({"kind_label": "late completion", "message": message});
                later.push(Box::new(move |fx, contacts| {
                    fx.mail.expert(contacts, other, "expert_ticket_withdrawn", &c, Some(id), false);
                    fx.mail.managers(contacts, &m, Some(id));
                }));
            }
            let mut nonce = [0u8; 16];
            rand::rng().fill_bytes(&mut nonce);
            let expires_at_ms = now_ms + state.settings.survey_expire_after_secs * 1000;
            let token = state.surveys.sign(&SurveyToken { ticket_id: id, nonce, expires_at_ms });
            invite = Some(survey_invite::ActiveModel {
                ticket_id: Set(id),
                nonce: Set(hex::encode(nonce)),
                created_at_ms: Set(now_ms),
                expires_at_ms: Set(expires_at_ms),
                reminder_sent_at_ms: Set(None),
                used_at: Set(None),
            });
            let mut c = ctx.clone();
            c["survey_url"] = json!(format!("{}/survey/{token}", state.public_base));
            c["survey_days"] = json!((state.settings.survey_expire_after_secs / 86_400).max(1));
            let customer = row.customer_id;
            let expert = by.as_uuid();
            later.push(Box::new(move |fx, contacts| {
                c["expert"] = json!({"name": contacts.experts.get(&expert).map_or("", |e| e.name.as_str())});
                fx.mail.customer(contacts, customer, "customer_survey", &c, Some(id), true);
            }));
        }
        Op::Cancel { reason } => {
            let tr = machine.apply(TicketEvent::Cancel).map_err(|e| conflict(e, &op))?;
            fx.event(id, "cancelled", actor, json!({"reason": reason}));
            fx.end_assignment(id, "cancelled");
            if let Some(e) = tr.released {
                pool.release(e);
                let old = e.as_uuid();
                experts.push(old);
                let mut c = ctx.clone();
                c["reason"] = json!("The ticket was cancelled.");
                later.push(Box::new(move |fx, contacts| {
                    fx.mail.expert(contacts, old, "expert_ticket_withdrawn", &c, Some(id), false)
                }));
            }
        }
        Op::Note { text } => {
            let who = match actor {
                Actor::User(c) => c.role.as_str().to_owned(),
                Actor::System => "system".to_owned(),
            };
            let line = format!("[{}] {who}: {text}", now.format("%Y-%m-%d %H:%M"));
            let notes =
                if row.dispatcher_notes.is_empty() { line } else { format!("{}\n{line}", row.dispatcher_notes) };
            am.dispatcher_notes = Set(notes);
            fx.event(id, "note_added", actor, json!({"text": text}));
        }
        Op::Close(reason) => {
            machine.apply(TicketEvent::Close { reason: *reason }).map_err(|e| conflict(e, &op))?;
            am.close_reason = Set(Some(reason.as_str().to_owned()));
            fx.event(id, "closed", actor, json!({"reason": reason.as_str()}));
        }
    }
    am.status = Set(machine.status().as_str().to_owned());
    if machine.status().has_assignee() {
        am.assigned_expert_id = Set(machine.assignee().map(|e| e.as_uuid()));
    }
    am.excluded_experts = Set(store::excluded_json(&machine));
    am.updated_at = Set(now);
    am.version = Set(row.version + 1);
    let updated = am.update(&txn).await?;
    if !later.is_empty() {
        let contacts = Contacts::load(&txn, &experts, &[row.customer_id], managers).await?;
        for f in later {
            f(&mut fx, &contacts);
        }
    }
    fx.write(&txn).await?;
    if let Some(inv) = invite {
        survey_invite::Entity::insert(inv)
            .on_conflict(
                sea_orm::sea_query::OnConflict::column(survey_invite::Column::TicketId)
                    .update_columns([
                        survey_invite::Column::Nonce,
                        survey_invite::Column::CreatedAtMs,
                        survey_invite::Column::ExpiresAtMs,
                        survey_invite::Column::ReminderSentAtMs,
                        survey_invite::Column::UsedAt,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(updated)
}

/// Records a survey answer through the link `token`; closes the ticket.
pub async fn submit_survey(
    state: &AppState,
    token: &str,
    rating: i64,
    comment: &str,
) -> Result<survey::Model, ApiError> {
    let t = state.surveys.verify(token)?;
    let rating = sysops_core::survey::Rating::new(rating).map_err(|e| e.under("rating"))?;
    let comment = sysops_core::text::Comment::parse(comment).map_err(|e| e.under("comment"))?;
    let now = Utc::now().trunc_subsecs(6);
    let not_waiting = || {
        ApiError::NotFound(
            "no survey is waiting for this link; it may belong to another ticket or have been replaced".to_owned(),
        )
    };
    let txn = state.db.begin_write().await?;
    let inv =
        survey_invite::Entity::find_by_id(t.ticket_id).lock_exclusive().one(&txn).await?.ok_or_else(not_waiting)?;
    if inv.nonce != hex::encode(t.nonce) || inv.expires_at_ms != t.expires_at_ms {
        return Err(not_waiting());
    }
    if now.timestamp_millis() > inv.expires_at_ms {
        return Err(ApiError::Gone("this survey link has expired".to_owned()));
    }
    if inv.used_at.is_some() {
        return Err(ApiError::Conflict("this survey has already been answered; thank you".to_owned()));
    }
    let row = ticket::Entity::find_by_id(t.ticket_id).lock_exclusive().one(&txn).await?.ok_or_else(not_waiting)?;
    let mut machine = store::machine(&row).map_err(ApiError::Internal)?;
    machine
        .apply(TicketEvent::Close { reason: CloseReason::SurveyReceived })
        .map_err(|_| ApiError::Gone("this ticket is no longer waiting for a survey".to_owned()))?;
    let s = survey::Entity::insert(survey::ActiveModel {
        id: Set(Uuid::now_v7()),
        ticket_id: Set(t.ticket_id),
        rating: Set(i32::from(rating.get())),
        comment: Set(comment.to_string()),
        submitted_at: Set(now),
    })
    .exec_with_returning(&txn)
    .await?;
    let mut inv: survey_invite::ActiveModel = inv.into();
    inv.used_at = Set(Some(now));
    inv.update(&txn).await?;
    let mut am: ticket::ActiveModel = row.clone().into();
    am.status = Set(machine.status().as_str().to_owned());
    am.close_reason = Set(Some(CloseReason::SurveyReceived.as_str().to_owned()));
    am.updated_at = Set(now);
    am.version = Set(row.version + 1);
    am.update(&txn).await?;
    let mut fx = Effects::new(&state.notifier, now);
    fx.event(row.id, "survey_received", Actor::System, json!({"rating": rating.get()}));
    fx.event(row.id, "closed", Actor::System, json!({"reason": "survey_received"}));
    fx.write(&txn).await?;
    txn.commit().await?;
    state.sync.handle.ticket(t.ticket_id);
    Ok(s)
}
