//! The financial report (issue 11), read from billing's own tables: the append-only
//! ledger (money that moved), invoices (what was billed and what is still owed) and
//! payment attempts (failures). Money is counted when it moves (cash basis): a charge or
//! refund belongs to the local month, in the report's time zone, of its ledger entry;
//! its plan is the plan the invoice billed. Every figure is per currency, since amounts
//! in different currencies never add up.
//!
//! Monthly recurring revenue is read from the invoices' subscription lines: on the last
//! day of each month (or of the range), what the subscriptions billed for that day bring
//! in per month, counting neither a void invoice nor one whose retries are over (the
//! subscription is suspended). Its movements compare each month with the one before.
//!
//! The ledger has one row per movement and the report reads only the range's rows, so
//! it does not need the ticket read model of ADR 16.

use super::query::Range;
use crate::db::Db;
use chrono::{DateTime, Utc};
use sea_orm::{DbErr, FromQueryResult};

use crate::db::statement as stmt;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// Revenue of one plan in one month.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MonthPlan {
    /// `YYYY-MM`, local to the report's time zone.
    pub month: String,
    /// The plan's name.
    pub plan: String,
    /// ISO 4217 code.
    pub currency: String,
    /// Card payments received.
    pub payments: u64,
    /// Charged (minor units).
    pub charged_cents: i64,
    /// Refunds made.
    pub refunds: u64,
    /// Refunded (minor units).
    pub refunded_cents: i64,
    /// Charged less refunded.
    pub net_cents: i64,
}

/// A refund in the range.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RefundLine {
    /// When.
    pub at: DateTime<Utc>,
    /// The invoice refunded.
    pub invoice_id: Uuid,
    /// Minor units.
    pub amount_cents: i64,
    /// ISO code.
    pub currency: String,
    /// Why, as the administrator gave it.
    pub reason: String,
}

/// What is owed now, by state.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Outstanding {
    /// ISO code.
    pub currency: String,
    /// `due` (not yet attempted, or its first attempt's outcome unknown), `past_due`
    /// (declined, retries scheduled) or `uncollectible` (retries over; suspended).
    pub state: String,
    /// Open invoices.
    pub invoices: u64,
    /// Their total (minor units).
    pub amount_cents: i64,
}

/// Totals of the range for one currency.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Totals {
    /// ISO code.
    pub currency: String,
    /// Charged in the range.
    pub charged_cents: i64,
    /// Refunded in the range.
    pub refunded_cents: i64,
    /// Charged less refunded.
    pub net_cents: i64,
    /// Invoices issued in the range (not cancelled).
    pub invoices_issued: u64,
    /// Their total.
    pub invoiced_cents: i64,
    /// Of those, the total of the ones paid so far (refunds are counted apart).
    pub collected_cents: i64,
    /// `collected / invoiced` (null when nothing was invoiced).
    pub collection_rate: Option<f64>,
    /// Declined charge attempts in the range.
    pub failed_payments: u64,
    /// Invoices paid in the range after at least one decline.
    pub recovered_payments: u64,
    /// Open invoices now, all states.
    pub outstanding_cents: i64,
}

/// Monthly recurring revenue at the end of a month, and how it moved in that month.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct MrrMonth {
    /// `YYYY-MM`, local to the report's time zone.
    pub month: String,
    /// The day it is measured on: the month's last, or the range's last if earlier.
    pub on: chrono::NaiveDate,
    /// ISO 4217 code.
    pub currency: String,
    /// MRR on that day (minor units; an annual plan counts a twelfth).
    pub mrr_cents: i64,
    /// Subscriptions bringing it.
    pub subscriptions: u64,
    /// Won from subscriptions that brought nothing at the end of the month before.
    pub new_cents: i64,
    /// Gained from subscriptions that now bring more (an upgrade).
    pub expansion_cents: i64,
    /// Lost from subscriptions that now bring less but something (a downgrade).
    pub contraction_cents: i64,
    /// Lost from subscriptions that bring nothing now (cancelled or suspended).
    pub churn_cents: i64,
}

