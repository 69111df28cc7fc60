//! The billing service: issues the invoices that are due (one per subscription and
//! period, by a unique index), charges them exactly once across nodes (each invoice
//! claimed by one node at a time, charged with an idempotency key derived from the
//! invoice id), records the outcome (invoice, payment attempt, ledger, subscription
//! state, e-mail through the outbox) in one transaction, and runs dunning.

use super::stripe::{ChargeRequest, Stripe, StripeError};
use crate::db::Db;
use crate::notify::Channel;
use crate::notify::outbox::{self, Outgoing};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr, FromQueryResult};
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use sysops_core::billing::{
    BillingEvent, BillingState, BillingStatus, CountryCode, Effect, Interval, InvoiceDraft, InvoiceLine, Schedule,
    TaxTable, period_price,
};
use sysops_core::money::Currency;
use sysops_core::plan::SubscriptionStatus;
use uuid::Uuid;

/// The tax table of `--demo` when none is configured: 8.25% in the United States.
pub const DEMO_TAX_RATES: &str = "US=825";

/// What a billing run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct RunSummary {
    /// Invoices issued.
    pub issued: u64,
    /// Invoices paid.
    pub paid: u64,
    /// Charges declined (dunning started or continued).
    pub declined: u64,
    /// Subscriptions suspended.
    pub suspended: u64,
    /// Charges whose outcome stayed unknown (retried later with the same key).
    pub unknown: u64,
    /// Subscriptions cancelled at their period end.
    pub cancelled: u64,
}

impl RunSummary {
    fn add(&mut self, o: &RunSummary) {
        self.issued += o.issued;
        self.paid += o.paid;
        self.declined += o.declined;
        self.suspended += o.suspended;
        self.unknown += o.unknown;
        self.cancelled += o.cancelled;
    }
}

/// Why a billing operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BillingError {
    /// Nothing there, or not the caller's.
    #[error("{0}")]
    NotFound(String),
    /// Refused in the current state; the message says what to do.
    #[error("{0}")]
    Refused(String),
    /// Bad input.
    #[error("{field}: {message}")]
    Invalid {
        /// Field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The processor is not configured or did not answer.
    #[error("{0}")]
    Unavailable(String),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] DbErr),
    /// Anything else.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

/// The billing service. Cheap to clone.
#[derive(Clone)]
pub struct Billing {
    pub(super) db: Db,
    pub(super) stripe: Option<Stripe>,
    pub(super) tax: TaxTable,
    pub(super) node: String,
    pub(super) public_base: String,
    lease_ms: i64,
    /// Invoices claimed at a time.
    claim_batch: i64,
    unknown_retry_ms: i64,
    /// Whether `until` may lie in the future (the test clock).
    pub test_clock: bool,
    /// What "now" is (the wall clock, or a test clock).
    pub(super) clock: super::clock::Clock,
    /// Test only: die by SIGKILL between a charge and its record.
    crash_after_charge: bool,
}

#[derive(Debug, FromQueryResult)]
struct DueSub {
    id: Uuid,
    customer_id: Uuid,
    started_at: DateTime<Utc>,
    billing_interval: String,
    billing_anchor: Option<NaiveDate>,
    next_period_index: i32,
    cancel_at_period_end: bool,
    plan_id: Uuid,
    plan_name: String,
    monthly_price_cents: i64,
    currency: String,
    country: Option<String>,
}

/// An invoice row as the run reads it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct InvoiceRow {
    /// Id.
    pub id: Uuid,
    /// Customer.
    pub customer_id: Uuid,
    /// Subscription.
    pub subscription_id: Uuid,
    /// Period number.
    pub period_index: i32,
    /// First day.
    pub period_start: NaiveDate,
    /// First day after.
    pub period_end: NaiveDate,
    /// ISO code.
    pub currency: String,
    /// Lines (JSON).
    pub lines: serde_json::Value,
    /// Before tax.
    pub subtotal: i64,
    /// Rate applied.
    pub tax_basis_points: i32,
    /// Tax.
    pub tax: i64,
    /// What is charged.
    pub total: i64,
    /// Refunded so far.
    pub amount_refunded: i64,
    /// `open`, `paid`, `void`.
    pub status: String,
    /// Definite (declined) attempts so far.
    pub attempts: i32,
    /// When the next automatic attempt is due (none once suspended).
    pub next_attempt_at_ms: Option<i64>,
    /// The processor's PaymentIntent once paid.
    pub payment_intent_id: Option<String>,
    /// Last failure.
    pub last_error: Option<String>,
    /// Issued.
    pub issued_at: DateTime<Utc>,
    /// Paid.
    pub paid_at: Option<DateTime<Utc>>,
}

#[derive(Debug, FromQueryResult)]
struct SubState {
    status: String,
    billing_failures: i32,
    first_failure_at: Option<DateTime<Utc>>,
    cancel_at_period_end: bool,
}

#[derive(Debug, Clone, FromQueryResult)]
struct Account {
    processor_customer_id: String,
    payment_method_id: Option<String>,
}

#[derive(Debug, FromQueryResult)]
pub(super) struct Contact {
    pub(super) email: String,
    pub(super) name: String,
    /// `email` or `sms` (customers only).
    pub(super) notify_by: Option<String>,
    pub(super) phone: Option<String>,
}

/// Subscriptions issued per transaction.
const ISSUE_BATCH: usize = 200;

