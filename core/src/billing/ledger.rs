//! The append-only ledger of money movements: one charge per invoice at most, refunds
//! never more than was charged, entries never changed or removed.
//!
//! Its invariant, checked over random event sequences: the sum of charges minus refunds
//! equals the sum of paid invoices minus their refunds.

use crate::ids::InvoiceId;
use std::collections::BTreeMap;

/// A kind of money movement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LedgerEntryKind {
    /// Money taken from the customer for an invoice.
    Charge,
    /// Money given back for an invoice.
    Refund,
}

impl LedgerEntryKind {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Charge => "charge",
            Self::Refund => "refund",
        }
    }
}

/// One movement; amounts are positive minor units, the kind gives the direction.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LedgerEntry {
    /// Position in the ledger, from 0.
    pub seq: u64,
    /// The invoice it belongs to.
    pub invoice: InvoiceId,
    /// Charge or refund.
    pub kind: LedgerEntryKind,
    /// Minor units, > 0.
    pub amount: i64,
}

/// A movement the ledger refuses; nothing is appended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// Amounts are positive.
    #[error("an amount must be positive")]
    NotPositive,
    /// The invoice was charged already (exactly once).
    #[error("the invoice was already charged")]
    AlreadyCharged,
    /// A refund for an invoice never charged.
    #[error("the invoice was never charged")]
    NotCharged,
    /// More refunded than charged.
    #[error("at most {available} minor units can still be refunded")]
    RefundExceedsCharge {
        /// What is left to refund.
        available: i64,
    },
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct PerInvoice {
    charged: i64,
    refunded: i64,
}

/// The ledger. Entries are only ever appended.
#[derive(Debug, Clone, Default)]
pub struct Ledger {
    entries: Vec<LedgerEntry>,
    invoices: BTreeMap<InvoiceId, PerInvoice>,
}

