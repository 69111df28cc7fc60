//! Liveness, readiness, metrics and the problem-type pages.

use super::problem::{ApiError, describe};
use crate::state::AppState;
use actix_web::{HttpResponse, get, web};

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

/// Prometheus text exposition.
#[utoipa::path(tag = "operations", responses((status = 200, description = "Prometheus metrics", content_type = "text/plain")))]
#[get("/metrics")]
pub async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain; version=0.0.4").body(state.metrics.render())
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
