//! The states, the events and the one function that moves between them.

use crate::error::FieldError;
use crate::ids::{ExpertId, TicketId};
use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// Where a ticket stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum TicketStatus {
    /// Entered, waiting for an expert (also after a decline, until reassigned).
    Created,
    /// An expert has been chosen and notified; waiting for them to accept.
    Assigned,
    /// The expert accepted and is on the way or on site.
    Accepted,
    /// The expert fixed it; waiting for the survey.
    Completed,
    /// Finished: survey received or its time ran out.
    Closed,
    /// Withdrawn before completion.
    Cancelled,
    /// No expert fits; a manager has been alerted.
    Unassignable,
}

impl TicketStatus {
    /// Every status.
    pub const ALL: [TicketStatus; 7] = [
        Self::Created,
        Self::Assigned,
        Self::Accepted,
        Self::Completed,
        Self::Closed,
        Self::Cancelled,
        Self::Unassignable,
    ];

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Assigned => "assigned",
            Self::Accepted => "accepted",
            Self::Completed => "completed",
            Self::Closed => "closed",
            Self::Cancelled => "cancelled",
            Self::Unassignable => "unassignable",
        }
    }

    /// No event moves a ticket out of a terminal state.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Closed | Self::Cancelled)
    }

    /// Whether an expert holds the ticket (it counts towards their load).
    pub fn has_assignee(self) -> bool {
        matches!(self, Self::Assigned | Self::Accepted)
    }
}

impl fmt::Display for TicketStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TicketStatus {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        Self::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| {
            FieldError::new(
                "",
                format!("unknown ticket status {s:?}; one of {}", Self::ALL.map(Self::as_str).join(", ")),
            )
        })
    }
}

/// Why a completed ticket was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The customer answered the survey.
    SurveyReceived,
    /// The survey was not answered in time (the book's NO_SURVEY).
    NoSurvey,
}

impl CloseReason {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SurveyReceived => "survey_received",
            Self::NoSurvey => "no_survey",
        }
    }
}

/// Something that happens to a ticket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TicketEvent {
    /// The dispatcher chose `expert`.
    Assign {
        /// The chosen expert.
        expert: ExpertId,
    },
    /// Nobody fits (the reason is kept by the caller for the manager).
    NoExpertFits,
    /// The assigned expert accepts.
    Accept {
        /// Who accepts.
        by: ExpertId,
    },
    /// The assigned expert declines; they are never offered this ticket again.
    Decline {
        /// Who declines.
        by: ExpertId,
    },
    /// The assigned expert did not answer in time; treated like a decline.
    AcceptTimeout,
    /// A person (agent, admin, manager) takes the ticket back from its expert to give
    /// it to another; like a timeout, the expert is not offered it again, and work they
    /// did offline meanwhile still stands (a late completion).
    Withdraw,
    /// The work is done. By the assignee (accepting implicitly if needed), or late by
    /// a former assignee who did the work offline after being reassigned.
    Complete {
        /// Who completed it.
        by: ExpertId,
    },
    /// The survey came back, or its time ran out.
    Close {
        /// Which.
        reason: CloseReason,
    },
    /// Withdrawn by the customer or staff.
    Cancel,
    /// The assignee can no longer do it (their account was deactivated): it is passed on
    /// like a decline, accepted or not.
    AssigneeGone,
}

impl TicketEvent {
    /// A short name for logs and the audit trail.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Assign { .. } => "assigned",
            Self::NoExpertFits => "unassignable",
            Self::Accept { .. } => "accepted",
            Self::Decline { .. } => "declined",
            Self::AcceptTimeout => "accept_timeout",
            Self::Withdraw => "withdrawn",
            Self::Complete { .. } => "completed",
            Self::Close { .. } => "closed",
            Self::Cancel => "cancelled",
            Self::AssigneeGone => "assignee_gone",
        }
    }
}

/// An event that does not apply in the ticket's current state. The ticket is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    /// The event makes no sense in this state.
    #[error("a {status} ticket cannot be {event}")]
    NotAllowed {
        /// Current status.
        status: TicketStatus,
        /// The refused event's kind.
        event: &'static str,
    },
    /// The actor is not the assigned expert.
    #[error("the ticket is not assigned to this expert")]
    NotAssignee,
    /// The expert declined or timed out on this ticket before.
    #[error("this expert already passed on the ticket and cannot be assigned it again")]
    ExpertExcluded,
}

/// What an applied event changed, for the caller's side effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    /// Status before.
    pub from: TicketStatus,
    /// Status after.
    pub to: TicketStatus,
    /// An expert who no longer holds the ticket (declined, timed out, cancelled, done,
    /// or superseded by a late completion).
    pub released: Option<ExpertId>,
    /// The ticket now needs an expert (after a decline or timeout).
    pub needs_assignment: bool,
    /// A late completion by a former assignee superseded this expert's assignment.
    pub superseded: Option<ExpertId>,
}

/// A ticket's lifecycle state. Fields are private: only [`Ticket::apply`] changes them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ticket {
    id: TicketId,
    status: TicketStatus,
    assignee: Option<ExpertId>,
    excluded: BTreeSet<ExpertId>,
    completed_by: Option<ExpertId>,
    close_reason: Option<CloseReason>,
}

