//! The Sysops Squad ticket domain: pure, I/O-free, and shared by the server and the
//! expert's device.
//!
//! Everything that decides *what is allowed* lives here, so the REST server, the sync
//! projection and the offline device all run the same rules:
//!
//! - [`ids`], [`text`], [`geo`], [`money`], [`category`]: newtypes that cannot hold an
//!   invalid value (parse, don't validate);
//! - [`customer`], [`plan`], [`expert`], [`kb`], [`survey`]: the domain records;
//! - [`ticket`]: the ticket lifecycle as one explicit state machine;
//! - [`assignment`]: the best-fit expert for a ticket, explained;
//! - [`billing`]: billing periods, invoices, proration, tax, dunning and the ledger;
//! - [`wire`]: request bodies the server and the device both speak.
//!
//! ```
//! use sysops_core::ticket::{Ticket, TicketEvent, TicketStatus};
//! use sysops_core::ids::{ExpertId, TicketId};
//!
//! let expert = ExpertId::new();
//! let mut ticket = Ticket::new(TicketId::new());
//! ticket.apply(TicketEvent::Assign { expert }).unwrap();
//! ticket.apply(TicketEvent::Accept { by: expert }).unwrap();
//! assert_eq!(ticket.status(), TicketStatus::Accepted);
//! // A second acceptance is refused, not silently applied.
//! assert!(ticket.apply(TicketEvent::Accept { by: expert }).is_err());
//! ```

pub mod assignment;
pub mod billing;
pub mod category;
#[cfg(feature = "client")]
pub mod client;
pub mod customer;
#[cfg(feature = "device")]
pub mod device;
pub mod error;
pub mod expert;
pub mod geo;
pub mod ids;
pub mod kb;
pub mod money;
pub mod plan;
pub mod survey;
pub mod sync;
pub mod text;
pub mod ticket;
pub mod wire;

pub use error::{FieldError, ValidationErrors};

// The apps' types (device errors, sync state, platform services, ticket status) carry
// their uniffi derives here, behind `ffi`; `mobile-ffi` exports them as they are.
#[cfg(feature = "ffi")]
uniffi::setup_scaffolding!();