/// Invoices claimed at a time (charged 16 at a time).
/// Invoices claimed at a time by default (`SYSOPS_BILLING_CLAIM_BATCH`).
const CLAIM_BATCH: i64 = 512;

pub(super) const INVOICE_COLUMNS: &str = "id, customer_id, subscription_id, period_index, period_start, period_end, currency, \
    lines, subtotal, tax_basis_points, tax, total, amount_refunded, status, attempts, next_attempt_at_ms, \
    payment_intent_id, last_error, issued_at, paid_at";

/// `$1, $2, …, $n`.
fn list(n: usize) -> String {
    (1..=n).map(|i| format!("${i}")).collect::<Vec<_>>().join(", ")
}

/// `($1, …, $k), ($k+1, …), …` for `rows` rows of `per_row` parameters; `literal`
/// puts a constant SQL value at that column of each row (after the parameters before it).
fn values(rows: usize, per_row: usize, literal: Option<(usize, &str)>) -> String {
    (0..rows)
        .map(|r| {
            let mut cols: Vec<String> = (1..=per_row).map(|c| format!("${}", r * per_row + c)).collect();
            if let Some((at, sql)) = literal {
                cols.insert(at, sql.to_owned());
            }
            format!("({})", cols.join(", "))
        })
        .collect::<Vec<_>>()
        .join(", ")
}

pub(super) use crate::db::statement as stmt;

fn money(minor: i64, currency: &str) -> String {
    Currency::parse(currency)
        .map(|c| sysops_core::money::Money::new(minor, c).to_string())
        .unwrap_or_else(|_| format!("{minor} {currency}"))
}

/// The idempotency key of an invoice's charge attempt: the invoice id for the first,
/// then one per definite failure, so a retry after a decline is a new charge while a
/// retry after an unknown outcome replays the same one (ADR 14).
pub fn charge_key(invoice: Uuid, attempts: i32) -> String {
    if attempts == 0 { invoice.to_string() } else { format!("{invoice}/retry-{attempts}") }
}

impl Billing {
    /// A service over `db`, charging through `stripe` (none: charges fail as "no
    /// processor configured").
    pub fn new(
        db: Db,
        stripe: Option<Stripe>,
        tax: TaxTable,
        node: String,
        public_base: String,
        test_clock: bool,
    ) -> Self {
        Self {
            db,
            stripe,
            tax,
            node,
            public_base,
            lease_ms: 120_000,
            claim_batch: CLAIM_BATCH,
            unknown_retry_ms: 30_000,
            test_clock,
            clock: super::clock::Clock::system(),
            crash_after_charge: false,
        }
    }

    /// With `clock` for "now".
    pub fn with_clock(mut self, clock: super::clock::Clock) -> Self {
        self.clock = clock;
        self
    }

    /// With a claim lease of `lease_ms` (how long a crashed node's claim holds an
    /// invoice) and the wait after an unknown outcome.
    pub fn with_lease(mut self, lease_ms: i64, unknown_retry_ms: i64) -> Self {
        self.lease_ms = lease_ms.max(1);
        self.unknown_retry_ms = unknown_retry_ms.max(1);
        self
    }

    /// What billing takes for "now".
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The clock.
    pub fn clock(&self) -> &super::clock::Clock {
        &self.clock
    }

    /// From the server's settings (in `--demo` with no tax table, [`DEMO_TAX_RATES`]).
    pub fn from_settings(
        db: Db,
        s: &crate::config::Settings,
        node: String,
        public_base: String,
    ) -> anyhow::Result<Self> {
        use secrecy::ExposeSecret;
        let rounding = sysops_core::billing::Rounding::from_str(&s.billing_rounding)
            .map_err(|e| anyhow::anyhow!("billing_rounding: {}", e.message))?;
        // The demo's invoices carry the tax its seeded year of invoices carries.
        let rates = if s.demo && s.billing_tax_rates.is_empty() { DEMO_TAX_RATES } else { &s.billing_tax_rates };
        let tax = TaxTable::parse(rates, rounding).map_err(|e| anyhow::anyhow!("billing_tax_rates: {}", e.message))?;
        let stripe = match &s.stripe_secret_key {
            Some(k) => Some(Stripe::new(
                &s.stripe_base_url,
                secrecy::SecretString::from(k.expose_secret().to_owned()),
                std::time::Duration::from_millis(s.provider_timeout_ms),
            )?),
            None => None,
        };
        let mut b = Self::new(db, stripe, tax, node, public_base, s.billing_test_clock)
            .with_clock(super::clock::Clock::from_settings(s))
            .with_lease(s.billing_lease_ms as i64, (s.billing_lease_ms as i64 / 4).max(1));
        b.claim_batch = i64::try_from(s.billing_claim_batch).unwrap_or(CLAIM_BATCH).max(1);
        b.crash_after_charge = s.test_mode && s.billing_test_fault.as_deref() == Some("crash_after_charge");
        Ok(b)
    }

    /// The processor client, if configured.
    pub fn stripe(&self) -> Option<&Stripe> {
        self.stripe.as_ref()
    }

    /// The database.
    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Refuses to bill ahead of today (unless a test clock is in use).
    fn check_until(&self, until: NaiveDate) -> Result<(), BillingError> {
        let today = self.clock.today();
        if until > today && !self.test_clock && !self.clock.is_test() {
            return Err(BillingError::Invalid {
                field: "until".into(),
                message: format!("{until} is in the future; bill up to today ({today}) at most"),
            });
        }
        Ok(())
    }

