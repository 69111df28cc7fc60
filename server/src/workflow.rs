//! The ticket workflow: placement (assignment and reassignment), the operations after
//! intake, survey links, and the background jobs (timeouts, reminders, SLAs).

pub mod effects;
pub mod jobs;
pub mod ops;
pub mod place;
pub mod pooltx;
pub mod survey;
