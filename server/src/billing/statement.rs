//! PDF statements: one invoice, or a customer's month. Drawn with krilla in DejaVu Sans,
//! shipped in the repository (`server/assets/fonts`, embedded and subset, so the text can
//! be extracted and no system font is ever read). krilla places glyphs; the layout here
//! is ours: a first pass lays out A4 pages of drawing operations (wrapping long text and
//! breaking pages), a second draws them, so every page can say "page n of N".

use super::account::CardOnFile;
use super::history::{BillTo, MonthlyStatement};
use crate::views::InvoiceView;
use krilla::Document;
use krilla::color::rgb;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::text::{Font, TextDirection};
use skrifa::MetadataProvider;
use skrifa::instance::{LocationRef, Size};
use std::sync::LazyLock;
use sysops_core::money::{Currency, Money};

static REGULAR: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");
static BOLD: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans-Bold.ttf");

static FONTS: LazyLock<Option<(Font, Font)>> =
    LazyLock::new(|| Some((Font::new(REGULAR.into(), 0)?, Font::new(BOLD.into(), 0)?)));

const PAGE_W: f32 = 595.0;
const PAGE_H: f32 = 842.0;
const LEFT: f32 = 56.0;
const RIGHT: f32 = PAGE_W - 56.0;
const BOTTOM: f32 = PAGE_H - 72.0;
const INK: (u8, u8, u8) = (0x1d, 0x25, 0x33);
const MUTED: (u8, u8, u8) = (0x55, 0x5f, 0x6d);
const ACCENT: (u8, u8, u8) = (0x0b, 0x5c, 0xad);

/// Where the statement comes from (printed in its header).
pub const ISSUER: &str = "Sysops Squad · Penultimate Electronics field service";

/// Amounts as printed: `1,234.56 USD`.
pub fn money(minor: i64, currency: &str) -> String {
    let Ok(c) = Currency::parse(currency) else { return format!("{minor} {currency}") };
    let plain = Money::new(minor, c).to_string();
    let (number, code) = plain.split_once(' ').unwrap_or((&plain, ""));
    let (sign, digits) = number.strip_prefix('-').map_or(("", number), |d| ("-", d));
    let (int, frac) = digits.split_once('.').map_or((digits, None), |(i, f)| (i, Some(f)));
    let mut grouped = String::new();
    for (i, ch) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(ch);
    }
    match frac {
        Some(f) => format!("{sign}{grouped}.{f} {code}"),
        None => format!("{sign}{grouped} {code}"),
    }
}

/// The width of `text` at `size` points in the regular or bold face.
fn width(text: &str, size: f32, bold: bool) -> f32 {
    let Ok(font) = skrifa::FontRef::new(if bold { BOLD } else { REGULAR }) else { return 0.0 };
    let charmap = font.charmap();
    let metrics = font.glyph_metrics(Size::new(size), LocationRef::default());
    text.chars().map(|c| charmap.map(c).and_then(|g| metrics.advance_width(g)).unwrap_or(size * 0.6)).sum()
}

/// Splits `text` into lines no wider than `max`.
fn wrap(text: &str, size: f32, bold: bool, max: f32) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        let candidate = if line.is_empty() { word.to_owned() } else { format!("{line} {word}") };
        if width(&candidate, size, bold) <= max || line.is_empty() {
            line = candidate;
        } else {
            lines.push(std::mem::take(&mut line));
            line = word.to_owned();
        }
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[derive(Debug, Clone)]
enum Op {
    Text { x: f32, y: f32, size: f32, bold: bool, colour: (u8, u8, u8), text: String },
    Rule { y: f32, colour: (u8, u8, u8), thick: f32 },
    Band { y: f32, h: f32 },
}

/// The first pass: pages of operations and a cursor going down the current page.
struct Layout {
    pages: Vec<Vec<Op>>,
    y: f32,
    /// Printed at the top of every page after the first.
    running: String,
}

impl Layout {
    fn new(running: String) -> Self {
        Self { pages: vec![Vec::new()], y: 64.0, running }
    }

    fn ops(&mut self) -> &mut Vec<Op> {
        self.pages.last_mut().expect("a page")
    }

