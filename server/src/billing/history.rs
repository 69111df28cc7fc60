//! Billing, read side: a customer's invoices in cursor pages, one invoice for those who
//! may see it (its customer, the call center, administrators; anyone else is told it
//! does not exist, so ids cannot be probed), what a statement prints about the
//! customer, the card on file, and a month's statement (invoices issued and money moved
//! in a calendar month).

use super::account::CardOnFile;
use super::service::{INVOICE_COLUMNS, InvoiceRow, stmt};
use crate::auth::{Caller, Role};
use crate::db::Db;
use crate::error::{ServiceError, ServiceResult};
use crate::views::{InvoiceLineView, InvoiceView, Page};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sea_orm::FromQueryResult;
use uuid::Uuid;

/// Who sees any invoice (besides its customer).
pub const STAFF: &[Role] = &[Role::Agent, Role::Admin];

/// The number printed on an invoice: its period's month and the random tail of its id.
pub fn number(id: Uuid, period_start: NaiveDate) -> String {
    let hex = id.simple().to_string().to_uppercase();
    format!("SQ-{}-{}", period_start.format("%Y%m"), &hex[24..])
}

/// The status shown: as stored, except an open invoice whose retries are over
/// (the subscription is suspended until it is paid) is `uncollectible`.
fn status(r: &InvoiceRow) -> String {
    if r.status == "open" && r.attempts > 0 && r.next_attempt_at_ms.is_none() {
        "uncollectible".to_owned()
    } else {
        r.status.clone()
    }
}

impl From<&InvoiceRow> for InvoiceView {
    fn from(r: &InvoiceRow) -> Self {
        let lines = r
            .lines
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|l| InvoiceLineView {
                        description: l.get("description").and_then(|d| d.as_str()).unwrap_or_default().to_owned(),
                        amount_cents: l.get("amount").and_then(serde_json::Value::as_i64).unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        Self {
            id: r.id,
            number: number(r.id, r.period_start),
            subscription_id: r.subscription_id,
            period_start: r.period_start,
            period_end: r.period_end,
            lines,
            subtotal_cents: r.subtotal,
            tax_cents: r.tax,
            tax_rate_basis_points: r.tax_basis_points,
            total_cents: r.total,
            amount_refunded_cents: r.amount_refunded,
            currency: r.currency.clone(),
            status: status(r),
            issued_at: r.issued_at,
            paid_at: r.paid_at,
        }
    }
}

/// A customer's invoices, newest first: `limit` of them after `cursor` (the last id of
/// the previous page).
pub async fn list(db: &Db, customer: Uuid, limit: u64, cursor: Option<Uuid>) -> ServiceResult<Page<InvoiceView>> {
    let mut values: Vec<sea_orm::Value> = vec![customer.into(), (limit as i64 + 1).into()];
    let after = match cursor {
        Some(c) => {
            values.push(c.into());
            "AND id < $3"
        }
        None => "",
    };
    let rows = InvoiceRow::find_by_statement(stmt(
        db.backend(),
        &format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE customer_id = $1 {after} ORDER BY id DESC LIMIT $2"),
        values,
    ))
    .all(&db.read)
    .await?;
    let more = rows.len() as u64 > limit;
    let items: Vec<InvoiceView> = rows.iter().take(limit as usize).map(InvoiceView::from).collect();
    let next_cursor = if more { items.last().map(|i| i.id.to_string()) } else { None };
    Ok(Page { items, next_cursor })
}

/// One invoice, if `caller` may see it: its customer, or staff ([`STAFF`]). For anyone
/// else it does not exist.
pub async fn get(db: &Db, caller: &Caller, id: Uuid) -> ServiceResult<InvoiceRow> {
    let row = InvoiceRow::find_by_statement(stmt(
        db.backend(),
        &format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE id = $1"),
        vec![id.into()],
    ))
    .one(&db.read)
    .await?;
    row.filter(|r| STAFF.contains(&caller.role) || (caller.role == Role::Customer && caller.user_id == r.customer_id))
        .ok_or_else(|| ServiceError::not_found("invoice"))
}

/// The customer as a statement addresses them.
#[derive(Debug, Clone, Default, FromQueryResult)]
pub struct BillTo {
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Postal address.
    pub address: String,
}

/// Who an invoice is addressed to.
pub async fn bill_to(db: &Db, customer: Uuid) -> ServiceResult<BillTo> {
    Ok(BillTo::find_by_statement(stmt(
        db.backend(),
        "SELECT u.name, u.email, COALESCE(c.address, '') AS address FROM users u \
         LEFT JOIN customers c ON c.user_id = u.id WHERE u.id = $1",
        vec![customer.into()],
    ))
    .one(&db.read)
    .await?
    .unwrap_or_default())
}

/// The card on file (display details only), if any.
pub async fn card(db: &Db, customer: Uuid) -> ServiceResult<Option<CardOnFile>> {
    Ok(CardOnFile::find_by_statement(stmt(
        db.backend(),
        "SELECT card_brand, card_last4, CAST(card_exp_month AS INTEGER) AS card_exp_month, card_exp_year \
         FROM billing_accounts WHERE customer_id = $1 AND payment_method_id IS NOT NULL",
        vec![customer.into()],
    ))
    .one(&db.read)
    .await?)
}

/// A money movement on a monthly statement.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Movement {
    /// The invoice it concerns.
    pub invoice_id: Uuid,
    /// `charge` or `refund`.
    pub kind: String,
    /// Minor units (positive).
    pub amount: i64,
    /// ISO code.
    pub currency: String,
    /// Why (refunds).
    pub reason: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A customer's statement for one calendar month (UTC): the invoices issued in it and
/// the money that moved in it.
#[derive(Debug, Clone)]
pub struct MonthlyStatement {
    /// First day of the month.
    pub month: NaiveDate,
    /// Invoices issued in the month, oldest first.
    pub invoices: Vec<InvoiceView>,
    /// Charges and refunds in the month, oldest first.
    pub movements: Vec<Movement>,
}

/// The first day of the month after `m`.
pub fn next_month(m: NaiveDate) -> NaiveDate {
    let (y, mo) = if m.month() == 12 { (m.year() + 1, 1) } else { (m.year(), m.month() + 1) };
    NaiveDate::from_ymd_opt(y, mo, 1).unwrap_or(m)
}

/// `customer`'s statement for the month starting `month` (any day of it).
pub async fn monthly(db: &Db, customer: Uuid, month: NaiveDate) -> ServiceResult<MonthlyStatement> {
    let month = month.with_day(1).unwrap_or(month);
    let from = month.and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or_default();
    let to = next_month(month).and_hms_opt(0, 0, 0).map(|t| t.and_utc()).unwrap_or_default();
    let b = db.backend();
    let invoices = InvoiceRow::find_by_statement(stmt(
        b,
        &format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices WHERE customer_id = $1 AND issued_at >= $2 AND issued_at < $3 \
             ORDER BY issued_at, id"
        ),
        vec![customer.into(), from.into(), to.into()],
    ))
    .all(&db.read)
    .await?;
    let movements = Movement::find_by_statement(stmt(
        b,
        "SELECT invoice_id, kind, amount, currency, reason, created_at FROM ledger_entries \
         WHERE customer_id = $1 AND created_at >= $2 AND created_at < $3 ORDER BY created_at, id",
        vec![customer.into(), from.into(), to.into()],
    ))
    .all(&db.read)
    .await?;
    Ok(MonthlyStatement { month, invoices: invoices.iter().map(InvoiceView::from).collect(), movements })
}

