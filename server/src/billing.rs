//! Billing: the card processor client ([`stripe`]), its webhook signatures
//! ([`signature`]), and (on top of `sysops_core::billing`'s pure rules) the billing run
//! that charges what is due exactly once across nodes. See ADR 14.

pub mod account;
pub mod history;
pub mod service;
pub mod signature;
pub mod statement;
pub mod stripe;

pub use account::{CardOnFile, CardSetup, RefundMade};
pub use service::{Billing, BillingError, InvoiceRow, RunSummary};
