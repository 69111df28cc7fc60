//! Projection: what an expert's work document asks of the ticket. The plan is pure:
//! given the document and what was already applied, it lists the actions still to take,
//! in the order they happened on the device. The server applies each through the same
//! ticket state machine the REST API uses; an action the machine refuses becomes a
//! recorded conflict, and either way it is marked done so it is never applied twice.

use super::docs::{Part, WorkDoc};
use serde::{Deserialize, Serialize};

/// What has already been projected from one work document.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkProjection {
    /// Acceptance applied (or refused and recorded).
    pub accepted: bool,
    /// Decline applied (or refused and recorded).
    pub declined: bool,
    /// "En route" recorded.
    pub en_route: bool,
    /// "Arrived" recorded.
    pub arrived: bool,
    /// Completion applied (or refused and recorded).
    pub completed: bool,
    /// The notes last copied to the ticket.
    pub notes: String,
    /// How many parts were recorded.
    pub parts: usize,
}

/// One thing to apply to the ticket.
#[derive(Debug, Clone, PartialEq)]
pub enum WorkAction {
    /// Accept the ticket.
    Accept {
        /// Device time.
        at: String,
    },
    /// Decline it.
    Decline {
        /// Device time.
        at: String,
        /// Why.
        reason: String,
    },
    /// Record that the expert set off.
    EnRoute {
        /// Device time.
        at: String,
    },
    /// Record that the expert arrived.
    Arrived {
        /// Device time.
        at: String,
    },
    /// Copy the expert's notes to the ticket.
    Notes(String),
    /// Record parts used.
    Parts(Vec<Part>),
    /// Complete the ticket.
    Complete {
        /// Device time.
        at: String,
        /// What was done.
        resolution: String,
    },
}

/// The actions `doc` still asks for, given what `done` records.
pub fn plan(doc: &WorkDoc, done: &WorkProjection) -> Vec<WorkAction> {
    let mut out = Vec::new();
    if let (Some(at), false) = (&doc.accepted_at, done.accepted) {
        out.push(WorkAction::Accept { at: at.clone() });
    }
    if let (Some((at, reason)), false) = (&doc.declined, done.declined) {
        out.push(WorkAction::Decline { at: at.clone(), reason: reason.clone() });
    }
    if let (Some(at), false) = (&doc.en_route_at, done.en_route) {
        out.push(WorkAction::EnRoute { at: at.clone() });
    }
    if let (Some(at), false) = (&doc.arrived_at, done.arrived) {
        out.push(WorkAction::Arrived { at: at.clone() });
    }
    if doc.notes != done.notes {
        out.push(WorkAction::Notes(doc.notes.clone()));
    }
    if doc.parts.len() > done.parts {
        out.push(WorkAction::Parts(doc.parts[done.parts..].to_vec()));
    }
    if let (Some((at, resolution)), false) = (&doc.completed, done.completed) {
        out.push(WorkAction::Complete { at: at.clone(), resolution: resolution.clone() });
    }
    out
}

/// Marks `action` as handled.
pub fn mark(done: &mut WorkProjection, action: &WorkAction) {
    match action {
        WorkAction::Accept { .. } => done.accepted = true,
        WorkAction::Decline { .. } => done.declined = true,
        WorkAction::EnRoute { .. } => done.en_route = true,
        WorkAction::Arrived { .. } => done.arrived = true,
        WorkAction::Notes(n) => done.notes = n.clone(),
        WorkAction::Parts(p) => done.parts += p.len(),
        WorkAction::Complete { .. } => done.completed = true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work() -> WorkDoc {
        WorkDoc { ticket_id: "t".into(), expert_id: "e".into(), ..Default::default() }
    }

    #[test]
    fn each_step_is_planned_once_in_device_order() {
        let mut w = work();
        w.accepted_at = Some("t1".into());
        w.en_route_at = Some("t2".into());
        w.notes = "Bring a ladder".into();
        w.completed = Some(("t3".into(), "Fixed".into()));
        let mut done = WorkProjection::default();
        let p = plan(&w, &done);
        assert_eq!(p.len(), 4);
        assert!(matches!(p[0], WorkAction::Accept { .. }));
        assert!(matches!(p[3], WorkAction::Complete { .. }));
        for a in &p {
            mark(&mut done, a);
        }
        assert!(plan(&w, &done).is_empty(), "nothing is applied twice");
        w.notes.push_str(" and a torch");
        assert_eq!(plan(&w, &done), vec![WorkAction::Notes("Bring a ladder and a torch".into())]);
    }

    #[test]
    fn only_new_parts_are_planned() {
        let mut w = work();
        w.parts = vec![Part { name: "fuse".into(), qty: 1.0 }];
        let mut done = WorkProjection::default();
        for a in plan(&w, &done) {
            mark(&mut done, &a);
        }
        w.parts.push(Part { name: "cable".into(), qty: 2.0 });
        assert_eq!(plan(&w, &done), vec![WorkAction::Parts(vec![Part { name: "cable".into(), qty: 2.0 }])]);
    }
}
