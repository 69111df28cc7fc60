//! Changing plan mid-period: the unused days of the old plan are credited and the
//! remaining days of the new plan charged, each by day count and rounded explicitly.

use super::calendar::Period;
use super::invoice::{InvoiceLine, LineKind};
use super::tax::{Rounding, divide_rounded};
use chrono::NaiveDate;

/// The two lines of a plan change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proration {
    /// Negative: the old plan's unused days.
    pub credit: InvoiceLine,
    /// Positive: the new plan's remaining days.
    pub charge: InvoiceLine,
}

impl Proration {
    /// Credit plus charge (positive for an upgrade).
    pub fn net(&self) -> i64 {
        self.credit.amount + self.charge.amount
    }
}

/// The lines for moving from a plan costing `old_price` per period to one costing
/// `new_price` on `on` (the change takes effect that day) within `period`. Each amount
/// is `price × remaining days / period days`, rounded by `rounding`. `None` when `on` is
/// outside the period (nothing to prorate).
pub fn prorate(
    period: &Period,
    on: NaiveDate,
    old: (&str, i64),
    new: (&str, i64),
    rounding: Rounding,
) -> Option<Proration> {
    let remaining = period.days_remaining(on);
    if remaining == 0 {
        return None;
    }
    let share = |price: i64| {
        divide_rounded(i128::from(price) * i128::from(remaining), i128::from(period.days()), rounding) as i64
    };
    let last = period.end.pred_opt().unwrap_or(period.end);
    Some(Proration {
        credit: InvoiceLine {
            kind: LineKind::ProrationCredit,
            description: format!("Unused time on {} from {on} to {last}", old.0),
            amount: -share(old.1),
            period_start: on,
            period_end: period.end,
        },
        charge: InvoiceLine {
            kind: LineKind::ProrationCharge,
            description: format!("Remaining time on {} from {on} to {last}", new.0),
            amount: share(new.1),
            period_start: on,
            period_end: period.end,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::billing::{Interval, Schedule};

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn an_upgrade_halfway_through_a_30_day_period_costs_half_the_difference() {
        let p = Schedule::new(d(2027, 4, 1), Interval::Monthly).period(0); // 30 days
        let pr = prorate(&p, d(2027, 4, 16), ("Silver", 1000), ("Gold", 3000), Rounding::HalfUp).unwrap();
        assert_eq!(pr.credit.amount, -500);
        assert_eq!(pr.charge.amount, 1500);
        assert_eq!(pr.net(), 1000);
        assert_eq!(pr.credit.description, "Unused time on Silver from 2027-04-16 to 2027-04-30");
    }

    #[test]
    fn prorated_amounts_are_rounded_as_configured() {
        // 31-day period, 10 days left: 1000 × 10 / 31 = 322.58 → 323; 155 × 10 / 31 = 50 exactly.
        let p = Schedule::new(d(2027, 1, 1), Interval::Monthly).period(0);
        let pr = prorate(&p, d(2027, 1, 22), ("A", 1000), ("B", 155), Rounding::HalfUp).unwrap();
        assert_eq!((pr.credit.amount, pr.charge.amount), (-323, 50));
        // 28 days, 14 left, price 5 → 2.5: half-up 3, half-even 2.
        let p = Schedule::new(d(2027, 2, 1), Interval::Monthly).period(0);
        let up = prorate(&p, d(2027, 2, 15), ("A", 5), ("B", 5), Rounding::HalfUp).unwrap();
        let even = prorate(&p, d(2027, 2, 15), ("A", 5), ("B", 5), Rounding::HalfEven).unwrap();
        assert_eq!((up.credit.amount, up.charge.amount), (-3, 3));
        assert_eq!((even.credit.amount, even.charge.amount), (-2, 2));
    }

    #[test]
    fn a_change_on_the_first_day_swaps_whole_periods_and_outside_prorates_nothing() {
        let p = Schedule::new(d(2027, 1, 31), Interval::Monthly).period(1); // 28 Feb – 30 Mar
        let pr = prorate(&p, p.start, ("A", 1000), ("B", 2000), Rounding::HalfUp).unwrap();
        assert_eq!((pr.credit.amount, pr.charge.amount), (-1000, 2000));
        assert!(prorate(&p, p.end, ("A", 1000), ("B", 2000), Rounding::HalfUp).is_none());
        assert!(prorate(&p, d(2027, 2, 27), ("A", 1000), ("B", 2000), Rounding::HalfUp).is_none());
    }
}
