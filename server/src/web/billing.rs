//! The customer's billing pages: their plans' billing terms, the card on file (display
//! details only: the card number never reaches this server), their invoices with a page
//! each and its PDF statement, and monthly statements (issue 10). Payments, card changes
//! and cancellation are handled by the billing service's own routes.

use super::chrome::Chrome;
use super::error::{WebError, WebResult};
use super::session::Viewer;
use crate::auth::Role;
use crate::billing::history::{self, BilledPlan};
use crate::billing::statement::{card_words, money, status_words};
use crate::state::AppState;
use crate::views::InvoiceView;
use actix_web::web::{self, Query};
use actix_web::{HttpResponse, get};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;
use uuid::Uuid;

const CUSTOMER: &[Role] = &[Role::Customer];
const PAGE: u64 = 12;

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(overview)
        .service(invoice_pdf)
        .service(statement_pdf)
        .service(invoice)
        .service(old_address)
        .service(card_new)
        .service(card_done)
        .service(cancel_confirm)
        .service(cancel)
        .service(change_plan);
}

/// An invoice as the list shows it.
pub struct InvoiceRowView {
    /// Its page.
    pub href: String,
    /// Its PDF.
    pub pdf: String,
    /// Number.
    pub number: String,
    /// `3 Nov 2026 – 2 Dec 2026`.
    pub period: String,
    /// Total, formatted.
    pub total: String,
    /// Status in words.
    pub status: &'static str,
    /// Status key (for its colour).
    pub status_key: String,
}

fn period(inv: &InvoiceView) -> String {
    let end = inv.period_end.pred_opt().unwrap_or(inv.period_end);
    format!("{} – {}", inv.period_start.format("%-d %b %Y"), end.format("%-d %b %Y"))
}

impl From<&InvoiceView> for InvoiceRowView {
    fn from(i: &InvoiceView) -> Self {
        Self {
            href: format!("/my/billing/invoices/{}", i.id),
            pdf: format!("/my/billing/invoices/{}.pdf", i.id),
            number: i.number.clone(),
            period: period(i),
            total: money(i.total_cents, &i.currency),
            status: status_words(&i.status),
            status_key: i.status.clone(),
        }
    }
}

/// A plan's billing terms in words.
pub struct PlanTerms {
    /// Product.
    pub product: String,
    /// Plan name.
    pub plan: String,
    /// `49.99 USD a month`.
    pub price: String,
    /// Status key.
    pub status: String,
    /// Status in words.
    pub status_words: &'static str,
    /// What happens next, if notable.
    pub note: String,
    /// Subscription id (for its forms).
    pub id: Uuid,
    /// Still billed: it can be cancelled or moved to another plan.
    pub open: bool,
}

impl From<&BilledPlan> for PlanTerms {
    fn from(p: &BilledPlan) -> Self {
        let annual = p.billing_interval == "annual";
        let price = sysops_core::billing::period_price(
            p.monthly_price_cents,
            if annual { sysops_core::billing::Interval::Annual } else { sysops_core::billing::Interval::Monthly },
        );
        let status_words = match p.status.as_str() {
            "active" => "Active",
            "past_due" => "Payment due",
            "suspended" => "Suspended",
            "cancelled" => "Cancelled",
            _ => "Unknown",
        };
        let note = match (p.status.as_str(), p.cancel_at_period_end) {
            ("cancelled", _) => "This plan has ended.".to_owned(),
            (_, true) => "Cancelled: cover ends at the end of the period already paid.".to_owned(),
            ("past_due", _) => "We could not charge your card; we will try again.".to_owned(),
            ("suspended", _) => "New tickets are refused until the overdue invoice is paid.".to_owned(),
            _ => String::new(),
        };
        Self {
            product: p.product.clone(),
            plan: p.plan.clone(),
            price: format!("{} {}", money(price, &p.currency), if annual { "a year" } else { "a month" }),
            status: p.status.clone(),
            status_words,
            note,
            id: p.id,
            open: p.status != "cancelled" && !p.cancel_at_period_end,
        }
    }
}

