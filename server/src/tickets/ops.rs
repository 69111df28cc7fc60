//! The ticket workflow after intake: accept, decline (and reassign), the accept
//! timeout, completion (with the survey invitation), cancellation, closing and notes.
//! Every operation locks the ticket row, moves the core state machine, and writes the
//! row, the audit trail, the assignment records and the queued messages in one
//! transaction. The REST handlers, the web pages, the background jobs and the device
//! sync all call these through [`Tickets::run`](super::Tickets::run).

use super::effects::Effects;
use super::error::TicketError;
use super::messages::TicketMessage;
use super::place::{self, Placed, Round};
use super::pooltx::PoolTx;
use super::survey::SurveyToken;
use super::{Actor, Tickets};
use crate::auth::Role;
use crate::db::entity::{survey_invite, ticket};
use crate::notify::contacts::Contacts;
use crate::repo::tickets as rows;
use chrono::{DateTime, SubsecRound, Utc};
use rand::RngCore;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, DatabaseTransaction};
use serde_json::json;
use sysops_core::category::Category;
use sysops_core::geo::GeoPoint;
use sysops_core::ids::ExpertId;
use sysops_core::ticket::{CloseReason, Ticket, TicketEvent, TicketStatus};
use uuid::Uuid;

/// Who may assign or reassign a ticket by hand: the one rule the API, the console and
/// the service itself check.
pub const ASSIGNERS: &[Role] = &[Role::Agent, Role::Admin, Role::Manager];

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
    /// A person (agent, admin, manager) gives the ticket to `expert`, or to the next
    /// best expert when `None`; the former expert, the new one and the customer are told.
    Assign {
        /// The expert to give it to (soft constraints overridden, hard ones refused).
        expert: Option<Uuid>,
        /// Why (recorded, and told to the former expert).
        reason: String,
    },
    /// The assigned expert sets off; the customer hears it once, with an estimated
    /// arrival from the distance.
    EnRoute {
        /// When, by the device's clock (default now).
        at: Option<DateTime<Utc>>,
    },
    /// The assigned expert arrives; the customer hears it once.
    Arrived {
        /// When, by the device's clock (default now).
        at: Option<DateTime<Utc>>,
    },
    /// An unassignable ticket is offered to the pool again (an expert became able to
    /// take it); refused, with nothing written, when still nobody fits.
    Retry,
    /// A dispatcher's note (any open or completed ticket).
    Note {
        /// The note.
        text: String,
    },
    /// The assigned expert's account was deactivated: the ticket goes to the next
    /// expert, accepted or not.
    AssigneeGone,
}

impl Op {
    /// The operation as a past participle, for refusals ("it cannot be accepted now").
    fn done(&self) -> &'static str {
        match self {
            Op::Accept => "accepted",
            Op::Decline { .. } => "declined",
            Op::AcceptTimeout => "accepted in time",
            Op::Complete { .. } => "completed",
            Op::Cancel { .. } => "cancelled",
            Op::Close(_) => "closed",
            Op::Note { .. } => "annotated",
            Op::Assign { .. } => "reassigned",
            Op::Retry => "assigned",
            Op::EnRoute { .. } => "marked en route",
            Op::Arrived { .. } => "marked arrived",
            Op::AssigneeGone => "passed on",
        }
    }
}

/// Longest reason for a decline or a cancellation.
const MAX_REASON_CHARS: usize = 2000;

/// Whether `actor` may act on `row` at all (otherwise it does not exist for them). A
/// former assignee may still complete it (work done offline while it was reassigned).
fn may_touch(actor: &Actor, row: &ticket::Model, op: &Op) -> bool {
    match actor {
        Actor::System => true,
        Actor::User(c) => match c.role {
            Role::Expert => {
                row.assigned_expert_id == Some(c.user_id)
                    || (matches!(op, Op::Complete { .. }) && rows::excluded(row).contains(&c.user_id))
            }
            Role::Customer => row.customer_id == c.user_id,
            Role::Agent | Role::Admin | Role::Manager => true,
        },
    }
}

