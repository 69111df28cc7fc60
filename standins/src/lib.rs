//! Local stand-ins for the outside services the platform talks to (FCM HTTP v1, Twilio
//! Messages, an SMTP relay, Stripe: see [`stripe`]), so the production clients run unchanged in tests.
//!
//! Each stand-in is a real server on loopback speaking that service's wire protocol. It
//! records what it accepts ([`Received`]) and can be told to fail at a seeded rate
//! ([`Faults`]): transient 5xx (SMTP 451) without recording; a `timeout` that records and
//! then holds the answer back (the sender cannot know the outcome); a `drop` that closes the
//! connection unanswered without recording. `fail_permanently(true)` refuses every
//! delivery with the provider's definite error.
//!
//! Every HTTP stand-in also answers a JSON control API on its own port (the SMTP stand-in on
//! a separate HTTP port): `GET /_standin/received`, `GET|POST /_standin/faults`,
//! `POST /_standin/fail_permanently` (`{"enabled": true}`), `POST /_standin/clear`,
//! `POST /_standin/reset`, and for FCM `POST /_standin/unregister` (`{"token": "…"}`).
//!
//! The servers run on the tokio runtime that starts them and stop when dropped.

mod control;
pub mod fcm;
mod http;
mod record;
pub mod smtp;
pub mod stripe;
pub mod twilio;

pub use fcm::{FcmConfig, FcmStandin};
pub use record::{DEFAULT_TIMEOUT_DELAY, Detail, Faults, Header, Provider, Received};
pub use smtp::{SmtpConfig, SmtpStandin};
pub use stripe::{StripeConfig, StripeFaults, StripeStandin};
pub use twilio::{TwilioConfig, TwilioStandin};