/// A subscription as the billing page shows it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct BilledPlan {
    /// Subscription id.
    pub id: Uuid,
    /// The product covered.
    pub product: String,
    /// The plan's name.
    pub plan: String,
    /// `monthly` or `annual`.
    pub billing_interval: String,
    /// `active`, `past_due`, `suspended`, `cancelled`.
    pub status: String,
    /// Ends at the end of the paid period.
    pub cancel_at_period_end: bool,
    /// The plan's monthly price.
    pub monthly_price_cents: i64,
    /// Its currency.
    pub currency: String,
}

/// A customer's subscriptions with their billing terms, oldest first.
pub async fn plans(db: &Db, customer: Uuid) -> ServiceResult<Vec<BilledPlan>> {
    Ok(BilledPlan::find_by_statement(stmt(
        db.backend(),
        "SELECT s.id, s.product, p.name AS plan, s.billing_interval, s.status, s.cancel_at_period_end, \
         p.monthly_price_cents, p.currency FROM subscriptions s JOIN plans p ON p.id = s.plan_id \
         WHERE s.customer_id = $1 ORDER BY s.started_at, s.id",
        vec![customer.into()],
    ))
    .all(&db.read)
    .await?)
}

#[derive(Debug, FromQueryResult)]
struct IssuedAt {
    issued_at: DateTime<Utc>,
}

/// The months (first days, newest first) in which the customer was invoiced or money
/// moved: those with a statement.
pub async fn statement_months(db: &Db, customer: Uuid) -> ServiceResult<Vec<NaiveDate>> {
    let rows = IssuedAt::find_by_statement(stmt(
        db.backend(),
        "SELECT issued_at FROM invoices WHERE customer_id = $1 \
         UNION ALL SELECT created_at AS issued_at FROM ledger_entries WHERE customer_id = $1",
        vec![customer.into()],
    ))
    .all(&db.read)
    .await?;
    let mut months: Vec<NaiveDate> = rows.iter().filter_map(|r| r.issued_at.date_naive().with_day(1)).collect();
    months.sort_unstable_by(|a, b| b.cmp(a));
    months.dedup();
    Ok(months)
}
