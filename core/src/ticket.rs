//! The ticket lifecycle as one explicit state machine. Every transition a ticket can
//! make is in [`Ticket::apply`]; the server, the sync projection and the device all go
//! through it, so no path can put a ticket in a state the others do not understand.
//!
//! ```text
//!            Assign                Accept               Complete             Survey*
//! created ───────────▶ assigned ───────────▶ accepted ───────────▶ completed ───────▶ closed
//!   │  ▲                 │  │                   │                     ▲
//!   │  └── Decline / ────┘  └──── Complete ─────┼─────────────────────┘
//!   │      AcceptTimeout /        (implicit accept)
//!   │      Withdraw (also from accepted: a person reassigns)
//!   │◀──── AssigneeGone (deactivated) ── assigned, accepted
//!   │ NoExpertFits
//!   ▼
//! unassignable ── Assign ──▶ assigned        any open state ── Cancel ──▶ cancelled
//! ```

mod machine;

pub use machine::{CloseReason, Ticket, TicketEvent, TicketStatus, Transition, TransitionError};

#[cfg(test)]
mod tests;
