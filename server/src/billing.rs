//! Billing: the card processor client ([`stripe`]), its webhook signatures
//! ([`signature`]), and (on top of `sysops_core::billing`'s pure rules) the billing run
//! that charges what is due exactly once across nodes. See ADR 14.

pub mod account;
pub mod clock;
pub mod job;
pub mod plan_change;
pub mod service;
pub mod signature;
pub mod stripe;
// Read side: invoice history and PDF statements.
pub mod history;
pub mod statement;

pub use account::{CardOnFile, CardSetup, RefundMade};
pub use clock::Clock;
pub use plan_change::PlanChange;
pub use service::{Billing, BillingError, InvoiceRow, RunSummary};
