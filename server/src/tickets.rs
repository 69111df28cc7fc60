//! The ticket service: one [`Tickets`] that every front end calls (the REST API, the
//! web pages, the background jobs and the device-sync projection) to raise a ticket,
//! move it through its lifecycle and record its survey. It answers with rows and
//! [`TicketError`]; how those look on the wire is each front end's business.
//!
//! Inside: `submit` checks a submission, `intake` writes it with group commit, `ops`
//! runs the lifecycle operations, `place` chooses experts, `effects` collects what a
//! transition writes besides the ticket, `survey` signs links and takes answers, `jobs`
//! are the timers (accept timeouts, survey reminders and expiry, SLAs).

pub mod disclose;
pub mod effects;
pub mod error;
pub mod gone;
pub mod intake;
pub mod jobs;
pub mod messages;
pub mod ops;
pub mod place;
pub mod pooltx;
pub mod submit;
pub mod survey;

pub use error::TicketError;
pub use ops::Op;

use crate::auth::Caller;
use crate::db::Db;
use crate::db::entity::{assignment, survey as survey_row, ticket};
use crate::dispatch::Dispatcher;
use crate::idempotency::{Claim, InFlight, Stored};
use crate::notify::Notifier;
use crate::sync::SyncHandle;
use std::sync::Arc;
use survey::SurveyKeys;
use sysops_core::category::Category;
use sysops_core::geo::GeoPoint;
use sysops_core::ids::TicketId;
use sysops_core::text::{Description, Title};
use uuid::Uuid;

/// Who caused an event.
#[derive(Debug, Clone, Copy)]
pub enum Actor {
    /// A signed-in user.
    User(Caller),
    /// The server itself (assignment, timeouts, reminders).
    System,
}

impl Actor {
    /// The actor id and role recorded in the audit trail.
    pub fn parts(self) -> (Option<Uuid>, String) {
        match self {
            Actor::User(c) => (Some(c.user_id), c.role.as_str().to_owned()),
            Actor::System => (None, "system".to_owned()),
        }
    }
}

/// A ticket as a front end received it: raw fields, checked by [`Tickets::submit`]
/// (field errors name these fields).
#[derive(Debug, Clone)]
pub struct TicketRequest {
    /// The subscription it is raised under (its plan must cover the category).
    pub subscription_id: Uuid,
    /// The kind of product (`television`, `laptop`, …).
    pub category: String,
    /// A short summary.
    pub title: String,
    /// What is wrong.
    pub description: String,
    /// Where the work is (latitude, longitude); default the customer's address.
    pub location: Option<(f64, f64)>,
    /// The address of the work, when it is not the customer's address.
    pub address: Option<String>,
    /// The customer, when an agent raises it for them.
    pub customer_id: Option<Uuid>,
}

/// A validated ticket, ready to be written.
pub struct NewTicket {
    /// Its id.
    pub id: TicketId,
    /// The customer.
    pub customer_id: Uuid,
    /// The subscription.
    pub subscription_id: Uuid,
    /// Category (covered by the plan).
    pub category: Category,
    /// Title.
    pub title: Title,
    /// Description.
    pub description: Description,
    /// Address of the work.
    pub address: String,
    /// Location of the work.
    pub location: GeoPoint,
    /// Who entered it.
    pub created_by: Caller,
}

/// A ticket just written, with the assignment made at intake (if any).
#[derive(Debug, Clone)]
pub struct Created {
    /// The stored ticket.
    pub ticket: ticket::Model,
    /// Its assignment record, when an expert was chosen.
    pub assignment: Option<assignment::Model>,
    /// The chosen expert's first name (what the customer is told).
    pub expert_first_name: Option<String>,
}

/// An idempotency key sent with a submission, and how the front end wants the answer
/// recorded for replays (an HTTP status and body for the API).
pub struct Keyed {
    /// Whose keys these are (the caller's id): keys of different callers never meet.
    pub scope: String,
    /// The key.
    pub key: String,
    /// The request's fingerprint: the same key with another request is refused.
    pub fingerprint: String,
    /// The answer to store with the ticket, in the same transaction.
    pub answer: fn(&Created) -> (u16, String),
}

