//! Manager reports (issue 11): ticketing and expert performance, for a date range in the
//! manager's time zone, read from a read model that a background job keeps current from
//! the events the system already writes (ADR 16). Financial reports wait for billing.
//!
//! - [`fold`]: pure: a ticket's events → its facts → its contribution to the cube.
//! - [`store`]: the job that follows `ticket_events` from a stored cursor, and `rebuild`.
//! - [`rollup`]: pure: the ticketing rollup's slices, grains and packed rows (ADR 25).
//! - [`query`]: the reports themselves.
//! - [`csv`]: the same reports as CSV; [`charts`]: SVG charts for the pages.
//! - [`history`]: a seeded generated history, for tests and benchmarks.

pub mod charts;
pub mod csv;
pub mod experts;
pub mod financial;
pub mod fold;
pub mod history;
pub mod params;
pub mod query;
pub mod rollup;
pub mod store;
