//! Monthly recurring revenue (MRR) and how it moved: what the subscriptions in force on
//! a day bring in per month (an annual plan counts a twelfth of its price), and between
//! two days, the revenue won from new subscriptions, gained and lost by plan changes,
//! and lost to subscriptions that ended. Always
//! `after = before + new + expansion − contraction − churn`.

use super::Rounding;
use super::tax::divide_rounded;
use chrono::{Datelike, NaiveDate};
use std::collections::BTreeMap;

/// A subscription's recurring charge over `[start, end)` (an invoice's subscription line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecurringLine<K> {
    /// Whose (a subscription).
    pub key: K,
    /// Minor units for the whole period.
    pub amount: i64,
    /// First day covered.
    pub start: NaiveDate,
    /// First day not covered.
    pub end: NaiveDate,
}

impl<K> RecurringLine<K> {
    /// The line's amount per month: divided by the whole months it spans (one for a
    /// monthly period, twelve for an annual one), rounded half up.
    pub fn monthly(&self) -> i64 {
        let months = (self.end.year() - self.start.year()) * 12 + self.end.month() as i32 - self.start.month() as i32;
        let divided = divide_rounded(i128::from(self.amount), i128::from(months.max(1)), Rounding::HalfUp);
        i64::try_from(divided).unwrap_or(i64::MAX)
    }

    /// Whether the line covers `day`.
    pub fn covers(&self, day: NaiveDate) -> bool {
        self.start <= day && day < self.end
    }
}

/// Each subscription's MRR on `day` (those with none in force are absent).
pub fn mrr_on<K: Ord + Clone>(lines: &[RecurringLine<K>], day: NaiveDate) -> BTreeMap<K, i64> {
    let mut by = BTreeMap::new();
    for l in lines.iter().filter(|l| l.covers(day)) {
        *by.entry(l.key.clone()).or_insert(0) += l.monthly();
    }
    by.retain(|_, v| *v > 0);
    by
}

/// MRR on a day and how it moved since the previous one.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MrrMovement {
    /// MRR on the later day.
    pub mrr: i64,
    /// Subscriptions bringing it.
    pub subscriptions: u64,
    /// From subscriptions with none before.
    pub new: i64,
    /// Increases of those that had some.
    pub expansion: i64,
    /// Decreases of those that still have some.
    pub contraction: i64,
    /// All of it, from those with none now.
    pub churn: i64,
}

/// How MRR moved from `before` to `after` (both from [`mrr_on`]).
pub fn movement<K: Ord>(before: &BTreeMap<K, i64>, after: &BTreeMap<K, i64>) -> MrrMovement {
    let mut m = MrrMovement { mrr: after.values().sum(), subscriptions: after.len() as u64, ..MrrMovement::default() };
    for (k, now) in after {
        match before.get(k) {
            None => m.new += now,
            Some(was) if now > was => m.expansion += now - was,
            Some(was) => m.contraction += was - now,
        }
    }
    m.churn = before.iter().filter(|(k, _)| !after.contains_key(*k)).map(|(_, v)| v).sum();
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    fn line(key: u32, amount: i64, start: NaiveDate, end: NaiveDate) -> RecurringLine<u32> {
        RecurringLine { key, amount, start, end }
    }

    #[test]
    fn an_annual_plan_counts_a_twelfth_and_periods_are_half_open() {
        let annual = line(1, 12_000, d(2027, 1, 31), d(2028, 1, 31));
        assert_eq!(annual.monthly(), 1_000);
        let monthly = line(2, 2_999, d(2027, 1, 31), d(2027, 2, 28));
        assert_eq!(monthly.monthly(), 2_999);
        assert!(monthly.covers(d(2027, 2, 27)) && !monthly.covers(d(2027, 2, 28)));
        assert_eq!(line(3, 1_000, d(2027, 1, 1), d(2028, 1, 1)).monthly(), 83, "1000/12 = 83.3");
    }

    #[test]
    fn new_expansion_contraction_and_churn_are_told_apart() {
        let lines = vec![
            // 1 stays, 2 upgrades, 3 downgrades, 4 leaves, 5 arrives.
            line(1, 1_000, d(2027, 1, 1), d(2027, 2, 1)),
            line(1, 1_000, d(2027, 2, 1), d(2027, 3, 1)),
            line(2, 1_000, d(2027, 1, 1), d(2027, 2, 1)),
            line(2, 3_000, d(2027, 2, 1), d(2027, 3, 1)),
            line(3, 3_000, d(2027, 1, 1), d(2027, 2, 1)),
            line(3, 2_000, d(2027, 2, 1), d(2027, 3, 1)),
            line(4, 500, d(2027, 1, 1), d(2027, 2, 1)),
            line(5, 700, d(2027, 2, 10), d(2027, 3, 10)),
        ];
        let jan = mrr_on(&lines, d(2027, 1, 31));
        let feb = mrr_on(&lines, d(2027, 2, 28));
        let m = movement(&jan, &feb);
        assert_eq!(
            m,
            MrrMovement {
                mrr: 1_000 + 3_000 + 2_000 + 700,
                subscriptions: 4,
                new: 700,
                expansion: 2_000,
                contraction: 1_000,
                churn: 500
            }
        );
        assert_eq!(movement(&feb, &feb), MrrMovement { mrr: m.mrr, subscriptions: 4, ..Default::default() });
    }

    proptest! {
        /// MRR after = before + new + expansion − contraction − churn, for any lines.
        #[test]
        fn the_movements_add_up(
            raw in proptest::collection::vec((0u32..8, 0i64..100_000, 0i64..400, prop_oneof![Just(1u32), Just(12)]), 0..40),
            a in 0i64..500, b in 0i64..500,
        ) {
            let base = d(2027, 1, 1);
            let lines: Vec<_> = raw
                .iter()
                .map(|&(k, amount, offset, months)| {
                    let start = base + chrono::Duration::days(offset);
                    line(k, amount, start, super::super::add_months_clamped(start, months, start.day()))
                })
                .collect();
            let (x, y) = (base + chrono::Duration::days(a), base + chrono::Duration::days(b));
            let (before, after) = (mrr_on(&lines, x), mrr_on(&lines, y));
            let m = movement(&before, &after);
            let was: i64 = before.values().sum();
            prop_assert_eq!(m.mrr, was + m.new + m.expansion - m.contraction - m.churn);
            prop_assert!(m.new >= 0 && m.expansion >= 0 && m.contraction >= 0 && m.churn >= 0);
        }
    }
}
