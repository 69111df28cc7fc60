//! The billing benchmark (issue 10): a billing run over BENCH_SUBS due subscriptions
//! (default 100,000) against the Stripe stand-in over HTTP on loopback, on SQLite in a
//! temporary directory: invoices per second, beside the stand-in's own ceiling (a client
//! that only creates the same number of charges, with the same concurrency) measured in
//! the same run; then the stand-in's record is checked for double charges (there must be
//! none).
//!
//! `cargo bench -p sysops-server --bench billing` (the bench profile: release).
//! BENCH_SUBS=N for another size.

use chrono::Utc;
use futures::StreamExt;
use sea_orm::{ConnectionTrait, Statement};
use secrecy::SecretString;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use sysops_core::billing::TaxTable;
use sysops_server::billing::Billing;
use sysops_server::billing::stripe::{ChargeRequest, Stripe};
use sysops_server::config::Settings;
use sysops_server::db::Db;
use sysops_standins::{StripeConfig, StripeStandin};

/// The allocator the server binary runs with (`main.rs`), so the figures are the product's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Concurrent charges in flight (what the billing run uses per node).
const CONCURRENCY: usize = 16;

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(bench());
}

async fn bench() {
    let n: usize = std::env::var("BENCH_SUBS").ok().and_then(|v| v.parse().ok()).unwrap_or(100_000);
    let stripe_standin = StripeStandin::start(StripeConfig::default()).await.unwrap();
    let stripe = Stripe::new(
        &stripe_standin.url(),
        SecretString::from(stripe_standin.secret_key().to_owned()),
        Duration::from_secs(30),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let settings = Settings { data_dir: dir.path().to_path_buf(), ..Default::default() };
    let db = Db::connect(&settings).await.unwrap();
    db.migrate().await.unwrap();
    println!(
        "billing benchmark: {n} due subscriptions, SQLite, Stripe stand-in on loopback, {CONCURRENCY} charges in flight"
    );

    // Customers at the processor (each with a card), then in the database in bulk.
    let t = Instant::now();
    let ids: Vec<uuid::Uuid> = (0..n).map(|_| uuid::Uuid::now_v7()).collect();
    let processor_ids: Vec<String> =
        futures::stream::iter(
            ids.iter().map(|id| {
                let stripe = &stripe;
                async move {
                    stripe.create_customer(&id.to_string(), &format!("{id}@bench.test"), "Bench").await.unwrap().id
                }
            }),
        )
        .buffered(64)
        .collect()
        .await;
    seed(&db, &ids, &processor_ids).await;
    println!("  seeded in {:.1} s", t.elapsed().as_secs_f64());

    // The ceiling: the same number of charges, nothing else.
    let t = Instant::now();
    let done: usize = futures::stream::iter(processor_ids.iter().enumerate().map(|(i, cus)| {
        let stripe = &stripe;
        async move {
            let key = format!("ceiling-{i}");
            let req = ChargeRequest {
                amount: 2999,
                currency: "USD",
                customer: cus,
                payment_method: "pm_card_visa",
                invoice_id: &key,
                description: "ceiling",
            };
            usize::from(stripe.charge(&req, &key).await.is_ok())
        }
    }))
    .buffer_unordered(CONCURRENCY)
    .fold(0, |a, b| async move { a + b })
    .await;
    let ceiling_secs = t.elapsed().as_secs_f64();
    assert_eq!(done, n, "every ceiling charge succeeded");
    let ceiling = n as f64 / ceiling_secs;
    println!("  stand-in ceiling (charges only):   {ceiling:>9.0} charges/s ({ceiling_secs:.1} s)");

    // The billing run: issue every invoice, claim, charge, record (invoice, attempt,
    // ledger, subscription, receipt in the outbox) in one transaction each.
    let billing =
        Billing::new(db.clone(), Some(stripe), TaxTable::none(), "bench".into(), "http://bench".into(), false);
    let now = Utc::now();
    let t = Instant::now();
    let issued = billing.issue(now.date_naive()).await.unwrap();
    let issue_secs = t.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let charged = billing.charge_due(now, &|_, _| {}).await.unwrap();
    let charge_secs = t2.elapsed().as_secs_f64();
    let total_secs = t.elapsed().as_secs_f64();
    assert_eq!(issued.issued as usize, n);
    assert_eq!(charged.paid as usize, n, "{charged:?}");
    let rate = n as f64 / total_secs;
    let charge_rate = n as f64 / charge_secs;
    println!("  issuing invoices:                  {:>9.0} invoices/s ({issue_secs:.1} s)", n as f64 / issue_secs);
    println!(
        "  charging and recording:            {charge_rate:>9.0} invoices/s ({charge_secs:.1} s) = {:.0}% of the ceiling",
        100.0 * charge_rate / ceiling
    );
    println!(
        "  billing run end to end:            {rate:>9.0} invoices/s ({total_secs:.1} s) = {:.0}% of the ceiling",
        100.0 * rate / ceiling
    );

    // Zero double charges: one charge per invoice at the processor, each paid invoice once.
    let mut per_invoice: HashMap<String, usize> = HashMap::new();
    for c in stripe_standin.charges() {
        if let Some(i) = c.invoice_id.filter(|i| !i.starts_with("ceiling-")) {
            *per_invoice.entry(i).or_default() += 1;
        }
    }
    let doubles = per_invoice.values().filter(|c| **c > 1).count();
    let paid = db
        .read
        .query_one_raw(Statement::from_string(
            db.backend(),
            "SELECT COUNT(*) AS n FROM invoices WHERE status = 'paid'".to_owned(),
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get::<i64>("", "n")
        .unwrap();
    println!("  invoices charged: {}, paid: {paid}, double charges: {doubles}", per_invoice.len());
    assert_eq!(doubles, 0, "double charges");
    assert_eq!(per_invoice.len(), n);
    let ledger = billing.ledger().await.unwrap();
    assert_eq!(ledger.charged(), 2999 * n as i64, "the ledger holds every charge once");
    db.close().await;
}

/// Users, customers, subscriptions (started today: period 0 is due) and billing accounts
/// with a card, in one transaction of multi-row inserts.
async fn seed(db: &Db, ids: &[uuid::Uuid], processor_ids: &[String]) {
    let b = db.backend();
    let now = Utc::now();
    let txn = db.begin_write().await.unwrap();
    let plan = uuid::Uuid::now_v7();
    txn.execute_raw(Statement::from_sql_and_values(
        b,
        "INSERT INTO plans (id, name, categories, monthly_price_cents, currency, active, created_at) \
         VALUES ($1, 'Gold', '[\"television\"]', 2999, 'USD', true, $2)",
        [plan.into(), now.into()],
    ))
    .await
    .unwrap();
    for (chunk, cus) in ids.chunks(200).zip(processor_ids.chunks(200)) {
        // Each row's placeholders: `$k+1, …, $k+w`.
        let rows = |w: usize, tail: &str| {
            (0..chunk.len())
                .map(|r| {
                    let ps: Vec<String> = (1..=w).map(|i| format!("${}", r * w + i)).collect();
                    format!("({}{tail})", ps.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut u: Vec<sea_orm::Value> = Vec::new();
        let mut c: Vec<sea_orm::Value> = Vec::new();
        let mut sub: Vec<sea_orm::Value> = Vec::new();
        let mut acc: Vec<sea_orm::Value> = Vec::new();
        for (id, pc) in chunk.iter().zip(cus) {
            u.extend([(*id).into(), format!("{id}@bench.test").into(), now.into()]);
            c.extend([(*id).into(), now.into()]);
            sub.extend([uuid::Uuid::now_v7().into(), (*id).into(), plan.into(), now.into()]);
            acc.extend([(*id).into(), pc.clone().into(), now.into(), now.into()]);
        }
        let statements = [
            (
                format!(
                    "INSERT INTO users (id, email, created_at, password_hash, role, name, disabled) VALUES {}",
                    rows(3, ", 'x', 'customer', 'Bench', false")
                ),
                u,
            ),
            (
                format!(
                    "INSERT INTO customers (user_id, created_at, phone, notify_by, address, lat, lon, locale) VALUES {}",
                    rows(2, ", '+13125550100', 'email', '1 Main St', 41.9, -87.6, 'en-US'")
                ),
                c,
            ),
            (
                format!(
                    "INSERT INTO subscriptions (id, customer_id, plan_id, started_at, product, status) VALUES {}",
                    rows(4, ", 'TV', 'active'")
                ),
                sub,
            ),
            (
                format!(
                    "INSERT INTO billing_accounts (customer_id, processor_customer_id, created_at, updated_at, \
                     payment_method_id) VALUES {}",
                    rows(4, ", 'pm_card_visa'")
                ),
                acc,
            ),
        ];
        for (sql, values) in statements {
            txn.execute_raw(Statement::from_sql_and_values(b, &sql, values)).await.unwrap();
        }
    }
    txn.commit().await.unwrap();
}
