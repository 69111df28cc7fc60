//! Liveness, readiness, metrics and the problem-type pages.

use super::problem::{ApiError, describe};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, get, web};
use secrecy::ExposeSecret;

/// Always 200 while the process serves HTTP.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Alive")))]
#[get("/health/live")]
pub async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// 200 only when the database answers.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Ready"), (status = 503, description = "Database unreachable")))]
#[get("/health/ready")]
pub async fn ready(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    if state.db.ping().await {
        Ok(HttpResponse::Ok().json(serde_json::json!({ "status": "ready", "database": state.db.backend_name() })))
    } else {
        Err(ApiError::Overloaded { detail: "the database does not answer".to_owned(), retry_after_secs: 5 })
    }
}

/// Prometheus text exposition. Open unless `SYSOPS_METRICS_TOKEN` is set; then the
/// scraper sends it as `Authorization: Bearer <token>`.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Prometheus metrics", content_type = "text/plain"),
    (status = 401, body = super::problem::Problem, description = "A metrics token is configured and was not sent")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>, req: HttpRequest) -> Result<HttpResponse, ApiError> {
    if let Some(want) = &state.settings.metrics_token {
        let sent = super::extract::bearer(&req).unwrap_or_default();
        if !same(sent.as_bytes(), want.expose_secret().as_bytes()) {
            return Err(ApiError::Unauthorized(
                "metrics are protected: send the configured metrics token as Authorization: Bearer <token>".to_owned(),
            ));
        }
    }
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render()))
}

/// Compares secrets in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    use hmac::Mac;
    // Equal-length MACs of both compared by `verify_slice` (constant time).
    let mac = |x: &[u8]| {
        let mut m = hmac::Hmac::<sha2::Sha256>::new_from_slice(b"sysops metrics token").expect("any key length");
        m.update(x);
        m
    };
    mac(a).verify_slice(&mac(b).finalize().into_bytes()).is_ok()
}

/// What a problem type means.
#[get("/problems/{slug}")]
pub async fn problem_type(slug: web::Path<String>) -> Result<HttpResponse, ApiError> {
    let text = describe(&slug).ok_or_else(|| ApiError::not_found("problem type"))?;
    Ok(HttpResponse::Ok()
        .content_type("text/html; charset=utf-8")
        .body(format!("<!doctype html><title>{0}</title><h1>{0}</h1><p>{1}</p>", slug, text)))
}

/// `/docs` → `/docs/` (the API reference page, served with no internet).
#[get("/docs")]
pub async fn docs_redirect() -> HttpResponse {
    HttpResponse::PermanentRedirect().insert_header(("Location", "/docs/")).finish()
}
