//! RFC 9457 problem details: every error the API returns has this shape, with a `detail`
//! that tells the caller what to fix.

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use sysops_core::{FieldError, ValidationErrors};

/// The media type of problem details.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The body of a problem response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// A URI naming the kind of problem; `/problems/{slug}` on this server describes it.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong in this occurrence and how to fix it.
    pub detail: String,
    /// Field-level errors of a validation problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<FieldErrorBody>>,
}

/// One invalid field.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct FieldErrorBody {
    /// Dotted path of the field (`location.lat`).
    pub field: String,
    /// What is wrong with it.
    pub message: String,
}

/// Every error an API handler can return.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body is not JSON at all (400).
    #[error("{0}")]
    Malformed(String),
    /// A header or parameter is unusable (400).
    #[error("{0}")]
    BadRequest(String),
    /// Well-formed but invalid fields (422 with `errors`).
    #[error("{0}")]
    Validation(ValidationErrors),
    /// Well-formed but refused for a reason that is not one field (422).
    #[error("{0}")]
    Unprocessable(String),
    /// No valid credentials (401).
    #[error("{0}")]
    Unauthorized(String),
    /// The caller's role may never do this (403).
    #[error("{0}")]
    Forbidden(String),
    /// Nothing there, or not the caller's to see (404).
    #[error("{0}")]
    NotFound(String),
    /// A real route that does not take this method (405; the edge adds `Allow`).
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The request conflicts with the current state (409).
    #[error("{0}")]
    Conflict(String),
    /// A survey link, or another token, that is no longer valid (410).
    #[error("{0}")]
    Gone(String),
    /// The body is too large (413).
    #[error("{0}")]
    TooLarge(String),
    /// The body is not JSON (415).
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Too many attempts (429 with `Retry-After`).
    #[error("{detail}")]
    RateLimited {
        /// Explanation.
        detail: String,
        /// Seconds to wait before retrying.
        retry_after_secs: u64,
    },
    /// The server is shedding load (503 with `Retry-After`).
    #[error("{detail}")]
    Overloaded {
        /// Explanation.
        detail: String,
        /// Seconds to wait before retrying.
        retry_after_secs: u64,
    },
    /// Something broke on our side (500); the detail is logged, not shown.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 404 for `what`.
    pub fn not_found(what: &str) -> Self {
        Self::NotFound(format!("{what} not found"))
    }

    /// A 422 naming one field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(FieldError::new(field, message).into())
    }

    fn slug_and_title(&self) -> (&'static str, &'static str) {
        match self {
            Self::Malformed(_) => ("malformed-json", "Malformed JSON"),
            Self::BadRequest(_) => ("bad-request", "Bad request"),
            Self::Validation(_) => ("validation", "Invalid fields"),
            Self::Unprocessable(_) => ("unprocessable", "Request cannot be processed"),
            Self::Unauthorized(_) => ("unauthorized", "Authentication required"),
            Self::Forbidden(_) => ("forbidden", "Not allowed for this role"),
            Self::NotFound(_) => ("not-found", "Not found"),
            Self::MethodNotAllowed(_) => ("method-not-allowed", "Method not allowed"),
            Self::Conflict(_) => ("conflict", "Conflict"),
            Self::Gone(_) => ("gone", "No longer valid"),
            Self::TooLarge(_) => ("too-large", "Request body too large"),
            Self::UnsupportedMediaType(_) => ("unsupported-media-type", "Unsupported media type"),
            Self::RateLimited { .. } => ("rate-limited", "Too many attempts"),
            Self::Overloaded { .. } => ("overloaded", "Server busy"),
            Self::Internal(_) => ("internal", "Internal error"),
        }
    }

    /// The problem body of this error.
    pub fn problem(&self) -> Problem {
        let (slug, title) = self.slug_and_title();
        let detail = match self {
            Self::Internal(_) => "an internal error occurred; nothing was changed by this request".to_owned(),
            Self::Validation(v) => format!("invalid fields: {v}"),
            other => other.to_string(),
        };
        let errors = match self {
            Self::Validation(v) => Some(
                v.0.iter().map(|e| FieldErrorBody { field: e.field.clone(), message: e.message.clone() }).collect(),
            ),
            _ => None,
        };
        Problem {
            kind: format!("/problems/{slug}"),
            title: title.to_owned(),
            status: self.status_code().as_u16(),
            detail,
            errors,
        }
    }
}

impl From<ValidationErrors> for ApiError {
    fn from(v: ValidationErrors) -> Self {
        Self::Validation(v)
    }
}

impl From<FieldError> for ApiError {
    fn from(v: FieldError) -> Self {
        Self::Validation(v.into())
    }
}