    /// Bills everything due on or before `until`, as of `now`: issues invoices, then
    /// charges what is due (and retries dunning whose time has come). `progress` is
    /// told each invoice handled.
    pub async fn run(
        &self,
        until: NaiveDate,
        now: DateTime<Utc>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<RunSummary, BillingError> {
        self.check_until(until)?;
        let mut summary = self.issue(until).await?;
        let charged = self.charge_due(now, progress).await?;
        summary.add(&charged);
        Ok(summary)
    }

    /// Like [`Billing::run`], telling `progress` (done, total) with the number of
    /// invoices due once they are issued.
    pub async fn run_with_total(
        &self,
        until: NaiveDate,
        now: DateTime<Utc>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<RunSummary, BillingError> {
        self.check_until(until)?;
        let mut summary = self.issue(until).await?;
        let total = self.due_count(now).await?;
        progress(0, total);
        let charged = self.charge_due(now, &|done, _| progress(done, total.max(done))).await?;
        summary.add(&charged);
        Ok(summary)
    }

    /// How many open invoices have an attempt due at `now`.
    pub async fn due_count(&self, now: DateTime<Utc>) -> Result<u64, DbErr> {
        let row = self
            .db
            .read
            .query_one_raw(stmt(
                self.db.backend(),
                "SELECT COUNT(*) AS n FROM invoices WHERE status = 'open' AND next_attempt_at_ms IS NOT NULL \
                 AND next_attempt_at_ms <= $1",
                vec![now.timestamp_millis().into()],
            ))
            .await?;
        Ok(row.and_then(|r| r.try_get::<i64>("", "n").ok()).unwrap_or(0).max(0) as u64)
    }

    /// Issues every invoice due on or before `until`.
    pub async fn issue(&self, until: NaiveDate) -> Result<RunSummary, BillingError> {
        let b = self.db.backend();
        let subs = DueSub::find_by_statement(stmt(
            b,
            "SELECT s.id, s.customer_id, s.started_at, s.billing_interval, s.billing_anchor, \
             s.next_period_index, s.cancel_at_period_end, s.plan_id, p.name AS plan_name, p.monthly_price_cents, p.currency, \
             a.country FROM subscriptions s JOIN plans p ON p.id = s.plan_id \
             LEFT JOIN billing_accounts a ON a.customer_id = s.customer_id \
             WHERE s.status IN ('active', 'past_due') ORDER BY s.id",
            vec![],
        ))
        .all(&self.db.read)
        .await?;
        let mut summary = RunSummary::default();
        // Up to ISSUE_BATCH subscriptions per transaction (one fsync for them all); each
        // insert is idempotent, so a batch lost to a crash is issued again next run.
        let mut txn = self.db.begin_write().await?;
        for (done, sub) in subs.into_iter().enumerate() {
            if done > 0 && done % ISSUE_BATCH == 0 {
                txn.commit().await?;
                txn = self.db.begin_write().await?;
            }
            let interval = Interval::from_str(&sub.billing_interval).unwrap_or(Interval::Monthly);
            let anchor = sub.billing_anchor.unwrap_or_else(|| sub.started_at.date_naive());
            let schedule = Schedule::new(anchor, interval);
            let from = u32::try_from(sub.next_period_index).unwrap_or(0);
            for period in schedule.due(from, until).collect::<Vec<_>>() {
                if period.index > 0 && sub.cancel_at_period_end {
                    let n = txn
                        .execute_raw(stmt(
                            b,
                            "UPDATE subscriptions SET status = 'cancelled', cancelled_at = $1 WHERE id = $2 AND status <> 'cancelled'",
                            vec![self.now().into(), sub.id.into()],
                        ))
                        .await?
                        .rows_affected();
                    txn.execute_raw(stmt(
                        b,
                        "UPDATE invoices SET status = 'void', voided_at = $1, next_attempt_at_ms = NULL \
                         WHERE subscription_id = $2 AND status = 'open'",
                        vec![self.now().into(), sub.id.into()],
                    ))
                    .await?;
                    summary.cancelled += n;
                    break;
                }
                let country = sub.country.as_deref().and_then(|c| CountryCode::parse(c).ok());
                let currency = Currency::parse(&sub.currency).unwrap_or(Currency::USD);
                let price = period_price(sub.monthly_price_cents, interval);
                // A plan change's proration waits for the next invoice (read under the
                // subscription's row lock on PostgreSQL).
                let lock = if b == DatabaseBackend::Postgres { " FOR UPDATE" } else { "" };
                let pending: Vec<InvoiceLine> = txn
                    .query_one_raw(stmt(
                        b,
                        &format!("SELECT pending_lines FROM subscriptions WHERE id = $1{lock}"),
                        vec![sub.id.into()],
                    ))
                    .await?
                    .and_then(|r| r.try_get::<Option<String>>("", "pending_lines").ok().flatten())
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or_default();
                let has_pending = !pending.is_empty();
                let mut lines = vec![InvoiceLine::subscription(&sub.plan_name, &period, price)];
                lines.extend(pending);
                let draft = InvoiceDraft::build(currency, lines, self.tax.rate_for(country), self.tax.rounding());
                let id = Uuid::now_v7();
                let due_ms = period.start.and_hms_opt(0, 0, 0).map_or(0, |t| t.and_utc().timestamp_millis());
                let inserted = txn
                    .execute_raw(stmt(
                        b,
                        "INSERT INTO invoices (id, customer_id, subscription_id, period_index, period_start, period_end, \
                         currency, lines, subtotal, tax_basis_points, tax, total, credit_carried, amount_refunded, status, \
                         attempts, next_attempt_at_ms, issued_at, plan_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
                         $11, $12, $13, 0, 'open', 0, $14, $15, $16) ON CONFLICT (subscription_id, period_index) DO NOTHING",
                        vec![
                            id.into(),
                            sub.customer_id.into(),
                            sub.id.into(),
                            (period.index as i32).into(),
                            period.start.into(),
                            period.end.into(),
                            currency.code().to_owned().into(),
                            serde_json::to_value(&draft.lines).unwrap_or_default().into(),
                            draft.subtotal.into(),
                            (draft.tax_rate.basis_points() as i32).into(),
                            draft.tax.into(),
                            draft.total.into(),
                            draft.credit_carried.into(),
                            due_ms.into(),
                            self.now().into(),
                            sub.plan_id.into(),
                        ],
                    ))
                    .await?
                    .rows_affected();
                if inserted == 1 && has_pending {
                    txn.execute_raw(stmt(
                        b,
                        "UPDATE subscriptions SET pending_lines = NULL WHERE id = $1",
                        vec![sub.id.into()],
                    ))
                    .await?;
                }
                txn.execute_raw(stmt(
                    b,
                    "UPDATE subscriptions SET next_period_index = $1 WHERE id = $2 AND next_period_index < $1",
                    vec![(period.index as i32 + 1).into(), sub.id.into()],
                ))
                .await?;
                summary.issued += inserted;
            }
        }
        txn.commit().await?;
        Ok(summary)
    }

    /// Claims up to `limit` invoices due at `now` for this node.
    async fn claim(&self, now: DateTime<Utc>, limit: i64) -> Result<Vec<InvoiceRow>, DbErr> {
        let b = self.db.backend();
        let lock = if b == DatabaseBackend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
        let wall = Utc::now().timestamp_millis();
        let sql = format!(
            "UPDATE invoices SET claimed_by = $1, claimed_until_ms = $2 WHERE id IN (SELECT id FROM invoices \
             WHERE status = 'open' AND next_attempt_at_ms IS NOT NULL AND next_attempt_at_ms <= $3 \
             AND (claimed_until_ms IS NULL OR claimed_until_ms < $4) ORDER BY next_attempt_at_ms, id LIMIT $5 {lock}) \
             RETURNING {INVOICE_COLUMNS}"
        );
        let txn = self.db.begin_write().await?;
        let rows = txn
            .query_all_raw(stmt(
                b,
                &sql,
                vec![
                    self.node.clone().into(),
                    (wall + self.lease_ms).into(),
                    now.timestamp_millis().into(),
                    wall.into(),
                    limit.into(),
                ],
            ))
            .await?;
        txn.commit().await?;
        rows.iter().map(|r| InvoiceRow::from_query_result(r, "")).collect()
    }

    /// Charges every invoice due at `now`, claim by claim, until none is left.
    pub async fn charge_due(
        &self,
        now: DateTime<Utc>,
        progress: &(dyn Fn(u64, u64) + Sync),
    ) -> Result<RunSummary, BillingError> {
        use futures::StreamExt;
        let mut summary = RunSummary::default();
        let mut seen = HashSet::new();
        let mut done = 0u64;
        // Payments charged but not yet recorded: recorded while the next batch is being
        // charged (its invoices stay claimed meanwhile, so no other node takes them).
        let mut unrecorded: Vec<(InvoiceRow, String)> = Vec::new();
        loop {
            let batch = self.claim(now, self.claim_batch).await?;
            let fresh: Vec<InvoiceRow> = batch.into_iter().filter(|i| seen.insert(i.id)).collect();
            if fresh.is_empty() {
                break;
            }
            type Charged = Result<(InvoiceRow, Result<String, StripeError>), BillingError>;
            let customers: Vec<Uuid> = fresh.iter().map(|i| i.customer_id).collect();
            let accounts = self.accounts(&customers).await?;
            let charging = futures::stream::iter(fresh.into_iter().map(|inv| {
                let account = accounts.get(&inv.customer_id).cloned();
                async move {
                    let o = self.charge_with(&inv, account).await?;
                    Ok((inv, o))
                }
            }))
            .buffer_unordered(16)
            .collect::<Vec<Charged>>();
            let previous = std::mem::take(&mut unrecorded);
            let (outcomes, recorded) = tokio::join!(charging, self.record_paid_batch(&previous, now));
            summary.paid += recorded?;
            done += previous.len() as u64;
            progress(done, 0);
            for o in outcomes {
                let (inv, o) = o?;
                match o {
                    Ok(pi) => unrecorded.push((inv, pi)),
                    other => {
                        summary.add(&self.record_outcome(inv, other, now).await?);
                        done += 1;
                        progress(done, 0);
                    }
                }
            }
        }
        summary.paid += self.record_paid_batch(&unrecorded, now).await?;
        done += unrecorded.len() as u64;
        progress(done, 0);
        Ok(summary)
    }

    /// Records a batch's payments in one transaction (one fsync); each is still all or
    /// nothing, and a batch lost to a crash is replayed by the processor under the same
    /// keys. Returns how many this call recorded.
    async fn record_paid_batch(&self, paid: &[(InvoiceRow, String)], now: DateTime<Utc>) -> Result<u64, BillingError> {
        if paid.is_empty() {
            return Ok(0);
        }
        let txn = self.db.begin_write().await?;
        let items: Vec<(Uuid, String)> = paid.iter().map(|(inv, pi)| (inv.id, pi.clone())).collect();
        let n = self.record_paid_many(&txn, &items, now).await?;
        txn.commit().await?;
        Ok(n)
    }

    /// Charges one invoice this node holds the claim on, and records the outcome.
    async fn charge_claimed(&self, inv: InvoiceRow, now: DateTime<Utc>) -> Result<RunSummary, BillingError> {
        let outcome = self.charge_only(&inv).await?;
        self.record_outcome(inv, outcome, now).await
    }

    /// Charges one invoice this node holds the claim on (retrying an unknown outcome a
    /// few times with the same key); records nothing.
    async fn charge_only(&self, inv: &InvoiceRow) -> Result<Result<String, StripeError>, BillingError> {
        let account = self.accounts(&[inv.customer_id]).await?.remove(&inv.customer_id);
        self.charge_with(inv, account).await
    }

    /// The billing accounts of several customers, in one query per 500.
    async fn accounts(&self, customers: &[Uuid]) -> Result<HashMap<Uuid, Account>, DbErr> {
        #[derive(FromQueryResult)]
        struct Row {
            customer_id: Uuid,
            processor_customer_id: String,
            payment_method_id: Option<String>,
        }
        let mut out = HashMap::with_capacity(customers.len());
        for chunk in customers.chunks(500) {
            let rows = Row::find_by_statement(stmt(
                self.db.backend(),
                &format!(
                    "SELECT customer_id, processor_customer_id, payment_method_id FROM billing_accounts \
                     WHERE customer_id IN ({})",
                    list(chunk.len())
                ),
                chunk.iter().map(|c| (*c).into()).collect(),
            ))
            .all(&self.db.read)
            .await?;
            out.extend(rows.into_iter().map(|r| {
                (
                    r.customer_id,
                    Account { processor_customer_id: r.processor_customer_id, payment_method_id: r.payment_method_id },
                )
            }));
        }
        Ok(out)
    }

    /// [`Billing::charge_only`] with the customer's account already read.
    async fn charge_with(
        &self,
        inv: &InvoiceRow,
        account: Option<Account>,
    ) -> Result<Result<String, StripeError>, BillingError> {
        let outcome = match (&self.stripe, account) {
            (None, _) => Err(StripeError::Declined {
                code: "no_processor".into(),
                message: "no card processor is configured".into(),
                payment_intent: None,
            }),
            (_, None) | (_, Some(Account { payment_method_id: None, .. })) => Err(StripeError::Declined {
                code: "no_card".into(),
                message: "no card on file".into(),
                payment_intent: None,
            }),
            (Some(stripe), Some(Account { processor_customer_id, payment_method_id: Some(pm) })) => {
                let key = charge_key(inv.id, inv.attempts);
                let id = inv.id.to_string();
                let description = format!("Sysops Squad invoice {}", inv.id);
                let req = ChargeRequest {
                    amount: inv.total,
                    currency: &inv.currency,
                    customer: &processor_customer_id,
                    payment_method: &pm,
                    invoice_id: &id,
                    description: &description,
                };
                let mut tries = 0;
                loop {
                    match stripe.charge(&req, &key).await {
                        Err(e) if e.is_unknown() && tries < 6 => {
                            tries += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(50 << tries)).await;
                        }
                        other => break other.map(|pi| pi.id),
                    }
                }
            }
        };
        if self.crash_after_charge && outcome.is_ok() {
            // The test-only fault: the charge is made, its record is not.
            tracing::error!(invoice = %inv.id, "billing_test_fault: crashing between the charge and its record");
            let _ = std::process::Command::new("kill").args(["-9", &std::process::id().to_string()]).status();
            std::process::abort();
        }
        Ok(outcome)
    }

