//! What a page shows when it cannot show what was asked: sign in first (a redirect), a
//! 403 or 404 page in the site's own layout, or a 500 page that says nothing was lost.
//! Forms never get here for bad input: they show it next to the field.

use super::chrome::Chrome;
use crate::api::problem::ApiError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

/// An error page.
#[derive(Template)]
#[template(path = "web/error.html")]
pub struct ErrorPage<'a> {
    /// Layout.
    pub chrome: &'a Chrome,
    /// Headline.
    pub title: &'a str,
    /// What happened and what to do.
    pub message: &'a str,
}

/// Why a page could not be shown.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Nobody is signed in: go to the sign-in page, then come back to `next`.
    #[error("sign in first")]
    SignIn {
        /// Where to return.
        next: String,
    },
    /// A rendered error page.
    #[error("{status}")]
    Page {
        /// Its status.
        status: StatusCode,
        /// Its HTML.
        html: String,
    },
    /// Something broke on our side.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

fn render(chrome: &Chrome, status: StatusCode, title: &str, message: &str) -> WebError {
    let html = ErrorPage { chrome, title, message }
        .render()
        .unwrap_or_else(|_| format!("<!doctype html><title>{status}</title><h1>{status}</h1>"));
    WebError::Page { status, html }
}

impl WebError {
    /// The 403 page.
    pub fn forbidden(chrome: &Chrome) -> Self {
        render(
            chrome,
            StatusCode::FORBIDDEN,
            "This page is not for your account",
            "You are signed in, but your role does not give access to this page. Use the navigation above, or sign in with another account.",
        )
    }

    /// The 404 page.
    pub fn not_found(chrome: &Chrome) -> Self {
        render(
            chrome,
            StatusCode::NOT_FOUND,
            "Page not found",
            "There is nothing at this address. It may have moved, or the link may be mistyped.",
        )
    }

    /// A 404 without a session at hand.
    pub fn missing() -> Self {
        Self::not_found(&Chrome::bare())
    }

    /// A form or address that could not be read at all (400).
    pub fn bad_form(detail: &str) -> Self {
        render(&Chrome::bare(), StatusCode::BAD_REQUEST, "That request could not be read", detail)
    }

    /// A form sent without its CSRF token, or from another site (403).
    pub fn expired() -> Self {
        render(
            &Chrome::bare(),
            StatusCode::FORBIDDEN,
            "This form has expired",
            "For your security the form could not be accepted: it was open too long, or it did not come from this site. Go back, reload the page and send it again.",
        )
    }

    /// An API error as a page: 403 and 404 as such, conflicts and refusals with their
    /// detail, anything else as the 500 page.
    pub fn from_api(chrome: &Chrome, e: ApiError) -> Self {
        match e {
            ApiError::Forbidden(_) => Self::forbidden(chrome),
            ApiError::NotFound(_) => Self::not_found(chrome),
            ApiError::Unauthorized(_) => Self::SignIn { next: "/".to_owned() },
            ApiError::Internal(e) => Self::Internal(e),
            other => render(chrome, other.status_code(), "That could not be done", &other.problem().detail),
        }
    }
}

impl From<crate::error::ServiceError> for WebError {
    fn from(e: crate::error::ServiceError) -> Self {
        Self::from_api(&Chrome::bare(), e.into())
    }
}

impl From<ApiError> for WebError {
    fn from(e: ApiError) -> Self {
        Self::from_api(&Chrome::bare(), e)
    }
}

impl ResponseError for WebError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::SignIn { .. } => StatusCode::SEE_OTHER,
            Self::Page { status, .. } => *status,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::SignIn { next } => {
                let to = format!(
                    "/sign-in?next={}",
                    url::form_urlencoded::byte_serialize(next.as_bytes()).collect::<String>()
                );
                HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
            }
            Self::Page { status, html } => {
                HttpResponse::build(*status).content_type("text/html; charset=utf-8").body(html.clone())
            }
            Self::Internal(e) => {
                tracing::error!(error = ?e, "internal error on a page");
                let html = ErrorPage {
                    chrome: &Chrome::bare(),
                    title: "Something went wrong on our side",
                    message: "Nothing was changed by this request. Please try again in a moment.",
                }
                .render()
                .unwrap_or_default();
                HttpResponse::InternalServerError().content_type("text/html; charset=utf-8").body(html)
            }
        }
    }
}

/// A page, or why not.
pub type WebResult<T> = Result<T, WebError>;
