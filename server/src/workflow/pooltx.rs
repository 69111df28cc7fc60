//! Changes to the dispatcher's pool made inside a database transaction: applied at
//! once (so later decisions in the same batch see them) and undone if the transaction
//! does not commit.

use sysops_core::assignment::{Candidate, ExpertPool};
use sysops_core::ids::ExpertId;

/// The pool plus an undo log.
pub struct PoolTx<'a> {
    /// The pool.
    pub pool: &'a mut ExpertPool,
    undo: Vec<(ExpertId, Candidate)>,
}

impl<'a> PoolTx<'a> {
    /// Starts recording changes to `pool`.
    pub fn new(pool: &'a mut ExpertPool) -> Self {
        Self { pool, undo: Vec::new() }
    }

    fn save(&mut self, id: ExpertId) {
        if let Some(c) = self.pool.get(id) {
            self.undo.push((id, c.clone()));
        }
    }

    /// `id` took a ticket at `at`.
    pub fn record_assignment(&mut self, id: ExpertId, at: chrono::DateTime<chrono::Utc>) {
        self.save(id);
        self.pool.record_assignment(id, at);
    }

    /// `id` no longer holds one ticket.
    pub fn release(&mut self, id: ExpertId) {
        self.save(id);
        self.pool.release(id);
    }

    /// A mark to roll back to.
    pub fn mark(&self) -> usize {
        self.undo.len()
    }

    /// Undoes everything after `mark`.
    pub fn rollback_to(&mut self, mark: usize) {
        while self.undo.len() > mark {
            if let Some((_, c)) = self.undo.pop() {
                self.pool.upsert(c);
            }
        }
    }

    /// Undoes everything.
    pub fn rollback(mut self) {
        self.rollback_to(0);
    }
}