/// A claimed key and how to record its answer (what intake writes with the ticket).
pub struct Recorded {
    /// The key, owned until the write ends.
    pub claim: Claim,
    /// The answer to store.
    pub answer: fn(&Created) -> (u16, String),
}

/// What a submission came to.
#[derive(Debug)]
pub enum Submitted {
    /// A new ticket.
    Created(Box<Created>),
    /// The key was used before with the same request: its first answer.
    Replayed(Stored),
}

/// Timings the lifecycle follows (from the settings).
#[derive(Debug, Clone)]
pub struct Rules {
    /// An assigned expert who has not accepted after this many seconds is passed over.
    pub accept_timeout_secs: i64,
    /// One survey reminder after this many seconds without an answer.
    pub survey_reminder_after_secs: i64,
    /// The survey link expires, and the ticket closes with "no survey", after this.
    pub survey_expire_after_secs: i64,
    /// SLA: from creation to assignment, seconds.
    pub sla_assign_secs: i64,
    /// SLA: from assignment to acceptance, seconds.
    pub sla_accept_secs: i64,
    /// SLA: from acceptance to completion, seconds.
    pub sla_complete_secs: i64,
    /// How often the jobs look for due work, milliseconds.
    pub poll_ms: u64,
}

impl Rules {
    /// The rules in `s`.
    pub fn from_settings(s: &crate::config::Settings) -> Self {
        Self {
            accept_timeout_secs: s.accept_timeout_secs,
            survey_reminder_after_secs: s.survey_reminder_after_secs,
            survey_expire_after_secs: s.survey_expire_after_secs,
            sla_assign_secs: s.sla_assign_secs,
            sla_accept_secs: s.sla_accept_secs,
            sla_complete_secs: s.sla_complete_secs,
            poll_ms: s.poll_ms,
        }
    }
}

/// The ticket service.
pub struct Tickets {
    /// The database.
    pub db: Db,
    /// The expert pool.
    pub dispatcher: Arc<Dispatcher>,
    /// Templates and the outbox worker's wake-up.
    pub notifier: Arc<Notifier>,
    /// Devices hear about changed tickets through this.
    pub sync: SyncHandle,
    /// Survey link signing.
    pub surveys: SurveyKeys,
    /// Lifecycle timings.
    pub rules: Rules,
    intake: intake::Intake,
    inflight: Arc<InFlight>,
}

impl Tickets {
    /// The service over a started intake writer; `inflight` is the node's set of
    /// idempotency keys being processed (shared with the other creating requests).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        db: Db,
        dispatcher: Arc<Dispatcher>,
        notifier: Arc<Notifier>,
        sync: SyncHandle,
        surveys: SurveyKeys,
        rules: Rules,
        intake: intake::Intake,
        inflight: Arc<InFlight>,
    ) -> Self {
        Self { db, dispatcher, notifier, sync, surveys, rules, intake, inflight }
    }

    /// Checks and raises a ticket for `by` (a customer for themselves, an agent for a
    /// customer): it is assigned in the same transaction and durable when this returns.
    pub async fn submit(&self, by: Caller, req: TicketRequest, keyed: Option<Keyed>) -> Result<Submitted, TicketError> {
        submit::submit(self, by, req, keyed).await
    }

    /// Runs a lifecycle operation on ticket `id` for `actor`; returns the updated row.
    pub async fn run(&self, actor: Actor, id: Uuid, op: Op) -> Result<ticket::Model, TicketError> {
        ops::run(self, actor, id, op).await
    }

    /// Records the survey answer behind an e-mailed link, once, and closes the ticket.
    pub async fn answer_survey(
        &self,
        token: &str,
        rating: i64,
        comment: &str,
    ) -> Result<survey_row::Model, TicketError> {
        survey::submit(self, token, rating, comment).await
    }

    /// The customer's link to the survey sealed in `token`.
    pub fn survey_url(&self, token: &str) -> String {
        format!("{}/survey/{token}", self.notifier.public_url)
    }
}
