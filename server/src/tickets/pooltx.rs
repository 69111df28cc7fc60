//! Changes to the dispatcher's pool made on behalf of one database transaction. Each is
//! applied at once under a short lock (so later decisions, in this batch or on other
//! requests, see it) and logged; if the transaction does not commit, [`PoolTx::undo`]
//! applies the inverse of each. The pool holds counters, so inverses commute with
//! whatever other transactions did in between: nothing is restored from a snapshot.

use crate::dispatch::Dispatcher;
use chrono::{DateTime, Utc};
use sysops_core::assignment::{Assignment, Decision, NotAssignable, Request};
use sysops_core::ids::ExpertId;

enum Change {
    Assigned { expert: ExpertId, at: DateTime<Utc>, previous: Option<DateTime<Utc>> },
    Released(ExpertId),
}

/// The pool changes of one transaction.
pub struct PoolTx<'a> {
    dispatcher: &'a Dispatcher,
    log: Vec<Change>,
}

impl<'a> PoolTx<'a> {
    /// Nothing changed yet.
    pub fn new(dispatcher: &'a Dispatcher) -> Self {
        Self { dispatcher, log: Vec::new() }
    }

    /// Chooses an expert for `req` and, if one fits, counts the ticket against them.
    pub fn choose(&mut self, req: &Request<'_>) -> Decision {
        let mut pool = self.dispatcher.pool();
        let decision = pool.choose(req);
        if let Decision::Assigned(a) = &decision {
            let previous = pool.get(a.expert_id).and_then(|c| c.last_assigned_at);
            pool.record_assignment(a.expert_id, req.now);
            self.log.push(Change::Assigned { expert: a.expert_id, at: req.now, previous });
        }
        decision
    }

    /// A person's choice of expert `id` for `req`: checked against the hard constraints
    /// and, if they pass, counted against the expert under the same lock (so two
    /// requests cannot both fill an expert's last slot).
    pub fn choose_named(&mut self, id: ExpertId, req: &Request<'_>) -> Result<Assignment, NotAssignable> {
        let mut pool = self.dispatcher.pool();
        let a = pool.assess(id, req)?;
        let previous = pool.get(id).and_then(|c| c.last_assigned_at);
        pool.record_assignment(id, req.now);
        self.log.push(Change::Assigned { expert: id, at: req.now, previous });
        Ok(a)
    }

    /// `id` no longer holds one ticket.
    pub fn release(&mut self, id: ExpertId) {
        self.dispatcher.pool().release(id);
        self.log.push(Change::Released(id));
    }

    /// The transaction committed: the changes stand (an expert who released a ticket
    /// may take a waiting one).
    /// Returns the experts whose load changed, to announce to the other nodes.
    pub fn commit(self) -> Vec<uuid::Uuid> {
        if self.log.iter().any(|c| matches!(c, Change::Released(_))) {
            self.dispatcher.mark_freed();
        }
        let mut ids: Vec<uuid::Uuid> = self
            .log
            .iter()
            .map(|c| match c {
                Change::Assigned { expert, .. } => expert.as_uuid(),
                Change::Released(e) => e.as_uuid(),
            })
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// The transaction failed: undoes every change, newest first.
    pub fn undo(self) {
        let mut pool = self.dispatcher.pool();
        for c in self.log.into_iter().rev() {
            match c {
                Change::Assigned { expert, at, previous } => pool.undo_assignment(expert, at, previous),
                Change::Released(id) => pool.undo_release(id),
            }
        }
    }
}