    /// Records what charging `inv` did.
    async fn record_outcome(
        &self,
        inv: InvoiceRow,
        outcome: Result<String, StripeError>,
        now: DateTime<Utc>,
    ) -> Result<RunSummary, BillingError> {
        let mut s = RunSummary::default();
        match outcome {
            Ok(pi) => {
                if self.record_paid(inv.id, &pi, now).await? {
                    s.paid = 1;
                }
            }
            Err(StripeError::Declined { code, message, payment_intent }) => {
                let suspended = self.record_declined(&inv, &code, &message, payment_intent, now).await?;
                s.declined = 1;
                s.suspended = u64::from(suspended);
            }
            Err(e @ StripeError::Invalid { .. }) => {
                tracing::error!(invoice = %inv.id, error = %e, "the processor refused the charge request");
                self.park(inv.id, &e.to_string()).await?;
                s.unknown = 1;
            }
            Err(e) => {
                tracing::warn!(invoice = %inv.id, error = %e, "charge outcome unknown; retried later with the same key");
                self.park(inv.id, &e.to_string()).await?;
                s.unknown = 1;
            }
        }
        Ok(s)
    }

    /// Keeps the claim for a while after an unknown outcome: no node retries before the
    /// lease ends, then any node retries with the same key.
    async fn park(&self, id: Uuid, error: &str) -> Result<(), DbErr> {
        let b = self.db.backend();
        let until = Utc::now().timestamp_millis() + self.unknown_retry_ms;
        let txn = self.db.begin_write().await?;
        txn.execute_raw(stmt(
            b,
            "UPDATE invoices SET claimed_until_ms = $1, last_error = $2 WHERE id = $3 AND claimed_by = $4 AND status = 'open'",
            vec![until.into(), error.to_owned().into(), id.into(), self.node.clone().into()],
        ))
        .await?;
        txn.commit().await
    }

