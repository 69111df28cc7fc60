//! What the ticket service can answer instead of a result. Front ends map it once: the
//! API to problem details (`api::problem`), the web pages to HTML, the sync projection to
//! a recorded conflict. Nothing here knows about HTTP.

use sysops_core::ticket::TransitionError;
use sysops_core::{FieldError, ValidationErrors};

/// Every way a ticket operation can fail.
#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    /// Nothing there, or not the caller's to see (the message names what).
    #[error("{0}")]
    NotFound(String),
    /// Input fields that do not make a valid request; each names its field.
    #[error("invalid fields: {0}")]
    Invalid(ValidationErrors),
    /// The state machine (or the ticket's owner rules) refuses the operation now.
    #[error("{0}")]
    Refused(String),
    /// A one-time link or invitation that is no longer valid.
    #[error("{0}")]
    Expired(String),
    /// A link that was damaged or altered.
    #[error("{0}")]
    Damaged(String),
    /// The same idempotency key was used before with a different request.
    #[error("{0}")]
    KeyReused(String),
    /// The same idempotency key is being processed right now (or finished on another
    /// node while this one worked): retry to get its answer.
    #[error("{0}")]
    InFlight(String),
    /// The service is shedding load or shutting down; nothing was stored.
    #[error("{detail}")]
    Overloaded {
        /// What happened and what to do.
        detail: String,
        /// Seconds to wait before retrying.
        retry_after_secs: u64,
    },
    /// Another node gave these experts a ticket at the same moment and they are now at
    /// capacity: the operation is retried with the pool reloaded (and answered as a
    /// conflict if it keeps happening).
    #[error("an expert's last place was taken at the same moment; please retry")]
    Raced(Vec<uuid::Uuid>),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] sea_orm::DbErr),
    /// A broken invariant (a stored row the domain cannot read, …).
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl TicketError {
    /// Not found: `what` ("ticket", "customer") does not exist or is not the caller's.
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    /// One invalid field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid(FieldError::new(field, message).into())
    }

    /// The state machine refused `op` (a past participle: "accepted", "completed").
    pub fn transition(e: TransitionError, op: &str) -> Self {
        Self::Refused(match e {
            TransitionError::NotAllowed { status, .. } => format!("the ticket is {status}; it cannot be {op} now"),
            TransitionError::NotAssignee => "the ticket is not assigned to you".to_owned(),
            TransitionError::ExpertExcluded => "this expert already passed on the ticket".to_owned(),
        })
    }

    /// What the error says to the person who caused it: the message, except for
    /// storage and internal failures, whose details belong in the log only.
    pub fn detail(&self) -> String {
        match self {
            Self::Storage(_) | Self::Internal(_) => {
                "an internal error occurred; nothing was changed by this request".to_owned()
            }
            other => other.to_string(),
        }
    }

    /// A broken invariant, with context for the log.
    pub fn internal(what: impl std::fmt::Display) -> Self {
        Self::Internal(anyhow::anyhow!("{what}"))
    }
}

impl From<ValidationErrors> for TicketError {
    fn from(v: ValidationErrors) -> Self {
        Self::Invalid(v)
    }
}

impl From<FieldError> for TicketError {
    fn from(v: FieldError) -> Self {
        Self::Invalid(v.into())
    }
}