    /// Makes room for `h` points, starting a page if needed.
    fn need(&mut self, h: f32) {
        if self.y + h > BOTTOM {
            self.pages.push(Vec::new());
            self.y = 64.0;
            let running = self.running.clone();
            self.text(LEFT, 9.0, false, MUTED, &running);
            self.y += 16.0;
        }
    }

    fn text(&mut self, x: f32, size: f32, bold: bool, colour: (u8, u8, u8), text: &str) {
        let y = self.y;
        self.ops().push(Op::Text { x, y, size, bold, colour, text: text.to_owned() });
    }

    fn right(&mut self, x: f32, size: f32, bold: bool, colour: (u8, u8, u8), text: &str) {
        let w = width(text, size, bold);
        self.text(x - w, size, bold, colour, text);
    }

    fn rule(&mut self, colour: (u8, u8, u8), thick: f32) {
        let y = self.y;
        self.ops().push(Op::Rule { y, colour, thick });
    }

    /// A row: wrapped text in the left column, figures right-aligned at the given x.
    fn row(&mut self, size: f32, bold: bool, left: &str, left_max: f32, figures: &[(f32, &str)]) {
        let lines = wrap(left, size, bold, left_max);
        let line_h = size * 1.45;
        self.need(line_h * lines.len() as f32 + 4.0);
        self.y += size;
        for (i, l) in lines.iter().enumerate() {
            self.text(LEFT, size, bold, INK, l);
            if i == 0 {
                for (x, f) in figures {
                    self.right(*x, size, bold, INK, f);
                }
            }
            if i + 1 < lines.len() {
                self.y += line_h;
            }
        }
        self.y += size * 0.9;
    }

    /// A labelled value in the details block.
    fn field(&mut self, label: &str, value: &str) {
        self.need(16.0);
        self.y += 10.0;
        self.text(LEFT, 9.0, false, MUTED, label);
        self.text(LEFT + 110.0, 10.0, false, INK, value);
        self.y += 5.0;
    }

    fn header(&mut self, title: &str, subtitle: &str) {
        let y = self.y;
        self.ops().push(Op::Band { y: y - 64.0, h: 8.0 });
        self.y += 20.0;
        self.text(LEFT, 20.0, true, ACCENT, "Sysops Squad");
        self.right(RIGHT, 18.0, true, INK, title);
        self.y += 16.0;
        self.text(LEFT, 9.0, false, MUTED, "Penultimate Electronics field service");
        self.right(RIGHT, 10.0, false, MUTED, subtitle);
        self.y += 24.0;
    }

    fn bill_to(&mut self, to: &BillTo) {
        self.need(60.0);
        self.y += 10.0;
        self.text(LEFT, 9.0, true, MUTED, "BILLED TO");
        self.y += 14.0;
        self.text(LEFT, 11.0, true, INK, &to.name);
        for l in [to.email.as_str(), to.address.as_str()].into_iter().filter(|l| !l.is_empty()) {
            for w in wrap(l, 10.0, false, 300.0) {
                self.y += 14.0;
                self.text(LEFT, 10.0, false, INK, &w);
            }
        }
        self.y += 18.0;
    }

    /// A section's title, with column headings right-aligned at their x on its line.
    fn section(&mut self, title: &str, headings: &[(f32, &str)]) {
        self.need(48.0);
        self.y += 22.0;
        self.text(LEFT, 11.0, true, INK, title);
        for (x, h) in headings {
            self.right(*x, 9.0, true, MUTED, h);
        }
        self.y += 6.0;
        self.rule(INK, 0.8);
        self.y += 4.0;
    }

    fn footer_note(&mut self, text: &str) {
        for l in wrap(text, 8.5, false, RIGHT - LEFT) {
            self.need(14.0);
            self.y += 12.0;
            self.text(LEFT, 8.5, false, MUTED, &l);
        }
    }
}

fn fill(colour: (u8, u8, u8)) -> Fill {
    Fill { paint: rgb::Color::new(colour.0, colour.1, colour.2).into(), ..Default::default() }
}

