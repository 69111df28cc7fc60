//! Invoices: their lines and totals (built in one place), and their status, which a
//! late or replayed processor event never moves backwards.

use super::calendar::{Interval, Period};
use super::tax::{Rounding, TaxRate};
use crate::error::FieldError;
use crate::money::Currency;
use chrono::NaiveDate;
use std::str::FromStr;

/// The price of one period of `interval` for a plan priced `monthly_price` minor units
/// a month (annual is twelve months; no discount).
pub fn period_price(monthly_price: i64, interval: Interval) -> i64 {
    monthly_price.saturating_mul(i64::from(interval.months()))
}

/// What an invoice line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LineKind {
    /// The plan for one period.
    Subscription,
    /// The unused part of the previous plan, credited (negative).
    ProrationCredit,
    /// The rest of the period on the new plan.
    ProrationCharge,
    /// A credit left over from an earlier invoice (negative).
    CarriedCredit,
}

impl LineKind {
    /// The storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Subscription => "subscription",
            Self::ProrationCredit => "proration_credit",
            Self::ProrationCharge => "proration_charge",
            Self::CarriedCredit => "carried_credit",
        }
    }
}

impl FromStr for LineKind {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        [Self::Subscription, Self::ProrationCredit, Self::ProrationCharge, Self::CarriedCredit]
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| FieldError::new("", format!("unknown invoice line kind {s:?}")))
    }
}

/// One line of an invoice, in minor units of the invoice's currency.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct InvoiceLine {
    /// What for.
    pub kind: LineKind,
    /// Shown to the customer.
    pub description: String,
    /// Minor units; negative for credits.
    pub amount: i64,
    /// First day covered.
    pub period_start: NaiveDate,
    /// First day not covered.
    pub period_end: NaiveDate,
}

impl InvoiceLine {
    /// The plan `plan_name` for `period`.
    pub fn subscription(plan_name: &str, period: &Period, amount: i64) -> Self {
        Self {
            kind: LineKind::Subscription,
            description: format!("{plan_name}, {} to {}", period.start, period.end.pred_opt().unwrap_or(period.end)),
            amount,
            period_start: period.start,
            period_end: period.end,
        }
    }
}

/// An invoice's lines and totals, computed together so they always add up.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct InvoiceDraft {
    /// Currency of every amount.
    pub currency: Currency,
    /// The lines.
    pub lines: Vec<InvoiceLine>,
    /// Sum of the lines, never below zero (see `credit_carried`).
    pub subtotal: i64,
    /// The rate applied.
    pub tax_rate: TaxRate,
    /// Tax on the subtotal, rounded once.
    pub tax: i64,
    /// `subtotal + tax`: what is charged.
    pub total: i64,
    /// When credits exceed charges, what is left over for the next invoice (≥ 0).
    pub credit_carried: i64,
}

impl InvoiceDraft {
    /// Totals for `lines`: tax once on the subtotal; a negative sum is carried forward
    /// as a credit and this invoice costs nothing.
    pub fn build(currency: Currency, lines: Vec<InvoiceLine>, tax_rate: TaxRate, rounding: Rounding) -> Self {
        let sum: i64 = lines.iter().map(|l| l.amount).sum();
        let (subtotal, credit_carried) = if sum < 0 { (0, -sum) } else { (sum, 0) };
        let tax = tax_rate.tax_on(subtotal, rounding);
        Self { currency, lines, subtotal, tax_rate, tax, total: subtotal + tax, credit_carried }
    }
}

/// Where an invoice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceStatus {
    /// Issued, not paid yet (charging, or in dunning).
    Open,
    /// Paid in full (refunds are recorded beside it, in the ledger).
    Paid,
    /// Written off: the subscription was cancelled while it was unpaid.
    Void,
}

