//! Rows to domain values and back, one module per aggregate. Stored rows hold plain
//! strings and JSON; the domain holds types that cannot be invalid. Every conversion
//! lives here, so a column's meaning is decided in one place.

pub mod experts;
pub mod plans;
pub mod tickets;
