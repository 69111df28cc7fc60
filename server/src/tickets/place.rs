//! Placing a ticket with an expert: the first assignment at intake and every
//! reassignment after a decline or timeout go through the same two steps: `choose`
//! (the pool decides and the state machine moves) and `effects` (what is written and
//! who is told).

use super::Actor;
use super::effects::Effects;
use super::error::TicketError;
use super::messages::TicketMessage;
use super::pooltx::PoolTx;
use crate::db::entity::{assignment, ticket};
use crate::notify::contacts::Contacts;
use sea_orm::ActiveValue::Set;
use serde_json::json;
use sysops_core::assignment::{Assignment, Decision, NotAssignable, Request, Unassignable};
use sysops_core::category::Category;
use sysops_core::geo::GeoPoint;
use sysops_core::ids::ExpertId;
use sysops_core::ticket::{Ticket, TicketEvent};
use uuid::Uuid;

/// The outcome of a placement.
#[derive(Debug, Clone)]
pub enum Placed {
    /// An expert was chosen.
    Assigned(Assignment),
    /// Nobody fits.
    Unassignable(Unassignable),
}

impl Placed {
    /// The chosen expert.
    pub fn expert(&self) -> Option<ExpertId> {
        match self {
            Placed::Assigned(a) => Some(a.expert_id),
            Placed::Unassignable(_) => None,
        }
    }
}

/// Why a placement happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Round {
    /// The ticket was just raised.
    First,
    /// The previous expert declined or did not answer.
    Again,
}

/// Chooses an expert for a ticket waiting for one, moving the state machine and the
/// pool (never an expert the ticket excludes).
pub fn choose(
    pool: &mut PoolTx<'_>,
    machine: &mut Ticket,
    category: Category,
    location: GeoPoint,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Placed, TicketError> {
    let exclude = machine.excluded().clone();
    let refused = |e| TicketError::internal(format!("state machine refused a placement: {e}"));
    match pool.choose(&Request { category, location, exclude: &exclude, now }) {
        Decision::Assigned(a) => {
            machine.apply(TicketEvent::Assign { expert: a.expert_id }).map_err(refused)?;
            Ok(Placed::Assigned(a))
        }
        Decision::Unassignable(u) => {
            machine.apply(TicketEvent::NoExpertFits).map_err(refused)?;
            Ok(Placed::Unassignable(u))
        }
    }
}

/// Places a ticket waiting for an expert with the expert a person named, if they pass
/// every hard constraint (soft ones are overridden and named in the reasons).
pub fn choose_named(
    pool: &mut PoolTx<'_>,
    machine: &mut Ticket,
    expert: ExpertId,
    category: Category,
    location: GeoPoint,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Placed, TicketError> {
    let exclude = machine.excluded().clone();
    let a =
        pool.choose_named(expert, &Request { category, location, exclude: &exclude, now }).map_err(|e| match e {
            NotAssignable::Unknown => TicketError::field("expert_id", "is not an expert"),
            NotAssignable::Hard(why) => {
                TicketError::Refused(format!("this expert cannot take the ticket: {}", why.join("; ")))
            }
        })?;
    machine
        .apply(TicketEvent::Assign { expert })
        .map_err(|e| TicketError::internal(format!("state machine refused a placement: {e}")))?;
    Ok(Placed::Assigned(a))
}

/// Minutes for an expert at `from` to reach `to`: city driving at 30 km/h plus ten
/// minutes to get going, rounded up to five.
pub fn eta_minutes(from: (f64, f64), to: (f64, f64)) -> i64 {
    let (Ok(a), Ok(b)) = (GeoPoint::new(from.0, from.1), GeoPoint::new(to.0, to.1)) else { return 30 };
    let minutes = a.distance_km(&b) / 30.0 * 60.0 + 10.0;
    ((minutes / 5.0).ceil() * 5.0) as i64
}

/// Sets the placement's fields on the ticket row.
pub fn apply_to_row(row: &mut ticket::ActiveModel, placed: &Placed, now_ms: i64) {
    match placed {
        Placed::Assigned(a) => {
            row.assigned_expert_id = Set(Some(a.expert_id.as_uuid()));
            row.assigned_at_ms = Set(Some(now_ms));
            row.unassignable_reason = Set(None);
        }
        Placed::Unassignable(u) => {
            row.assigned_expert_id = Set(None);
            row.assigned_at_ms = Set(None);
            row.unassignable_reason = Set(Some(u.reason.clone()));
        }
    }
}

/// The assignment record of a placement.
pub fn assignment_model(ticket: Uuid, a: &Assignment, now: chrono::DateTime<chrono::Utc>) -> assignment::Model {
    assignment::Model {
        id: Uuid::now_v7(),
        ticket_id: ticket,
        expert_id: a.expert_id.as_uuid(),
        score: a.score,
        reasons: json!(a.reasons),
        runners_up: json!(a.runners_up),
        assigned_at: now,
        ended_at: None,
        end_reason: None,
    }
}

/// Records a placement and tells everyone concerned: the expert (push and SMS) and the
/// customer that someone is on the way, or the customer and the managers that nobody
/// fits. Returns the assignment record written, if any.
pub fn effects(
    fx: &mut Effects<'_>,
    contacts: &Contacts,
    t: &ticket::Model,
    placed: &Placed,
    round: Round,
) -> Option<assignment::Model> {
    let msg = TicketMessage::about(t);
    match placed {
        Placed::Assigned(a) => {
            let expert = a.expert_id.as_uuid();
            let record = assignment_model(t.id, a, fx.now);
            fx.assignment(record.clone().into(), expert);
            fx.event(
                t.id,
                "assigned",
                Actor::System,
                json!({"expert_id": expert, "score": a.score, "reasons": a.reasons, "runners_up": a.runners_up}),
            );
            fx.mail.expert(contacts, expert, "expert_new_ticket", &msg, Some(t.id), true);
            let who = contacts.experts.get(&expert);
            let mut to_customer = msg.expert(who.map_or("", |e| e.name.as_str()));
            to_customer.eta_minutes = Some(who.map_or(30, |e| eta_minutes(e.location, (t.lat, t.lon))));
            let template = if round == Round::First { "customer_expert_assigned" } else { "customer_expert_changed" };
            fx.mail.customer(contacts, t.customer_id, template, &to_customer, Some(t.id), false);
            Some(record)
        }
        Placed::Unassignable(u) => {
            fx.event(t.id, "unassignable", Actor::System, json!({"reason": u.reason, "detail": u}));
            let message = format!("Ticket \"{}\" cannot be assigned: {}", t.title, u.reason);
            fx.alert("unassignable", Some(t.id), message.clone(), None);
            fx.mail.managers(contacts, &msg.clone().alert("ticket unassignable", message), Some(t.id));
            fx.mail.customer(contacts, t.customer_id, "customer_unassignable", &msg, Some(t.id), false);
            None
        }
    }
}
