//! The dispatcher's in-memory view of every expert, indexed per skill for fast
//! nearest-first search.

use super::score::{Cost, rank};
use super::{
    Assignment, Decision, MAX_TRAVEL_KM, NotAssignable, RUNNERS_UP, Request, RuledOut, RunnerUp, Unassignable,
    failures, rule_out,
};
use crate::category::{Category, CategorySet};
use crate::geo::{GeoPoint, ServiceArea, chord2_for_km, km_for_chord2};
use crate::ids::ExpertId;
use chrono::{DateTime, Utc};
use rstar::RTree;
use rstar::primitives::GeomWithData;
use std::collections::HashMap;

/// What the dispatcher needs to know about one expert.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Who.
    pub id: ExpertId,
    /// Skills.
    pub skills: CategorySet,
    /// Service area.
    pub area: ServiceArea,
    /// Current location.
    pub location: GeoPoint,
    /// On duty?
    pub on_duty: bool,
    /// Tickets they hold now (assigned or accepted).
    pub active_tickets: u32,
    /// Most tickets they may hold.
    pub capacity: u32,
    /// When they were last given a ticket.
    pub last_assigned_at: Option<DateTime<Utc>>,
}

type Entry = GeomWithData<[f64; 3], ExpertId>;

/// Every expert the dispatcher may choose from.
#[derive(Debug, Default, Clone)]
pub struct ExpertPool {
    experts: HashMap<ExpertId, Candidate>,
    by_skill: HashMap<Category, RTree<Entry>>,
}

impl ExpertPool {
    /// An empty pool.
    pub fn new() -> Self {
        Self::default()
    }

    /// A pool of `experts`, bulk-loaded.
    pub fn from_candidates(experts: impl IntoIterator<Item = Candidate>) -> Self {
        let experts: HashMap<ExpertId, Candidate> = experts.into_iter().map(|c| (c.id, c)).collect();
        let mut per_skill: HashMap<Category, Vec<Entry>> = HashMap::new();
        for c in experts.values() {
            for skill in c.skills.iter() {
                per_skill.entry(skill).or_default().push(Entry::new(c.location.unit_vector(), c.id));
            }
        }
        let by_skill = per_skill.into_iter().map(|(k, v)| (k, RTree::bulk_load(v))).collect();
        Self { experts, by_skill }
    }

    /// Number of experts.
    pub fn len(&self) -> usize {
        self.experts.len()
    }

    /// Whether the pool is empty.
    pub fn is_empty(&self) -> bool {
        self.experts.is_empty()
    }

    /// One expert's entry.
    pub fn get(&self, id: ExpertId) -> Option<&Candidate> {
        self.experts.get(&id)
    }

    /// Every expert, in no particular order.
    pub fn candidates(&self) -> impl Iterator<Item = &Candidate> {
        self.experts.values()
    }

    /// Adds or replaces an expert.
    pub fn upsert(&mut self, c: Candidate) {
        self.unindex(c.id);
        for skill in c.skills.iter() {
            self.by_skill.entry(skill).or_default().insert(Entry::new(c.location.unit_vector(), c.id));
        }
        self.experts.insert(c.id, c);
    }

    /// Removes an expert.
    pub fn remove(&mut self, id: ExpertId) -> Option<Candidate> {
        self.unindex(id);
        self.experts.remove(&id)
    }

    fn unindex(&mut self, id: ExpertId) {
        if let Some(old) = self.experts.get(&id) {
            let entry = Entry::new(old.location.unit_vector(), id);
            for skill in old.skills.iter() {
                if let Some(tree) = self.by_skill.get_mut(&skill) {
                    tree.remove(&entry);
                }
            }
        }
    }

    /// Records that `id` was given a ticket at `at`.
    pub fn record_assignment(&mut self, id: ExpertId, at: DateTime<Utc>) {
        if let Some(c) = self.experts.get_mut(&id) {
            c.active_tickets += 1;
            c.last_assigned_at = Some(at);
        }
    }

    /// Undoes [`record_assignment`](Self::record_assignment) of `at` (its transaction did
    /// not commit): one ticket fewer, and the fairness stamp back to `previous` unless a
    /// later assignment has replaced it since.
    pub fn undo_assignment(&mut self, id: ExpertId, at: DateTime<Utc>, previous: Option<DateTime<Utc>>) {
        if let Some(c) = self.experts.get_mut(&id) {
            c.active_tickets = c.active_tickets.saturating_sub(1);
            if c.last_assigned_at == Some(at) {
                c.last_assigned_at = previous;
            }
        }
    }

    /// Records that `id` no longer holds one ticket.
    pub fn release(&mut self, id: ExpertId) {
        if let Some(c) = self.experts.get_mut(&id) {
            c.active_tickets = c.active_tickets.saturating_sub(1);
        }
    }

    /// Undoes [`release`](Self::release) (its transaction did not commit).
    pub fn undo_release(&mut self, id: ExpertId) {
        if let Some(c) = self.experts.get_mut(&id) {
            c.active_tickets += 1;
        }
    }