/// The one mapping from the other services' errors to problems.
impl From<crate::error::ServiceError> for ApiError {
    fn from(e: crate::error::ServiceError) -> Self {
        use crate::error::ServiceError as S;
        match e {
            S::Validation(v) => Self::Validation(v),
            S::Unprocessable(m) => Self::Unprocessable(m),
            S::Unauthorized(m) => Self::Unauthorized(m),
            S::Forbidden(m) => Self::Forbidden(m),
            S::NotFound(m) => Self::NotFound(m),
            S::Conflict(m) => Self::Conflict(m),
            S::Gone(m) => Self::Gone(m),
            S::RateLimited { detail, retry_after_secs } => Self::RateLimited { detail, retry_after_secs },
            S::Overloaded { detail, retry_after_secs } => Self::Overloaded { detail, retry_after_secs },
            S::Internal(e) => Self::Internal(e),
        }
    }
}

impl From<crate::auth::sign_in::SignInError> for ApiError {
    fn from(e: crate::auth::sign_in::SignInError) -> Self {
        crate::error::ServiceError::from(e).into()
    }
}

/// The one mapping from the ticket service's errors to problems.
impl From<crate::tickets::TicketError> for ApiError {
    fn from(e: crate::tickets::TicketError) -> Self {
        use crate::tickets::TicketError as T;
        match e {
            T::NotFound(m) => Self::NotFound(m),
            T::Invalid(v) => Self::Validation(v),
            T::Refused(m) | T::InFlight(m) => Self::Conflict(m),
            e @ T::Raced(_) => Self::Conflict(e.to_string()),
            T::Expired(m) => Self::Gone(m),
            T::Damaged(m) => Self::BadRequest(m),
            T::KeyReused(m) => Self::Unprocessable(m),
            T::Overloaded { detail, retry_after_secs } => Self::Overloaded { detail, retry_after_secs },
            T::Storage(e) => e.into(),
            T::Internal(e) => Self::Internal(e),
        }
    }
}

impl ApiError {
    /// A service's internal failure: 503 when it is the database being briefly
    /// unavailable (as for a [`sea_orm::DbErr`] met directly), 500 otherwise.
    pub fn internal(e: anyhow::Error) -> Self {
        match e.downcast::<sea_orm::DbErr>() {
            Ok(db) => db.into(),
            Err(e) => Self::Internal(e),
        }
    }
}

impl From<sea_orm::DbErr> for ApiError {
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

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Malformed(_) | Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) | Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Gone(_) => StatusCode::GONE,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Overloaded { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if let Self::Internal(e) = self {
            tracing::error!(error = ?e, "internal error");
        }
        let mut resp = HttpResponse::build(self.status_code());
        resp.insert_header((header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON)));
        match self {
            Self::Overloaded { retry_after_secs, .. } | Self::RateLimited { retry_after_secs, .. } => {
                resp.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::Unauthorized(_) => {
                resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            _ => {}
        }
        resp.body(serde_json::to_string(&self.problem()).unwrap_or_default())
    }
}

/// Shorthand for handler results.
pub type ApiResult<T> = Result<T, ApiError>;

/// Descriptions served at `/problems/{slug}`.
pub fn describe(slug: &str) -> Option<&'static str> {
    Some(match slug {
        "malformed-json" => "The request body could not be parsed as JSON. Check quoting, commas and brackets.",
        "bad-request" => "A header or query parameter could not be used; the detail names it.",
        "validation" => {
            "One or more fields are missing, of the wrong type, unknown, or out of range. `errors` lists each field and what is wrong with it."
        }
        "unprocessable" => {
            "The request is well-formed but cannot be carried out in the current state, or an Idempotency-Key was reused with a different body."
        }
        "unauthorized" => {
            "Send a valid, unexpired access token as `Authorization: Bearer <token>`; obtain one from POST /api/v1/auth/login or /auth/refresh."
        }
        "forbidden" => "Your role may not perform this action.",
        "not-found" => "The resource does not exist, or it is not yours to see.",
        "method-not-allowed" => {
            "This route does not take that HTTP method; the `Allow` header lists the ones it takes."
        }
        "conflict" => {
            "The request conflicts with the current state (a duplicate, an action already taken, or an identical request still in flight)."
        }
        "gone" => "The link or token has expired or was already used.",
        "too-large" => "The request body exceeds the size limit.",
        "unsupported-media-type" => "Send JSON with `Content-Type: application/json`.",
        "rate-limited" => {
            "Too many failed attempts for this account or from this address. Wait the number of seconds in `Retry-After`, then try again; if you forgot the password, ask for a reset link."
        }
        "overloaded" => {
            "The server is shedding load to stay responsive. Retry after the number of seconds in `Retry-After`; with the same Idempotency-Key a retry never creates a duplicate."
        }
        "internal" => {
            "Something failed on the server. The request had no effect; it is safe to retry with the same Idempotency-Key."
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_service_failure_that_is_the_database_going_away_is_a_503() {
        let away = anyhow::Error::from(sea_orm::DbErr::Conn(sea_orm::RuntimeErr::Internal("gone".into())));
        assert_eq!(ApiError::internal(away).status_code(), StatusCode::SERVICE_UNAVAILABLE);
        let bug = anyhow::anyhow!("a bug");
        assert_eq!(ApiError::internal(bug).status_code(), StatusCode::INTERNAL_SERVER_ERROR);
    }
}