/// The financial report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FinancialReport {
    /// First day.
    pub from: chrono::NaiveDate,
    /// Last day (included).
    pub to: chrono::NaiveDate,
    /// Time zone of the days and months.
    pub tz: String,
    /// When the figures were read (outstanding amounts are as of then).
    pub as_of: DateTime<Utc>,
    /// Per currency.
    pub totals: Vec<Totals>,
    /// Revenue by month and plan, months in order.
    pub by_month_and_plan: Vec<MonthPlan>,
    /// Monthly recurring revenue and its movements, by month then currency.
    pub mrr: Vec<MrrMonth>,
    /// Refunds in the range, oldest first.
    pub refunds: Vec<RefundLine>,
    /// Open invoices now, by state.
    pub outstanding: Vec<Outstanding>,
}

#[derive(Debug, FromQueryResult)]
struct Movement {
    invoice_id: Uuid,
    kind: String,
    amount: i64,
    currency: String,
    reason: Option<String>,
    created_at: DateTime<Utc>,
    plan: Option<String>,
}

#[derive(Debug, FromQueryResult)]
struct Issued {
    currency: String,
    total: i64,
    status: String,
}

#[derive(Debug, FromQueryResult)]
struct OpenInvoice {
    currency: String,
    total: i64,
    attempts: i32,
    next_attempt_at_ms: Option<i64>,
}

#[derive(Debug, FromQueryResult)]
struct Billed {
    subscription_id: Uuid,
    currency: String,
    lines: serde_json::Value,
}

#[derive(Debug, FromQueryResult)]
struct Attempt {
    currency: String,
    outcome: String,
    attempt: i32,
}

/// The financial report for `range`.
pub async fn financial(db: &Db, range: &Range) -> Result<FinancialReport, DbErr> {
    let b = db.backend();
    let (start, end) = (range.start(), range.end());
    let movements = Movement::find_by_statement(stmt(
        b,
        "SELECT l.invoice_id, l.kind, l.amount, l.currency, l.reason, l.created_at, p.name AS plan \
         FROM ledger_entries l JOIN invoices i ON i.id = l.invoice_id \
         LEFT JOIN subscriptions s ON s.id = i.subscription_id \
         LEFT JOIN plans p ON p.id = COALESCE(i.plan_id, s.plan_id) \
         WHERE l.created_at >= $1 AND l.created_at < $2 ORDER BY l.created_at, l.id",
        vec![start.into(), end.into()],
    ))
    .all(&db.read)
    .await?;
    let issued = Issued::find_by_statement(stmt(
        b,
        "SELECT currency, total, status FROM invoices \
         WHERE issued_at >= $1 AND issued_at < $2 AND status <> 'void'",
        vec![start.into(), end.into()],
    ))
    .all(&db.read)
    .await?;
    let open = OpenInvoice::find_by_statement(stmt(
        b,
        "SELECT currency, total, attempts, next_attempt_at_ms FROM invoices WHERE status = 'open'",
        vec![],
    ))
    .all(&db.read)
    .await?;
    let attempts = Attempt::find_by_statement(stmt(
        b,
        "SELECT i.currency, a.outcome, a.attempt FROM payment_attempts a JOIN invoices i ON i.id = a.invoice_id \
         WHERE a.at >= $1 AND a.at < $2",
        vec![start.into(), end.into()],
    ))
    .all(&db.read)
    .await?;
    let days = mrr_days(range);
    let (first, last) = (days.first().map(|d| d.1), days.last().map(|d| d.1));
    let billed = match (first, last) {
        (Some(first), Some(last)) => {
            Billed::find_by_statement(stmt(
                b,
                "SELECT subscription_id, currency, lines FROM invoices \
                 WHERE period_end > $1 AND period_start <= $2 \
                 AND (status = 'paid' OR (status = 'open' AND (attempts = 0 OR next_attempt_at_ms IS NOT NULL)))",
                vec![first.into(), last.into()],
            ))
            .all(&db.read)
            .await?
        }
        _ => Vec::new(),
    };
    let mut report = assemble(range, Utc::now(), movements, issued, open, attempts);
    report.mrr = mrr(&days, &billed);
    Ok(report)
}

/// The days MRR is measured on: the end of the month before the range (the first
/// month's starting point), then each month's last day in the range (the range's last
/// day for its last month). `(month label, day)`.
fn mrr_days(range: &Range) -> Vec<(String, chrono::NaiveDate)> {
    use chrono::Datelike;
    let month_start = |d: chrono::NaiveDate| d.with_day(1).unwrap_or(d);
    let mut days = Vec::new();
    if let Some(before) = month_start(range.from).pred_opt() {
        days.push((before.format("%Y-%m").to_string(), before));
    }
    let mut m = month_start(range.from);
    while m <= range.to && days.len() < 1_200 {
        let next = sysops_core::billing::add_months_clamped(m, 1, 1);
        let end = next.pred_opt().unwrap_or(m).min(range.to);
        days.push((m.format("%Y-%m").to_string(), end));
        m = next;
    }
    days
}

