//! Placing a ticket with an expert: the first assignment at intake and every
//! reassignment after a decline or timeout go through the same two steps: `choose`
//! (the pool decides and the state machine moves) and `effects` (what is written and
//! who is told).

use super::effects::Effects;
use super::pooltx::PoolTx;
use crate::api::problem::ApiError;
use crate::db::entity::{assignment, ticket};
use crate::notify::contacts::Contacts;
use crate::tickets::store::Actor;
use sea_orm::ActiveValue::Set;
use serde_json::{Value, json};
use sysops_core::assignment::{Assignment, Decision, Request, Unassignable};
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

fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::Internal(anyhow::anyhow!("state machine refused a placement: {e}"))
}

/// Chooses an expert for a ticket waiting for one, moving the state machine and the
/// pool (never an expert the ticket excludes).
pub fn choose(
    pool: &mut PoolTx<'_>,
    machine: &mut Ticket,
    category: Category,
    location: GeoPoint,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Placed, ApiError> {
    let exclude = machine.excluded().clone();
    match pool.pool.choose(&Request { category, location, exclude: &exclude, now }) {
        Decision::Assigned(a) => {
            machine.apply(TicketEvent::Assign { expert: a.expert_id }).map_err(internal)?;
            pool.record_assignment(a.expert_id, now);
            Ok(Placed::Assigned(a))
        }
        Decision::Unassignable(u) => {
            machine.apply(TicketEvent::NoExpertFits).map_err(internal)?;
            Ok(Placed::Unassignable(u))
        }
    }
}

/// The template context of a ticket.
pub fn ticket_ctx(t: &ticket::Model) -> Value {
    let label = t.category.parse::<Category>().map_or_else(|_| t.category.clone(), |c| c.label().to_owned());
    json!({"ticket": {"id": t.id, "title": t.title, "category_label": label, "address": t.address,
                      "description": t.description}})
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

/// The assignment row of a placement.
pub fn assignment_row(ticket: Uuid, a: &Assignment, now: chrono::DateTime<chrono::Utc>) -> assignment::ActiveModel {
    assignment::ActiveModel {
        id: Set(Uuid::now_v7()),
        ticket_id: Set(ticket),
        expert_id: Set(a.expert_id.as_uuid()),
        score: Set(a.score),
        reasons: Set(json!(a.reasons)),
        runners_up: Set(json!(a.runners_up)),
        assigned_at: Set(now),
        ended_at: Set(None),
        end_reason: Set(None),
    }
}

/// Records a placement and tells everyone concerned: the expert (push and SMS) and the
/// customer that someone is on the way, or the customer and the managers that nobody
/// fits.
pub fn effects(fx: &mut Effects<'_>, contacts: &Contacts, t: &ticket::Model, placed: &Placed, round: Round) {
    let ctx = ticket_ctx(t);
    match placed {
        Placed::Assigned(a) => {
            let expert = a.expert_id.as_uuid();
            fx.assignment(assignment_row(t.id, a, fx.now), expert);
            fx.event(
                t.id,
                "assigned",
                Actor::System,
                json!({"expert_id": expert, "score": a.score, "reasons": a.reasons, "runners_up": a.runners_up}),
            );
            fx.mail.expert(contacts, expert, "expert_new_ticket", &ctx, Some(t.id), true);
            let eta = contacts.experts.get(&expert).map_or(30, |e| eta_minutes(e.location, (t.lat, t.lon)));
            let mut cctx = ctx.clone();
            cctx["eta_minutes"] = json!(eta);
            cctx["expert"] = json!({"name": contacts.experts.get(&expert).map_or("", |e| e.name.as_str())});
            let template = if round == Round::First { "customer_expert_assigned" } else { "customer_expert_changed" };
            fx.mail.customer(contacts, t.customer_id, template, &cctx, Some(t.id), false);
        }
        Placed::Unassignable(u) => {
            fx.event(t.id, "unassignable", Actor::System, json!({"reason": u.reason, "detail": u}));
            let message = format!("Ticket \"{}\" cannot be assigned: {}", t.title, u.reason);
            fx.alert("unassignable", Some(t.id), message.clone(), None);
            let mut mctx = ctx.clone();
            mctx["alert"] = json!({"kind_label": "ticket unassignable", "message": message});
            fx.mail.managers(contacts, &mctx, Some(t.id));
            fx.mail.customer(contacts, t.customer_id, "customer_unassignable", &ctx, Some(t.id), false);
        }
    }
}
