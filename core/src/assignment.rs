//! Choosing the best-fit expert for a ticket, and saying why.
//!
//! Hard constraints (an expert who fails one is never chosen): skilled in the ticket's
//! category, on duty, below their capacity, service area containing the ticket's
//! location, not an expert who already passed on this ticket, and within
//! [`MAX_TRAVEL_KM`] of it. Among those the lowest *cost* wins: kilometres to travel,
//! plus a penalty for being on another job, per active ticket, and for having been
//! assigned very recently (fairness). Ties go to the lower expert id, so the same
//! inputs always give the same answer.
//!
//! The pool keeps one spatial index per category over experts' current locations (3-D
//! points on the unit sphere, where straight-line order is great-circle order). A
//! nearest-first walk stops as soon as no farther expert can beat the best found,
//! because every penalty is non-negative: cost ≥ distance.

mod pool;
mod score;

pub use pool::{Candidate, ExpertPool};

pub use score::{BUSY_PENALTY_KM, Cost, FAIRNESS_PENALTY_KM, FAIRNESS_WINDOW_MINUTES, LOAD_PENALTY_KM_PER_TICKET};

use crate::category::Category;
use crate::geo::GeoPoint;
use crate::ids::ExpertId;
use chrono::{DateTime, Utc};
use std::collections::BTreeSet;

/// Experts farther than this from a ticket are not considered.
pub const MAX_TRAVEL_KM: f64 = 250.0;

/// How many runners-up are explained beside the chosen expert.
pub const RUNNERS_UP: usize = 3;

/// A ticket looking for an expert.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    /// The ticket's category.
    pub category: Category,
    /// Where the work is.
    pub location: GeoPoint,
    /// Experts who passed on this ticket before.
    pub exclude: &'a BTreeSet<ExpertId>,
    /// The time of the decision (fairness depends on it).
    pub now: DateTime<Utc>,
}

/// The dispatcher's answer.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// This expert, and why.
    Assigned(Assignment),
    /// Nobody fits, and why (kept for the manager).
    Unassignable(Unassignable),
}

/// The chosen expert with the explanation.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Assignment {
    /// Who.
    pub expert_id: ExpertId,
    /// 0–100, higher is better; 100 means zero cost.
    pub score: f64,
    /// Why this expert fits and how they ranked.
    pub reasons: Vec<String>,
    /// The closest competitors and why each lost.
    pub runners_up: Vec<RunnerUp>,
    /// The cost breakdown.
    pub cost: Cost,
}

/// A close competitor who was not chosen.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RunnerUp {
    /// Who.
    pub expert_id: ExpertId,
    /// Their score.
    pub score: f64,
    /// Why they lost to the chosen expert.
    pub lost_because: Vec<String>,
}

/// Why nobody fits, with counts of who was ruled out for what.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
pub struct Unassignable {
    /// One sentence for the manager.
    pub reason: String,
    /// Experts skilled in the category at all.
    pub skilled: u32,
    /// Of those within travel range, how many were ruled out for each cause.
    pub outside_area: u32,
    /// Off duty.
    pub off_duty: u32,
    /// Already holding as many tickets as they may.
    pub at_capacity: u32,
    /// Passed on this ticket before.
    pub excluded: u32,
}

/// Why one expert cannot take one ticket; `None` from [`rule_out`] means they can.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuledOut {
    /// Not skilled in the category.
    Skill,
    /// Farther than [`MAX_TRAVEL_KM`].
    TooFar,
    /// The ticket is outside their service area.
    OutsideArea,
    /// Off duty.
    OffDuty,
    /// At capacity.
    AtCapacity,
    /// Passed on this ticket before.
    Excluded,
}

impl RuledOut {
    /// Whether a person assigning by hand may override it. Distance and the service
    /// area are preferences a dispatcher may judge otherwise (the expert agreed to go
    /// farther); a missing skill, being off duty, at capacity or having passed on the
    /// ticket are not.
    pub fn is_soft(self) -> bool {
        matches!(self, Self::TooFar | Self::OutsideArea)
    }
}

/// Every constraint `c` fails for `req`, each with a sentence saying why.
pub fn failures(c: &Candidate, req: &Request<'_>, distance_km: f64) -> Vec<(RuledOut, String)> {
    let mut out = Vec::new();
    if !c.skills.contains(req.category) {
        out.push((RuledOut::Skill, format!("not skilled in {}", req.category)));
    }
    if req.exclude.contains(&c.id) {
        out.push((RuledOut::Excluded, "already passed on this ticket (declined, timed out or was withdrawn)".into()));
    }
    if !c.on_duty {
        out.push((RuledOut::OffDuty, "off duty".into()));
    }
    if c.active_tickets >= c.capacity {
        out.push((RuledOut::AtCapacity, format!("at capacity ({} of {} tickets)", c.active_tickets, c.capacity)));
    }
    if distance_km > MAX_TRAVEL_KM {
        out.push((RuledOut::TooFar, format!("{distance_km:.1} km away, beyond the usual {MAX_TRAVEL_KM:.0} km")));
    }
    if !c.area.contains(&req.location) {
        let from_centre = c.area.center().distance_km(&req.location);
        out.push((
            RuledOut::OutsideArea,
            format!(
                "the ticket is outside their service area ({from_centre:.1} km from its centre, radius {:.1} km)",
                c.area.radius_km()
            ),
        ));
    }
    out
}

/// Why a named expert cannot be given a ticket by hand.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotAssignable {
    /// No such expert in the pool.
    Unknown,
    /// They fail a hard constraint; each reason is a sentence.
    Hard(Vec<String>),
}

/// The hard constraints, in one place: `None` when `c` may take the ticket.
pub fn rule_out(c: &Candidate, req: &Request<'_>, distance_km: f64) -> Option<RuledOut> {
    if !c.skills.contains(req.category) {
        Some(RuledOut::Skill)
    } else if distance_km > MAX_TRAVEL_KM {
        Some(RuledOut::TooFar)
    } else if req.exclude.contains(&c.id) {
        Some(RuledOut::Excluded)
    } else if !c.on_duty {
        Some(RuledOut::OffDuty)
    } else if c.active_tickets >= c.capacity {
        Some(RuledOut::AtCapacity)
    } else if !c.area.contains(&req.location) {
        Some(RuledOut::OutsideArea)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
