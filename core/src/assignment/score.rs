//! The ranking: a cost in kilometre-equivalents, its explanation, and the comparison of
//! a runner-up against the winner.

use super::{Candidate, Request};
use crate::ids::ExpertId;
use std::cmp::Ordering;

/// Added when the expert is already on a job.
pub const BUSY_PENALTY_KM: f64 = 10.0;
/// Added per active ticket the expert holds.
pub const LOAD_PENALTY_KM_PER_TICKET: f64 = 5.0;
/// Added, decaying to zero over [`FAIRNESS_WINDOW_MINUTES`], after an assignment.
pub const FAIRNESS_PENALTY_KM: f64 = 3.0;
/// How long a recent assignment counts against an expert.
pub const FAIRNESS_WINDOW_MINUTES: i64 = 240;

/// One expert's cost for one ticket. Lower is better; every part is non-negative.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Cost {
    /// Great-circle distance from the expert to the ticket.
    pub distance_km: f64,
    /// [`BUSY_PENALTY_KM`] when on a job.
    pub busy_km: f64,
    /// [`LOAD_PENALTY_KM_PER_TICKET`] per active ticket.
    pub load_km: f64,
    /// Recency penalty for fairness.
    pub fairness_km: f64,
    /// Minutes since their last assignment, when within the window.
    #[serde(skip)]
    pub minutes_since_last: Option<i64>,
    /// Active tickets.
    #[serde(skip)]
    pub active_tickets: u32,
}

impl Cost {
    /// Computes the cost of `c` for `req` at `distance_km`.
    pub fn of(c: &Candidate, req: &Request<'_>, distance_km: f64) -> Self {
        let minutes_since_last =
            c.last_assigned_at.map(|t| (req.now - t).num_minutes().max(0)).filter(|m| *m < FAIRNESS_WINDOW_MINUTES);
        let fairness_km = minutes_since_last.map_or(0.0, |m| {
            FAIRNESS_PENALTY_KM * (FAIRNESS_WINDOW_MINUTES - m) as f64 / FAIRNESS_WINDOW_MINUTES as f64
        });
        Self {
            distance_km,
            busy_km: if c.active_tickets > 0 { BUSY_PENALTY_KM } else { 0.0 },
            load_km: LOAD_PENALTY_KM_PER_TICKET * f64::from(c.active_tickets),
            fairness_km,
            minutes_since_last,
            active_tickets: c.active_tickets,
        }
    }

    /// The total.
    pub fn total(&self) -> f64 {
        self.distance_km + self.busy_km + self.load_km + self.fairness_km
    }

    /// 0–100, higher is better, two decimals.
    pub fn score(&self) -> f64 {
        (10_000.0 / (1.0 + self.total() / 10.0)).round() / 100.0
    }

    /// The reasons shown for a chosen expert.
    pub fn reasons(&self, c: &Candidate, req: &Request<'_>) -> Vec<String> {
        let from_centre = c.area.center().distance_km(&req.location);
        let mut r = vec![
            format!("skilled in {}", req.category),
            format!(
                "service area covers the ticket ({from_centre:.1} km from its centre, radius {:.1} km)",
                c.area.radius_km()
            ),
            format!("{:.1} km away", self.distance_km),
        ];
        r.push(if self.active_tickets == 0 {
            "free (no active ticket)".to_owned()
        } else {
            format!("on a job: {} active of {} allowed", self.active_tickets, c.capacity)
        });
        r.push(match self.minutes_since_last {
            Some(m) => format!("last assigned {m} min ago (fairness +{:.1})", self.fairness_km),
            None => "no assignment in the last 4 hours".to_owned(),
        });
        r.push(format!("score {:.2} (cost {:.2})", self.score(), self.total()));
        r
    }

    /// Why `self` (a runner-up) lost to `winner`.
    pub fn lost_because(&self, winner: &Cost, tie_by_id: bool) -> Vec<String> {
        let mut r = Vec::new();
        let d = self.distance_km - winner.distance_km;
        if d > 0.05 {
            r.push(format!("{d:.1} km farther away"));
        }
        if self.active_tickets > winner.active_tickets {
            r.push(format!(
                "more work in hand ({} active tickets against {})",
                self.active_tickets, winner.active_tickets
            ));
        }
        let f = self.fairness_km - winner.fairness_km;
        if f > 0.05 {
            r.push(format!("assigned more recently (fairness +{f:.1})"));
        }
        if r.is_empty() || tie_by_id {
            r.push(if tie_by_id {
                "equal cost; ties go to the lower expert id".to_owned()
            } else {
                format!("higher total cost ({:.2} against {:.2})", self.total(), winner.total())
            });
        }
        r
    }
}

/// The ranking order: lower cost first, then lower expert id.
pub(super) fn rank(a: (f64, ExpertId), b: (f64, ExpertId)) -> Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}
