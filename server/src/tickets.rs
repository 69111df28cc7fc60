//! Tickets on the server: intake with group commit, and the row-level helpers every
//! ticket write shares (audit events, the current assignment, the state machine).

pub mod intake;
pub mod store;