impl Ledger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Rebuilds a ledger from stored entries, checking each as if appended now.
    pub fn replay(entries: impl IntoIterator<Item = (InvoiceId, LedgerEntryKind, i64)>) -> Result<Self, LedgerError> {
        let mut l = Self::new();
        for (invoice, kind, amount) in entries {
            l.record(invoice, kind, amount)?;
        }
        Ok(l)
    }

    /// Checks that `kind` of `amount` may be recorded for `invoice`, without recording.
    pub fn check(&self, invoice: InvoiceId, kind: LedgerEntryKind, amount: i64) -> Result<(), LedgerError> {
        if amount <= 0 {
            return Err(LedgerError::NotPositive);
        }
        let cur = self.invoices.get(&invoice).copied().unwrap_or_default();
        match kind {
            LedgerEntryKind::Charge if cur.charged > 0 => Err(LedgerError::AlreadyCharged),
            LedgerEntryKind::Charge => Ok(()),
            LedgerEntryKind::Refund if cur.charged == 0 => Err(LedgerError::NotCharged),
            LedgerEntryKind::Refund if amount > cur.charged - cur.refunded => {
                Err(LedgerError::RefundExceedsCharge { available: cur.charged - cur.refunded })
            }
            LedgerEntryKind::Refund => Ok(()),
        }
    }

    /// Appends a movement, or refuses it and changes nothing.
    pub fn record(
        &mut self,
        invoice: InvoiceId,
        kind: LedgerEntryKind,
        amount: i64,
    ) -> Result<&LedgerEntry, LedgerError> {
        self.check(invoice, kind, amount)?;
        let cur = self.invoices.entry(invoice).or_default();
        match kind {
            LedgerEntryKind::Charge => cur.charged = amount,
            LedgerEntryKind::Refund => cur.refunded += amount,
        }
        let seq = self.entries.len() as u64;
        self.entries.push(LedgerEntry { seq, invoice, kind, amount });
        Ok(self.entries.last().expect("just pushed"))
    }

    /// Every entry in order.
    pub fn entries(&self) -> &[LedgerEntry] {
        &self.entries
    }

    /// Sum of charges.
    pub fn charged(&self) -> i64 {
        self.sum(LedgerEntryKind::Charge)
    }

    /// Sum of refunds.
    pub fn refunded(&self) -> i64 {
        self.sum(LedgerEntryKind::Refund)
    }

    /// Charges minus refunds: what the business holds.
    pub fn balance(&self) -> i64 {
        self.charged() - self.refunded()
    }

    /// What can still be refunded on `invoice`.
    pub fn refundable(&self, invoice: InvoiceId) -> i64 {
        self.invoices.get(&invoice).map_or(0, |c| c.charged - c.refunded)
    }

    fn sum(&self, kind: LedgerEntryKind) -> i64 {
        self.entries.iter().filter(|e| e.kind == kind).map(|e| e.amount).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::{InvoiceEvent, InvoiceStatus, StatusChange};
    use proptest::prelude::*;

    #[test]
    fn an_invoice_is_charged_once_and_refunded_at_most_in_full() {
        let mut l = Ledger::new();
        let i = InvoiceId::new();
        assert_eq!(l.record(i, LedgerEntryKind::Refund, 1), Err(LedgerError::NotCharged));
        l.record(i, LedgerEntryKind::Charge, 1000).unwrap();
        assert_eq!(l.record(i, LedgerEntryKind::Charge, 1000), Err(LedgerError::AlreadyCharged));
        l.record(i, LedgerEntryKind::Refund, 300).unwrap();
        assert_eq!(l.record(i, LedgerEntryKind::Refund, 701), Err(LedgerError::RefundExceedsCharge { available: 700 }));
        assert_eq!(l.record(i, LedgerEntryKind::Refund, 0), Err(LedgerError::NotPositive));
        l.record(i, LedgerEntryKind::Refund, 700).unwrap();
        assert_eq!((l.charged(), l.refunded(), l.balance(), l.refundable(i)), (1000, 1000, 0, 0));
        assert_eq!(l.entries().len(), 3);
        let again = Ledger::replay(l.entries().iter().map(|e| (e.invoice, e.kind, e.amount))).unwrap();
        assert_eq!(again.entries(), l.entries());
    }

    #[derive(Debug, Clone)]
    enum Op {
        /// Charge invoice n (its total is fixed by n).
        Charge(usize),
        /// The processor says invoice n's charge failed (late or out of order).
        Fail(usize),
        /// Refund `amount` of invoice n.
        Refund(usize, i64),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0usize..8).prop_map(Op::Charge),
            (0usize..8).prop_map(Op::Fail),
            ((0usize..8), (-5i64..3000)).prop_map(|(n, a)| Op::Refund(n, a)),
        ]
    }

    proptest! {
        /// Charges − refunds in the ledger = paid invoices − their refunds, after every
        /// event, whatever the order; refused events change nothing.
        #[test]
        fn the_ledger_always_balances_against_paid_invoices(ops in proptest::collection::vec(op(), 0..80)) {
            let ids: Vec<InvoiceId> = (0..8).map(|_| InvoiceId::new()).collect();
            let totals: Vec<i64> = (0..8).map(|n| 500 + 250 * n as i64).collect();
            let mut status = [InvoiceStatus::Open; 8];
            let mut refunds = [0i64; 8];
            let mut ledger = Ledger::new();
            for o in ops {
                let before = ledger.entries().len();
                match o {
                    Op::Charge(n) => {
                        let recorded = ledger.record(ids[n], LedgerEntryKind::Charge, totals[n]).is_ok();
                        let change = status[n].apply(InvoiceEvent::PaymentSucceeded).unwrap();
                        prop_assert_eq!(recorded, matches!(change, StatusChange::Changed { .. }));
                        if let StatusChange::Changed { to, .. } = change { status[n] = to; }
                    }
                    Op::Fail(n) => {
                        if let StatusChange::Changed { to, .. } = status[n].apply(InvoiceEvent::PaymentFailed).unwrap() { status[n] = to; }
                        prop_assert_eq!(ledger.entries().len(), before);
                    }
                    Op::Refund(n, a) => {
                        if ledger.record(ids[n], LedgerEntryKind::Refund, a).is_ok() {
                            prop_assert_eq!(status[n], InvoiceStatus::Paid);
                            refunds[n] += a;
                        } else {
                            prop_assert_eq!(ledger.entries().len(), before);
                        }
                    }
                }
                let paid: i64 = (0..8).filter(|&n| status[n] == InvoiceStatus::Paid).map(|n| totals[n]).sum();
                let refunded: i64 = refunds.iter().sum();
                prop_assert_eq!(ledger.charged() - ledger.refunded(), paid - refunded);
                for n in 0..8 {
                    let cap = if status[n] == InvoiceStatus::Paid { totals[n] } else { 0 };
                    prop_assert!(refunds[n] <= cap, "invoice {} refunded {} of {}", n, refunds[n], cap);
                }
            }
        }
    }
}