/// Stored ticket state that violates the machine's invariants.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("inconsistent stored ticket state: {0}")]
pub struct CorruptState(pub &'static str);

impl Ticket {
    /// A new ticket, waiting for an expert.
    pub fn new(id: TicketId) -> Self {
        Self {
            id,
            status: TicketStatus::Created,
            assignee: None,
            excluded: BTreeSet::new(),
            completed_by: None,
            close_reason: None,
        }
    }

    /// Rebuilds a ticket from storage, refusing states the machine could not reach.
    pub fn restore(
        id: TicketId,
        status: TicketStatus,
        assignee: Option<ExpertId>,
        excluded: BTreeSet<ExpertId>,
        completed_by: Option<ExpertId>,
        close_reason: Option<CloseReason>,
    ) -> Result<Self, CorruptState> {
        let t = Self { id, status, assignee, excluded, completed_by, close_reason };
        t.check_invariants().map(|()| t)
    }

    /// Checks every invariant of a reachable state.
    pub fn check_invariants(&self) -> Result<(), CorruptState> {
        use TicketStatus::*;
        if self.status.has_assignee() != self.assignee.is_some() {
            return Err(CorruptState("an assignee exactly when assigned or accepted"));
        }
        if self.assignee.is_some_and(|a| self.excluded.contains(&a)) {
            return Err(CorruptState("the assignee is an expert who passed on the ticket"));
        }
        let done = matches!(self.status, Completed | Closed);
        if done && self.completed_by.is_none() {
            return Err(CorruptState("a completed ticket records who completed it"));
        }
        if !matches!(self.status, Completed | Closed | Cancelled) && self.completed_by.is_some() {
            return Err(CorruptState("an open ticket has no completion"));
        }
        if (self.status == Closed) != self.close_reason.is_some() {
            return Err(CorruptState("a close reason exactly when closed"));
        }
        Ok(())
    }

    /// The ticket id.
    pub fn id(&self) -> TicketId {
        self.id
    }

    /// Current status.
    pub fn status(&self) -> TicketStatus {
        self.status
    }

    /// The expert holding it, when assigned or accepted.
    pub fn assignee(&self) -> Option<ExpertId> {
        self.assignee
    }

    /// Experts who passed on it and must not be offered it again.
    pub fn excluded(&self) -> &BTreeSet<ExpertId> {
        &self.excluded
    }

    /// Who completed it.
    pub fn completed_by(&self) -> Option<ExpertId> {
        self.completed_by
    }

    /// Why it was closed.
    pub fn close_reason(&self) -> Option<CloseReason> {
        self.close_reason
    }

    /// Applies `event`; on error the ticket is unchanged.
    pub fn apply(&mut self, event: TicketEvent) -> Result<Transition, TransitionError> {
        use TicketStatus::*;
        let from = self.status;
        let refuse = || TransitionError::NotAllowed { status: from, event: event.kind() };
        let mut t = Transition { from, to: from, released: None, needs_assignment: false, superseded: None };
        match (&event, from) {
            (TicketEvent::Assign { expert }, Created | Unassignable) => {
                if self.excluded.contains(expert) {
                    return Err(TransitionError::ExpertExcluded);
                }
                self.assignee = Some(*expert);
                self.status = Assigned;
            }
            (TicketEvent::NoExpertFits, Created) => self.status = Unassignable,
            (TicketEvent::Accept { by }, Assigned) => {
                self.require_assignee(*by)?;
                self.status = Accepted;
            }
            (TicketEvent::Decline { by }, Assigned) => {
                self.require_assignee(*by)?;
                self.pass_on(&mut t);
            }
            (TicketEvent::AcceptTimeout, Assigned) => self.pass_on(&mut t),
            (TicketEvent::Withdraw, Assigned | Accepted) => self.pass_on(&mut t),
            (TicketEvent::AssigneeGone, Assigned | Accepted) => self.pass_on(&mut t),
            (TicketEvent::Complete { by }, Assigned | Accepted) if self.assignee == Some(*by) => {
                self.assignee = None;
                self.completed_by = Some(*by);
                self.status = Completed;
                t.released = Some(*by);
            }
            (TicketEvent::Complete { by }, Created | Assigned | Accepted | Unassignable)
                if self.excluded.contains(by) =>
            {
                // Late completion: the work was done by a former assignee while the
                // ticket was being reassigned. The work stands; the new assignment ends.
                t.superseded = self.assignee.take();
                t.released = t.superseded;
                self.completed_by = Some(*by);
                self.status = Completed;
            }
            (TicketEvent::Complete { .. }, Assigned | Accepted) => {
                return Err(TransitionError::NotAssignee);
            }
            (TicketEvent::Close { reason }, Completed) => {
                self.close_reason = Some(*reason);
                self.status = Closed;
            }
            (TicketEvent::Cancel, Created | Assigned | Accepted | Unassignable) => {
                t.released = self.assignee.take();
                self.status = Cancelled;
            }
            _ => return Err(refuse()),
        }
        t.to = self.status;
        debug_assert!(self.check_invariants().is_ok(), "{:?}", self.check_invariants());
        Ok(t)
    }

    fn require_assignee(&self, by: ExpertId) -> Result<(), TransitionError> {
        if self.assignee == Some(by) { Ok(()) } else { Err(TransitionError::NotAssignee) }
    }

    fn pass_on(&mut self, t: &mut Transition) {
        if let Some(e) = self.assignee.take() {
            self.excluded.insert(e);
            t.released = Some(e);
        }
        self.status = TicketStatus::Created;
        t.needs_assignment = true;
    }
}