/// The second pass: draws the pages, each with "page n of N".
fn render(layout: Layout, title: &str) -> anyhow::Result<Vec<u8>> {
    let (regular, bold) = FONTS.clone().ok_or_else(|| anyhow::anyhow!("the statement font could not be read"))?;
    let mut doc = Document::new();
    doc.set_metadata(
        Metadata::new().title(title.to_owned()).creator("Sysops Squad".to_owned()).language("en".to_owned()),
    );
    let n = layout.pages.len();
    for (i, ops) in layout.pages.into_iter().enumerate() {
        let settings = PageSettings::from_wh(PAGE_W, PAGE_H).ok_or_else(|| anyhow::anyhow!("page size"))?;
        let mut page = doc.start_page_with(settings);
        let mut s = page.surface();
        for op in ops.iter().chain(std::iter::once(&Op::Text {
            x: LEFT,
            y: PAGE_H - 40.0,
            size: 8.0,
            bold: false,
            colour: MUTED,
            text: format!("{ISSUER} · page {} of {n}", i + 1),
        })) {
            match op {
                Op::Text { x, y, size, bold: b, colour, text } => {
                    s.set_fill(Some(fill(*colour)));
                    let font = if *b { bold.clone() } else { regular.clone() };
                    s.draw_text(Point::from_xy(*x, *y), font, *size, text, false, TextDirection::Auto);
                }
                Op::Rule { y, colour, thick } => {
                    s.set_fill(Some(fill(*colour)));
                    let mut pb = PathBuilder::new();
                    if let Some(r) = Rect::from_xywh(LEFT, *y, RIGHT - LEFT, *thick) {
                        pb.push_rect(r);
                    }
                    if let Some(p) = pb.finish() {
                        s.draw_path(&p);
                    }
                }
                Op::Band { y, h } => {
                    s.set_fill(Some(fill(ACCENT)));
                    let mut pb = PathBuilder::new();
                    if let Some(r) = Rect::from_xywh(0.0, *y, PAGE_W, *h) {
                        pb.push_rect(r);
                    }
                    if let Some(p) = pb.finish() {
                        s.draw_path(&p);
                    }
                }
            }
        }
        s.finish();
        page.finish();
    }
    doc.finish().map_err(|e| anyhow::anyhow!("the PDF could not be written: {e:?}"))
}

fn inclusive_end(end: chrono::NaiveDate) -> chrono::NaiveDate {
    end.pred_opt().unwrap_or(end)
}

fn day(d: chrono::NaiveDate) -> String {
    d.format("%-d %B %Y").to_string()
}

/// The status in words.
pub fn status_words(status: &str) -> &'static str {
    match status {
        "paid" => "Paid",
        "open" => "Due",
        "void" => "Cancelled",
        "uncollectible" => "Overdue",
        "draft" => "Draft",
        _ => "Unknown",
    }
}

/// The card in words: `Visa ending 4242 (expires 12/2029)`.
pub fn card_words(c: &CardOnFile) -> String {
    let brand = c.card_brand.as_deref().unwrap_or("card");
    let brand = match brand {
        "visa" => "Visa".to_owned(),
        "mastercard" => "Mastercard".to_owned(),
        "amex" => "American Express".to_owned(),
        other => {
            let mut cs = other.chars();
            cs.next().map(|f| f.to_uppercase().chain(cs).collect()).unwrap_or_default()
        }
    };
    let mut s = format!("{brand} ending {}", c.card_last4.as_deref().unwrap_or("????"));
    if let (Some(m), Some(y)) = (c.card_exp_month, c.card_exp_year) {
        s.push_str(&format!(" (expires {m:02}/{y})"));
    }
    s
}