/// MRR on each of `days` after the first, per currency, with its movement since the
/// day before it.
fn mrr(days: &[(String, chrono::NaiveDate)], billed: &[Billed]) -> Vec<MrrMonth> {
    use sysops_core::billing::{InvoiceLine, LineKind, RecurringLine, movement, mrr_on};
    let mut by_currency: BTreeMap<&str, Vec<RecurringLine<Uuid>>> = BTreeMap::new();
    for b in billed {
        let lines: Vec<InvoiceLine> = serde_json::from_value(b.lines.clone()).unwrap_or_default();
        by_currency.entry(b.currency.as_str()).or_default().extend(
            lines.into_iter().filter(|l| l.kind == LineKind::Subscription).map(|l| RecurringLine {
                key: b.subscription_id,
                amount: l.amount,
                start: l.period_start,
                end: l.period_end,
            }),
        );
    }
    let mut out = Vec::new();
    for pair in days.windows(2) {
        let ((_, before), (month, on)) = (&pair[0], &pair[1]);
        for (currency, lines) in &by_currency {
            let m = movement(&mrr_on(lines, *before), &mrr_on(lines, *on));
            out.push(MrrMonth {
                month: month.clone(),
                on: *on,
                currency: (*currency).to_owned(),
                mrr_cents: m.mrr,
                subscriptions: m.subscriptions,
                new_cents: m.new,
                expansion_cents: m.expansion,
                contraction_cents: m.contraction,
                churn_cents: m.churn,
            });
        }
    }
    out
}

fn assemble(
    range: &Range,
    as_of: DateTime<Utc>,
    movements: Vec<Movement>,
    issued: Vec<Issued>,
    open: Vec<OpenInvoice>,
    attempts: Vec<Attempt>,
) -> FinancialReport {
    let mut totals: BTreeMap<String, Totals> = BTreeMap::new();
    fn entry<'a>(t: &'a mut BTreeMap<String, Totals>, c: &str) -> &'a mut Totals {
        t.entry(c.to_owned()).or_insert_with(|| Totals {
            currency: c.to_owned(),
            charged_cents: 0,
            refunded_cents: 0,
            net_cents: 0,
            invoices_issued: 0,
            invoiced_cents: 0,
            collected_cents: 0,
            collection_rate: None,
            failed_payments: 0,
            recovered_payments: 0,
            outstanding_cents: 0,
        })
    }
    let mut months: BTreeMap<(String, String, String), MonthPlan> = BTreeMap::new();
    let mut refunds = Vec::new();
    for m in &movements {
        let month = m.created_at.with_timezone(&range.tz).format("%Y-%m").to_string();
        let plan = m.plan.clone().unwrap_or_else(|| "(no plan)".to_owned());
        let row = months.entry((month.clone(), plan.clone(), m.currency.clone())).or_insert_with(|| MonthPlan {
            month,
            plan,
            currency: m.currency.clone(),
            payments: 0,
            charged_cents: 0,
            refunds: 0,
            refunded_cents: 0,
            net_cents: 0,
        });
        let t = entry(&mut totals, &m.currency);
        if m.kind == "refund" {
            row.refunds += 1;
            row.refunded_cents += m.amount;
            t.refunded_cents += m.amount;
            refunds.push(RefundLine {
                at: m.created_at,
                invoice_id: m.invoice_id,
                amount_cents: m.amount,
                currency: m.currency.clone(),
                reason: m.reason.clone().unwrap_or_default(),
            });
        } else {
            row.payments += 1;
            row.charged_cents += m.amount;
            t.charged_cents += m.amount;
        }
        row.net_cents = row.charged_cents - row.refunded_cents;
    }
    for i in &issued {
        let t = entry(&mut totals, &i.currency);
        t.invoices_issued += 1;
        t.invoiced_cents += i.total;
        if i.status == "paid" {
            t.collected_cents += i.total;
        }
    }
    for a in &attempts {
        let t = entry(&mut totals, &a.currency);
        match a.outcome.as_str() {
            "declined" => t.failed_payments += 1,
            "succeeded" if a.attempt > 1 => t.recovered_payments += 1,
            _ => {}
        }
    }
    let mut owed: BTreeMap<(String, &'static str), Outstanding> = BTreeMap::new();
    for o in &open {
        let state = match (o.attempts, o.next_attempt_at_ms) {
            (0, _) => "due",
            (_, Some(_)) => "past_due",
            (_, None) => "uncollectible",
        };
        let row = owed.entry((o.currency.clone(), state)).or_insert_with(|| Outstanding {
            currency: o.currency.clone(),
            state: state.to_owned(),
            invoices: 0,
            amount_cents: 0,
        });
        row.invoices += 1;
        row.amount_cents += o.total;
        entry(&mut totals, &o.currency).outstanding_cents += o.total;
    }
    let totals = totals
        .into_values()
        .map(|mut t| {
            t.net_cents = t.charged_cents - t.refunded_cents;
            t.collection_rate = (t.invoiced_cents > 0).then(|| t.collected_cents as f64 / t.invoiced_cents as f64);
            t
        })
        .collect();
    FinancialReport {
        from: range.from,
        to: range.to,
        tz: range.tz.name().to_owned(),
        as_of,
        totals,
        by_month_and_plan: months.into_values().collect(),
        mrr: Vec::new(),
        refunds,
        outstanding: owed.into_values().collect(),
    }
}