    pub(super) async fn contact(&self, c: &impl ConnectionTrait, customer: Uuid) -> Result<Option<Contact>, DbErr> {
        Contact::find_by_statement(stmt(
            self.db.backend(),
            "SELECT u.email, u.name, c.notify_by, c.phone FROM users u LEFT JOIN customers c ON c.user_id = u.id \
             WHERE u.id = $1",
            vec![customer.into()],
        ))
        .one(c)
        .await
    }

    pub(super) async fn sub_state(&self, c: &impl ConnectionTrait, sub: Uuid) -> Result<BillingState, BillingError> {
        let row = SubState::find_by_statement(stmt(
            self.db.backend(),
            "SELECT status, CAST(billing_failures AS INTEGER) AS billing_failures, first_failure_at, cancel_at_period_end \
             FROM subscriptions WHERE id = $1",
            vec![sub.into()],
        ))
        .one(c)
        .await?
        .ok_or_else(|| BillingError::NotFound("subscription not found".into()))?;
        let status = SubscriptionStatus::from_str(&row.status).map_err(|e| anyhow::anyhow!(e.message))?;
        BillingState::restore(
            BillingStatus::from(status),
            u8::try_from(row.billing_failures).unwrap_or(0),
            row.first_failure_at,
            row.cancel_at_period_end,
        )
        .map_err(|e| BillingError::Internal(anyhow::anyhow!("subscription {sub}: {e}")))
    }