/// A monthly statement link.
pub struct MonthLink {
    /// `November 2026`.
    pub label: String,
    /// Its PDF.
    pub href: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/billing.html")]
struct OverviewPage {
    chrome: Chrome,
    card: Option<String>,
    plans: Vec<PlanTerms>,
    invoices: Vec<InvoiceRowView>,
    next: Option<String>,
    first_page: bool,
    months: Vec<MonthLink>,
    /// Plans one may move to: (id, "Name, price a month").
    catalogue: Vec<(String, String)>,
}

/// Which page of invoices.
#[derive(Debug, Deserialize)]
pub struct After {
    after: Option<String>,
}

/// `GET /my/billing`: plans, card, invoices (twelve a page), monthly statements.
#[get("/my/billing")]
pub async fn overview(viewer: Viewer, state: web::Data<AppState>, q: Query<After>) -> WebResult<OverviewPage> {
    viewer.require(CUSTOMER, "the billing pages")?;
    let me = viewer.caller.user_id;
    let cursor = match q.after.as_deref().filter(|a| !a.is_empty()) {
        None => None,
        Some(a) => Some(a.parse::<Uuid>().map_err(|_| WebError::not_found(&viewer.chrome))?),
    };
    let page = history::list(&state.db, me, PAGE, cursor).await.map_err(|e| viewer.error(e))?;
    let card = history::card(&state.db, me).await.map_err(|e| viewer.error(e))?;
    let plans = history::plans(&state.db, me).await.map_err(|e| viewer.error(e))?;
    let months = history::statement_months(&state.db, me).await.map_err(|e| viewer.error(e))?;
    let catalogue = super::home::catalogue(&state)
        .await
        .map_err(anyhow::Error::from)?
        .into_iter()
        .map(|p| (p.plan.id.to_string(), format!("{} ({})", p.plan.name, p.price)))
        .collect();
    Ok(OverviewPage {
        chrome: viewer.chrome,
        card: card.as_ref().map(card_words),
        plans: plans.iter().map(PlanTerms::from).collect(),
        invoices: page.items.iter().map(InvoiceRowView::from).collect(),
        next: page.next_cursor.map(|c| format!("/my/billing?after={c}")),
        first_page: cursor.is_none(),
        months: months
            .into_iter()
            .take(24)
            .map(|m| MonthLink {
                label: m.format("%B %Y").to_string(),
                href: format!("/my/billing/statements/{}.pdf", m.format("%Y-%m")),
            })
            .collect(),
        catalogue,
    })
}

/// A line as the invoice page shows it.
pub struct LineView {
    /// What for.
    pub description: String,
    /// Amount, formatted.
    pub amount: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/invoice.html")]
/// One invoice's page (the customer's, or staff's with more).
pub struct InvoicePage {
    chrome: Chrome,
    /// The invoice.
    pub inv: InvoiceView,
    row: InvoiceRowView,
    lines: Vec<LineView>,
    subtotal: String,
    tax_label: String,
    tax: String,
    total: String,
    refunded: Option<String>,
    paid_on: Option<String>,
    issued: String,
    card: Option<String>,
    /// What staff see besides: whose invoice, and the refund form (admins).
    pub staff: Option<super::invoices::StaffInvoice>,
    /// Whose invoice it is.
    pub customer_id: Uuid,
    /// Where "back" goes, and its words.
    pub back_to: (String, String),
}

/// The page of invoice `id` as `viewer` may see it (the API's access rule), its links
/// under `base` (`/my/billing/invoices` or `/console/invoices`).
pub async fn invoice_page(viewer: Viewer, state: &AppState, id: Uuid, base: &str) -> WebResult<InvoicePage> {
    let row = history::get(&state.db, &viewer.caller, id).await.map_err(|e| viewer.error(e))?;
    let inv = InvoiceView::from(&row);
    let card = history::card(&state.db, row.customer_id).await.map_err(|e| viewer.error(e))?;
    let bp = inv.tax_rate_basis_points;
    let c = inv.currency.clone();
    let mut list_row = InvoiceRowView::from(&inv);
    list_row.href = format!("{base}/{}", inv.id);
    list_row.pdf = format!("{base}/{}.pdf", inv.id);
    Ok(InvoicePage {
        chrome: viewer.chrome,
        row: list_row,
        lines: inv
            .lines
            .iter()
            .map(|l| LineView { description: l.description.clone(), amount: money(l.amount_cents, &c) })
            .collect(),
        subtotal: money(inv.subtotal_cents, &c),
        tax_label: format!("Tax ({}.{:02}%)", bp / 100, bp % 100),
        tax: money(inv.tax_cents, &c),
        total: money(inv.total_cents, &c),
        refunded: (inv.amount_refunded_cents > 0).then(|| money(inv.amount_refunded_cents, &c)),
        paid_on: inv.paid_at.map(|t| t.format("%-d %B %Y").to_string()),
        issued: inv.issued_at.format("%-d %B %Y").to_string(),
        card: card.as_ref().map(card_words),
        back_to: ("/my/billing".to_owned(), "Billing".to_owned()),
        staff: None,
        customer_id: row.customer_id,
        inv,
    })
}

/// `GET /my/billing/invoices/{id}`: one invoice, with a link to its PDF statement.
#[get("/my/billing/invoices/{id}")]
pub async fn invoice(viewer: Viewer, state: web::Data<AppState>, id: web::Path<String>) -> WebResult<InvoicePage> {
    viewer.require(CUSTOMER, "the billing pages")?;
    let Ok(id) = id.parse::<Uuid>() else { return Err(WebError::not_found(&viewer.chrome)) };
    invoice_page(viewer, &state, id, "/my/billing/invoices").await
}

/// `GET /my/billing/invoices/{id}.pdf`: its statement.
#[get("/my/billing/invoices/{id}.pdf")]
pub async fn invoice_pdf(viewer: Viewer, state: web::Data<AppState>, id: web::Path<String>) -> WebResult<HttpResponse> {
    viewer.require(CUSTOMER, "the billing pages")?;
    let Ok(id) = id.parse::<Uuid>() else { return Err(WebError::not_found(&viewer.chrome)) };
    crate::api::invoices::pdf(&state, &viewer.caller, id).await.map_err(|e| viewer.error(e))
}

/// `GET /my/billing/statements/{YYYY-MM}.pdf`: a month's statement.
#[get("/my/billing/statements/{month}.pdf")]
pub async fn statement_pdf(
    viewer: Viewer,
    state: web::Data<AppState>,
    month: web::Path<String>,
) -> WebResult<HttpResponse> {
    viewer.require(CUSTOMER, "the billing pages")?;
    let Ok(m) = crate::api::invoices::parse_month(Some(month.as_str())) else {
        return Err(WebError::not_found(&viewer.chrome));
    };
    let bytes =
        crate::api::invoices::monthly_pdf(&state, viewer.caller.user_id, m).await.map_err(|e| viewer.error(e))?;
    Ok(HttpResponse::Ok()
        .content_type("application/pdf")
        .insert_header((
            actix_web::http::header::CONTENT_DISPOSITION,
            format!("inline; filename=\"statement-{}.pdf\"", m.format("%Y-%m")),
        ))
        .insert_header((actix_web::http::header::CACHE_CONTROL, "private, no-store"))
        .body(bytes))
}

fn billing_error(viewer: &Viewer, e: crate::billing::BillingError) -> WebError {
    viewer.error(crate::api::problem::ApiError::from(e))
}

/// `GET /my/billing/card/new`: begins saving a card and sends the browser to the card
/// processor's page (the card number never reaches this server); it comes back to
/// `/my/billing/card/done`. A link, not a form: the processor's page is on another
/// origin, where this site's forms may not go.
#[get("/my/billing/card/new")]
pub async fn card_new(viewer: Viewer, state: web::Data<AppState>) -> WebResult<HttpResponse> {
    viewer.require(CUSTOMER, "saving a card")?;
    let back = format!("{}/my/billing/card/done", state.public_base);
    let setup =
        state.billing.start_card_setup(viewer.caller.user_id, &back).await.map_err(|e| billing_error(&viewer, e))?;
    Ok(super::form::see_other(&setup.url))
}

/// Where the processor's card page returns.
#[derive(Debug, Deserialize)]
pub struct SetupDone {
    setup_intent: Option<String>,
}

/// `GET /my/billing/card/done?setup_intent=seti_…`: keeps the confirmed card and charges
/// any open invoice with it at once (doing it twice keeps the same card).
#[get("/my/billing/card/done")]
pub async fn card_done(viewer: Viewer, state: web::Data<AppState>, q: Query<SetupDone>) -> WebResult<HttpResponse> {
    viewer.require(CUSTOMER, "saving a card")?;
    let seti = q.setup_intent.as_deref().unwrap_or_default().trim();
    let well_formed = seti.len() <= 255
        && seti
            .strip_prefix("seti_")
            .is_some_and(|r| !r.is_empty() && r.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
    if !well_formed {
        super::session::flash(
            &viewer.session,
            "The card was not saved: the card page did not say which card. Try again.",
        );
        return Ok(super::form::see_other("/my/billing"));
    }
    let (card, charged) =
        state.billing.finish_card_setup(viewer.caller.user_id, seti).await.map_err(|e| billing_error(&viewer, e))?;
    let paid =
        if charged.paid > 0 { format!(" {} open invoice(s) paid with it.", charged.paid) } else { String::new() };
    super::session::flash(&viewer.session, format!("Your card is saved: {}.{paid}", card_words(&card)));
    Ok(super::form::see_other("/my/billing"))
}

#[derive(Template, WebTemplate)]
#[template(path = "web/cancel_plan.html")]
struct CancelPage {
    chrome: Chrome,
    plan: PlanTerms,
}

/// `GET /my/billing/subscriptions/{id}/cancel`: what cancelling this plan means, and
/// the button that does it.
#[get("/my/billing/subscriptions/{id}/cancel")]
pub async fn cancel_confirm(
    req: actix_web::HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> WebResult<HttpResponse> {
    viewer.require(CUSTOMER, "cancelling a plan")?;
    let Ok(id) = id.parse::<Uuid>() else { return Err(WebError::not_found(&viewer.chrome)) };
    let plans = history::plans(&state.db, viewer.caller.user_id).await.map_err(|e| viewer.error(e))?;
    let Some(plan) = plans.iter().find(|p| p.id == id).map(PlanTerms::from) else {
        return Err(WebError::not_found(&viewer.chrome));
    };
    if !plan.open {
        super::session::flash(&viewer.session, format!("The plan for {} is already cancelled.", plan.product));
        return Ok(super::form::see_other("/my/billing"));
    }
    Ok(actix_web::Responder::respond_to(CancelPage { chrome: viewer.chrome, plan }, &req).map_into_boxed_body())
}

/// The cancel form: `confirmed=yes` comes from the confirmation page.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CancelForm {
    confirmed: String,
}

/// `POST /my/billing/subscriptions/{id}/cancel`: the plan ends at the end of the period
/// already paid. Only from the confirmation page: a form without it is sent there.
#[actix_web::post("/my/billing/subscriptions/{id}/cancel")]
pub async fn cancel(
    viewer: Viewer,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<CancelForm>,
) -> WebResult<HttpResponse> {
    viewer.require(CUSTOMER, "cancelling a plan")?;
    let Ok(id) = id.parse::<Uuid>() else { return Err(WebError::not_found(&viewer.chrome)) };
    if form.confirmed != "yes" {
        return Ok(super::form::see_other(&format!("/my/billing/subscriptions/{id}/cancel")));
    }
    state.billing.cancel(viewer.caller.user_id, id).await.map_err(|e| billing_error(&viewer, e))?;
    super::session::flash(
        &viewer.session,
        "Your plan is cancelled: you stay covered until the end of the period already paid.",
    );
    Ok(super::form::see_other("/my/billing"))
}

/// The plan-change form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PlanForm {
    plan: String,
}

/// `POST /my/billing/subscriptions/{id}/plan`: moves to another plan today (the unused
/// days of the old one credited, the rest of the period on the new one charged, on the
/// next invoice).
#[actix_web::post("/my/billing/subscriptions/{id}/plan")]
pub async fn change_plan(
    viewer: Viewer,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: web::Form<PlanForm>,
) -> WebResult<HttpResponse> {
    viewer.require(CUSTOMER, "changing a plan")?;
    let Ok(id) = id.parse::<Uuid>() else { return Err(WebError::not_found(&viewer.chrome)) };
    let Ok(plan) = form.plan.parse::<Uuid>() else {
        super::session::flash(&viewer.session, "Choose the plan to move to.");
        return Ok(super::form::see_other("/my/billing"));
    };
    state.billing.change_plan(viewer.caller.user_id, id, plan).await.map_err(|e| billing_error(&viewer, e))?;
    super::session::flash(
        &viewer.session,
        "Your plan is changed from today: the difference for the rest of this period is on your next invoice.",
    );
    Ok(super::form::see_other("/my/billing"))
}

/// `GET /portal/billing`: the address billing e-mails give, kept working.
#[get("/portal/billing")]
pub async fn old_address() -> HttpResponse {
    super::form::see_other("/my/billing")
}
