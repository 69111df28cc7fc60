//! The web front end, served by the same binary as the API: the customer portal, the
//! call-center console and the back office. Pages are rendered on the server (askama,
//! checked at compile time, escaped by default) and work with JavaScript off: plain
//! forms, POST-redirect-GET. With JavaScript, htmx (2.0.11, vendored) and a few lines of
//! our own make them quicker (live customer search, town suggestions, geolocation).
//!
//! Pages call the same services and the same authorization check as the API
//! (`Caller::require`); a cookie session (encrypted, key shared by every node) yields the
//! `Caller`. Every state-changing form carries a CSRF token (`csrf`).

pub mod assets;
pub mod backoffice;
pub mod billing;
pub mod chrome;
pub mod console;
pub mod console_tickets;
pub mod csrf;
pub mod customer;
pub mod error;
pub mod financial;
pub mod form;
pub mod home;
pub mod invoices;
pub mod live;
pub mod my_tickets;
pub mod register;
pub mod reports;
pub mod session;
pub mod staff;
pub mod tickets;

use actix_session::Session;
use actix_web::http::header;
use actix_web::middleware::{DefaultHeaders, from_fn};
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use chrome::Chrome;
use error::WebError;

/// The content security policy of every page: our own scripts and styles only.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

/// Every page, as one scope registered after the API (it answers whatever the API does
/// not, including unknown paths: an HTML 404 for browsers, a problem for `/api/…`).
pub fn configure(cfg: &mut web::ServiceConfig, sessions: &session::Sessions, live: &std::sync::Arc<live::Live>) {
    cfg.service(
        web::scope("")
            .app_data(web::Data::new(live.clone()))
            .app_data(
                web::FormConfig::default()
                    .limit(64 * 1024)
                    .error_handler(|e, _| WebError::bad_form(&format!("the form could not be read: {e}")).into()),
            )
            .app_data(web::QueryConfig::default().error_handler(|e, _| {
                WebError::bad_form(&format!("the address has an unusable parameter: {e}")).into()
            }))
            .app_data(web::PathConfig::default().error_handler(|_, _| WebError::missing().into()))
            .wrap(from_fn(csrf::protect))
            .wrap(sessions.middleware())
            .wrap(
                DefaultHeaders::new()
                    .add((header::CONTENT_SECURITY_POLICY, CSP))
                    .add((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
                    .add((header::REFERRER_POLICY, "same-origin"))
                    .add((header::X_FRAME_OPTIONS, "DENY")),
            )
            .service(assets::serve)
            .configure(home::routes)
            .configure(register::routes)
            .configure(customer::routes)
            .configure(my_tickets::routes)
            .configure(console::routes)
            .configure(console_tickets::routes)
            .configure(backoffice::routes)
            .configure(reports::routes)
            .configure(billing::routes)
            .configure(financial::routes)
            .configure(staff::routes)
            .configure(invoices::routes)
            .default_service(web::to(not_found)),
    );
}

/// Unknown paths: a problem for the API and for clients that do not ask for HTML, a
/// page for browsers.
pub async fn not_found(req: HttpRequest, session: Session) -> HttpResponse {
    let wants_html =
        req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"));
    if req.path().starts_with("/api/") || !wants_html {
        return crate::api::edge::not_found(req).await;
    }
    let chrome = Chrome::new(&session, req.path());
    WebError::not_found(&chrome).error_response()
}
