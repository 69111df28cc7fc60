//! The manager's report pages: the ticketing and expert-performance reports with SVG
//! charts drawn on the server, a table beside each chart, date-range and filter forms
//! (plain GET forms: no JavaScript needed) and CSV downloads. They call the same report
//! queries and the same role check as the API.

use super::chrome::Chrome;
use super::error::{WebError, WebResult};
use super::session::Viewer;
use crate::api::reports::READERS;
use crate::reports::charts;
use crate::reports::params::ReportParams;
use crate::reports::query::{self, ExpertsReport, Reasons, TicketingReport, Timing};
use crate::state::AppState;
use actix_web::http::header;
use actix_web::web::{self, Query};
use actix_web::{HttpResponse, get};
use askama::Template;
use askama_web::WebTemplate;
use sysops_core::category::Category;

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(ticketing_page).service(ticketing_csv).service(experts_page).service(experts_csv);
}

/// Time zones offered in the form's list (any IANA name may be typed).
pub const ZONES: [&str; 12] = [
    "UTC",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "Europe/London",
    "Europe/Paris",
    "Europe/Berlin",
    "Asia/Kolkata",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
];

/// The filter form's values.
pub struct Form {
    /// First day.
    pub from: String,
    /// Last day.
    pub to: String,
    /// Time zone.
    pub tz: String,
    /// Category slug, or empty.
    pub category: String,
    /// Area, or empty.
    pub area: String,
    /// Expert id, or empty.
    pub expert: String,
    /// (slug, label) of every category.
    pub categories: Vec<(&'static str, &'static str)>,
}

impl Form {
    fn of(p: &ReportParams, from: String, to: String) -> Self {
        let s = |v: &Option<String>| v.clone().unwrap_or_default();
        Form {
            from,
            to,
            tz: p.tz.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| "UTC".to_owned()),
            category: s(&p.category),
            area: s(&p.area),
            expert: s(&p.expert),
            categories: Category::ALL.iter().map(|c| (c.slug(), c.label())).collect(),
        }
    }
}

/// A duration for people: `45 s`, `12 min`, `3.5 h`, `2.1 days`; `–` for none.
pub fn duration(secs: &Option<i64>) -> String {
    match *secs {
        None => "–".to_owned(),
        Some(s) if s < 60 => format!("{s} s"),
        Some(s) if s < 3_600 => format!("{} min", (s as f64 / 60.0).round()),
        Some(s) if s < 2 * 86_400 => format!("{:.1} h", s as f64 / 3_600.0),
        Some(s) => format!("{:.1} days", s as f64 / 86_400.0),
    }
}

/// A rate as a percentage; `–` for none.
pub fn percent(r: &Option<f64>) -> String {
    r.map_or_else(|| "–".to_owned(), |r| format!("{:.0}%", r * 100.0))
}

/// A mean score; `–` for none.
pub fn score(r: &Option<f64>) -> String {
    r.map_or_else(|| "–".to_owned(), |r| format!("{r:.2}"))
}

/// What a time metric measures.
pub fn timing_label(metric: &str) -> &'static str {
    match metric {
        "to_assign" => "Raised → first assigned",
        "to_accept" => "Assigned → accepted",
        "to_arrive" => "Accepted → on site",
        "to_complete" => "Raised → completed",
        _ => "",
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "web/report_ticketing.html")]
struct TicketingPage {
    chrome: Chrome,
    form: Form,
    error: Option<String>,
    report: Option<TicketingReport>,
    volume_chart: String,
    category_chart: String,
    times_chart: String,
    backlog_chart: String,
    troubles: Vec<(&'static str, Reasons)>,
    csv_href: String,
    zones: &'static [&'static str],
}

fn minutes(t: &Timing, p90: bool) -> f64 {
    (if p90 { t.p90_secs } else { t.p50_secs }).unwrap_or(0) as f64 / 60.0
}

/// `GET /manager/reports/ticketing`.
#[get("/manager/reports/ticketing")]
pub async fn ticketing_page(
    viewer: Viewer,
    state: web::Data<AppState>,
    q: Query<ReportParams>,
) -> WebResult<TicketingPage> {
    viewer.require(READERS, "reports")?;
    let p = q.into_inner();
    let mut page = TicketingPage {
        chrome: viewer.chrome.clone(),
        form: Form::of(&p, p.from.clone().unwrap_or_default(), p.to.clone().unwrap_or_default()),
        error: None,
        report: None,
        volume_chart: String::new(),
        category_chart: String::new(),
        times_chart: String::new(),
        backlog_chart: String::new(),
        troubles: Vec::new(),
        csv_href: format!("/manager/reports/ticketing.csv?{}", p.query_string(None)),
        zones: &ZONES,
    };
    let (range, filters) = match p.parse() {
        Ok(x) => x,
        Err(e) => {
            page.error = Some(format!("{}: {}", e.field, e.message));
            return Ok(page);
        }
    };
    let r = query::ticketing(&state.db, &range, &filters).await.map_err(|e| viewer.error(e))?;
    page.form.from = r.from.to_string();
    page.form.to = r.to.to_string();
    let days: Vec<String> = r.by_day.iter().map(|d| d.day.to_string()).collect();
    page.volume_chart = charts::lines(
        "Tickets per day",
        &format!("Day ({})", r.tz),
        "Tickets",
        &days,
        &[
            ("raised", r.by_day.iter().map(|d| d.created as f64).collect()),
            ("completed", r.by_day.iter().map(|d| d.completed as f64).collect()),
            ("cancelled", r.by_day.iter().map(|d| d.cancelled as f64).collect()),
        ],
    );
    page.category_chart = charts::bars(
        "Tickets raised by category",
        "Category",
        "Tickets",
        &r.by_category.iter().map(|c| (c.label.clone(), c.count as f64)).collect::<Vec<_>>(),
        true,
    );
    page.times_chart = charts::bars(
        "Median time per step",
        "Step",
        "Minutes (median)",
        &r.times.iter().map(|t| (t.metric.replace("to_", ""), minutes(t, false))).collect::<Vec<_>>(),
        false,
    );
    page.backlog_chart = charts::bars(
        "Open tickets by age",
        "Age",
        "Open tickets",
        &r.backlog.by_age.iter().map(|c| (c.label.clone(), c.count as f64)).collect::<Vec<_>>(),
        true,
    );
    page.troubles = vec![
        ("Unassignable", r.unassignable.clone()),
        ("Declined", r.declines.clone()),
        ("Cancelled", r.cancellations.clone()),
    ];
    page.report = Some(r);
    Ok(page)
}

