//! Manager reports over HTTP: ticketing and expert performance as JSON or CSV (issue 11,
//! ADR 16), and the financial report from billing's ledger and invoices.

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

/// The financial report, from billing's ledger and invoices: per currency, money
/// charged and refunded in the range (cash basis: by the local month of the movement,
/// per plan of the invoice's subscription), invoices issued in the range and how much of
/// them was collected (collection rate), declined and recovered payments, refunds with
/// their reasons, and what is outstanding now (due, past due, uncollectible). CSV
/// (`format=csv` or `Accept: text/csv`) is long-form: section,month,plan,currency,metric,value.
#[utoipa::path(tag = "reports", params(ReportParams),
    responses((status = 200, description = "The report; as CSV (`format=csv` or `Accept: text/csv`): section,month,plan,currency,metric,value",
        content((crate::reports::financial::FinancialReport = "application/json"), (String = "text/csv"))),
        (status = 403, body = super::problem::Problem), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/reports/financial")]
pub async fn financial(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    q: Query<ReportParams>,
) -> ApiResult<HttpResponse> {
    caller.require(READERS, "reading reports")?;
    let (range, filters) = q.parse()?;
    for (field, set) in [
        ("category", filters.category.is_some()),
        ("area", filters.area.is_some()),
        ("expert", filters.expert.is_some()),
    ] {
        if set {
            return Err(ApiError::field(field, "the financial report has no such filter; use from, to and tz"));
        }
    }
    let csv = q.wants_csv(accept(&req))?;
    let r = crate::reports::financial::financial(&state.db, &range).await?;
    Ok(if csv {
        csv_response("financial", r.from, r.to, crate::reports::financial::csv(&r))
    } else {
        HttpResponse::Ok().json(r)
    })
}
