//! The statement benchmark (issue 10): render time of one invoice's PDF statement (three
//! lines, tax, totals, card) and of a monthly statement (a year of invoices and
//! payments in one month, so it spans pages), p50/p99 over BENCH_RUNS renders (default
//! 300), beside the smallest PDF krilla makes with the same embedded font (one line of
//! text) as the baseline of the same run.
//!
//! `cargo bench -p sysops-server --bench statement`

use chrono::{NaiveDate, TimeZone, Utc};
use std::time::{Duration, Instant};
use sysops_server::billing::CardOnFile;
use sysops_server::billing::history::{BillTo, MonthlyStatement, Movement};
use sysops_server::billing::statement;
use sysops_server::views::{InvoiceLineView, InvoiceView};
use uuid::Uuid;

fn invoice(month: u32) -> InvoiceView {
    let start = NaiveDate::from_ymd_opt(2026, month, 3).unwrap_or_default();
    let end = sysops_server::billing::history::next_month(start);
    InvoiceView {
        id: Uuid::now_v7(),
        number: format!("SQ-2026{month:02}-1A2B3C4D"),
        subscription_id: Uuid::now_v7(),
        period_start: start,
        period_end: end,
        lines: vec![
            InvoiceLineView { description: format!("Total Home, {start} to {end}"), amount_cents: 3999 },
            InvoiceLineView {
                description: "Digital Life, unused part of the period credited".into(),
                amount_cents: -1250,
            },
            InvoiceLineView {
                description: "Total Home, rest of the period after the change of plan".into(),
                amount_cents: 1733,
            },
        ],
        subtotal_cents: 4482,
        tax_cents: 370,
        tax_rate_basis_points: 825,
        total_cents: 4852,
        amount_refunded_cents: 0,
        currency: "USD".into(),
        status: "paid".into(),
        issued_at: Utc.with_ymd_and_hms(2026, month, 3, 0, 5, 0).single().unwrap_or_default(),
        paid_at: Utc.with_ymd_and_hms(2026, month, 3, 0, 6, 0).single(),
    }
}

fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let at = |q: f64| v[((v.len() as f64 * q).ceil() as usize).saturating_sub(1).min(v.len() - 1)].as_secs_f64() * 1e3;
    (at(0.50), at(0.99))
}

fn time(runs: usize, f: impl Fn() -> usize) -> (f64, f64, usize) {
    let bytes = f();
    let samples = (0..runs)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(f());
            t.elapsed()
        })
        .collect();
    let (p50, p99) = percentiles(samples);
    (p50, p99, bytes)
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS").ok().and_then(|v| v.parse().ok()).unwrap_or(300);
    let to = BillTo {
        name: "Pat Customer".into(),
        email: "pat.customer@example.com".into(),
        address: "233 S Wacker Dr, Chicago, IL 60606".into(),
    };
    let card = CardOnFile {
        card_brand: Some("visa".into()),
        card_last4: Some("4242".into()),
        card_exp_month: Some(12),
        card_exp_year: Some(2029),
    };
    let one = invoice(11);
    let year: Vec<InvoiceView> = (1..=12).map(invoice).collect();
    let month = MonthlyStatement {
        month: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default(),
        movements: year
            .iter()
            .flat_map(|i| {
                let charge = Movement {
                    invoice_id: i.id,
                    kind: "charge".into(),
                    amount: i.total_cents,
                    currency: "USD".into(),
                    reason: None,
                    created_at: i.issued_at,
                };
                let refund = Movement {
                    kind: "refund".into(),
                    amount: 500,
                    reason: Some("expert arrived a day late".into()),
                    ..charge.clone()
                };
                [charge, refund]
            })
            .collect(),
        invoices: year,
    };

    let (b50, b99, bb) = time(runs, || statement::baseline_pdf().map(|p| p.len()).unwrap_or_default());
    let (i50, i99, ib) =
        time(runs, || statement::invoice_pdf(&one, &to, Some(&card)).map(|p| p.len()).unwrap_or_default());
    let (m50, m99, mb) = time(runs, || statement::monthly_pdf(&month, &to).map(|p| p.len()).unwrap_or_default());
    println!("statement PDF render ({runs} runs each, one thread):");
    println!("  baseline (one line, same font)   p50 {b50:7.3} ms  p99 {b99:7.3} ms  {bb:>7} bytes");
    println!(
        "  invoice statement (3 lines)      p50 {i50:7.3} ms  p99 {i99:7.3} ms  {ib:>7} bytes  p50 {:.1}x baseline",
        i50 / b50
    );
    println!(
        "  monthly statement (12 inv., 24 movements)  p50 {m50:7.3} ms  p99 {m99:7.3} ms  {mb:>7} bytes  p50 {:.1}x baseline",
        m50 / b50
    );
}