/// One invoice's statement as a PDF.
pub fn invoice_pdf(inv: &InvoiceView, to: &BillTo, card: Option<&CardOnFile>) -> anyhow::Result<Vec<u8>> {
    let mut l = Layout::new(format!("Invoice {} (continued)", inv.number));
    l.header("Invoice", &format!("No. {}", inv.number));
    l.field("Invoice number", &inv.number);
    l.field("Issued", &day(inv.issued_at.date_naive()));
    l.field("Period", &format!("{} to {}", day(inv.period_start), day(inclusive_end(inv.period_end))));
    let status = match (inv.status.as_str(), inv.paid_at) {
        ("paid", Some(at)) => format!("Paid on {}", day(at.date_naive())),
        (s, _) => status_words(s).to_owned(),
    };
    l.field("Status", &status);
    l.y += 8.0;
    l.bill_to(to);

    let amount_x = RIGHT;
    l.section("Description", &[(amount_x, "Amount")]);
    for line in &inv.lines {
        l.row(10.0, false, &line.description, 340.0, &[(amount_x, &money(line.amount_cents, &inv.currency))]);
    }
    l.need(90.0);
    l.y += 2.0;
    l.rule(MUTED, 0.4);
    l.y += 6.0;
    let label_x = RIGHT - 150.0;
    let total_row = |l: &mut Layout, label: &str, value: String, bold: bool| {
        l.need(18.0);
        l.y += 12.0;
        l.right(label_x, 10.0, bold, INK, label);
        l.right(amount_x, 10.0, bold, INK, &value);
        l.y += 4.0;
    };
    total_row(&mut l, "Subtotal", money(inv.subtotal_cents, &inv.currency), false);
    let bp = inv.tax_rate_basis_points;
    total_row(&mut l, &format!("Tax ({}.{:02}%)", bp / 100, bp % 100), money(inv.tax_cents, &inv.currency), false);
    total_row(&mut l, "Total", money(inv.total_cents, &inv.currency), true);
    if inv.amount_refunded_cents > 0 {
        total_row(&mut l, "Refunded", money(-inv.amount_refunded_cents, &inv.currency), false);
    }
    let (label, due) = match inv.status.as_str() {
        "paid" => ("Amount paid", inv.total_cents - inv.amount_refunded_cents),
        "void" => ("Amount due", 0),
        _ => ("Amount due", inv.total_cents),
    };
    total_row(&mut l, label, money(due, &inv.currency), true);
    l.y += 16.0;
    if inv.status == "paid" {
        if let Some(c) = card {
            l.footer_note(&format!("Paid with {}.", card_words(c)));
        }
    } else if inv.status == "open" || inv.status == "uncollectible" {
        l.footer_note("This invoice is charged to your card on file; update your card in your account's billing page.");
    }
    l.footer_note(&format!("Reference {}. All amounts in {}.", inv.id, inv.currency));
    render(l, &format!("Invoice {}", inv.number))
}

/// The smallest statement-like PDF: one line in the same font (the benchmark's baseline).
pub fn baseline_pdf() -> anyhow::Result<Vec<u8>> {
    let mut l = Layout::new(String::new());
    l.text(LEFT, 10.0, false, INK, "Sysops Squad");
    render(l, "Baseline")
}

/// A customer's statement for one month as a PDF.
pub fn monthly_pdf(st: &MonthlyStatement, to: &BillTo) -> anyhow::Result<Vec<u8>> {
    let title = format!("Statement {}", st.month.format("%B %Y"));
    render(monthly_layout(st, to), &title)
}

