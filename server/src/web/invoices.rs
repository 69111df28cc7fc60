//! Invoices for the call center and administrators: a customer's invoices on their
//! console page, one invoice's page with its PDF statement, and (administrators) a
//! refund form, full or partial with a reason. The billing service and the access rule
//! are the API's (`GET /api/v1/invoices/{id}`, `POST /api/v1/invoices/{id}/refunds`).

use super::billing::{InvoicePage, InvoiceRowView, invoice_page};
use super::error::{WebError, WebResult};
use super::form::see_other;
use super::session::{self, Viewer};
use crate::auth::Role;
use crate::billing::BillingError;
use crate::billing::statement::money;
use crate::db::entity::user;
use crate::state::AppState;
use actix_web::web::{self, Form};
use actix_web::{HttpRequest, HttpResponse, Responder, get, post};
use rand::RngCore;
use sea_orm::EntityTrait;
use serde::Deserialize;
use sysops_core::money::Currency;
use uuid::Uuid;

/// Who reads any customer's invoices (the API's rule: the call center and admins).
const READERS: &[Role] = crate::billing::history::STAFF;
/// Who refunds (the API's rule).
const REFUNDERS: &[Role] = &[Role::Admin];

/// Registers the routes (the PDF's before the page's, whose `{id}` would take it).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(invoice_pdf).service(invoice).service(refund_post);
}

/// What staff see on an invoice's page besides what the customer sees.
pub struct StaffInvoice {
    /// The customer's name.
    pub customer: String,
    /// Their console page.
    pub customer_href: String,
    /// The refund form, for administrators while something is left to refund.
    pub refund: Option<RefundState>,
}

/// The refund form's state.
#[derive(Default)]
pub struct RefundState {
    /// A one-time key: sending the form twice refunds once.
    pub key: String,
    /// The amount typed (empty: everything not yet refunded).
    pub amount: String,
    /// The reason typed.
    pub reason: String,
    /// What is wrong with the amount.
    pub amount_error: Option<String>,
    /// What is wrong with the reason.
    pub reason_error: Option<String>,
    /// What is left to refund, formatted.
    pub refundable: String,
    /// The currency's code (`USD`), for the label.
    pub currency: String,
    /// Why nothing was refunded, when it is nobody's field (the processor is away).
    pub error: Option<String>,
}

fn one_time_key() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The staff page of invoice `id`, with the refund form filled from `typed`.
async fn staff_page(viewer: Viewer, state: &AppState, id: Uuid, typed: Option<RefundState>) -> WebResult<InvoicePage> {
    let may_refund = viewer.caller.require(REFUNDERS, "refunding").is_ok();
    let mut page = invoice_page(viewer, state, id, "/console/invoices").await?;
    let name = user::Entity::find_by_id(page.customer_id)
        .one(&state.db.read)
        .await
        .map_err(|e| WebError::Internal(e.into()))?
        .map_or_else(|| "(erased customer)".to_owned(), |u| u.name);
    let href = format!("/console/customers/{}", page.customer_id);
    let left = page.inv.total_cents - page.inv.amount_refunded_cents;
    let refund = (may_refund && page.inv.status == "paid" && left > 0).then(|| {
        let mut r = typed.unwrap_or_else(|| RefundState { key: one_time_key(), ..RefundState::default() });
        r.refundable = money(left, &page.inv.currency);
        r.currency = page.inv.currency.clone();
        r
    });
    page.back_to = (href.clone(), name.clone());
    page.staff = Some(StaffInvoice { customer: name, customer_href: href, refund });
    Ok(page)
}

fn parse_id(viewer: &Viewer, raw: &str) -> WebResult<Uuid> {
    raw.parse::<Uuid>().map_err(|_| WebError::not_found(&viewer.chrome))
}

/// `GET /console/invoices/{id}`: one invoice for the call center and administrators.
#[get("/console/invoices/{id}")]
pub async fn invoice(viewer: Viewer, state: web::Data<AppState>, id: web::Path<String>) -> WebResult<InvoicePage> {
    viewer.require(READERS, "reading customers' invoices")?;
    let id = parse_id(&viewer, &id)?;
    staff_page(viewer, &state, id, None).await
}

/// `GET /console/invoices/{id}.pdf`: its PDF statement.
#[get("/console/invoices/{id}.pdf")]
pub async fn invoice_pdf(viewer: Viewer, state: web::Data<AppState>, id: web::Path<String>) -> WebResult<HttpResponse> {
    viewer.require(READERS, "reading customers' invoices")?;
    let id = parse_id(&viewer, &id)?;
    crate::api::invoices::pdf(&state, &viewer.caller, id).await.map_err(|e| viewer.error(e))
}

/// The refund form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct RefundForm {
    amount: String,
    reason: String,
    key: String,
}

