//! Cross-site request forgery: every unsafe request to a page must come from this site
//! (`Sec-Fetch-Site`, else `Origin`, when the browser sends them) and carry the
//! session's token, as the `csrf` field of a form or the `X-CSRF-Token` header (htmx
//! sends it from `hx-headers` on `<body>`). The session cookie is also SameSite=Lax.

use super::error::WebError;
use super::session;
use actix_session::SessionExt;
use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::http::{Method, header};
use actix_web::middleware::Next;
use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use std::pin::Pin;

/// Largest form read here (the same limit the form extractor has).
const MAX_FORM: usize = 64 * 1024;

/// Whether the request says it came from another site.
fn cross_site(req: &ServiceRequest) -> bool {
    let h = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(site) = h("sec-fetch-site") {
        return !matches!(site.as_str(), "same-origin" | "none");
    }
    match h(header::ORIGIN.as_str()) {
        None => false,
        Some(origin) => {
            let info = req.connection_info();
            origin != format!("{}://{}", info.scheme(), info.host())
        }
    }
}

fn token_in_form(body: &[u8]) -> Option<String> {
    url::form_urlencoded::parse(body).find(|(k, _)| k == "csrf").map(|(_, v)| v.into_owned())
}

/// Constant-time comparison.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The middleware.
pub async fn protect(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    // Safe methods change nothing; `/api/…` and unknown paths that reach this scope are
    // not pages (the scope's default service answers them: 404, or 405 with `Allow`).
    // API-owned routes outside `/api/` (health, metrics, surveys) are not pages either.
    let no_page = req.path().starts_with("/api/")
        || req.resource_map().match_pattern(req.path()).is_none()
        || crate::api::edge::allowed(req.request()).is_some();
    if matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS) || no_page {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let refuse = |req: ServiceRequest| {
        let (r, _) = req.into_parts();
        let resp = actix_web::ResponseError::error_response(&WebError::expired());
        Ok(ServiceResponse::new(r, resp).map_into_right_body())
    };
    if cross_site(&req) {
        return refuse(req);
    }
    let Some(expected) = session::stored_csrf(&req.get_session()) else { return refuse(req) };
    let header_token = req.headers().get("x-csrf-token").and_then(|v| v.to_str().ok()).map(str::to_owned);
    let sent = match header_token {
        Some(t) => Some(t),
        None => {
            // Read the form, find the token, and put the body back for the handler.
            let mut body = BytesMut::new();
            let mut payload = req.take_payload();
            while let Some(chunk) = payload.next().await {
                let chunk = chunk?;
                if body.len() + chunk.len() > MAX_FORM {
                    return Err(actix_web::error::ErrorPayloadTooLarge("the form is too large"));
                }
                body.extend_from_slice(&chunk);
            }
            let body = body.freeze();
            let token = token_in_form(&body);
            let stream: Pin<Box<dyn futures::Stream<Item = Result<Bytes, PayloadError>>>> =
                Box::pin(futures::stream::once(async move { Ok(body) }));
            req.set_payload(Payload::from(stream));
            token
        }
    };
    match sent {
        Some(t) if same(&t, &expected) => Ok(next.call(req).await?.map_into_left_body()),
        _ => refuse(req),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_is_found_among_the_fields() {
        assert_eq!(token_in_form(b"name=a&csrf=abc%2B1&x=2").as_deref(), Some("abc+1"));
        assert_eq!(token_in_form(b"name=a"), None);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