/// The financial report as CSV, long-form like the ticketing report:
/// `section,month,plan,currency,metric,value`.
pub fn csv(r: &FinancialReport) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut row = |section: &str, month: &str, plan: &str, currency: &str, metric: &str, value: String| {
        let _ = w.write_record([section, month, plan, currency, metric, &value]);
    };
    row("section", "month", "plan", "currency", "metric", "value".to_owned());
    for t in &r.totals {
        let c = t.currency.as_str();
        row("totals", "", "", c, "charged_cents", t.charged_cents.to_string());
        row("totals", "", "", c, "refunded_cents", t.refunded_cents.to_string());
        row("totals", "", "", c, "net_cents", t.net_cents.to_string());
        row("totals", "", "", c, "invoices_issued", t.invoices_issued.to_string());
        row("totals", "", "", c, "invoiced_cents", t.invoiced_cents.to_string());
        row("totals", "", "", c, "collected_cents", t.collected_cents.to_string());
        row("totals", "", "", c, "collection_rate", t.collection_rate.map(|v| v.to_string()).unwrap_or_default());
        row("totals", "", "", c, "failed_payments", t.failed_payments.to_string());
        row("totals", "", "", c, "recovered_payments", t.recovered_payments.to_string());
        row("totals", "", "", c, "outstanding_cents", t.outstanding_cents.to_string());
    }
    for m in &r.by_month_and_plan {
        let (mo, p, c) = (m.month.as_str(), m.plan.as_str(), m.currency.as_str());
        row("by_month_and_plan", mo, p, c, "payments", m.payments.to_string());
        row("by_month_and_plan", mo, p, c, "charged_cents", m.charged_cents.to_string());
        row("by_month_and_plan", mo, p, c, "refunds", m.refunds.to_string());
        row("by_month_and_plan", mo, p, c, "refunded_cents", m.refunded_cents.to_string());
        row("by_month_and_plan", mo, p, c, "net_cents", m.net_cents.to_string());
    }
    for m in &r.mrr {
        let (mo, c) = (m.month.as_str(), m.currency.as_str());
        row("mrr", mo, "", c, "mrr_cents", m.mrr_cents.to_string());
        row("mrr", mo, "", c, "subscriptions", m.subscriptions.to_string());
        row("mrr", mo, "", c, "new_cents", m.new_cents.to_string());
        row("mrr", mo, "", c, "expansion_cents", m.expansion_cents.to_string());
        row("mrr", mo, "", c, "contraction_cents", m.contraction_cents.to_string());
        row("mrr", mo, "", c, "churn_cents", m.churn_cents.to_string());
    }
    for o in &r.outstanding {
        row("outstanding", "", &o.state, &o.currency, "invoices", o.invoices.to_string());
        row("outstanding", "", &o.state, &o.currency, "amount_cents", o.amount_cents.to_string());
    }
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}