fn monthly_layout(st: &MonthlyStatement, to: &BillTo) -> Layout {
    let month = st.month.format("%B %Y").to_string();
    let mut l = Layout::new(format!("Statement for {month} (continued)"));
    l.header("Statement", &month);
    l.field(
        "Statement period",
        &format!("{} to {}", day(st.month), day(inclusive_end(super::history::next_month(st.month)))),
    );
    l.y += 8.0;
    l.bill_to(to);

    let (c1, c3) = (LEFT + 300.0, RIGHT);
    l.section("Invoices issued", &[(c1 + 60.0, "Status"), (c3, "Total")]);
    if st.invoices.is_empty() {
        l.row(10.0, false, "No invoice was issued this month.", 300.0, &[]);
    }
    let mut totals: std::collections::BTreeMap<String, (i64, i64, i64)> = Default::default();
    for inv in &st.invoices {
        let what = format!("{}: {} to {}", inv.number, day(inv.period_start), day(inclusive_end(inv.period_end)));
        let status = status_words(&inv.status);
        l.row(10.0, false, &what, 280.0, &[(c1 + 60.0, status), (c3, &money(inv.total_cents, &inv.currency))]);
        totals.entry(inv.currency.clone()).or_default().0 += inv.total_cents;
    }

    l.section("Payments and refunds", &[(c3, "Amount")]);
    if st.movements.is_empty() {
        l.row(10.0, false, "No money moved this month.", 300.0, &[]);
    }
    let numbers: std::collections::HashMap<_, _> = st.invoices.iter().map(|i| (i.id, i.number.clone())).collect();
    for m in &st.movements {
        let invoice = numbers.get(&m.invoice_id).cloned().unwrap_or_else(|| m.invoice_id.to_string());
        let (what, signed) = if m.kind == "refund" {
            let why = m.reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default();
            (format!("{} Refund, invoice {invoice}{why}", m.created_at.format("%-d %b")), -m.amount)
        } else {
            (format!("{} Card payment, invoice {invoice}", m.created_at.format("%-d %b")), m.amount)
        };
        l.row(10.0, false, &what, 360.0, &[(c3, &money(signed, &m.currency))]);
        let t = totals.entry(m.currency.clone()).or_default();
        if m.kind == "refund" {
            t.2 += m.amount;
        } else {
            t.1 += m.amount;
        }
    }
    l.need(70.0);
    l.y += 4.0;
    l.rule(MUTED, 0.4);
    for (cur, (invoiced, paid, refunded)) in &totals {
        for (label, v) in [("Invoiced", *invoiced), ("Paid", *paid), ("Refunded", -*refunded)] {
            l.need(18.0);
            l.y += 14.0;
            l.right(RIGHT - 150.0, 10.0, label == "Paid", INK, label);
            l.right(RIGHT, 10.0, label == "Paid", INK, &money(v, cur));
        }
    }
    l.y += 12.0;
    l.footer_note("Each invoice has its own statement with its lines and tax in your account's billing page.");
    l
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_is_grouped_with_its_code() {
        assert_eq!(money(123_456_789, "USD"), "1,234,567.89 USD");
        assert_eq!(money(-3999, "USD"), "-39.99 USD");
        assert_eq!(money(500, "JPY"), "500 JPY");
        assert_eq!(money(5, "EUR"), "0.05 EUR");
    }

    #[test]
    fn a_long_statement_breaks_pages_each_with_its_running_head_and_all_rows_inside_the_page() {
        let inv = |i: i64| InvoiceView {
            id: uuid::Uuid::now_v7(),
            number: format!("SQ-202611-{i:08}"),
            subscription_id: uuid::Uuid::now_v7(),
            period_start: chrono::NaiveDate::from_ymd_opt(2026, 11, 3).unwrap_or_default(),
            period_end: chrono::NaiveDate::from_ymd_opt(2026, 12, 3).unwrap_or_default(),
            lines: Vec::new(),
            subtotal_cents: 1000,
            tax_cents: 0,
            tax_rate_basis_points: 0,
            total_cents: 1000 + i,
            amount_refunded_cents: 0,
            currency: "USD".into(),
            status: "paid".into(),
            issued_at: chrono::Utc::now(),
            paid_at: None,
        };
        let st = MonthlyStatement {
            month: chrono::NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default(),
            invoices: (0..90).map(inv).collect(),
            movements: Vec::new(),
        };
        let l = monthly_layout(&st, &BillTo::default());
        assert!(l.pages.len() >= 3, "{} pages", l.pages.len());
        let mut rows = 0;
        for (i, page) in l.pages.iter().enumerate() {
            let texts: Vec<(f32, &str)> = page
                .iter()
                .filter_map(|o| match o {
                    Op::Text { y, text, .. } => Some((*y, text.as_str())),
                    _ => None,
                })
                .collect();
            assert!(texts.iter().all(|(y, _)| *y <= BOTTOM), "page {i} runs past its bottom margin");
            if i > 0 {
                assert_eq!(texts[0].1, "Statement for November 2026 (continued)");
            }
            rows += texts.iter().filter(|(_, t)| t.starts_with("SQ-202611-")).count();
        }
        assert_eq!(rows, 90, "every invoice once");
        assert!(monthly_pdf(&st, &BillTo::default()).is_ok_and(|p| p.starts_with(b"%PDF-")));
    }

    #[test]
    fn long_text_wraps_within_its_width() {
        let text = "Total Home, 2026-12-03 to 2027-01-02, with a description long enough to need two lines";
        let lines = wrap(text, 10.0, false, 200.0);
        assert!(lines.len() > 1, "{lines:?}");
        assert!(lines.iter().all(|l| width(l, 10.0, false) <= 200.0), "{lines:?}");
        assert_eq!(lines.join(" "), text);
    }
}
