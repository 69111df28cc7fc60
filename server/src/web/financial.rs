//! The manager's financial report page: monthly recurring revenue and its movements,
//! revenue by month and plan (charts drawn on the server with their tables beside them), refunds, collection, failed payments and what is
//! outstanding, for a date range; the same figures as CSV. Same query and role check as
//! `GET /api/v1/reports/financial`.

use super::chrome::Chrome;
use super::error::WebResult;
use super::session::Viewer;
use crate::api::reports::READERS;
use crate::billing::statement::money;
use crate::reports::charts;
use crate::reports::financial::{self, FinancialReport};
use crate::reports::params::ReportParams;
use crate::state::AppState;
use actix_web::http::header;
use actix_web::web::{self, Query};
use actix_web::{HttpResponse, get};
use askama::Template;
use askama_web::WebTemplate;

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(page).service(csv);
}

/// Money for the page.
pub fn m(cents: &i64, currency: &str) -> String {
    money(*cents, currency)
}

#[derive(Template, WebTemplate)]
#[template(path = "web/report_financial.html")]
struct FinancialPage {
    chrome: Chrome,
    from: String,
    to: String,
    tz: String,
    error: Option<String>,
    report: Option<FinancialReport>,
    revenue_chart: String,
    mrr_chart: String,
    csv_href: String,
    zones: &'static [&'static str],
}

fn only_range(p: &ReportParams) -> ReportParams {
    ReportParams { from: p.from.clone(), to: p.to.clone(), tz: p.tz.clone(), ..Default::default() }
}

/// `GET /manager/reports/financial`.
#[get("/manager/reports/financial")]
pub async fn page(viewer: Viewer, state: web::Data<AppState>, q: Query<ReportParams>) -> WebResult<FinancialPage> {
    viewer.require(READERS, "reports")?;
    let p = only_range(&q.into_inner());
    let mut page = FinancialPage {
        chrome: viewer.chrome.clone(),
        from: p.from.clone().unwrap_or_default(),
        to: p.to.clone().unwrap_or_default(),
        tz: p.tz.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| "UTC".to_owned()),
        error: None,
        report: None,
        revenue_chart: String::new(),
        mrr_chart: String::new(),
        csv_href: format!("/manager/reports/financial.csv?{}", p.query_string(None)),
        zones: &super::reports::ZONES,
    };
    let (range, _) = match p.parse() {
        Ok(x) => x,
        Err(e) => {
            page.error = Some(format!("{}: {}", e.field, e.message));
            return Ok(page);
        }
    };
    let r = financial::financial(&state.db, &range).await.map_err(|e| viewer.error(e))?;
    page.from = r.from.to_string();
    page.to = r.to.to_string();
    if let Some(t) = r.totals.first() {
        let mut months: Vec<(String, f64)> = Vec::new();
        for row in r.by_month_and_plan.iter().filter(|x| x.currency == t.currency) {
            match months.last_mut() {
                Some(last) if last.0 == row.month => last.1 += row.net_cents as f64 / 100.0,
                _ => months.push((row.month.clone(), row.net_cents as f64 / 100.0)),
            }
        }
        page.revenue_chart = charts::bars(
            &format!("Net revenue by month ({})", t.currency),
            &format!("Month ({})", r.tz),
            &format!("Charged less refunded, {}", t.currency),
            &months,
            false,
        );
        let mrr: Vec<(String, f64)> = r
            .mrr
            .iter()
            .filter(|x| x.currency == t.currency)
            .map(|x| (x.month.clone(), x.mrr_cents as f64 / 100.0))
            .collect();
        page.mrr_chart = charts::bars(
            &format!("Monthly recurring revenue ({})", t.currency),
            &format!("Month ({}), at its last day", r.tz),
            &format!("MRR, {}", t.currency),
            &mrr,
            false,
        );
    }
    page.report = Some(r);
    Ok(page)
}

/// `GET /manager/reports/financial.csv`: the page's figures as the API's CSV.
#[get("/manager/reports/financial.csv")]
pub async fn csv(viewer: Viewer, state: web::Data<AppState>, q: Query<ReportParams>) -> WebResult<HttpResponse> {
    viewer.require(READERS, "reports")?;
    let (range, _) = only_range(&q).parse().map_err(|e| viewer.error(e))?;
    let r = financial::financial(&state.db, &range).await.map_err(|e| viewer.error(e))?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"financial-{}-{}.csv\"", r.from, r.to),
        ))
        .body(financial::csv(&r)))
}