/// `12.5` or `12.50` in `currency` as minor units; `None` when it is not an amount.
fn minor_units(raw: &str, currency: &str) -> Option<i64> {
    let digits = Currency::parse(currency).ok()?.minor_digits() as usize;
    let raw = raw.trim().replace(',', "");
    let (int, frac) = raw.split_once('.').unwrap_or((&raw, ""));
    if int.is_empty() && frac.is_empty()
        || !int.chars().all(|c| c.is_ascii_digit())
        || !frac.chars().all(|c| c.is_ascii_digit())
        || frac.len() > digits
        || int.len() > 12
    {
        return None;
    }
    let int: i64 = if int.is_empty() { 0 } else { int.parse().ok()? };
    let frac: i64 = if frac.is_empty() { 0 } else { format!("{frac:0<digits$}").parse().ok()? };
    int.checked_mul(10i64.pow(digits as u32))?.checked_add(frac)
}

/// `POST /console/invoices/{id}/refund` (administrators): refunds the amount typed, or
/// everything not yet refunded, to the card it was paid with. The form's one-time key
/// makes a second send refund nothing more. Refusals are shown at their field.
#[post("/console/invoices/{id}/refund")]
pub async fn refund_post(
    req: HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: Form<RefundForm>,
) -> WebResult<HttpResponse> {
    viewer.require(REFUNDERS, "refunding")?;
    let id = parse_id(&viewer, &id)?;
    let f = form.into_inner();
    let row = crate::billing::history::get(&state.db, &viewer.caller, id).await.map_err(|e| viewer.error(e))?;
    let mut typed = RefundState {
        key: if f.key.trim().is_empty() { one_time_key() } else { f.key.trim().to_owned() },
        amount: f.amount.clone(),
        reason: f.reason.clone(),
        ..RefundState::default()
    };
    let amount = match f.amount.trim() {
        "" => None,
        raw => match minor_units(raw, &row.currency) {
            Some(a) if a > 0 => Some(a),
            _ => {
                typed.amount_error = Some(format!(
                    "Enter an amount in {} such as 12.50, or leave it empty to refund everything left.",
                    row.currency
                ));
                None
            }
        },
    };
    if f.reason.trim().is_empty() {
        typed.reason_error = Some("Say why the customer is refunded; it is kept with the refund.".to_owned());
    }
    if typed.amount_error.is_none() && typed.reason_error.is_none() {
        match state.billing.refund(id, amount, &f.reason, viewer.caller.user_id, Some(&typed.key)).await {
            Ok(made) => {
                session::flash(
                    &viewer.session,
                    format!("{} is refunded to the customer's card.", money(made.amount_cents, &row.currency)),
                );
                return Ok(see_other(&format!("/console/invoices/{id}")));
            }
            Err(BillingError::Invalid { field, message }) => {
                let m = super::form::sentence(&message);
                if field == "reason" { typed.reason_error = Some(m) } else { typed.amount_error = Some(m) }
            }
            Err(BillingError::Refused(m)) => typed.amount_error = Some(super::form::sentence(&m)),
            Err(BillingError::NotFound(_)) => return Err(WebError::not_found(&viewer.chrome)),
            Err(BillingError::Unavailable(m)) => {
                typed.error = Some(format!(
                    "Nothing was refunded: {}. Send the form again to retry; it refunds once.",
                    m.trim_end_matches('.')
                ))
            }
            Err(e) => return Err(viewer.error(crate::api::problem::ApiError::from(e))),
        }
    }
    let page = staff_page(viewer, &state, id, Some(typed)).await?;
    Ok(page.respond_to(&req).map_into_boxed_body())
}

/// A customer's latest invoices for their console page (empty for a customer billed
/// nothing yet).
pub async fn latest(state: &AppState, customer: Uuid) -> WebResult<Vec<InvoiceRowView>> {
    let page = crate::billing::history::list(&state.db, customer, 12, None)
        .await
        .map_err(|e| WebError::Internal(anyhow::anyhow!("invoices: {e:?}")))?;
    Ok(page
        .items
        .iter()
        .map(|i| {
            let mut r = InvoiceRowView::from(i);
            r.href = format!("/console/invoices/{}", i.id);
            r.pdf = format!("/console/invoices/{}.pdf", i.id);
            r
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::minor_units;

    #[test]
    fn amounts_in_minor_units() {
        assert_eq!(minor_units("12.50", "USD"), Some(1250));
        assert_eq!(minor_units("12.5", "USD"), Some(1250));
        assert_eq!(minor_units("12", "USD"), Some(1200));
        assert_eq!(minor_units(".05", "USD"), Some(5));
        assert_eq!(minor_units("1,234.00", "USD"), Some(123_400));
        assert_eq!(minor_units("500", "JPY"), Some(500));
        assert_eq!(minor_units("5.5", "JPY"), None);
        assert_eq!(minor_units("12.505", "USD"), None);
        assert_eq!(minor_units("-3", "USD"), None);
        assert_eq!(minor_units("ten", "USD"), None);
        assert_eq!(minor_units(".", "USD"), None);
    }
}