    /// [`Billing::sub_state`] of several subscriptions in one query.
    async fn sub_states(
        &self,
        c: &impl ConnectionTrait,
        subs: &[Uuid],
    ) -> Result<HashMap<Uuid, BillingState>, BillingError> {
        #[derive(FromQueryResult)]
        struct Row {
            id: Uuid,
            status: String,
            billing_failures: i32,
            first_failure_at: Option<DateTime<Utc>>,
            cancel_at_period_end: bool,
        }
        let rows = Row::find_by_statement(stmt(
            self.db.backend(),
            &format!(
                "SELECT id, status, CAST(billing_failures AS INTEGER) AS billing_failures, first_failure_at, \
                 cancel_at_period_end FROM subscriptions WHERE id IN ({})",
                list(subs.len())
            ),
            subs.iter().map(|s| (*s).into()).collect(),
        ))
        .all(c)
        .await?;
        let mut out = HashMap::with_capacity(rows.len());
        for row in rows {
            let status = SubscriptionStatus::from_str(&row.status).map_err(|e| anyhow::anyhow!(e.message))?;
            let st = BillingState::restore(
                BillingStatus::from(status),
                u8::try_from(row.billing_failures).unwrap_or(0),
                row.first_failure_at,
                row.cancel_at_period_end,
            )
            .map_err(|e| BillingError::Internal(anyhow::anyhow!("subscription {}: {e}", row.id)))?;
            out.insert(row.id, st);
        }
        Ok(out)
    }

