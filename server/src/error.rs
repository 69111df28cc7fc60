//! The error of the account, plan, knowledge-base and sign-in services: what went wrong,
//! in the service's terms. Front ends map it once each: the API to problem details
//! (`api::problem`), the web pages to HTML. The ticket service has its own
//! (`tickets::TicketError`).

use sysops_core::{FieldError, ValidationErrors};

/// Why a service refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// Invalid fields, each named.
    #[error("{0}")]
    Validation(ValidationErrors),
    /// Refused for a reason that is not one field.
    #[error("{0}")]
    Unprocessable(String),
    /// Credentials missing, wrong or no longer valid.
    #[error("{0}")]
    Unauthorized(String),
    /// The caller may never do this.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing there, or not the caller's to see.
    #[error("{0}")]
    NotFound(String),
    /// Conflicts with the current state.
    #[error("{0}")]
    Conflict(String),
    /// A link or token that is no longer valid.
    #[error("{0}")]
    Gone(String),
    /// Too many attempts.
    #[error("{detail}")]
    RateLimited {
        /// Explanation.
        detail: String,
        /// Seconds to wait before retrying.
        retry_after_secs: u64,
    },
    /// Busy, or the database is briefly unavailable.
    #[error("{detail}")]
    Overloaded {
        /// Explanation.
        detail: String,
        /// Seconds to wait before retrying.
        retry_after_secs: u64,
    },
    /// Something broke on our side; logged, not shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// Shorthand for service results.
pub type ServiceResult<T> = Result<T, ServiceError>;

impl ServiceError {
    /// Nothing called `what` (or not the caller's).
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    /// One invalid field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(FieldError::new(field, message).into())
    }

    /// An internal failure: [`ServiceError::Overloaded`] when it is the database being
    /// briefly unavailable, [`ServiceError::Internal`] otherwise.
    pub fn internal(e: anyhow::Error) -> Self {
        match e.downcast::<sea_orm::DbErr>() {
            Ok(db) => db.into(),
            Err(e) => Self::Internal(e),
        }
    }
}

impl From<ValidationErrors> for ServiceError {
    fn from(v: ValidationErrors) -> Self {
        Self::Validation(v)
    }
}

impl From<FieldError> for ServiceError {
    fn from(v: FieldError) -> Self {
        Self::Validation(v.into())
    }
}

impl From<sea_orm::DbErr> for ServiceError {
    fn from(e: sea_orm::DbErr) -> Self {
        if crate::db::is_unavailable(&e) {
            tracing::warn!(error = %e, "database unavailable; answering 503");
            return Self::Overloaded {
                detail: "the database is briefly unavailable; nothing was changed by this request. Retry shortly \
                         (with the same Idempotency-Key, if you sent one)"
                    .to_owned(),
                retry_after_secs: 1,
            };
        }
        Self::Internal(e.into())
    }
}
