//! Billing end to end: the real binary, the Stripe stand-in over HTTP (its charges are
//! the processor's truth), the test clock file moving the server through months, and
//! the database read directly for invoices and the ledger (the invoice routes belong to
//! the read side). After every test: one charge per paid invoice at most, and the
//! ledger balances against both the invoices and the processor.

use super::helpers::*;
use chrono::{DateTime, Duration as Days, Months, NaiveDate, Utc};
use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, FromQueryResult, Statement};
use serde_json::{Value, json};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::Duration;
use sysops_standins::{StripeConfig, StripeFaults, StripeStandin};

/// A server billing against a Stripe stand-in, with a clock the test moves.
struct Rig {
    stripe: StripeStandin,
    server: Server,
    clock: PathBuf,
    _clock_dir: tempfile::TempDir,
    db: DatabaseConnection,
    start: DateTime<Utc>,
}

fn billing_env(stripe: &StripeStandin, clock: &std::path::Path, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = [
        ("SYSOPS_TEST_MODE", "true"),
        ("SYSOPS_STRIPE_SECRET_KEY", stripe.secret_key()),
        ("SYSOPS_STRIPE_WEBHOOK_SECRET", stripe.webhook_secret()),
        ("SYSOPS_STRIPE_BASE_URL", &stripe.url()),
        ("SYSOPS_BILLING_CLOCK_FILE", &clock.display().to_string()),
        ("SYSOPS_BILLING_POLL_MS", "150"),
        ("SYSOPS_BILLING_LEASE_MS", "2000"),
        ("SYSOPS_POLL_MS", "200"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for (k, v) in extra {
        env.retain(|(x, _)| x != k);
        env.push(((*k).to_owned(), (*v).to_owned()));
    }
    env
}

async fn connect(cfg: &Config) -> DatabaseConnection {
    let url = match &cfg.db_url {
        Some(u) => u.clone(),
        None => format!("sqlite://{}?mode=ro", cfg.data_dir.join("sysops.db").display()),
    };
    Database::connect(url).await.expect("connect to the server's database")
}

impl Rig {
    async fn new(backend: Backend, extra: &[(&str, &str)]) -> Rig {
        let stripe = StripeStandin::start(StripeConfig::default()).await.expect("stripe stand-in");
        let dir = tempfile::tempdir().unwrap();
        let clock = dir.path().join("clock");
        let start = Utc::now();
        std::fs::write(&clock, start.to_rfc3339()).unwrap();
        let server = Server::spawn_env(backend, billing_env(&stripe, &clock, extra)).await;
        stripe.set_webhook(&server.url("/api/v1/webhooks/stripe"));
        let db = connect(&server.cfg).await;
        Rig { stripe, server, clock, _clock_dir: dir, db, start }
    }

    /// Sets the billing clock.
    fn set_clock(&self, t: DateTime<Utc>) {
        std::fs::write(&self.clock, t.to_rfc3339()).unwrap();
    }

    async fn rows(&self, sql: &str) -> Vec<sea_orm::QueryResult> {
        let b = self.db.get_database_backend();
        self.db.query_all_raw(Statement::from_string(b, sql.to_owned())).await.expect(sql)
    }

    async fn invoices(&self, sub: &str) -> Vec<Inv> {
        let b = self.db.get_database_backend();
        Inv::find_by_statement(Statement::from_sql_and_values(
            b,
            "SELECT id, period_index, period_start, total, status, attempts, lines, amount_refunded \
             FROM invoices WHERE subscription_id = $1 ORDER BY period_index",
            [uuid::Uuid::parse_str(sub).unwrap().into()],
        ))
        .all(&self.db)
        .await
        .unwrap()
    }

    async fn sub_status(&self, sub: &str) -> String {
        let b = self.db.get_database_backend();
        self.db
            .query_one_raw(Statement::from_sql_and_values(
                b,
                "SELECT status FROM subscriptions WHERE id = $1",
                [uuid::Uuid::parse_str(sub).unwrap().into()],
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get::<String>("", "status")
            .unwrap()
    }

    async fn mails(&self, customer: &str, template: &str) -> Vec<String> {
        let b = self.db.get_database_backend();
        self.db
            .query_all_raw(Statement::from_sql_and_values(
                b,
                "SELECT body FROM outbox_messages WHERE recipient_user_id = $1 AND template = $2 ORDER BY id",
                [uuid::Uuid::parse_str(customer).unwrap().into(), template.into()],
            ))
            .await
            .unwrap()
            .iter()
            .map(|r| r.try_get::<String>("", "body").unwrap())
            .collect()
    }

    /// Waits (polling the database) until `f` holds; panics with `what` after a minute.
    async fn until<F, Fut>(&self, what: &str, f: F)
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..600 {
            if f().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("timed out waiting for {what}; server log:\n{}", tail(&self.server.log()));
    }

    /// Exactly once and the books: at most one charge per invoice at the processor,
    /// every paid invoice charged once, and charges − refunds equal across the ledger,
    /// the invoices and the processor.
    async fn check_books(&self) {
        let charges = self.stripe.charges();
        let mut per_invoice: HashMap<String, usize> = HashMap::new();
        for c in &charges {
            *per_invoice.entry(c.invoice_id.clone().expect("charge names its invoice")).or_default() += 1;
        }
        let doubles: Vec<_> = per_invoice.iter().filter(|(_, n)| **n > 1).collect();
        assert!(doubles.is_empty(), "invoices charged more than once: {doubles:?}");
        let paid = self.rows("SELECT id, total, amount_refunded FROM invoices WHERE status = 'paid'").await;
        let id_of = |r: &sea_orm::QueryResult| r.try_get::<uuid::Uuid>("", "id").unwrap().to_string();
        let paid_ids: HashSet<String> = paid.iter().map(id_of).collect();
        let charged_nonzero: HashSet<String> = per_invoice.keys().cloned().collect();
        let paid_nonzero: HashSet<String> =
            paid.iter().filter(|r| r.try_get::<i64>("", "total").unwrap() > 0).map(id_of).collect();
        assert_eq!(paid_nonzero, charged_nonzero, "every paid invoice charged once, and only those");
        assert!(paid_nonzero.is_subset(&paid_ids));
        let invoices_net: i64 = paid
            .iter()
            .map(|r| r.try_get::<i64>("", "total").unwrap() - r.try_get::<i64>("", "amount_refunded").unwrap())
            .sum();
        let ledger = self.rows("SELECT kind, amount FROM ledger_entries").await;
        let ledger_net: i64 = ledger
            .iter()
            .map(|r| {
                let a = r.try_get::<i64>("", "amount").unwrap();
                if r.try_get::<String>("", "kind").unwrap() == "refund" { -a } else { a }
            })
            .sum();
        let processor_net: i64 =
            charges.iter().map(|c| c.amount).sum::<i64>() - self.stripe.refunds().iter().map(|r| r.amount).sum::<i64>();
        assert_eq!(ledger_net, invoices_net, "ledger vs invoices");
        assert_eq!(processor_net, ledger_net, "processor vs ledger");
    }
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

#[derive(Debug, FromQueryResult)]
struct Inv {
    id: uuid::Uuid,
    period_index: i32,
    period_start: NaiveDate,
    total: i64,
    status: String,
    attempts: i32,
    lines: Value,
    #[allow(dead_code)]
    amount_refunded: i64,
}

struct Payer {
    id: String,
    token: String,
    sub: String,
}

/// Saves `card` the way a browser does: the setup page is the stand-in's, the card
/// number goes there, and the server only learns the confirmed SetupIntent.
async fn save_card(s: &Server, token: &str, card: &str) -> Value {
    let (st, setup) = s.post("/api/v1/customers/me/card/setup", Some(token), &json!({})).await;
    assert_eq!(st, StatusCode::CREATED, "{setup}");
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let page = browser.post(setup["url"].as_str().unwrap()).form(&[("number", card)]).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::SEE_OTHER, "the stand-in's card page saved the card");
    let (st, saved) =
        s.post("/api/v1/customers/me/card", Some(token), &json!({"setup_intent": setup["setup_intent"]})).await;
    assert_eq!(st, StatusCode::OK, "{saved}");
    saved
}

/// A customer with `card` on file, then subscribed to `plan` (`billing`: monthly/annual).
async fn payer(s: &Server, name: &str, plan: &str, card: &str, billing: &str) -> Payer {
    payer_by(s, name, plan, card, billing, "email").await
}

/// [`payer`] who chose to be told by `notify_by` (`email` or `sms`).
async fn payer_by(s: &Server, name: &str, plan: &str, card: &str, billing: &str, notify_by: &str) -> Payer {
    let email = format!("{name}-{}@payers.test", uuid::Uuid::new_v4().simple());
    let (st, c) = s
        .post(
            "/api/v1/customers",
            None,
            &json!({"name": name, "email": email, "password": PASSWORD, "phone": "+13125550199",
                    "notify_by": notify_by, "address": "1 Main St, Chicago", "location": north(0.5)}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{c}");
    let token = s.login(&email, PASSWORD).await;
    save_card(s, &token, card).await;
    let (st, sub) = s
        .post(
            "/api/v1/customers/me/subscriptions",
            Some(&token),
            &json!({"plan_id": plan, "product": "Living-room TV", "billing": billing}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{sub}");
    assert_eq!(sub["billing"], billing);
    Payer { id: c["id"].as_str().unwrap().to_owned(), token, sub: sub["id"].as_str().unwrap().to_owned() }
}

async fn plan(s: &Server, admin: &str, name: &str, cents: i64) -> String {
    let (st, p) = s
        .post(
            "/api/v1/plans",
            Some(admin),
            &json!({"name": name, "categories": ["television", "laptop"], "monthly_price_cents": cents, "currency": "USD"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{p}");
    p["id"].as_str().unwrap().to_owned()
}

async fn paid_count(r: &Rig, sub: &str) -> usize {
    r.invoices(sub).await.iter().filter(|i| i.status == "paid").count()
}

async fn a_year_of_monthly_billing(backend: Backend) {
    let r = Rig::new(backend, &[]).await;
    let admin = r.server.admin().await;
    let gold = plan(&r.server, &admin, "Gold", 2999).await;
    let p = payer(&r.server, "yearly", &gold, "4242424242424242", "monthly").await;
    r.until("the first month paid", || async { paid_count(&r, &p.sub).await == 1 }).await;
    for month in 1..=12u32 {
        r.set_clock(r.start + Months::new(month) + Days::hours(1));
        r.until(&format!("month {month} paid"), || async { paid_count(&r, &p.sub).await == month as usize + 1 }).await;
    }
    let inv = r.invoices(&p.sub).await;
    assert_eq!(inv.len(), 13, "one invoice per month, never two");
    for (i, v) in inv.iter().enumerate() {
        assert_eq!(v.period_index, i as i32);
        assert_eq!(v.total, 2999);
        assert_eq!(v.attempts, 0);
    }
    let charges = r.stripe.charges();
    assert_eq!(charges.len(), 13);
    for c in &charges {
        // The first attempt's idempotency key is the invoice id (ADR 14).
        assert_eq!(c.idempotency_key, c.invoice_id, "{c:?}");
    }
    r.until("13 receipts queued", || async { r.mails(&p.id, "billing_receipt").await.len() == 13 }).await;
    assert!(r.mails(&p.id, "billing_payment_failed").await.is_empty());
    // The processor's webhooks for those charges arrived and changed nothing.
    r.until("webhooks recorded", || async {
        r.rows("SELECT id FROM processor_events WHERE kind = 'payment_intent.succeeded'").await.len() == 13
    })
    .await;
    r.check_books().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_of_monthly_billing_sqlite() {
    a_year_of_monthly_billing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_year_of_monthly_billing_postgres() {
    a_year_of_monthly_billing(Backend::Postgres).await;
}

async fn annual_billing(backend: Backend) {
    let r = Rig::new(backend, &[]).await;
    let admin = r.server.admin().await;
    let gold = plan(&r.server, &admin, "Gold", 1000).await;
    let p = payer(&r.server, "annual", &gold, "5555555555554444", "annual").await;
    r.until("the first year paid", || async { paid_count(&r, &p.sub).await == 1 }).await;
    assert_eq!(r.invoices(&p.sub).await[0].total, 12_000, "twelve months at once");
    r.set_clock(r.start + Months::new(11) + Days::days(20));
    // A few ticks of the job at month 11: nothing new is due.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(r.invoices(&p.sub).await.len(), 1, "nothing is due before the anniversary");
    r.set_clock(r.start + Months::new(12) + Days::hours(1));
    r.until("the second year paid", || async { paid_count(&r, &p.sub).await == 2 }).await;
    let inv = r.invoices(&p.sub).await;
    assert_eq!(inv[1].total, 12_000);
    assert_eq!(inv[1].period_start, (r.start + Months::new(12)).date_naive());
    r.check_books().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annual_billing_sqlite() {
    annual_billing(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annual_billing_postgres() {
    annual_billing(Backend::Postgres).await;
}

async fn plan_change_with_proration(backend: Backend) {
    let r = Rig::new(backend, &[]).await;
    let admin = r.server.admin().await;
    let silver = plan(&r.server, &admin, "Silver", 3000).await;
    let gold = plan(&r.server, &admin, "Gold", 6000).await;
    let p = payer(&r.server, "upgrader", &silver, "4242424242424242", "monthly").await;
    r.until("the first month paid", || async { paid_count(&r, &p.sub).await == 1 }).await;
    let on = r.start + Days::days(10);
    r.set_clock(on);
    let (st, change) = r
        .server
        .post(&format!("/api/v1/customers/me/subscriptions/{}/plan", p.sub), Some(&p.token), &json!({"plan_id": gold}))
        .await;
    assert_eq!(st, StatusCode::OK, "{change}");
    // What the domain says the proration is, by day count.
    let period =
        sysops_core::billing::Schedule::new(r.start.date_naive(), sysops_core::billing::Interval::Monthly).period(0);
    let expected = sysops_core::billing::prorate(
        &period,
        on.date_naive(),
        ("Silver", 3000),
        ("Gold", 6000),
        sysops_core::billing::Rounding::HalfUp,
    )
    .unwrap();
    assert_eq!(change["credit_cents"], expected.credit.amount);
    assert_eq!(change["charge_cents"], expected.charge.amount);
    assert!(expected.credit.amount < 0 && expected.charge.amount > 0);
    // Changing to the same plan again is refused with a reason.
    let (st, again) = r
        .server
        .post(&format!("/api/v1/customers/me/subscriptions/{}/plan", p.sub), Some(&p.token), &json!({"plan_id": gold}))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{again}");
    // Another customer cannot touch this subscription.
    let other = payer(&r.server, "other", &silver, "4242424242424242", "monthly").await;
    let (st, _) = r
        .server
        .post(
            &format!("/api/v1/customers/me/subscriptions/{}/plan", p.sub),
            Some(&other.token),
            &json!({"plan_id": silver}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    r.set_clock(r.start + Months::new(1) + Days::hours(1));
    r.until("the second month paid", || async { paid_count(&r, &p.sub).await == 2 }).await;
    let inv = r.invoices(&p.sub).await;
    let lines: Vec<(String, i64)> = inv[1]
        .lines
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["kind"].as_str().unwrap().to_owned(), l["amount"].as_i64().unwrap()))
        .collect();
    assert_eq!(
        lines,
        vec![
            ("subscription".to_owned(), 6000),
            ("proration_credit".to_owned(), expected.credit.amount),
            ("proration_charge".to_owned(), expected.charge.amount),
        ]
    );
    assert_eq!(inv[1].total, 6000 + expected.net());
    let charged = r.stripe.charges().into_iter().find(|c| c.invoice_id == Some(inv[1].id.to_string())).unwrap();
    assert_eq!(charged.amount, inv[1].total);
    // The third month is the new plan alone.
    r.set_clock(r.start + Months::new(2) + Days::hours(1));
    r.until("the third month paid", || async { paid_count(&r, &p.sub).await == 3 }).await;
    assert_eq!(r.invoices(&p.sub).await[2].total, 6000);
    // Cancel at period end: the next period is not billed and the subscription ends.
    let (st, sub) = r
        .server
        .post(&format!("/api/v1/customers/me/subscriptions/{}/cancel", p.sub), Some(&p.token), &json!({}))
        .await;
    assert_eq!(st, StatusCode::OK, "{sub}");
    assert_eq!(sub["cancel_at_period_end"], true);
    assert_eq!(sub["status"], "active");
    r.set_clock(r.start + Months::new(3) + Days::hours(1));
    r.until("cancelled at the period end", || async { r.sub_status(&p.sub).await == "cancelled" }).await;
    assert_eq!(r.invoices(&p.sub).await.len(), 3, "nothing billed after cancellation");
    // Refunds: partial with a reason, then the rest; never more than paid.
    let last = inv[1].id;
    let (st, re) = r
        .server
        .post(
            &format!("/api/v1/invoices/{last}/refunds"),
            Some(&admin),
            &json!({"amount_cents": 500, "reason": "goodwill"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{re}");
    let (st, re) =
        r.server.post(&format!("/api/v1/invoices/{last}/refunds"), Some(&p.token), &json!({"reason": "mine"})).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{re}");
    let (st, re) =
        r.server.post(&format!("/api/v1/invoices/{last}/refunds"), Some(&admin), &json!({"reason": ""})).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{re}");
    // The rest, sent twice with one Idempotency-Key: refunded once.
    for _ in 0..2 {
        let (st, re) = send(
            r.server
                .req(reqwest::Method::POST, &format!("/api/v1/invoices/{last}/refunds"), Some(&admin))
                .header("Idempotency-Key", "refund-rest-1")
                .json(&json!({"reason": "customer left"})),
        )
        .await;
        assert_eq!(st, StatusCode::CREATED, "{re}");
        assert_eq!(re["amount_cents"], inv[1].total - 500);
    }
    let (st, re) = r
        .server
        .post(&format!("/api/v1/invoices/{last}/refunds"), Some(&admin), &json!({"amount_cents": 1, "reason": "more"}))
        .await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{re}");
    assert_eq!(re["status"], 422);
    assert_eq!(r.stripe.refunds().len(), 2);
    r.check_books().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_change_with_proration_cancel_and_refunds_sqlite() {
    plan_change_with_proration(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_change_with_proration_cancel_and_refunds_postgres() {
    plan_change_with_proration(Backend::Postgres).await;
}

async fn decline_dunning_suspension_recovery(backend: Backend) {
    let r = Rig::new(backend, &[]).await;
    let admin = r.server.admin().await;
    let gold = plan(&r.server, &admin, "Gold", 2500).await;
    // Saves, then every charge fails. Told on their own channel: e-mail, or SMS.
    let channel = if backend == Backend::Sqlite { "email" } else { "sms" };
    let p = payer_by(&r.server, "decliner", &gold, "4000000000000341", "monthly", channel).await;
    let attempts = |n: i32| {
        let r = &r;
        let sub = p.sub.clone();
        async move { r.invoices(&sub).await.first().is_some_and(|i| i.attempts == n) }
    };
    r.until("the first decline", || attempts(1)).await;
    assert_eq!(r.sub_status(&p.sub).await, "past_due");
    // Still past due (not suspended): tickets may be raised.
    let (st, t) = r
        .server
        .post(
            "/api/v1/tickets",
            Some(&p.token),
            &json!({"subscription_id": p.sub, "category": "television", "title": "No picture", "description": "Dark."}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    for (days, n) in [(1, 2), (3, 3), (7, 4)] {
        // A moment before the retry: nothing happens.
        r.set_clock(r.start + Days::days(days) - Days::hours(2));
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(r.invoices(&p.sub).await[0].attempts, n - 1, "no retry before day {days}");
        r.set_clock(r.start + Days::days(days) + Days::minutes(5));
        r.until(&format!("the retry on day {days}"), || attempts(n)).await;
    }
    assert_eq!(r.sub_status(&p.sub).await, "suspended");
    let (st, me) = r.server.get("/api/v1/customers/me/subscriptions", Some(&p.token)).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(me["items"][0]["status"], "suspended");
    r.until("four dunning notices", || async { r.mails(&p.id, "billing_payment_failed").await.len() == 4 }).await;
    let notices = r.mails(&p.id, "billing_payment_failed").await;
    assert!(notices[0].contains("/portal/billing"), "each notice links to the card page: {}", notices[0]);
    assert!(notices[3].contains("suspended"), "{}", notices[3]);
    let channels =
        r.rows("SELECT DISTINCT channel FROM outbox_messages WHERE template = 'billing_payment_failed'").await;
    assert_eq!(channels.len(), 1);
    assert_eq!(channels[0].try_get::<String>("", "channel").unwrap(), channel);
    assert!(r.stripe.charges().is_empty());
    // A new ticket is refused with what to do.
    let resp = r
        .server
        .req(reqwest::Method::POST, "/api/v1/tickets", Some(&p.token))
        .json(&json!({"subscription_id": p.sub, "category": "television", "title": "Again", "description": "Still dark."}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let problem: Value = resp.json().await.unwrap();
    assert!(problem["detail"].as_str().unwrap().contains("update the card"), "{problem}");
    // A plan change is refused too, with the same advice.
    let (st, _) = r
        .server
        .post(&format!("/api/v1/customers/me/subscriptions/{}/plan", p.sub), Some(&p.token), &json!({"plan_id": gold}))
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    // The card is updated: the open invoice is charged at once and the subscription is back.
    let saved = save_card(&r.server, &p.token, "4242424242424242").await;
    assert_eq!(saved["card"]["card_last4"], "4242");
    // Paid before the answer: recorded by this call, or by the processor's webhook that
    // raced it (then this call found it recorded already).
    assert_eq!(saved["charged"]["declined"], 0, "{saved}");
    assert_eq!(r.invoices(&p.sub).await[0].status, "paid");
    assert_eq!(r.sub_status(&p.sub).await, "active");
    let (st, t) = r
        .server
        .post(
            "/api/v1/tickets",
            Some(&p.token),
            &json!({"subscription_id": p.sub, "category": "television", "title": "Again", "description": "Still dark."}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{t}");
    let charges = r.stripe.charges();
    assert_eq!(charges.len(), 1);
    // A new key after definite declines (ADR 14): the fifth attempt.
    assert_eq!(charges[0].idempotency_key, Some(format!("{}/retry-4", r.invoices(&p.sub).await[0].id)));
    r.until("the receipt says it is active again", || async {
        r.mails(&p.id, "billing_receipt").await.iter().any(|m| m.contains("active again"))
    })
    .await;
    r.check_books().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decline_dunning_suspension_and_recovery_sqlite() {
    decline_dunning_suspension_recovery(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn decline_dunning_suspension_and_recovery_postgres() {
    decline_dunning_suspension_recovery(Backend::Postgres).await;
}

async fn crash_between_charge_and_record(backend: Backend) {
    let r = Rig::new(backend, &[("SYSOPS_BILLING_TEST_FAULT", "crash_after_charge")]).await;
    let mut server = r.server;
    let admin = server.admin().await;
    let gold = plan(&server, &admin, "Gold", 4200).await;
    // Keep the processor's webhooks away: only the restart may record the charge.
    r.stripe.set_webhook("http://127.0.0.1:9/nowhere");
    let email = format!("crash-{}@payers.test", uuid::Uuid::new_v4().simple());
    let (st, _) = server
        .post(
            "/api/v1/customers",
            None,
            &json!({"name": "crash", "email": email, "password": PASSWORD, "phone": "+13125550199",
                    "notify_by": "email", "address": "1 Main St, Chicago", "location": north(0.5)}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let token = server.login(&email, PASSWORD).await;
    save_card(&server, &token, "4242424242424242").await;
    let (st, sub) = server
        .post("/api/v1/customers/me/subscriptions", Some(&token), &json!({"plan_id": gold, "product": "TV"}))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let status = server.wait_exit(Duration::from_secs(60)).expect("the server died after charging");
    assert!(!status.success());
    assert_eq!(r.stripe.charges().len(), 1, "charged at the processor");
    let rig = Rig { server, ..r };
    let sub = sub["id"].as_str().unwrap().to_owned();
    assert_eq!(rig.invoices(&sub).await[0].status, "open", "not recorded before the crash");
    // Restart without the fault: the claim expires, the charge is retried with the same
    // key, the processor replays it, and the invoice is paid once.
    let mut server = rig.server;
    server.cfg.env.retain(|(k, _)| k != "SYSOPS_BILLING_TEST_FAULT");
    server.restart().await;
    let rig = Rig { server, ..rig };
    rig.until("the invoice paid after the restart", || async { paid_count(&rig, &sub).await == 1 }).await;
    assert_eq!(rig.stripe.charges().len(), 1, "one charge at the processor");
    rig.check_books().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_the_charge_and_its_record_charges_once_sqlite() {
    crash_between_charge_and_record(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_the_charge_and_its_record_charges_once_postgres() {
    crash_between_charge_and_record(Backend::Postgres).await;
}

async fn lost_responses(backend: Backend) {
    let r = Rig::new(backend, &[]).await;
    let admin = r.server.admin().await;
    let gold = plan(&r.server, &admin, "Gold", 1999).await;
    let mut payers = Vec::new();
    for i in 0..4 {
        payers.push(payer(&r.server, &format!("lossy{i}"), &gold, "4242424242424242", "monthly").await);
    }
    r.until("the first months paid", || async {
        r.rows("SELECT id FROM invoices WHERE status = 'paid'").await.len() == 4
    })
    .await;
    // Half the answers are lost after the charge is made, for the next three months.
    r.stripe.set_faults(StripeFaults { fail_5xx: 0.1, lose_response: 0.5, seed: 7 });
    for month in 1..=3u32 {
        r.set_clock(r.start + Months::new(month) + Days::hours(1));
        r.until(&format!("month {month} paid despite lost answers"), || async {
            r.rows("SELECT id FROM invoices WHERE status = 'paid'").await.len() == 4 * (month as usize + 1)
        })
        .await;
    }
    r.stripe.set_faults(StripeFaults::default());
    assert_eq!(r.stripe.charges().len(), 16, "one charge per invoice");
    r.check_books().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_after_charging_still_charge_once_sqlite() {
    lost_responses(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_answers_after_charging_still_charge_once_postgres() {
    lost_responses(Backend::Postgres).await;
}

async fn webhooks(backend: Backend) {
    let r = Rig::new(backend, &[]).await;
    let admin = r.server.admin().await;
    let gold = plan(&r.server, &admin, "Gold", 2999).await;
    let p = payer(&r.server, "hooked", &gold, "4242424242424242", "monthly").await;
    r.until("paid", || async { paid_count(&r, &p.sub).await == 1 }).await;
    let invoice = r.invoices(&p.sub).await[0].id.to_string();
    let post = |body: String, sig: Option<String>| {
        let mut req = r
            .server
            .req(reqwest::Method::POST, "/api/v1/webhooks/stripe", None)
            .header("content-type", "application/json")
            .body(body);
        if let Some(s) = sig {
            req = req.header("stripe-signature", s);
        }
        async move {
            let resp = req.send().await.unwrap();
            let ct = resp.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned());
            (resp.status(), ct, resp.json::<Value>().await.unwrap_or(Value::Null))
        }
    };
    let now = Utc::now().timestamp();
    let secret = r.stripe.webhook_secret().to_owned();
    let failed =
        json!({"id": format!("evt_late_{}", uuid::Uuid::new_v4().simple()), "type": "payment_intent.payment_failed",
        "data": {"object": {"id": "pi_late", "object": "payment_intent", "metadata": {"invoice_id": invoice}}}})
        .to_string();
    // Forged: signed with another secret.
    let (st, ct, body) =
        post(failed.clone(), Some(sysops_standins::stripe::sign("whsec_forged", now, failed.as_bytes()))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(ct.as_deref(), Some("application/problem+json"));
    assert!(body["detail"].as_str().unwrap().contains("Stripe-Signature"), "{body}");
    // No signature at all.
    let (st, _, _) = post(failed.clone(), None).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    // A captured delivery replayed an hour later: outside the tolerance.
    let (st, _, body) =
        post(failed.clone(), Some(sysops_standins::stripe::sign(&secret, now - 3600, failed.as_bytes()))).await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}");
    // Out of order: a "failed" after the invoice was paid changes nothing.
    let (st, _, body) =
        post(failed.clone(), Some(sysops_standins::stripe::sign(&secret, now, failed.as_bytes()))).await;
    assert_eq!(st, StatusCode::OK, "{body}");
    assert_eq!(body["duplicate"], false);
    let inv = &r.invoices(&p.sub).await[0];
    assert_eq!((inv.status.as_str(), inv.attempts), ("paid", 0));
    assert_eq!(r.sub_status(&p.sub).await, "active");
    // The same event again, freshly signed: recorded once, nothing changes.
    let (st, _, body) =
        post(failed.clone(), Some(sysops_standins::stripe::sign(&secret, now, failed.as_bytes()))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body["duplicate"], true);
    // The processor's own succeeded event, delivered again: a duplicate.
    let ev = r.stripe.events().into_iter().find(|e| e["type"] == "payment_intent.succeeded").unwrap().to_string();
    r.until("the processor's delivery recorded", || async {
        !r.rows("SELECT id FROM processor_events WHERE kind = 'payment_intent.succeeded'").await.is_empty()
    })
    .await;
    let (st, _, body) = post(ev.clone(), Some(sysops_standins::stripe::sign(&secret, now, ev.as_bytes()))).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(body["duplicate"], true);
    assert_eq!(r.rows("SELECT id FROM payment_attempts").await.len(), 1);
    r.check_books().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_forged_replayed_and_out_of_order_sqlite() {
    webhooks(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_forged_replayed_and_out_of_order_postgres() {
    webhooks(Backend::Postgres).await;
}

/// Two `bill` commands at once over the same year of invoices: each invoice charged once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_bill_commands_at_once_charge_each_invoice_once() {
    // The job ticks once an hour here: only the commands bill.
    let r = Rig::new(Backend::Sqlite, &[("SYSOPS_BILLING_POLL_MS", "3600000")]).await;
    let admin = r.server.admin().await;
    let gold = plan(&r.server, &admin, "Gold", 2999).await;
    let a = payer(&r.server, "cli-a", &gold, "4242424242424242", "monthly").await;
    let b = payer(&r.server, "cli-b", &gold, "4242424242424242", "monthly").await;
    let until = (r.start + Months::new(12)).date_naive().to_string();
    let cfg = r.server.cfg.clone();
    let runs: Vec<_> = (0..2)
        .map(|_| {
            let cfg = cfg.clone();
            let until = until.clone();
            std::thread::spawn(move || cfg.cli(&["bill", "--until", &until]))
        })
        .collect();
    for run in runs {
        let out = run.join().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "bill failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("billed up to"), "{stdout}");
    }
    for p in [&a, &b] {
        assert_eq!(paid_count(&r, &p.sub).await, 13);
    }
    assert_eq!(r.stripe.charges().len(), 26);
    // A day in the future without the test clock is refused.
    let mut plain = cfg.clone();
    plain.env.retain(|(k, _)| k != "SYSOPS_BILLING_CLOCK_FILE");
    let out = plain.cli(&["bill", "--until", "2999-01-01"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in the future"), "{}", String::from_utf8_lossy(&out.stderr));
    // The clock file is refused outside test mode.
    let mut prod = cfg.clone();
    prod.env.retain(|(k, _)| k != "SYSOPS_TEST_MODE");
    let out = prod.cli(&["bill"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("for tests only"));
    r.check_books().await;
}

/// Two nodes on one PostgreSQL database billing the same 1,000 due subscriptions at
/// once: 1,000 charges, not 2,000.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_bill_a_thousand_subscriptions_once_postgres() {
    // Small claims, so the two nodes' runs overlap on 1,000 invoices.
    let r = Rig::new(Backend::Postgres, &[("SYSOPS_NODE_ID", "node-a"), ("SYSOPS_BILLING_CLAIM_BATCH", "50")]).await;
    let admin = r.server.admin().await;
    let gold = uuid::Uuid::parse_str(&plan(&r.server, &admin, "Gold", 1500).await).unwrap();
    let dir2 = tempfile::tempdir().unwrap();
    let mut cfg2 = r.server.cfg.clone();
    cfg2.data_dir = dir2.path().join("data");
    cfg2.env.retain(|(k, _)| k != "SYSOPS_NODE_ID");
    cfg2.env.push(("SYSOPS_NODE_ID".into(), "node-b".into()));
    let node_b = Server::start(cfg2).await;
    // Only the two jobs record payments here (the processor's webhooks would record some
    // too, and the count per node below would not add up).
    r.stripe.set_webhook("http://127.0.0.1:9/nowhere");
    // 1,000 customers with a card, created at the processor and then in one transaction.
    let stripe = sysops_server::billing::stripe::Stripe::new(
        &r.stripe.url(),
        secrecy::SecretString::from(r.stripe.secret_key().to_owned()),
        Duration::from_secs(10),
    )
    .unwrap();
    let n = 1000;
    let mut values = Vec::new();
    for i in 0..n {
        let id = uuid::Uuid::now_v7();
        let cus = stripe.create_customer(&id.to_string(), &format!("bulk{i}@payers.test"), "Bulk").await.unwrap();
        values.push((id, cus.id));
    }
    let w = Database::connect(r.server.cfg.db_url.clone().unwrap()).await.unwrap();
    let now = Utc::now();
    let b = w.get_database_backend();
    let txn = sea_orm::TransactionTrait::begin(&w).await.unwrap();
    for (i, (id, cus)) in values.iter().enumerate() {
        for (sql, vals) in [
            (
                "INSERT INTO users (id, email, password_hash, role, name, created_at, disabled) VALUES ($1, $2, 'x', 'customer', 'Bulk', $3, false)",
                vec![(*id).into(), format!("bulk{i}@payers.test").into(), now.into()],
            ),
            (
                "INSERT INTO customers (user_id, phone, notify_by, address, lat, lon, created_at, locale) \
                 VALUES ($1, '+13125550100', 'email', '1 Main St', 41.9, -87.6, $2, 'en-US')",
                vec![(*id).into(), now.into()],
            ),
            (
                "INSERT INTO subscriptions (id, customer_id, plan_id, product, status, started_at) VALUES ($1, $2, $3, 'TV', 'active', $4)",
                vec![uuid::Uuid::now_v7().into(), (*id).into(), gold.into(), now.into()],
            ),
            (
                "INSERT INTO billing_accounts (customer_id, processor_customer_id, payment_method_id, created_at, updated_at) \
                 VALUES ($1, $2, 'pm_card_visa', $3, $3)",
                vec![(*id).into(), cus.clone().into(), now.into()],
            ),
        ] {
            txn.execute_raw(Statement::from_sql_and_values(b, sql, vals)).await.unwrap();
        }
    }
    txn.commit().await.unwrap();
    // Both nodes' jobs pick them up at their next tick.
    for _ in 0..1200 {
        if r.rows("SELECT id FROM invoices WHERE status = 'paid'").await.len() == n {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(r.rows("SELECT id FROM invoices WHERE status = 'paid'").await.len(), n, "{}", tail(&node_b.log()));
    assert_eq!(r.rows("SELECT id FROM invoices").await.len(), n, "one invoice per subscription");
    assert_eq!(r.stripe.charges().len(), n, "1,000 charges, not 2,000");
    let by_node = |log: &str| {
        log.lines()
            .filter(|l| l.contains("billing run"))
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| v["fields"]["paid"].as_u64().or_else(|| v["paid"].as_u64()).unwrap_or(0))
            .sum::<u64>()
    };
    let (a, bb) = (by_node(&r.server.log()), by_node(&node_b.log()));
    eprintln!("node a paid {a}, node b paid {bb}");
    assert_eq!(a + bb, n as u64, "each invoice paid by exactly one node");
    assert!(a > 0 && bb > 0, "both nodes billed at once (a {a}, b {bb})");
    r.check_books().await;
}