/// How often an operation is tried again when another node filled the chosen expert's
/// last place at the same moment.
pub(super) const RACE_RETRIES: usize = 3;

/// Runs `op` on ticket `id` for `actor`; returns the updated row.
pub(super) async fn run(t: &Tickets, actor: Actor, id: Uuid, op: Op) -> Result<ticket::Model, TicketError> {
    let mut attempt = 0;
    loop {
        let mut pool = PoolTx::new(&t.dispatcher);
        let r = apply(t, &mut pool, actor, id, &op).await;
        match r {
            Ok(row) => {
                let touched = pool.commit();
                t.notifier.kick();
                t.sync.ticket(id);
                t.dispatcher.announce(&t.db, &touched).await;
                return Ok(row);
            }
            Err(TicketError::Raced(experts)) if attempt < RACE_RETRIES => {
                pool.undo();
                attempt += 1;
                for e in experts {
                    t.dispatcher.reload_expert(&t.db, e).await?;
                }
            }
            Err(e) => {
                pool.undo();
                return Err(e);
            }
        }
    }
}

async fn apply(
    t: &Tickets,
    pool: &mut PoolTx<'_>,
    actor: Actor,
    id: Uuid,
    op: &Op,
) -> Result<ticket::Model, TicketError> {
    let txn = t.db.begin_write().await?;
    let row = rows::lock(&txn, id).await?.ok_or_else(|| TicketError::not_found("ticket"))?;
    if !may_touch(&actor, &row, op) {
        return Err(TicketError::not_found("ticket"));
    }
    if let Op::Decline { reason: Some(r) } | Op::Cancel { reason: Some(r) } | Op::Assign { reason: r, .. } = op
        && r.chars().count() > MAX_REASON_CHARS
    {
        return Err(TicketError::field("reason", format!("must be at most {MAX_REASON_CHARS} characters")));
    }
    if let (Op::Complete { .. }, Actor::User(c)) = (op, &actor)
        && row.assigned_expert_id != Some(c.user_id)
        && let Some(at) = rows::declined_at(&txn, id, c.user_id).await?
    {
        // A late completion stands when the ticket was taken away (timeout, manual
        // reassignment) while the expert worked offline; not after they said no.
        return Err(TicketError::Refused(format!(
            "you declined this ticket at {}; it has gone to another expert, so your completion cannot be \
             recorded (ask a dispatcher if you did the work)",
            at.format("%Y-%m-%d %H:%M UTC")
        )));
    }
    if let Op::EnRoute { .. } | Op::Arrived { .. } = op
        && progress_told(&txn, &row, actor, op).await?
    {
        // Said once already (a retried request, a device syncing again): no change.
        return Ok(row);
    }
    let mut step = Step::new(t, &row, actor)?;
    let refused = |e| TicketError::transition(e, op.done());
    match op {
        Op::Accept => step.accept().map_err(refused)?,
        Op::Decline { reason } => step.decline(pool, reason.as_deref())?,
        Op::AcceptTimeout => step.accept_timeout(pool)?,
        Op::Complete { resolution, completed_at } => step.complete(pool, resolution, *completed_at)?,
        Op::Cancel { reason } => step.cancel(pool, reason.as_deref()).map_err(refused)?,
        Op::Note { text } => step.note(text),
        Op::Assign { expert, reason } => step.reassign(pool, *expert, reason)?,
        Op::Retry => step.retry(pool)?,
        Op::EnRoute { at } => step.progress(Progress::EnRoute, *at)?,
        Op::Arrived { at } => step.progress(Progress::Arrived, *at)?,
        Op::AssigneeGone => step.assignee_gone(pool)?,
        Op::Close(reason) => step.close(*reason).map_err(refused)?,
    }
    let updated = step.write(&txn).await?;
    txn.commit().await?;
    Ok(updated)
}

