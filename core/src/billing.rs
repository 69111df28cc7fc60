//! Billing, pure: when a subscription is due, what its invoice says, what it costs to
//! change plan mid-period, how much tax is added, what happens when a card is declined,
//! and the append-only ledger that always balances. The server's billing run plans with
//! these types and applies the plan (charges, rows, e-mails).
//!
//! ```
//! use chrono::NaiveDate;
//! use sysops_core::billing::{Interval, Schedule};
//!
//! // Billed monthly from 31 January: the anchor day is kept, clamped to short months.
//! let s = Schedule::new(NaiveDate::from_ymd_opt(2027, 1, 31).unwrap(), Interval::Monthly);
//! assert_eq!(s.period(1).start, NaiveDate::from_ymd_opt(2027, 2, 28).unwrap());
//! assert_eq!(s.period(2).start, NaiveDate::from_ymd_opt(2027, 3, 31).unwrap());
//! ```
//!
//! The subscription's billing lifecycle:
//!
//! ```text
//!            charge fails                 last retry fails
//! active ────────────────▶ past_due ─────────────────────────▶ suspended
//!   ▲  ▲                     │  ▲ retry fails (+1, +3, +7 days)   │
//!   │  └──── paid ───────────┘  └────┘                            │
//!   └──────────────────────────── paid ───────────────────────────┘
//! any but cancelled ── cancel ──▶ (cancel at period end) ── period ends ──▶ cancelled
//! ```

mod calendar;
mod invoice;
mod ledger;
mod machine;
mod mrr;
mod proration;
mod tax;

pub use calendar::{Interval, Period, Schedule, add_months_clamped, days_in_month};
pub use invoice::{InvoiceDraft, InvoiceEvent, InvoiceLine, InvoiceStatus, LineKind, StatusChange, period_price};
pub use ledger::{Ledger, LedgerEntry, LedgerEntryKind, LedgerError};
pub use machine::{BillingEvent, BillingState, BillingStatus, DUNNING_RETRY_DAYS, Effect};
pub use mrr::{MrrMovement, RecurringLine, movement, mrr_on};
pub use proration::{Proration, prorate};
pub use tax::{CountryCode, Rounding, TaxRate, TaxTable, divide_rounded};
