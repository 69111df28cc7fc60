//! Invoices over HTTP: the customer's history in cursor pages, one invoice as JSON or as
//! its PDF statement (`Accept: application/pdf` or `…/{id}.pdf`), and a customer's
//! monthly statement (issue 10). Writes (charges, refunds, cards) live elsewhere.

use super::problem::{ApiError, ApiResult};
use super::views::{InvoiceView, Page};
use crate::auth::{Caller, Role};
use crate::billing::{history, statement};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::web::{self, Query};
use actix_web::{HttpRequest, HttpResponse, get};
use serde::Deserialize;
use utoipa::IntoParams;
use uuid::Uuid;

/// A page of invoices.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct InvoicePage {
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// The caller's invoices, newest first (customers).
#[utoipa::path(tag = "billing", params(InvoicePage),
    responses((status = 200, body = Page<InvoiceView>), (status = 403, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/customers/me/invoices")]
pub async fn mine(state: web::Data<AppState>, caller: Caller, q: Query<InvoicePage>) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Customer], "listing your invoices")?;
    let (limit, cursor) = super::tickets::page_params(q.limit, q.cursor.as_deref())?;
    Ok(HttpResponse::Ok().json(history::list(&state.db, caller.user_id, limit, cursor).await?))
}

fn wants_pdf(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.split(',').any(|m| m.trim().starts_with("application/pdf")))
}

/// The PDF statement of `id` as the response.
pub async fn pdf(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<HttpResponse> {
    let row = history::get(&state.db, caller, id).await?;
    let view = InvoiceView::from(&row);
    let to = history::bill_to(&state.db, row.customer_id).await?;
    let card = history::card(&state.db, row.customer_id).await?;
    let bytes = tokio::task::spawn_blocking(move || statement::invoice_pdf(&view, &to, card.as_ref()))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(ApiError::Internal)?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/pdf"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"invoice-{}.pdf\"", history::number(row.id, row.period_start)),
        ))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(bytes))
}

/// One invoice (its customer; the call center and administrators: any). Anyone else is
/// told it does not exist. `Accept: application/pdf` answers its statement.
#[utoipa::path(tag = "billing",
    responses((status = 200, description = "The invoice; its PDF statement with `Accept: application/pdf`",
        content((InvoiceView = "application/json"), (Vec<u8> = "application/pdf"))),
        (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/invoices/{id}")]
pub async fn get_one(
    state: web::Data<AppState>,
    caller: Caller,
    req: HttpRequest,
    id: web::Path<String>,
) -> ApiResult<HttpResponse> {
    let raw = id.into_inner();
    if let Some(stem) = raw.strip_suffix(".pdf") {
        let id = stem.parse::<Uuid>().map_err(|_| ApiError::not_found("invoice"))?;
        return pdf(&state, &caller, id).await;
    }
    let id = raw.parse::<Uuid>().map_err(|_| ApiError::not_found("invoice"))?;
    if wants_pdf(&req) {
        return pdf(&state, &caller, id).await;
    }
    let row = history::get(&state.db, &caller, id).await?;
    Ok(HttpResponse::Ok().json(InvoiceView::from(&row)))
}

/// The PDF statement of one invoice (same access as the invoice).
#[utoipa::path(tag = "billing", params(("id" = Uuid, Path, description = "The invoice")),
    responses((status = 200, description = "The PDF statement", content_type = "application/pdf", body = Vec<u8>),
        (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/invoices/{id}.pdf")]
pub async fn get_pdf(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    pdf(&state, &caller, id.into_inner()).await
}

/// Which month's statement.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct MonthQuery {
    /// `YYYY-MM` (default: the current month).
    #[param(example = "2026-11")]
    pub month: Option<String>,
}

/// Parses `YYYY-MM` into the month's first day.
pub fn parse_month(raw: Option<&str>) -> ApiResult<chrono::NaiveDate> {
    match raw.map(str::trim).filter(|m| !m.is_empty()) {
        None => {
            use chrono::Datelike;
            let t = chrono::Utc::now().date_naive();
            Ok(t.with_day(1).unwrap_or(t))
        }
        Some(m) => chrono::NaiveDate::parse_from_str(&format!("{m}-01"), "%Y-%m-%d")
            .map_err(|_| ApiError::field("month", format!("{m:?} is not a month like 2026-11"))),
    }
}

/// The caller's statement for one month as a PDF: invoices issued, card payments and
/// refunds in that calendar month (UTC), with totals (customers).
#[utoipa::path(tag = "billing", params(MonthQuery),
    responses((status = 200, description = "The PDF statement", content_type = "application/pdf", body = Vec<u8>),
        (status = 403, body = super::problem::Problem), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/customers/me/statement")]
pub async fn monthly(state: web::Data<AppState>, caller: Caller, q: Query<MonthQuery>) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Customer], "reading your statement")?;
    let month = parse_month(q.month.as_deref())?;
    let bytes = monthly_pdf(&state, caller.user_id, month).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/pdf"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("inline; filename=\"statement-{}.pdf\"", month.format("%Y-%m")),
        ))
        .insert_header((header::CACHE_CONTROL, "private, no-store"))
        .body(bytes))
}

/// A customer's monthly statement, rendered.
pub async fn monthly_pdf(state: &AppState, customer: Uuid, month: chrono::NaiveDate) -> ApiResult<Vec<u8>> {
    let st = history::monthly(&state.db, customer, month).await?;
    let to = history::bill_to(&state.db, customer).await?;
    tokio::task::spawn_blocking(move || statement::monthly_pdf(&st, &to))
        .await
        .map_err(|e| ApiError::Internal(e.into()))?
        .map_err(ApiError::Internal)
}