/// A step of the expert's way to the customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Progress {
    EnRoute,
    Arrived,
}

impl Progress {
    fn kind(self) -> &'static str {
        match self {
            Progress::EnRoute => "en_route",
            Progress::Arrived => "arrived",
        }
    }
}

/// Whether the assigned expert's `op` (en route, arrived) was recorded, and so told to
/// the customer, already. Read under the ticket's row lock: two requests cannot both
/// miss it.
async fn progress_told(
    txn: &DatabaseTransaction,
    row: &ticket::Model,
    actor: Actor,
    op: &Op,
) -> Result<bool, TicketError> {
    use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
    let Actor::User(c) = actor else { return Ok(false) };
    if row.assigned_expert_id != Some(c.user_id) {
        return Ok(false);
    }
    let kind = if matches!(op, Op::EnRoute { .. }) { Progress::EnRoute } else { Progress::Arrived }.kind();
    let n = crate::db::entity::ticket_event::Entity::find()
        .filter(crate::db::entity::ticket_event::Column::TicketId.eq(row.id))
        .filter(crate::db::entity::ticket_event::Column::Kind.eq(kind))
        .filter(crate::db::entity::ticket_event::Column::ActorId.eq(c.user_id))
        .count(txn)
        .await?;
    Ok(n > 0)
}

/// A message to build once the contacts of everyone concerned are loaded.
type Later = Box<dyn FnOnce(&mut Effects<'_>, &Contacts) + Send>;

/// One operation on one ticket, being prepared: the row's new values, the machine, the
/// effects, and who must be told.
struct Step<'a> {
    t: &'a Tickets,
    row: &'a ticket::Model,
    actor: Actor,
    now: DateTime<Utc>,
    machine: Ticket,
    am: ticket::ActiveModel,
    fx: Effects<'a>,
    experts: Vec<Uuid>,
    managers: bool,
    later: Vec<Later>,
    invite: Option<survey_invite::ActiveModel>,
}

impl<'a> Step<'a> {
    fn new(t: &'a Tickets, row: &'a ticket::Model, actor: Actor) -> Result<Self, TicketError> {
        let now = Utc::now().trunc_subsecs(6);
        Ok(Self {
            t,
            row,
            actor,
            now,
            machine: rows::machine(row)?,
            am: row.clone().into(),
            fx: Effects::new(&t.notifier, now),
            experts: Vec::new(),
            managers: false,
            later: Vec::new(),
            invite: None,
        })
    }

    fn me(&self) -> Result<ExpertId, TicketError> {
        match self.actor {
            Actor::User(c) => Ok(ExpertId::from_uuid(c.user_id)),
            Actor::System => Err(TicketError::internal("an expert action without an expert")),
        }
    }

    fn now_ms(&self) -> i64 {
        self.now.timestamp_millis()
    }

    /// Tells a former assignee the ticket is no longer theirs.
    fn withdraw(&mut self, expert: Uuid, why: &str) {
        self.experts.push(expert);
        let msg = TicketMessage::about(self.row).because(why);
        let id = self.row.id;
        self.later
            .push(Box::new(move |fx, c| fx.mail.expert(c, expert, "expert_ticket_withdrawn", &msg, Some(id), false)));
    }

    /// Tells an expert whose assignment a late completion superseded that the job is
    /// done (a push to each device: no need to go).
    fn done_elsewhere(&mut self, expert: Uuid) {
        self.experts.push(expert);
        let msg = TicketMessage::about(self.row)
            .because("Another expert already completed this job; it is no longer yours and there is no need to go.");
        let id = self.row.id;
        self.later.push(Box::new(move |fx, c| fx.mail.expert(c, expert, "expert_ticket_done", &msg, Some(id), false)));
    }

