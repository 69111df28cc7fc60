//! Billing's read side (issue 10) and the financial report (issue 11): a year of
//! invoices issued by the billing service itself, paid, refunded, declined; the
//! customer pages through them, each is shown only to those who may see it, its PDF
//! statement's text (extracted with `pdftotext`) holds its lines and totals, and the
//! financial report equals sums taken directly from the rows.

use crate::helpers::*;
use chrono::{DateTime, Datelike, Duration, NaiveDate, Utc};
use reqwest::StatusCode;
use reqwest::header::ACCEPT;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};
use sysops_core::billing::{Rounding, TaxTable};
use sysops_server::billing::Billing;
use sysops_server::db::Db;
use uuid::Uuid;

async fn connect(cfg: &Config) -> DatabaseConnection {
    let url = match &cfg.db_url {
        Some(u) => u.clone(),
        None => format!("sqlite://{}?mode=rwc", cfg.data_dir.join("sysops.db").display()),
    };
    Database::connect(url).await.expect("connect to the server's database")
}

async fn staff(s: &Server, role: &str) -> String {
    let admin = s.admin().await;
    let email = format!("{role}-{}@staff.test", Uuid::new_v4().simple());
    let (st, v) = s
        .post(
            "/api/v1/users",
            Some(&admin),
            &json!({"name": format!("A {role}"), "email": email, "password": PASSWORD, "role": role}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    s.login(&email, PASSWORD).await
}

/// What the test made happen, to check the server's answers against.
struct Billed {
    db: Db,
    customer: Customer,
    invoices: Vec<Uuid>,
    refund_cents: i64,
}

async fn exec(db: &Db, sql: &str, values: Vec<sea_orm::Value>) {
    db.write
        .execute_raw(Statement::from_sql_and_values(db.write.get_database_backend(), sql, values))
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// A customer billed monthly for a year (French, 20% tax) by the billing service: the
/// first ten invoices paid the day their period starts, one of them partly refunded;
/// then one past due (declined once), one uncollectible (every retry declined), one
/// just issued.
async fn a_year_of_billing(s: &Server) -> Billed {
    let w = World::new(s).await;
    let conn = connect(&s.cfg).await;
    let db = Db { read: conn.clone(), write: conn };
    let customer: Uuid = w.customer.id.parse().unwrap();
    let sub: Uuid = w.customer.subscription_id.parse().unwrap();
    let started = Utc::now() - Duration::days(366);
    exec(&db, "UPDATE subscriptions SET started_at = $1 WHERE id = $2", vec![started.into(), sub.into()]).await;
    exec(
        &db,
        "INSERT INTO billing_accounts (customer_id, processor_customer_id, payment_method_id, card_brand, card_last4, \
         card_exp_month, card_exp_year, country, credit_balance, created_at, updated_at) \
         VALUES ($1, $2, 'pm_test', 'visa', '4242', 12, 2031, 'FR', 0, $3, $3)",
        vec![customer.into(), format!("cus_{}", customer.simple()).into(), Utc::now().into()],
    )
    .await;
    let tax = TaxTable::parse("FR=2000", Rounding::HalfUp).unwrap();
    let billing = Billing::new(db.clone(), None, tax, "test".into(), s.base.clone(), false);
    let issued = billing.issue(Utc::now().date_naive()).await.expect("issue");
    assert!(issued.issued >= 12, "{issued:?}");
    let rows = db
        .read
        .query_all_raw(Statement::from_sql_and_values(
            db.read.get_database_backend(),
            "SELECT id, period_start FROM invoices WHERE customer_id = $1 ORDER BY period_start",
            vec![customer.into()],
        ))
        .await
        .unwrap();
    let invoices: Vec<(Uuid, NaiveDate)> = rows
        .iter()
        .map(|r| (r.try_get::<Uuid>("", "id").unwrap(), r.try_get::<NaiveDate>("", "period_start").unwrap()))
        .collect();
    let n = invoices.len();
    for (id, start) in &invoices[..n - 3] {
        let at = start.and_hms_opt(1, 0, 0).unwrap().and_utc();
        assert!(billing.record_paid(*id, &format!("pi_{}", id.simple()), at).await.unwrap());
        // Recording it again changes nothing.
        assert!(!billing.record_paid(*id, "pi_other", at).await.unwrap());
    }
    let refund_cents = 1234;
    let (refunded, start) = invoices[2];
    exec(&db, "UPDATE invoices SET amount_refunded = $1 WHERE id = $2", vec![refund_cents.into(), refunded.into()])
        .await;
    exec(
        &db,
        "INSERT INTO ledger_entries (id, invoice_id, customer_id, kind, amount, currency, dedupe_key, processor_ref, \
         reason, created_at) VALUES ($1, $2, $3, 'refund', $4, 'USD', $5, 're_1', 'late visit', $6)",
        vec![
            Uuid::now_v7().into(),
            refunded.into(),
            customer.into(),
            refund_cents.into(),
            format!("refund:re_{}", refunded.simple()).into(),
            (start.and_hms_opt(1, 0, 0).unwrap().and_utc() + Duration::days(3)).into(),
        ],
    )
    .await;
    let (past_due, _) = invoices[n - 3];
    let (uncollectible, _) = invoices[n - 2];
    let later = Utc::now().timestamp_millis() + 86_400_000;
    exec(
        &db,
        "UPDATE invoices SET attempts = 1, next_attempt_at_ms = $1 WHERE id = $2",
        vec![later.into(), past_due.into()],
    )
    .await;
    exec(&db, "UPDATE invoices SET attempts = 3, next_attempt_at_ms = NULL WHERE id = $1", vec![uncollectible.into()])
        .await;
    for (inv, attempts) in [(past_due, 1), (uncollectible, 3)] {
        for a in 1..=attempts {
            exec(
                &db,
                "INSERT INTO payment_attempts (id, invoice_id, attempt, at, outcome, decline_code) \
                 VALUES ($1, $2, $3, $4, 'declined', 'card_declined')",
                vec![Uuid::now_v7().into(), inv.into(), a.into(), Utc::now().into()],
            )
            .await;
        }
    }
    Billed { db, customer: w.customer, invoices: invoices.into_iter().map(|i| i.0).collect(), refund_cents }
}

fn pdf_text(bytes: &[u8]) -> String {
    assert!(bytes.starts_with(b"%PDF-"), "not a PDF: {:?}", &bytes[..bytes.len().min(20)]);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("statement.pdf");
    std::fs::write(&path, bytes).unwrap();
    let out = std::process::Command::new("pdftotext")
        .arg("-layout")
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (Debian's poppler-utils; tests/run installs it)");
    assert!(out.status.success(), "pdftotext failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

fn usd(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let c = cents.abs();
    let int = (c / 100).to_string();
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i).is_multiple_of(3) {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    format!("{sign}{grouped}.{:02} USD", c % 100)
}

async fn history_and_statements(backend: Backend) {
    let s = Server::spawn(backend).await;
    let b = a_year_of_billing(&s).await;
    let me = &b.customer.token;

    // Pages of five, newest first, each invoice once.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/api/v1/customers/me/invoices?limit=5&cursor={c}"),
            None => "/api/v1/customers/me/invoices?limit=5".to_owned(),
        };
        let (st, page) = s.get(&path, Some(me)).await;
        assert_eq!(st, StatusCode::OK, "{page}");
        let items = page["items"].as_array().unwrap();
        assert!(items.len() <= 5);
        seen.extend(items.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let ids: Vec<Uuid> = seen.iter().map(|i| i["id"].as_str().unwrap().parse().unwrap()).collect();
    let mut expected = b.invoices.clone();
    expected.reverse();
    assert_eq!(ids, expected, "every invoice once, newest first");
    assert_eq!(ids.iter().collect::<HashSet<_>>().len(), ids.len());

    // The API.md shape, with figures that add up.
    let statuses: Vec<&str> = seen.iter().map(|i| i["status"].as_str().unwrap()).collect();
    assert_eq!(&statuses[..3], ["open", "uncollectible", "open"], "{statuses:?}");
    assert!(statuses[3..].iter().all(|s| *s == "paid"), "{statuses:?}");
    for i in &seen {
        for k in
            ["id", "period_start", "period_end", "lines", "tax_cents", "total_cents", "currency", "status", "paid_at"]
        {
            assert!(i.get(k).is_some(), "{k} missing in {i}");
        }
        let lines = i["lines"].as_array().unwrap();
        assert_eq!(lines.len(), 1, "{i}");
        let subtotal: i64 = lines.iter().map(|l| l["amount_cents"].as_i64().unwrap()).sum();
        assert_eq!(subtotal, 2999);
        assert!(lines[0]["description"].as_str().unwrap().starts_with("Home and Office, "), "{i}");
        assert_eq!(i["tax_cents"], 600, "20% of 29.99, rounded half up");
        assert_eq!(i["total_cents"], 3599);
        assert_eq!(i["currency"], "USD");
        assert_eq!(i["paid_at"].is_null(), i["status"] != "paid", "{i}");
    }

    // One invoice: its customer, the call center and administrators; nobody else.
    let paid = &seen[5];
    let id = paid["id"].as_str().unwrap();
    let path = format!("/api/v1/invoices/{id}");
    let (st, one) = s.get(&path, Some(me)).await;
    assert_eq!(st, StatusCode::OK, "{one}");
    assert_eq!(&one, paid);
    for role in ["agent", "admin"] {
        let t = staff(&s, role).await;
        let (st, v) = s.get(&path, Some(&t)).await;
        assert_eq!(st, StatusCode::OK, "{role}: {v}");
        assert_eq!(v["id"], id);
    }
    let other = add_customer(&s, "other", &World::plan_of(&s, &b.db).await).await;
    let (st, v) = s.get(&path, Some(&other.token)).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "another customer: {v}");
    assert_eq!(v["detail"], "invoice not found");
    let (st, v) = s.get(&format!("/api/v1/invoices/{}", Uuid::now_v7()), Some(me)).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    for role in ["manager", "expert"] {
        let t = if role == "expert" { World::expert_token(&s).await } else { staff(&s, role).await };
        let (st, v) = s.get(&path, Some(&t)).await;
        assert_eq!(st, StatusCode::NOT_FOUND, "{role}: {v}");
    }
    let r = s.http.get(s.url(&format!("/api/v1/invoices/{id}.pdf"))).bearer_auth(&other.token).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND, "another customer's PDF");
    let (st, v) = s.get(&path, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");

    // The address receipts give: the invoice for its customer, the portal's page for a
    // browser following the e-mail's link.
    let receipt = format!("/api/v1/customers/me/invoices/{id}");
    let (st, v) = s.get(&receipt, Some(me)).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(&v, paid);
    let (st, v) = s.get(&receipt, Some(&other.token)).await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    let no_redirects = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = no_redirects.get(s.url(&receipt)).header(ACCEPT, "text/html").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()["location"], format!("/my/billing/invoices/{id}"));
    let (st, v) = s.get(&receipt, None).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED, "no token and no browser: {v}");
    let (st, v) = s.get("/api/v1/customers/me/invoices?cursor=nope", Some(me)).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["detail"].as_str().unwrap_or_default().contains("cursor") || v.to_string().contains("cursor"), "{v}");
    let (st, v) = s.get("/api/v1/customers/me/invoices?limit=0", Some(me)).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    // The statement, by Accept and by suffix: its text holds the lines and totals.
    let by_accept = s.http.get(s.url(&path)).bearer_auth(me).header(ACCEPT, "application/pdf").send().await.unwrap();
    assert_eq!(by_accept.status(), StatusCode::OK);
    assert_eq!(by_accept.headers()["content-type"], "application/pdf");
    let text = pdf_text(&by_accept.bytes().await.unwrap());
    let by_suffix = s.http.get(s.url(&format!("{path}.pdf"))).bearer_auth(me).send().await.unwrap();
    assert_eq!(by_suffix.status(), StatusCode::OK);
    assert_eq!(pdf_text(&by_suffix.bytes().await.unwrap()), text);
    let desc = paid["lines"][0]["description"].as_str().unwrap();
    for want in [
        "Invoice",
        paid["number"].as_str().unwrap(),
        desc,
        "casey",
        "1 Main St, Chicago",
        "Subtotal",
        "29.99 USD",
        "Tax (20.00%)",
        "6.00 USD",
        "Total",
        "35.99 USD",
        "Paid on",
        "Visa ending 4242",
    ] {
        assert!(text.contains(want), "the statement lacks {want:?}:\n{text}");
    }
    let period = format!(
        "{} to {}",
        NaiveDate::parse_from_str(paid["period_start"].as_str().unwrap(), "%Y-%m-%d").unwrap().format("%-d %B %Y"),
        (NaiveDate::parse_from_str(paid["period_end"].as_str().unwrap(), "%Y-%m-%d").unwrap() - Duration::days(1))
            .format("%-d %B %Y")
    );
    assert!(text.contains(&period), "the statement lacks its period {period:?}:\n{text}");

    // The refunded invoice says so; an unpaid one shows what is due.
    let refunded = seen.iter().find(|i| i["amount_refunded_cents"].as_i64() == Some(b.refund_cents)).unwrap();
    let r = s.http.get(s.url(&format!("/api/v1/invoices/{}.pdf", refunded["id"].as_str().unwrap())));
    let text = pdf_text(&r.bearer_auth(me).send().await.unwrap().bytes().await.unwrap());
    assert!(text.contains("Refunded") && text.contains(&usd(-b.refund_cents)), "{text}");
    assert!(text.contains("Amount paid") && text.contains(&usd(3599 - b.refund_cents)), "{text}");
    let r = s.http.get(s.url(&format!("/api/v1/invoices/{}.pdf", seen[1]["id"].as_str().unwrap())));
    let text = pdf_text(&r.bearer_auth(me).send().await.unwrap().bytes().await.unwrap());
    assert!(text.contains("Overdue") && text.contains("Amount due") && text.contains("35.99 USD"), "{text}");

    // A month's statement: the invoice issued and the payment made in it.
    let issued: DateTime<Utc> = paid["issued_at"].as_str().unwrap().parse().unwrap();
    let month = issued.format("%Y-%m").to_string();
    let r = s.http.get(s.url(&format!("/api/v1/customers/me/statement?month={month}"))).bearer_auth(me).send().await;
    let r = r.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let text = pdf_text(&r.bytes().await.unwrap());
    assert!(text.contains("Statement") && text.contains(&issued.format("%B %Y").to_string()), "{text}");
    assert!(text.contains(paid["number"].as_str().unwrap()), "the month's statement lists its invoices:\n{text}");
    let (st, v) = s.get("/api/v1/customers/me/statement?month=2026-13", Some(me)).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v.to_string().contains("month"), "{v}");
}

impl World {
    async fn plan_of(_s: &Server, db: &Db) -> String {
        let r = db
            .read
            .query_one_raw(Statement::from_string(db.read.get_database_backend(), "SELECT id FROM plans LIMIT 1"))
            .await
            .unwrap()
            .unwrap();
        r.try_get::<Uuid>("", "id").unwrap().to_string()
    }

    async fn expert_token(s: &Server) -> String {
        let admin = s.admin().await;
        add_expert(s, &admin, "eve", &["laptop"], 1.0).await.token
    }
}

#[tokio::test]
async fn invoices_page_by_cursor_show_only_to_whom_they_may_and_print_their_lines_and_totals_sqlite() {
    history_and_statements(Backend::Sqlite).await;
}

#[tokio::test]
async fn invoices_page_by_cursor_show_only_to_whom_they_may_and_print_their_lines_and_totals_postgres() {
    history_and_statements(Backend::Postgres).await;
}

async fn financial_report(backend: Backend) {
    let s = Server::spawn(backend).await;
    let b = a_year_of_billing(&s).await;
    let manager = staff(&s, "manager").await;
    // The customer moves to another plan today: the year's revenue stays with the plan
    // each invoice billed.
    let admin = s.admin().await;
    let (st, other) = s
        .post(
            "/api/v1/plans",
            Some(&admin),
            &json!({"name": "Premium", "categories": ["television"], "monthly_price_cents": 4999, "currency": "USD"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{other}");
    let other: Uuid = other["id"].as_str().unwrap().parse().unwrap();
    let sub: Uuid = b.customer.subscription_id.parse().unwrap();
    exec(&b.db, "UPDATE subscriptions SET plan_id = $1 WHERE id = $2", vec![other.into(), sub.into()]).await;
    let today = Utc::now().date_naive();
    let from = today - Duration::days(400);
    let path = format!("/api/v1/reports/financial?from={from}&to={today}");
    let (st, r) = s.get(&path, Some(&manager)).await;
    assert_eq!(st, StatusCode::OK, "{r}");

    // The slow, obvious sums over the raw rows.
    let rows = |sql: &'static str| {
        let db = b.db.read.clone();
        async move { db.query_all_raw(Statement::from_string(db.get_database_backend(), sql)).await.unwrap() }
    };
    let ledger = rows("SELECT kind, amount, created_at FROM ledger_entries").await;
    let (mut charged, mut refunded) = (0i64, 0i64);
    let mut by_month: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for l in &ledger {
        let amount = l.try_get::<i64>("", "amount").unwrap();
        let at = l.try_get::<DateTime<Utc>>("", "created_at").unwrap();
        let m = by_month.entry(format!("{:04}-{:02}", at.year(), at.month())).or_default();
        if l.try_get::<String>("", "kind").unwrap() == "refund" {
            refunded += amount;
            m.1 += amount;
        } else {
            charged += amount;
            m.0 += amount;
        }
    }
    let invoices = rows("SELECT total, status, attempts, next_attempt_at_ms FROM invoices").await;
    let (mut invoiced, mut collected, mut owed) = (0i64, 0i64, BTreeMap::<&str, (u64, i64)>::new());
    for i in &invoices {
        let total = i.try_get::<i64>("", "total").unwrap();
        let status = i.try_get::<String>("", "status").unwrap();
        invoiced += total;
        if status == "paid" {
            collected += total;
        }
        if status == "open" {
            let state = match (
                i.try_get::<i32>("", "attempts").unwrap(),
                i.try_get::<Option<i64>>("", "next_attempt_at_ms").unwrap(),
            ) {
                (0, _) => "due",
                (_, Some(_)) => "past_due",
                _ => "uncollectible",
            };
            let e = owed.entry(state).or_default();
            e.0 += 1;
            e.1 += total;
        }
    }
    assert_eq!(charged, 3599 * (b.invoices.len() as i64 - 3), "the test's own arithmetic");
    let t = &r["totals"][0];
    assert_eq!(r["totals"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(t["currency"], "USD");
    assert_eq!(t["charged_cents"], charged, "{r}");
    assert_eq!(t["refunded_cents"], refunded);
    assert_eq!(t["net_cents"], charged - refunded);
    assert_eq!(t["invoices_issued"], invoices.len());
    assert_eq!(t["invoiced_cents"], invoiced);
    assert_eq!(t["collected_cents"], collected);
    let rate = t["collection_rate"].as_f64().unwrap();
    assert!((rate - collected as f64 / invoiced as f64).abs() < 1e-12, "{rate}");
    assert_eq!(t["failed_payments"], 4, "one decline and three");
    assert_eq!(t["outstanding_cents"], owed.values().map(|o| o.1).sum::<i64>());
    let outstanding: BTreeMap<String, (u64, i64)> = r["outstanding"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["state"].as_str().unwrap().to_owned(),
                (o["invoices"].as_u64().unwrap(), o["amount_cents"].as_i64().unwrap()),
            )
        })
        .collect();
    let owed: BTreeMap<String, (u64, i64)> = owed.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    assert_eq!(outstanding, owed);
    let months: BTreeMap<String, (i64, i64)> = r["by_month_and_plan"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["plan"], "Home and Office");
            (
                m["month"].as_str().unwrap().to_owned(),
                (m["charged_cents"].as_i64().unwrap(), m["refunded_cents"].as_i64().unwrap()),
            )
        })
        .collect();
    assert_eq!(months, by_month);
    assert_eq!(r["refunds"][0]["reason"], "late visit");

    // MRR on each month's last day, the slow obvious way: the subscription lines of the
    // invoices covering that day, neither void nor past their last retry.
    let billed =
        rows("SELECT lines, status, attempts, next_attempt_at_ms, period_start, period_end FROM invoices").await;
    let mrr_on = |day: NaiveDate| -> i64 {
        billed
            .iter()
            .filter(|i| {
                let status = i.try_get::<String>("", "status").unwrap();
                let retries_left = i.try_get::<i32>("", "attempts").unwrap() == 0
                    || i.try_get::<Option<i64>>("", "next_attempt_at_ms").unwrap().is_some();
                let covers = i.try_get::<NaiveDate>("", "period_start").unwrap() <= day
                    && day < i.try_get::<NaiveDate>("", "period_end").unwrap();
                covers && (status == "paid" || (status == "open" && retries_left))
            })
            .map(|i| {
                let lines: Value = i.try_get("", "lines").unwrap();
                lines
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|l| l["kind"] == "subscription")
                    .map(|l| l["amount"].as_i64().unwrap())
                    .sum::<i64>()
            })
            .sum()
    };
    let mrr = r["mrr"].as_array().unwrap();
    assert!(mrr.len() >= 13, "a month of MRR for each month of the range: {r}");
    let mut churned = 0;
    for m in mrr {
        let on = NaiveDate::parse_from_str(m["on"].as_str().unwrap(), "%Y-%m-%d").unwrap();
        assert_eq!(m["mrr_cents"].as_i64().unwrap(), mrr_on(on), "MRR on {on}: {m}");
        assert_eq!(m["expansion_cents"], 0, "{m}");
        assert_eq!(m["contraction_cents"], 0, "{m}");
        churned += m["churn_cents"].as_i64().unwrap();
    }
    assert_eq!(mrr.iter().map(|m| m["mrr_cents"].as_i64().unwrap()).max(), Some(2999), "the plan's monthly price");
    assert_eq!(churned, 2999, "the invoice whose retries are over is the subscription's one lapse");
    let first = &mrr[0];
    let first_day = NaiveDate::parse_from_str(&format!("{}-01", first["month"].as_str().unwrap()), "%Y-%m-%d").unwrap();
    let before = mrr_on(first_day.pred_opt().unwrap());
    let moved: i64 = mrr
        .iter()
        .map(|m| {
            m["new_cents"].as_i64().unwrap() + m["expansion_cents"].as_i64().unwrap()
                - m["contraction_cents"].as_i64().unwrap()
                - m["churn_cents"].as_i64().unwrap()
        })
        .sum();
    assert_eq!(mrr.last().unwrap()["mrr_cents"].as_i64().unwrap(), before + moved, "the movements add up");

    // A narrower range holds less; CSV says the same as JSON.
    let (st, narrow) = s
        .get(&format!("/api/v1/reports/financial?from={}&to={today}", today - Duration::days(60)), Some(&manager))
        .await;
    assert_eq!(st, StatusCode::OK);
    assert!(narrow["totals"][0]["charged_cents"].as_i64().unwrap_or(0) < charged, "{narrow}");
    let csv = s.http.get(s.url(&path)).bearer_auth(&manager).header(ACCEPT, "text/csv").send().await.unwrap();
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(csv.headers()["content-type"].to_str().unwrap().starts_with("text/csv"));
    let body = csv.text().await.unwrap();
    let mut rd = csv::Reader::from_reader(body.as_bytes());
    assert_eq!(rd.headers().unwrap(), vec!["section", "month", "plan", "currency", "metric", "value"]);
    let mut from_csv: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    let mut total_charged = None;
    for rec in rd.records() {
        let rec = rec.unwrap();
        match (&rec[0], &rec[4]) {
            ("by_month_and_plan", "charged_cents") => {
                from_csv.entry(rec[1].to_owned()).or_default().0 = rec[5].parse().unwrap()
            }
            ("by_month_and_plan", "refunded_cents") => {
                from_csv.entry(rec[1].to_owned()).or_default().1 = rec[5].parse().unwrap()
            }
            ("totals", "charged_cents") => total_charged = Some(rec[5].parse::<i64>().unwrap()),
            _ => {}
        }
    }
    assert_eq!(from_csv, months);
    assert_eq!(total_charged, Some(charged));

    // Managers and administrators only; bad input named.
    let (st, v) = s.get(&path, Some(&b.customer.token)).await;
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    let admin = s.admin().await;
    let (st, _) = s.get(&path, Some(&admin)).await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = s.get(&format!("{path}&category=laptop"), Some(&manager)).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v.to_string().contains("category"), "{v}");
    let (st, v) = s.get("/api/v1/reports/financial?from=2026-02-30", Some(&manager)).await;
    assert_eq!(st, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}

#[tokio::test]
async fn the_financial_report_equals_sums_over_the_ledger_and_invoices_and_its_csv_matches_sqlite() {
    financial_report(Backend::Sqlite).await;
}

#[tokio::test]
async fn the_financial_report_equals_sums_over_the_ledger_and_invoices_and_its_csv_matches_postgres() {
    financial_report(Backend::Postgres).await;
}