impl InvoiceStatus {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::Paid => "paid",
            Self::Void => "void",
        }
    }

    /// Applies `event`. A payment failure or a replayed success after the invoice was
    /// paid changes nothing (processor events arrive late, twice, or out of order);
    /// only a contradiction is an error.
    pub fn apply(self, event: InvoiceEvent) -> Result<StatusChange, FieldError> {
        use InvoiceEvent::*;
        use InvoiceStatus::*;
        let to = match (self, event) {
            (Open, PaymentSucceeded) => Paid,
            (Open, PaymentFailed) | (Paid, PaymentFailed | PaymentSucceeded) | (Void, PaymentFailed | Voided) => {
                return Ok(StatusChange::Unchanged(self));
            }
            (Open, Voided) => Void,
            (Paid, Voided) => return Err(FieldError::new("status", "a paid invoice cannot be voided; refund it")),
            (Void, PaymentSucceeded) => {
                return Err(FieldError::new("status", "a void invoice was paid: refund the payment"));
            }
        };
        Ok(StatusChange::Changed { from: self, to })
    }
}

impl FromStr for InvoiceStatus {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        match s {
            "open" => Ok(Self::Open),
            "paid" => Ok(Self::Paid),
            "void" => Ok(Self::Void),
            _ => Err(FieldError::new("", format!("unknown invoice status {s:?}; one of open, paid, void"))),
        }
    }
}

/// Something the processor or staff says about an invoice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceEvent {
    /// The charge went through.
    PaymentSucceeded,
    /// The charge was declined or failed.
    PaymentFailed,
    /// Written off.
    Voided,
}

/// What [`InvoiceStatus::apply`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusChange {
    /// Moved.
    Changed {
        /// Before.
        from: InvoiceStatus,
        /// After.
        to: InvoiceStatus,
    },
    /// Nothing to do (a replay or a stale event).
    Unchanged(InvoiceStatus),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::Schedule;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn totals_add_up_with_tax_rounded_once() {
        let p = Schedule::new(d(2027, 1, 31), Interval::Monthly).period(1);
        let line = InvoiceLine::subscription("Gold", &p, 1999);
        assert_eq!(line.description, "Gold, 2027-02-28 to 2027-03-30");
        let inv = InvoiceDraft::build(
            Currency::USD,
            vec![line.clone(), line],
            TaxRate::from_basis_points(2000).unwrap(),
            Rounding::HalfUp,
        );
        assert_eq!(inv.subtotal, 3998);
        assert_eq!(inv.tax, 800); // 799.6
        assert_eq!(inv.total, 4798);
        assert_eq!(inv.credit_carried, 0);
    }

    #[test]
    fn a_net_credit_is_carried_and_costs_nothing() {
        let p = Schedule::new(d(2027, 1, 1), Interval::Monthly).period(0);
        let mut credit = InvoiceLine::subscription("Gold", &p, -1500);
        credit.kind = LineKind::ProrationCredit;
        let charge = InvoiceLine { kind: LineKind::ProrationCharge, amount: 500, ..credit.clone() };
        let inv = InvoiceDraft::build(
            Currency::USD,
            vec![credit, charge],
            TaxRate::from_basis_points(2000).unwrap(),
            Rounding::HalfUp,
        );
        assert_eq!((inv.subtotal, inv.tax, inv.total, inv.credit_carried), (0, 0, 0, 1000));
    }

    #[test]
    fn a_late_failure_never_unpays_an_invoice() {
        use InvoiceEvent::*;
        let paid = match InvoiceStatus::Open.apply(PaymentSucceeded).unwrap() {
            StatusChange::Changed { to, .. } => to,
            other => panic!("{other:?}"),
        };
        assert_eq!(paid, InvoiceStatus::Paid);
        assert_eq!(paid.apply(PaymentFailed).unwrap(), StatusChange::Unchanged(InvoiceStatus::Paid));
        assert_eq!(paid.apply(PaymentSucceeded).unwrap(), StatusChange::Unchanged(InvoiceStatus::Paid));
        assert!(paid.apply(Voided).is_err());
        assert_eq!(InvoiceStatus::Open.apply(PaymentFailed).unwrap(), StatusChange::Unchanged(InvoiceStatus::Open));
        assert!(InvoiceStatus::Void.apply(PaymentSucceeded).is_err());
        for s in ["open", "paid", "void"] {
            assert_eq!(s.parse::<InvoiceStatus>().unwrap().as_str(), s);
        }
    }
}