    /// Places the ticket with the next expert after a decline or a timeout.
    fn replace(&mut self, pool: &mut PoolTx<'_>) -> Result<(), TicketError> {
        let category: Category = self.row.category.parse().map_err(TicketError::internal)?;
        let location = GeoPoint::new(self.row.lat, self.row.lon).map_err(TicketError::internal)?;
        let placed = place::choose(pool, &mut self.machine, category, location, self.now)?;
        let now_ms = self.now_ms();
        place::apply_to_row(&mut self.am, &placed, now_ms);
        self.experts.extend(placed.expert().map(|e| e.as_uuid()));
        self.managers |= matches!(placed, Placed::Unassignable(_));
        let row = self.row.clone();
        self.later.push(Box::new(move |fx, c| {
            place::effects(fx, c, &row, &placed, Round::Again);
        }));
        Ok(())
    }

    /// A person's reassignment: the current expert (if any) is withdrawn, and the
    /// ticket goes to the named expert or the next best. Nothing changes when nobody
    /// (else) can take it.
    fn reassign(&mut self, pool: &mut PoolTx<'_>, expert: Option<Uuid>, reason: &str) -> Result<(), TicketError> {
        if !matches!(self.actor, Actor::User(c) if ASSIGNERS.contains(&c.role)) {
            return Err(TicketError::Refused("only agents, admins and managers assign tickets".to_owned()));
        }
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(TicketError::field("reason", "say why the ticket is being reassigned"));
        }
        let former = self.machine.assignee();
        if let (Some(f), Some(e)) = (former, expert)
            && f.as_uuid() == e
        {
            return Err(TicketError::Refused("the ticket is already assigned to this expert".to_owned()));
        }
        if former.is_some() {
            let tr = self.machine.apply(TicketEvent::Withdraw).map_err(|e| TicketError::transition(e, "reassigned"))?;
            self.fx.end_assignment(self.row.id, "reassigned");
            if let Some(e) = tr.released {
                pool.release(e);
            }
        } else if !matches!(self.machine.status(), TicketStatus::Created | TicketStatus::Unassignable) {
            let status = self.machine.status();
            return Err(TicketError::Refused(format!("the ticket is {status}; it cannot be reassigned now")));
        }
        let category: Category = self.row.category.parse().map_err(TicketError::internal)?;
        let location = GeoPoint::new(self.row.lat, self.row.lon).map_err(TicketError::internal)?;
        let placed = match expert {
            Some(e) => {
                place::choose_named(pool, &mut self.machine, ExpertId::from_uuid(e), category, location, self.now)?
            }
            None => {
                let exclude = self.machine.excluded().clone();
                let req = sysops_core::assignment::Request { category, location, exclude: &exclude, now: self.now };
                match pool.choose(&req) {
                    sysops_core::assignment::Decision::Assigned(a) => {
                        self.machine
                            .apply(TicketEvent::Assign { expert: a.expert_id })
                            .map_err(|e| TicketError::internal(format!("state machine refused a placement: {e}")))?;
                        Placed::Assigned(a)
                    }
                    sysops_core::assignment::Decision::Unassignable(u) => {
                        let who = if former.is_some() { "no other expert" } else { "no expert" };
                        return Err(TicketError::Refused(format!("{who} can take the ticket now: {}", u.reason)));
                    }
                }
            }
        };
        let to = placed.expert().map(|e| e.as_uuid());
        let from = former.map(|e| e.as_uuid());
        self.fx.event(self.row.id, "reassigned", self.actor, json!({"from": from, "to": to, "reason": reason}));
        if let Some(f) = from {
            self.withdraw(f, &format!("A dispatcher reassigned it: {reason}"));
        }
        let now_ms = self.now_ms();
        place::apply_to_row(&mut self.am, &placed, now_ms);
        self.experts.extend(to);
        let row = self.row.clone();
        let round = if former.is_some() { Round::Again } else { Round::First };
        self.later.push(Box::new(move |fx, c| {
            place::effects(fx, c, &row, &placed, round);
        }));
        Ok(())
    }

    /// The assigned expert sets off or arrives: recorded, and the customer told by
    /// their channel (with an estimated arrival when setting off).
    fn progress(&mut self, what: Progress, at: Option<DateTime<Utc>>) -> Result<(), TicketError> {
        let me = self.me()?.as_uuid();
        if self.machine.assignee().map(|e| e.as_uuid()) != Some(me) {
            return Err(TicketError::Refused("the ticket is not assigned to you".to_owned()));
        }
        let status = self.machine.status();
        if status != TicketStatus::Accepted {
            return Err(TicketError::Refused(format!(
                "the ticket is {status}; accept it before setting off or arriving"
            )));
        }
        let at = at.map_or(self.now, |t| t.trunc_subsecs(6));
        self.experts.push(me);
        let (customer, id, to) = (self.row.customer_id, self.row.id, (self.row.lat, self.row.lon));
        let msg = TicketMessage::about(self.row);
        let kind = what.kind();
        self.fx.event(id, kind, self.actor, json!({"device_at": at}));
        self.later.push(Box::new(move |fx, c| {
            let expert = c.experts.get(&me);
            let mut msg = msg.expert(&expert.map_or_else(String::new, |e| super::disclose::first_name(&e.name)));
            let template = match what {
                Progress::EnRoute => {
                    msg.eta_minutes = Some(expert.map_or(30, |e| place::eta_minutes(e.location, to)));
                    "customer_expert_en_route"
                }
                Progress::Arrived => "customer_expert_arrived",
            };
            fx.mail.customer(c, customer, template, &msg, Some(id), false);
        }));
        Ok(())
    }

    /// Places an unassignable ticket if someone fits now; nothing changes otherwise.
    fn retry(&mut self, pool: &mut PoolTx<'_>) -> Result<(), TicketError> {
        let status = self.machine.status();
        if status != TicketStatus::Unassignable {
            return Err(TicketError::Refused(format!("the ticket is {status}; it is not waiting for an expert")));
        }
        let category: Category = self.row.category.parse().map_err(TicketError::internal)?;
        let location = GeoPoint::new(self.row.lat, self.row.lon).map_err(TicketError::internal)?;
        let exclude = self.machine.excluded().clone();
        let req = sysops_core::assignment::Request { category, location, exclude: &exclude, now: self.now };
        let a = match pool.choose(&req) {
            sysops_core::assignment::Decision::Assigned(a) => a,
            sysops_core::assignment::Decision::Unassignable(u) => {
                return Err(TicketError::Refused(format!("still no expert can take the ticket: {}", u.reason)));
            }
        };
        self.machine
            .apply(TicketEvent::Assign { expert: a.expert_id })
            .map_err(|e| TicketError::internal(format!("state machine refused a placement: {e}")))?;
        let placed = Placed::Assigned(a);
        let now_ms = self.now_ms();
        place::apply_to_row(&mut self.am, &placed, now_ms);
        self.experts.extend(placed.expert().map(|e| e.as_uuid()));
        self.fx.event(self.row.id, "retried", self.actor, json!({"waited_since": self.row.created_at}));
        let row = self.row.clone();
        self.later.push(Box::new(move |fx, c| {
            place::effects(fx, c, &row, &placed, Round::First);
        }));
        Ok(())
    }

    fn accept(&mut self) -> Result<(), sysops_core::ticket::TransitionError> {
        let by = self.me().map_err(|_| sysops_core::ticket::TransitionError::NotAssignee)?;
        self.machine.apply(TicketEvent::Accept { by })?;
        self.am.accepted_at_ms = Set(Some(self.now_ms()));
        self.fx.event(self.row.id, "accepted", self.actor, json!({}));
        Ok(())
    }

    fn decline(&mut self, pool: &mut PoolTx<'_>, reason: Option<&str>) -> Result<(), TicketError> {
        let by = self.me()?;
        let tr = self.machine.apply(TicketEvent::Decline { by }).map_err(|e| TicketError::transition(e, "declined"))?;
        self.fx.event(self.row.id, "declined", self.actor, json!({"reason": reason}));
        self.fx.end_assignment(self.row.id, "declined");
        if let Some(e) = tr.released {
            pool.release(e);
        }
        self.replace(pool)
    }

    fn accept_timeout(&mut self, pool: &mut PoolTx<'_>) -> Result<(), TicketError> {
        let tr = self.machine.apply(TicketEvent::AcceptTimeout).map_err(|e| TicketError::transition(e, "timed out"))?;
        let old = tr.released.map(|e| e.as_uuid());
        self.fx.event(self.row.id, "accept_timeout", self.actor, json!({"expert_id": old}));
        self.fx.end_assignment(self.row.id, "accept_timeout");
        if let Some(e) = tr.released {
            pool.release(e);
        }
        if let Some(old) = old {
            self.withdraw(old, "It was not accepted in time and has gone to another expert.");
        }
        self.replace(pool)
    }

    /// The assignee's account was deactivated: the next expert gets the ticket (they are
    /// not told: they can no longer sign in).
    fn assignee_gone(&mut self, pool: &mut PoolTx<'_>) -> Result<(), TicketError> {
        let tr = self.machine.apply(TicketEvent::AssigneeGone).map_err(|e| TicketError::transition(e, "passed on"))?;
        let old = tr.released.map(|e| e.as_uuid());
        self.fx.event(self.row.id, "assignee_gone", self.actor, json!({"expert_id": old}));
        self.fx.end_assignment(self.row.id, "deactivated");
        if let Some(e) = tr.released {
            pool.release(e);
        }
        self.am.accepted_at_ms = Set(None);
        self.replace(pool)
    }

    fn complete(
        &mut self,
        pool: &mut PoolTx<'_>,
        resolution: &str,
        completed_at: Option<DateTime<Utc>>,
    ) -> Result<(), TicketError> {
        let resolution = sysops_core::text::Resolution::parse(resolution).map_err(|e| e.under("resolution"))?;
        let by = self.me()?;
        let tr =
            self.machine.apply(TicketEvent::Complete { by }).map_err(|e| TicketError::transition(e, "completed"))?;
        let at = completed_at.map_or(self.now, |t| t.trunc_subsecs(6));
        let id = self.row.id;
        self.am.completed_by = Set(Some(by.as_uuid()));
        self.am.assigned_expert_id = Set(Some(by.as_uuid()));
        self.am.resolution = Set(Some(resolution.to_string()));
        self.am.completed_at = Set(Some(at));
        self.fx.event(
            id,
            "completed",
            self.actor,
            json!({"resolution": resolution.as_str(), "completed_at": at, "late": tr.superseded.is_some()}),
        );
        self.fx.end_assignment(id, if tr.superseded.is_some() { "superseded" } else { "completed" });
        if let Some(e) = tr.released {
            pool.release(e);
        }
        self.experts.push(by.as_uuid());
        if let Some(other) = tr.superseded.map(|e| e.as_uuid()) {
            // The work was done by the former expert: their completion stands, the
            // reassignment ends, and the dispatcher (managers) and the other expert are
            // told.
            self.managers = true;
            let message = format!(
                "Ticket \"{}\" was completed by a former assignee while reassigned; the reassignment was cancelled.",
                self.row.title
            );
            self.fx.alert("late_completion", Some(id), message.clone(), None);
            self.done_elsewhere(other);
            let alert = TicketMessage::about(self.row).alert("late completion", message);
            self.later.push(Box::new(move |fx, c| fx.mail.managers(c, &alert, Some(id))));
        }
        self.invite_survey(by.as_uuid());
        Ok(())
    }

    /// The survey invitation of a completed ticket, and its e-mail to the customer.
    fn invite_survey(&mut self, expert: Uuid) {
        let mut nonce = [0u8; 16];
        rand::rng().fill_bytes(&mut nonce);
        let expires_at_ms = self.now_ms() + self.t.rules.survey_expire_after_secs * 1000;
        let token = self.t.surveys.sign(&SurveyToken { ticket_id: self.row.id, nonce, expires_at_ms });
        self.invite = Some(survey_invite::ActiveModel {
            ticket_id: Set(self.row.id),
            nonce: Set(hex::encode(nonce)),
            created_at_ms: Set(self.now_ms()),
            expires_at_ms: Set(expires_at_ms),
            reminder_sent_at_ms: Set(None),
            used_at: Set(None),
        });
        let mut msg = TicketMessage::about(self.row);
        msg.survey_url = Some(self.t.survey_url(&token));
        msg.survey_days = Some((self.t.rules.survey_expire_after_secs / 86_400).max(1));
        let (customer, id) = (self.row.customer_id, self.row.id);
        self.later.push(Box::new(move |fx, contacts| {
            let msg = msg.expert(contacts.experts.get(&expert).map_or("", |e| e.name.as_str()));
            fx.mail.customer(contacts, customer, "customer_survey", &msg, Some(id), true);
        }));
    }

    fn cancel(
        &mut self,
        pool: &mut PoolTx<'_>,
        reason: Option<&str>,
    ) -> Result<(), sysops_core::ticket::TransitionError> {
        let tr = self.machine.apply(TicketEvent::Cancel)?;
        self.fx.event(self.row.id, "cancelled", self.actor, json!({"reason": reason}));
        self.fx.end_assignment(self.row.id, "cancelled");
        if let Some(e) = tr.released {
            pool.release(e);
            self.withdraw(e.as_uuid(), "The ticket was cancelled.");
        }
        Ok(())
    }

    fn note(&mut self, text: &str) {
        let who = match self.actor {
            Actor::User(c) => c.role.as_str().to_owned(),
            Actor::System => "system".to_owned(),
        };
        let line = format!("[{}] {who}: {text}", self.now.format("%Y-%m-%d %H:%M"));
        let notes =
            if self.row.dispatcher_notes.is_empty() { line } else { format!("{}\n{line}", self.row.dispatcher_notes) };
        self.am.dispatcher_notes = Set(notes);
        self.fx.event(self.row.id, "note_added", self.actor, json!({"text": text}));
    }

    fn close(&mut self, reason: CloseReason) -> Result<(), sysops_core::ticket::TransitionError> {
        self.machine.apply(TicketEvent::Close { reason })?;
        self.am.close_reason = Set(Some(reason.as_str().to_owned()));
        self.fx.event(self.row.id, "closed", self.actor, json!({"reason": reason.as_str()}));
        Ok(())
    }

    /// Writes the row, the effects, the messages and the survey invitation.
    async fn write(mut self, txn: &DatabaseTransaction) -> Result<ticket::Model, TicketError> {
        self.am.status = Set(self.machine.status().as_str().to_owned());
        if self.machine.status().has_assignee() {
            self.am.assigned_expert_id = Set(self.machine.assignee().map(|e| e.as_uuid()));
        }
        self.am.excluded_experts = Set(rows::excluded_json(&self.machine));
        self.am.updated_at = Set(self.now);
        self.am.version = Set(self.row.version + 1);
        let updated = self.am.update(txn).await?;
        if !self.later.is_empty() {
            let contacts = Contacts::load(txn, &self.experts, &[self.row.customer_id], self.managers).await?;
            for f in self.later {
                f(&mut self.fx, &contacts);
            }
        }
        // After the placements above recorded whom they gave the ticket to.
        let over = self.fx.over_capacity(txn).await?;
        if !over.is_empty() {
            return Err(TicketError::Raced(over));
        }
        self.fx.write(txn).await?;
        if let Some(inv) = self.invite {
            super::survey::upsert_invite(txn, inv).await?;
        }
        Ok(updated)
    }
}
