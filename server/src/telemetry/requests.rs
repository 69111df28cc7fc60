//! The span around each HTTP request and the one line logged when it fails. Secrets never
//! reach a log line: query parameters that carry them (`?access_token=`, `?token=`, …)
//! and path segments that are tokens (survey links, reset links) are redacted in the
//! span every line inherits. Client errors (4xx) are logged at debug, as one short line;
//! server errors (5xx) at error.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::{Error, HttpMessage};
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};

/// Shown instead of a secret.
pub const REDACTED: &str = "[redacted]";

/// Query parameters whose values are secrets.
const SECRET_PARAMS: &[&str] = &[
    "access_token",
    "refresh_token",
    "id_token",
    "token",
    "code",
    "password",
    "secret",
    "key",
    "api_key",
    "apikey",
    "signature",
    "sig",
    "auth",
    "authorization",
    "jwt",
    "session",
];

/// Path segments after which the next segment is a token.
const TOKEN_PARENTS: &[&str] = &["survey", "surveys", "reset-password", "password-reset", "reset"];

fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::parse_str(s).is_ok()
}

/// A segment that looks like a token wherever it appears: long and made of token
/// characters (base64url, JWT dots), and not an id.
fn looks_like_token(s: &str) -> bool {
    s.len() >= 40
        && !is_uuid(s)
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'%' | b'='))
}

/// `path?query` with secrets replaced by [`REDACTED`].
pub fn redact_target(target: &str) -> String {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (target, None),
    };
    let mut out = String::with_capacity(target.len().min(512));
    let mut after_parent = false;
    for (i, seg) in path.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        if (after_parent && !seg.is_empty()) || looks_like_token(seg) {
            out.push_str(REDACTED);
        } else {
            out.push_str(seg);
        }
        after_parent = TOKEN_PARENTS.contains(&seg.to_ascii_lowercase().as_str());
    }
    if let Some(q) = query {
        out.push('?');
        for (i, pair) in q.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decoded_lower(k);
            if SECRET_PARAMS.contains(&name.as_str()) || looks_like_token(v) {
                out.push_str(k);
                out.push('=');
                out.push_str(REDACTED);
            } else {
                out.push_str(pair);
            }
        }
    }
    // Bound what an attacker can make us write.
    truncate(out, 512)
}

/// Free text (an error message) with token-like words redacted.
pub fn redact_text(text: &str) -> String {
    let words: Vec<String> = text
        .split(' ')
        .map(|w| {
            if w.contains('/') || w.contains('?') {
                redact_target(w)
            } else if looks_like_token(w.trim_matches(|c: char| !c.is_ascii_alphanumeric())) {
                REDACTED.to_owned()
            } else {
                w.to_owned()
            }
        })
        .collect();
    truncate(words.join(" "), 300)
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

fn percent_decoded_lower(k: &str) -> String {
    let bytes = k.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("zz"), 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).to_ascii_lowercase()
}

/// Standard HTTP methods keep their name; anything else is `OTHER` (bounded logs and
/// metric labels whatever a client sends).
pub fn method_label(method: &actix_web::http::Method) -> &'static str {
    use actix_web::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::CONNECT => "CONNECT",
        Method::TRACE => "TRACE",
        _ => "OTHER",
    }
}

/// The request span of the server (see the module docs).
pub struct RequestSpans;

impl RootSpanBuilder for RequestSpans {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let target = redact_target(request.uri().path_and_query().map_or("", |p| p.as_str()));
        let route = request.match_pattern().unwrap_or_else(|| "default".to_owned());
        let request_id = request.extensions().get::<RequestId>().map(ToString::to_string).unwrap_or_default();
        let user_agent = request.headers().get("user-agent").and_then(|v| v.to_str().ok()).unwrap_or("");
        let client = request.peer_addr().map(|a| a.ip().to_string()).unwrap_or_default();
        tracing::info_span!(
            "HTTP request",
            http.method = method_label(request.method()),
            http.route = %route,
            http.target = %target,
            http.client_ip = %client,
            http.user_agent = %truncate(user_agent.to_owned(), 120),
            http.status_code = tracing::field::Empty,
            request_id = %request_id,
        )
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        let (status, error) = match outcome {
            Ok(res) => (res.status(), res.response().error().map(|e| e.to_string())),
            Err(e) => (e.as_response_error().status_code(), Some(e.to_string())),
        };
        span.record("http.status_code", status.as_u16());
        let error = error.map(|e| redact_text(&e)).unwrap_or_default();
        if status.is_server_error() {
            tracing::error!(parent: &span, status = status.as_u16(), error = %error, "request failed");
        } else if status.is_client_error() {
            tracing::debug!(parent: &span, status = status.as_u16(), error = %error, "request refused");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_queries_and_token_paths_are_redacted() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.abcdefghijklmnopqrstuvwxyz012345";
        assert_eq!(
            redact_target(&format!("/api/v1/sync?access_token={jwt}&peer=x")),
            "/api/v1/sync?access_token=[redacted]&peer=x"
        );
        assert_eq!(redact_target("/x?Access%5Ftoken=abc"), "/x?Access%5Ftoken=[redacted]");
        assert_eq!(redact_target("/survey/abc123"), "/survey/[redacted]");
        assert_eq!(redact_target("/api/v1/surveys/abc123?x=1"), "/api/v1/surveys/[redacted]?x=1");
        assert_eq!(redact_target(&format!("/any/{jwt}/more")), "/any/[redacted]/more");
        let id = uuid::Uuid::new_v4();
        assert_eq!(redact_target(&format!("/api/v1/tickets/{id}")), format!("/api/v1/tickets/{id}"));
        assert_eq!(redact_text(&format!("no route GET /survey/{jwt}")), "no route GET /survey/[redacted]");
        assert!(redact_target(&"a".repeat(5000)).len() < 600);
    }

    #[test]
    fn only_standard_methods_keep_their_name() {
        use actix_web::http::Method;
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"FROBNICATE").unwrap()), "OTHER");
    }
}
