//! Manager reports over HTTP: ticketing and expert performance as JSON or CSV (issue 11,
//! ADR 16). Financial reports need billing, which this server does not have yet.

use super::problem::{ApiError, ApiResult};
use crate::auth::{Caller, Role};
use crate::reports::params::ReportParams;
use crate::reports::query::{self, ExpertsReport, TicketingReport};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::web::Query;
use actix_web::{HttpRequest, HttpResponse, get, web};

/// Who may read reports.
pub const READERS: &[Role] = &[Role::Manager, Role::Admin];

fn csv_response(name: &str, from: chrono::NaiveDate, to: chrono::NaiveDate, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}-{from}-{to}.csv\"")))
        .body(body)
}

fn accept(req: &HttpRequest) -> Option<&str> {
    req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok())
}

/// The ticketing report: volume by day, category, area and channel; time to assign,
/// accept, arrive and complete (p50/p90 from 5%-wide buckets, exact means); backlog by
/// age at the end of the range; unassignable tickets, declines and cancellations with
/// their reasons; reassignments. Days are in `tz`. Figures come from the reports' read
/// model (`as_of` says how current it is). CSV (`format=csv` or `Accept: text/csv`) is
/// long-form: `section,key,label,metric,value`.
#[utoipa::path(tag = "reports", params(ReportParams),
    responses((status = 200, description = "The report; as CSV (`format=csv` or `Accept: text/csv`): section,key,label,metric,value",
        content((TicketingReport = "application/json"), (String = "text/csv"))),
        (status = 403, body = super::problem::Problem), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/reports/ticketing")]
pub async fn ticketing(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    q: Query<ReportParams>,
) -> ApiResult<HttpResponse> {
    caller.require(READERS, "reading reports")?;
    let (range, filters) = q.parse()?;
    let csv = q.wants_csv(accept(&req))?;
    let r = query::ticketing(&state.db, &range, &filters).await?;
    Ok(if csv {
        csv_response("ticketing", r.from, r.to, crate::reports::csv::ticketing(&r))
    } else {
        HttpResponse::Ok().json(r)
    })
}

/// The expert-performance report: per expert, assignments offered and accepted
/// (acceptance rate), declines with reasons, timeouts, completions, time to accept,
/// arrive and complete, first-time-fix rate (no repeat ticket for the same subscription
/// and category within 30 days), survey score and response rate, knowledge-base
/// articles written and published. CSV: one row per expert.
#[utoipa::path(tag = "reports", params(ReportParams),
    responses((status = 200, description = "The report; as CSV (`format=csv` or `Accept: text/csv`): one row per expert",
        content((ExpertsReport = "application/json"), (String = "text/csv"))),
        (status = 403, body = super::problem::Problem), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/reports/experts")]
pub async fn experts(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    q: Query<ReportParams>,
) -> ApiResult<HttpResponse> {
    caller.require(READERS, "reading reports")?;
    let (range, filters) = q.parse()?;
    let csv = q.wants_csv(accept(&req))?;
    let r = query::experts(&state.db, &range, &filters).await?;
    Ok(if csv {
        csv_response("experts", r.from, r.to, crate::reports::csv::experts(&r))
    } else {
        HttpResponse::Ok().json(r)
    })
}

/// Financial reports are not available yet: they are built on billing (subscriptions'
/// invoices and payments), which this server does not have. Always 404 with that reason.
#[utoipa::path(tag = "reports", responses((status = 404, body = super::problem::Problem),
    (status = 403, body = super::problem::Problem)), security(("bearer" = [])))]
#[get("/api/v1/reports/financial")]
pub async fn financial(caller: Caller) -> ApiResult<HttpResponse> {
    caller.require(READERS, "reading reports")?;
    Err(ApiError::NotFound(
        "financial reports are not available yet: they need billing (invoices and payments), which this server \
         does not have; the ticketing and experts reports are"
            .to_owned(),
    ))
}