    /// Chooses the best-fit expert for `req` using the spatial index.
    pub fn choose(&self, req: &Request<'_>) -> Decision {
        let Some(tree) = self.by_skill.get(&req.category).filter(|t| t.size() > 0) else {
            return Decision::Unassignable(Unassignable {
                reason: format!("no expert is skilled in {}", req.category),
                ..Unassignable::default()
            });
        };
        let max_chord2 = chord2_for_km(MAX_TRAVEL_KM);
        let mut best = TopK::default();
        let mut tally = Unassignable { skilled: tree.size() as u32, ..Unassignable::default() };
        for (entry, d2) in tree.nearest_neighbor_iter_with_distance_2(req.location.unit_vector()) {
            if d2 > max_chord2 {
                break;
            }
            // Every penalty is non-negative, so nobody farther can beat a full top list.
            if best.is_full() && km_for_chord2(d2) > best.worst_total() + 1e-6 {
                break;
            }
            let c = &self.experts[&entry.data];
            self.consider(c, req, &mut best, &mut tally);
        }
        best.into_decision(self, req, tally)
    }

    /// A person's choice of expert `id` for `req`: refused when they fail a hard
    /// constraint; otherwise the assignment, with each soft constraint overridden named
    /// in its reasons (and no runners-up: nobody competed).
    pub fn assess(&self, id: ExpertId, req: &Request<'_>) -> Result<Assignment, NotAssignable> {
        let c = self.experts.get(&id).ok_or(NotAssignable::Unknown)?;
        let distance = c.location.distance_km(&req.location);
        let failed = failures(c, req, distance);
        let hard: Vec<String> = failed.iter().filter(|(r, _)| !r.is_soft()).map(|(_, why)| why.clone()).collect();
        if !hard.is_empty() {
            return Err(NotAssignable::Hard(hard));
        }
        let cost = Cost::of(c, req, distance);
        let mut reasons = vec!["chosen by a person".to_owned()];
        reasons.extend(failed.into_iter().map(|(_, why)| format!("overridden: {why}")));
        reasons.extend(cost.reasons(c, req).into_iter().filter(|r| !r.starts_with("service area covers")));
        Ok(Assignment { expert_id: id, score: cost.score(), reasons, runners_up: Vec::new(), cost })
    }

    /// The same decision by examining every expert: the baseline for benchmarks and the
    /// oracle for property tests.
    pub fn choose_by_scan(&self, req: &Request<'_>) -> Decision {
        let mut best = TopK::default();
        let mut tally = Unassignable::default();
        for c in self.experts.values() {
            if c.skills.contains(req.category) {
                tally.skilled += 1;
            }
            self.consider(c, req, &mut best, &mut tally);
        }
        if tally.skilled == 0 {
            return Decision::Unassignable(Unassignable {
                reason: format!("no expert is skilled in {}", req.category),
                ..Unassignable::default()
            });
        }
        best.into_decision(self, req, tally)
    }

    fn consider(&self, c: &Candidate, req: &Request<'_>, best: &mut TopK, tally: &mut Unassignable) {
        let distance = c.location.distance_km(&req.location);
        match rule_out(c, req, distance) {
            None => best.offer(c.id, Cost::of(c, req, distance)),
            Some(RuledOut::OutsideArea) => tally.outside_area += 1,
            Some(RuledOut::OffDuty) => tally.off_duty += 1,
            Some(RuledOut::AtCapacity) => tally.at_capacity += 1,
            Some(RuledOut::Excluded) => tally.excluded += 1,
            Some(RuledOut::Skill | RuledOut::TooFar) => {}
        }
    }
}

/// The best few candidates seen so far, in ranking order.
#[derive(Default)]
struct TopK(Vec<(ExpertId, Cost)>);

impl TopK {
    const K: usize = RUNNERS_UP + 1;

    fn is_full(&self) -> bool {
        self.0.len() >= Self::K
    }

    fn worst_total(&self) -> f64 {
        self.0.last().map_or(f64::INFINITY, |(_, c)| c.total())
    }

    fn offer(&mut self, id: ExpertId, cost: Cost) {
        let key = (cost.total(), id);
        let pos = self.0.partition_point(|(i, c)| rank((c.total(), *i), key).is_lt());
        if pos < Self::K {
            self.0.insert(pos, (id, cost));
            self.0.truncate(Self::K);
        }
    }

    fn into_decision(self, pool: &ExpertPool, req: &Request<'_>, tally: Unassignable) -> Decision {
        let mut it = self.0.into_iter();
        let Some((winner, wcost)) = it.next() else {
            return Decision::Unassignable(explain(req, tally));
        };
        let runners_up = it
            .map(|(id, cost)| RunnerUp {
                expert_id: id,
                score: cost.score(),
                lost_because: cost.lost_because(&wcost, cost.total() == wcost.total()),
            })
            .collect();
        Decision::Assigned(Assignment {
            expert_id: winner,
            score: wcost.score(),
            reasons: wcost.reasons(&pool.experts[&winner], req),
            runners_up,
            cost: wcost,
        })
    }
}

fn explain(req: &Request<'_>, t: Unassignable) -> Unassignable {
    let considered = t.outside_area + t.off_duty + t.at_capacity + t.excluded;
    let reason = if considered == 0 {
        format!(
            "none of the {} experts skilled in {} is within {MAX_TRAVEL_KM:.0} km of the ticket",
            t.skilled, req.category
        )
    } else {
        let mut parts = Vec::new();
        for (n, what) in [
            (t.outside_area, "do not serve this location"),
            (t.off_duty, "are off duty"),
            (t.at_capacity, "are at capacity"),
            (t.excluded, "already passed on this ticket"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        format!(
            "no {} expert can take the ticket: of {considered} within {MAX_TRAVEL_KM:.0} km, {}",
            req.category,
            parts.join(", ")
        )
    };
    Unassignable { reason, ..t }
}