fn csv_download(name: &str, from: chrono::NaiveDate, to: chrono::NaiveDate, body: String) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "text/csv; charset=utf-8"))
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}-{from}-{to}.csv\"")))
        .body(body)
}

fn bad(viewer: &Viewer, e: sysops_core::FieldError) -> WebError {
    viewer.error(e)
}

/// `GET /manager/reports/ticketing.csv`: the page's figures as the API's CSV.
#[get("/manager/reports/ticketing.csv")]
pub async fn ticketing_csv(
    viewer: Viewer,
    state: web::Data<AppState>,
    q: Query<ReportParams>,
) -> WebResult<HttpResponse> {
    viewer.require(READERS, "reports")?;
    let (range, filters) = q.parse().map_err(|e| bad(&viewer, e))?;
    let r = query::ticketing(&state.db, &range, &filters).await.map_err(|e| viewer.error(e))?;
    Ok(csv_download("ticketing", r.from, r.to, crate::reports::csv::ticketing(&r)))
}

#[derive(Template, WebTemplate)]
#[template(path = "web/report_experts.html")]
struct ExpertsPage {
    chrome: Chrome,
    form: Form,
    error: Option<String>,
    report: Option<ExpertsReport>,
    completed_chart: String,
    score_chart: String,
    csv_href: String,
    zones: &'static [&'static str],
}

/// Experts shown in the charts (the table lists everyone).
const CHART_EXPERTS: usize = 12;

/// `GET /manager/reports/experts`.
#[get("/manager/reports/experts")]
pub async fn experts_page(
    viewer: Viewer,
    state: web::Data<AppState>,
    q: Query<ReportParams>,
) -> WebResult<ExpertsPage> {
    viewer.require(READERS, "reports")?;
    let p = q.into_inner();
    let mut page = ExpertsPage {
        chrome: viewer.chrome.clone(),
        form: Form::of(&p, p.from.clone().unwrap_or_default(), p.to.clone().unwrap_or_default()),
        error: None,
        report: None,
        completed_chart: String::new(),
        score_chart: String::new(),
        csv_href: format!("/manager/reports/experts.csv?{}", p.query_string(None)),
        zones: &ZONES,
    };
    let (range, filters) = match p.parse() {
        Ok(x) => x,
        Err(e) => {
            page.error = Some(format!("{}: {}", e.field, e.message));
            return Ok(page);
        }
    };
    let r = query::experts(&state.db, &range, &filters).await.map_err(|e| viewer.error(e))?;
    page.form.from = r.from.to_string();
    page.form.to = r.to.to_string();
    let top: Vec<_> = r.experts.iter().take(CHART_EXPERTS).collect();
    page.completed_chart = charts::bars(
        "Tickets completed per expert",
        "Expert (most completions first)",
        "Tickets completed",
        &top.iter().map(|e| (e.name.clone(), e.completed as f64)).collect::<Vec<_>>(),
        true,
    );
    page.score_chart = charts::bars(
        "First-time fix rate per expert",
        "Expert",
        "First-time fix rate (%)",
        &top.iter().map(|e| (e.name.clone(), e.first_time_fix_rate.unwrap_or(0.0) * 100.0)).collect::<Vec<_>>(),
        false,
    );
    page.report = Some(r);
    Ok(page)
}

/// `GET /manager/reports/experts.csv`.
#[get("/manager/reports/experts.csv")]
pub async fn experts_csv(
    viewer: Viewer,
    state: web::Data<AppState>,
    q: Query<ReportParams>,
) -> WebResult<HttpResponse> {
    viewer.require(READERS, "reports")?;
    let (range, filters) = q.parse().map_err(|e| bad(&viewer, e))?;
    let r = query::experts(&state.db, &range, &filters).await.map_err(|e| viewer.error(e))?;
    Ok(csv_download("experts", r.from, r.to, crate::reports::csv::experts(&r)))
}
