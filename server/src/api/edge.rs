//! What every response shares at the HTTP edge: security headers (and a content policy
//! on HTML pages), HEAD answered like GET, and 405 with `Allow` (or 204 to `OPTIONS`)
//! for a method a real route does not take.

use super::ApiDoc;
use super::problem::ApiError;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use std::collections::HashMap;
use std::sync::LazyLock;
use utoipa::OpenApi;

/// The content policy of HTML pages that do not set their own: our own scripts only,
/// never framed, forms post back here.
pub const HTML_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Adds the security headers (see the module docs); a page that set its own policy keeps it.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let mut res = next.call(req).await?;
    let html = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Survey and reset links carry their token in the URL: never send it on as a referrer.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if html {
        if !h.contains_key(header::CONTENT_SECURITY_POLICY) {
            h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(HTML_POLICY));
        }
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    }
    Ok(res)
}

/// HEAD is served by the GET route (the server sends the headers without the body), so
/// load balancers' HEAD health checks work. Logs and metrics still say HEAD.
pub async fn head_as_get(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    if req.method() == Method::HEAD {
        req.head_mut().method = Method::GET;
    }
    next.call(req).await
}

/// Routes that are not in the OpenAPI document, with their methods.
const OTHER_ROUTES: &[(&str, &[&str])] = &[
    ("/survey/{token}", &["GET", "POST"]),
    ("/problems/{slug}", &["GET"]),
    ("/docs", &["GET"]),
    ("/docs/{_:.*}", &["GET"]),
    ("/api/v1/openapi.json", &["GET"]),
    ("/dev/outbox", &["GET"]),
    ("/api/v1/webhooks/twilio/status", &["POST"]),
];

/// Route pattern → the methods it takes (with HEAD where GET, and OPTIONS).
static METHODS: LazyLock<HashMap<String, String>> = LazyLock::new(|| {
    let mut map: HashMap<String, Vec<&'static str>> = HashMap::new();
    for (path, item) in ApiDoc::openapi().paths.paths {
        let m = map.entry(path).or_default();
        for (name, op) in [
            ("GET", item.get.is_some()),
            ("POST", item.post.is_some()),
            ("PUT", item.put.is_some()),
            ("PATCH", item.patch.is_some()),
            ("DELETE", item.delete.is_some()),
        ] {
            if op {
                m.push(name);
            }
        }
    }
    for (path, methods) in OTHER_ROUTES {
        map.entry((*path).to_owned()).or_default().extend(methods.iter().copied());
    }
    map.into_iter()
        .map(|(path, mut methods)| {
            if methods.contains(&"GET") {
                methods.push("HEAD");
            }
            methods.push("OPTIONS");
            methods.sort_unstable();
            methods.dedup();
            (path, methods.join(", "))
        })
        .collect()
});

/// The methods `req`'s path takes, if it is a route of ours.
pub fn allowed(req: &HttpRequest) -> Option<&'static str> {
    let pattern = req.resource_map().match_pattern(req.path())?;
    METHODS.get(&pattern).map(String::as_str)
}

/// Unknown routes: 404 as a problem. A real route asked with a method it does not take:
/// 405 with `Allow`, or 204 with `Allow` for `OPTIONS`.
pub async fn not_found(req: HttpRequest) -> HttpResponse {
    if let Some(allow) = allowed(&req) {
        if req.method() == Method::OPTIONS {
            return HttpResponse::NoContent().insert_header((header::ALLOW, allow)).finish();
        }
        let method = crate::telemetry::requests::method_label(req.method());
        let mut res = ApiError::MethodNotAllowed(format!(
            "{} is not allowed on {}; allowed: {allow}",
            if method == "OTHER" { "this method" } else { method },
            req.path()
        ))
        .error_response();
        res.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
        debug_assert_eq!(res.status(), StatusCode::METHOD_NOT_ALLOWED);
        return res;
    }
    ApiError::NotFound(format!("no route {} {}", req.method(), req.path())).error_response()
}