    /// [`Billing::contact`] of several customers in one query.
    async fn contacts(&self, c: &impl ConnectionTrait, customers: &[Uuid]) -> Result<HashMap<Uuid, Contact>, DbErr> {
        #[derive(FromQueryResult)]
        struct Row {
            id: Uuid,
            email: String,
            name: String,
            notify_by: Option<String>,
            phone: Option<String>,
        }
        let rows = Row::find_by_statement(stmt(
            self.db.backend(),
            &format!(
                "SELECT u.id, u.email, u.name, c.notify_by, c.phone FROM users u \
                 LEFT JOIN customers c ON c.user_id = u.id WHERE u.id IN ({})",
                list(customers.len())
            ),
            customers.iter().map(|c| (*c).into()).collect(),
        ))
        .all(c)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| (r.id, Contact { email: r.email, name: r.name, notify_by: r.notify_by, phone: r.phone }))
            .collect())
    }

    pub(super) async fn save_state(&self, c: &impl ConnectionTrait, sub: Uuid, st: &BillingState) -> Result<(), DbErr> {
        c.execute_raw(stmt(
            self.db.backend(),
            "UPDATE subscriptions SET status = $1, billing_failures = $2, first_failure_at = $3, cancel_at_period_end = $4 \
             WHERE id = $5",
            vec![
                SubscriptionStatus::from(st.status()).as_str().to_owned().into(),
                i16::from(st.failures()).into(),
                st.first_failure_at().into(),
                st.cancel_at_period_end().into(),
                sub.into(),
            ],
        ))
        .await?;
        Ok(())
    }

    /// Records a successful payment of `invoice` (from the run, a customer's payment or
    /// a webhook): once, whatever the order and number of reports. Returns whether this
    /// call recorded it.
    pub async fn record_paid(
        &self,
        invoice: Uuid,
        payment_intent: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, BillingError> {
        let txn = self.db.begin_write().await?;
        let recorded = self.record_paid_in(&txn, invoice, payment_intent, now).await?;
        txn.commit().await?;
        Ok(recorded)
    }

    /// [`Billing::record_paid`] inside the caller's transaction.
    async fn record_paid_in(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        invoice: Uuid,
        payment_intent: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, BillingError> {
        Ok(self.record_paid_many(txn, &[(invoice, payment_intent.to_owned())], now).await? == 1)
    }

    /// Records several payments in the caller's transaction: the invoices marked paid
    /// one statement each (each with its own payment), then their attempts, ledger
    /// entries, subscription states, contacts and receipts a few statements for them
    /// all (seven statements per payment made the recording half the billing run).
    /// An invoice already paid is skipped. Returns how many this call recorded.
    async fn record_paid_many(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        paid: &[(Uuid, String)],
        now: DateTime<Utc>,
    ) -> Result<u64, BillingError> {
        let b = self.db.backend();
        let mut recorded: Vec<(InvoiceRow, &str)> = Vec::with_capacity(paid.len());
        for (invoice, payment_intent) in paid {
            let rows = txn
                .query_all_raw(stmt(
                    b,
                    &format!(
                        "UPDATE invoices SET status = 'paid', paid_at = $1, payment_intent_id = $2, claimed_by = NULL, \
                         claimed_until_ms = NULL, next_attempt_at_ms = NULL, last_error = NULL \
                         WHERE id = $3 AND status = 'open' RETURNING {INVOICE_COLUMNS}"
                    ),
                    vec![now.into(), payment_intent.clone().into(), (*invoice).into()],
                ))
                .await?;
            // None: already recorded (by a webhook, another path, or an earlier run).
            if let Some(row) = rows.first() {
                recorded.push((InvoiceRow::from_query_result(row, "")?, payment_intent.as_str()));
            }
        }
        for chunk in recorded.chunks(100) {
            let mut attempts = Vec::new();
            let mut ledger = Vec::new();
            for (inv, pi) in chunk {
                attempts.extend::<[sea_orm::Value; 5]>([
                    Uuid::now_v7().into(),
                    inv.id.into(),
                    (inv.attempts + 1).into(),
                    now.into(),
                    (*pi).to_owned().into(),
                ]);
                ledger.extend::<[sea_orm::Value; 8]>([
                    Uuid::now_v7().into(),
                    inv.id.into(),
                    inv.customer_id.into(),
                    inv.total.into(),
                    inv.currency.clone().into(),
                    format!("charge:{}", inv.id).into(),
                    (*pi).to_owned().into(),
                    now.into(),
                ]);
            }
            txn.execute_raw(stmt(
                b,
                &format!(
                    "INSERT INTO payment_attempts (id, invoice_id, attempt, at, outcome, payment_intent_id) VALUES {} \
                     ON CONFLICT (invoice_id, attempt) DO NOTHING",
                    values(chunk.len(), 5, Some((4, "'succeeded'")))
                ),
                attempts,
            ))
            .await?;
            txn.execute_raw(stmt(
                b,
                &format!(
                    "INSERT INTO ledger_entries (id, invoice_id, customer_id, kind, amount, currency, dedupe_key, \
                     processor_ref, created_at) VALUES {} ON CONFLICT (dedupe_key) DO NOTHING",
                    values(chunk.len(), 8, Some((3, "'charge'")))
                ),
                ledger,
            ))
            .await?;
            let subs: Vec<Uuid> = chunk.iter().map(|(i, _)| i.subscription_id).collect();
            let states = self.sub_states(txn, &subs).await?;
            let customers: Vec<Uuid> = chunk.iter().map(|(i, _)| i.customer_id).collect();
            let contacts = self.contacts(txn, &customers).await?;
            let mut receipts = Vec::new();
            let mut effects: HashMap<Uuid, (BillingState, Effect)> = HashMap::new();
            for (inv, _) in chunk {
                // Two invoices of one subscription in a batch: the second sees the first's state.
                let (before, _) = match effects.get(&inv.subscription_id) {
                    Some(e) => *e,
                    None => (
                        states.get(&inv.subscription_id).cloned().ok_or_else(|| {
                            BillingError::NotFound(format!("subscription {} not found", inv.subscription_id))
                        })?,
                        Effect::None,
                    ),
                };
                let mut st = before;
                let effect = st.apply(BillingEvent::ChargeSucceeded).unwrap_or(Effect::None);
                if st != before {
                    self.save_state(txn, inv.subscription_id, &st).await?;
                }
                effects.insert(inv.subscription_id, (st, effect));
                if let Some(c) = contacts.get(&inv.customer_id) {
                    receipts.push(self.receipt(inv, c, effect == Effect::Restored));
                }
            }
            outbox::enqueue_many(txn, receipts).await?;
        }
        Ok(recorded.len() as u64)
    }

    /// The e-mail receipt of a paid invoice.
    fn receipt(&self, inv: &InvoiceRow, c: &Contact, restored: bool) -> Outgoing {
        let restored =
            if restored { "\nYour subscription is active again: you can raise tickets as before.\n" } else { "" };
        Outgoing {
            channel: Channel::Email,
            recipient: c.email.clone(),
            recipient_user_id: Some(inv.customer_id),
            template: "billing_receipt".into(),
            subject: Some(format!("Receipt: {} paid", money(inv.total, &inv.currency))),
            body: format!(
                "Hello {},\n\nThank you: we received {} for your support plan, {} to {}.\n{restored}\
                 Your invoice: {}/api/v1/customers/me/invoices/{}\n",
                c.name,
                money(inv.total, &inv.currency),
                inv.period_start,
                inv.period_end.pred_opt().unwrap_or(inv.period_end),
                self.public_base,
                inv.id
            ),
            ticket_id: None,
        }
    }

    /// Records a declined charge and moves dunning on. Returns whether the subscription
    /// is now suspended.
    async fn record_declined(
        &self,
        inv: &InvoiceRow,
        code: &str,
        message: &str,
        payment_intent: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<bool, BillingError> {
        let b = self.db.backend();
        let txn = self.db.begin_write().await?;
        let n = txn
            .execute_raw(stmt(
                b,
                "UPDATE invoices SET attempts = attempts + 1, last_error = $1, claimed_by = NULL, claimed_until_ms = NULL \
                 WHERE id = $2 AND status = 'open' AND claimed_by = $3 AND attempts = $4",
                vec![format!("{code}: {message}").into(), inv.id.into(), self.node.clone().into(), inv.attempts.into()],
            ))
            .await?
            .rows_affected();
        if n == 0 {
            txn.rollback().await?;
            return Ok(false);
        }
        txn.execute_raw(stmt(
            b,
            "INSERT INTO payment_attempts (id, invoice_id, attempt, at, outcome, decline_code, message, payment_intent_id) \
             VALUES ($1, $2, $3, $4, 'declined', $5, $6, $7) ON CONFLICT (invoice_id, attempt) DO NOTHING",
            vec![
                Uuid::now_v7().into(),
                inv.id.into(),
                (inv.attempts + 1).into(),
                now.into(),
                code.to_owned().into(),
                message.to_owned().into(),
                payment_intent.into(),
            ],
        ))
        .await?;
        let mut st = self.sub_state(&txn, inv.subscription_id).await?;
        let effect = st.apply(BillingEvent::ChargeFailed { at: now }).unwrap_or(Effect::None);
        self.save_state(&txn, inv.subscription_id, &st).await?;
        let next = match effect {
            Effect::RetryAt(t) => Some(t.timestamp_millis()),
            _ => None,
        };
        txn.execute_raw(stmt(
            b,
            "UPDATE invoices SET next_attempt_at_ms = $1 WHERE id = $2",
            vec![next.into(), inv.id.into()],
        ))
        .await?;
        if let Some(c) = self.contact(&txn, inv.customer_id).await? {
            let what = match effect {
                Effect::RetryAt(t) => format!("We will try again on {}.", t.format("%Y-%m-%d")),
                Effect::Suspend => {
                    "Your subscription is suspended: new tickets cannot be raised until the invoice is paid.".to_owned()
                }
                _ => String::new(),
            };
            // The customer's own channel: a text for those who chose SMS.
            let (channel, recipient, subject, body) = match (c.notify_by.as_deref(), c.phone) {
                (Some("sms"), Some(phone)) => (
                    Channel::Sms,
                    phone,
                    None,
                    format!(
                        "Sysops Squad: we could not charge {} for your support plan. {what} Update your card: {}/portal/billing",
                        money(inv.total, &inv.currency),
                        self.public_base
                    ),
                ),
                _ => (
                    Channel::Email,
                    c.email,
                    Some(format!("Payment of {} failed", money(inv.total, &inv.currency))),
                    format!(
                        "Hello {},\n\nWe could not charge your card {} for your support plan ({message}). {what}\n\n\
                         Update your card: {}/portal/billing\n",
                        c.name,
                        money(inv.total, &inv.currency),
                        self.public_base
                    ),
                ),
            };
            outbox::enqueue(
                &txn,
                Outgoing {
                    channel,
                    recipient,
                    recipient_user_id: Some(inv.customer_id),
                    template: "billing_payment_failed".into(),
                    subject,
                    body,
                    ticket_id: None,
                },
            )
            .await?;
        }
        txn.commit().await?;
        Ok(effect == Effect::Suspend)
    }

    /// Charges the customer's open invoices now (after a card update, or when they ask).
    pub async fn pay_open(&self, customer: Uuid, only: Option<Uuid>) -> Result<RunSummary, BillingError> {
        let b = self.db.backend();
        let wall = Utc::now().timestamp_millis();
        let one = if only.is_some() { "AND id = $5" } else { "" };
        let mut values: Vec<sea_orm::Value> =
            vec![self.node.clone().into(), (wall + self.lease_ms).into(), customer.into(), wall.into()];
        if let Some(id) = only {
            values.push(id.into());
        }
        let txn = self.db.begin_write().await?;
        let rows = txn
            .query_all_raw(stmt(
                b,
                &format!(
                    "UPDATE invoices SET claimed_by = $1, claimed_until_ms = $2 WHERE customer_id = $3 AND status = 'open' \
                     AND (claimed_until_ms IS NULL OR claimed_until_ms < $4) {one} RETURNING {INVOICE_COLUMNS}"
                ),
                values,
            ))
            .await?;
        txn.commit().await?;
        let mut s = RunSummary::default();
        for r in rows {
            let inv = InvoiceRow::from_query_result(&r, "")?;
            s.add(&self.charge_claimed(inv, self.now()).await?);
        }
        Ok(s)
    }
}

/// A date and the end of that day, for `bill --until DATE`.
pub fn end_of(date: NaiveDate) -> DateTime<Utc> {
    date.and_hms_opt(23, 59, 59).map_or_else(Utc::now, |t| t.and_utc())
}
