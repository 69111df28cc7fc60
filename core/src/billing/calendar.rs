//! Billing periods: monthly or annual from an anchor date, the anchor's day of month
//! kept (a subscription begun on the 31st is billed on the 28th/29th/30th of shorter
//! months and back on the 31st when the month has one).

use crate::error::FieldError;
use chrono::{Datelike, NaiveDate};
use std::fmt;
use std::str::FromStr;

/// How often a subscription is billed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Interval {
    /// Every month on the anchor day.
    Monthly,
    /// Every year on the anchor date.
    Annual,
}

impl Interval {
    /// Months in one period.
    pub fn months(self) -> u32 {
        match self {
            Self::Monthly => 1,
            Self::Annual => 12,
        }
    }

    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Monthly => "monthly",
            Self::Annual => "annual",
        }
    }
}

impl fmt::Display for Interval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Interval {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        match s {
            "monthly" => Ok(Self::Monthly),
            "annual" => Ok(Self::Annual),
            _ => Err(FieldError::new("", format!("unknown billing interval {s:?}; one of monthly, annual"))),
        }
    }
}

/// Days in `month` (1–12) of `year`.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = if month == 12 { (year + 1, 1) } else { (year, month + 1) };
    let first_next = NaiveDate::from_ymd_opt(ny, nm, 1).expect("valid first of month");
    first_next.pred_opt().expect("a day before the first").day()
}

/// `date` moved by `months`, on `day` of the target month clamped to its last day.
/// Passing the original anchor day (not the previous result's) keeps the anchor: 31 Jan
/// → 28 Feb → 31 Mar.
pub fn add_months_clamped(date: NaiveDate, months: u32, day: u32) -> NaiveDate {
    let zero_based = date.year() as i64 * 12 + i64::from(date.month0()) + i64::from(months);
    let year = zero_based.div_euclid(12) as i32;
    let month = zero_based.rem_euclid(12) as u32 + 1;
    let d = day.clamp(1, days_in_month(year, month));
    NaiveDate::from_ymd_opt(year, month, d).expect("clamped day exists")
}

/// One billing period, `[start, end)`: the service is paid for from `start` up to the
/// day before `end`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct Period {
    /// Zero-based number of the period since the anchor.
    pub index: u32,
    /// First day.
    pub start: NaiveDate,
    /// First day of the next period.
    pub end: NaiveDate,
}

impl Period {
    /// Days in the period (28 to 366).
    pub fn days(&self) -> i64 {
        (self.end - self.start).num_days()
    }

    /// Whether `date` falls in the period.
    pub fn contains(&self, date: NaiveDate) -> bool {
        self.start <= date && date < self.end
    }

    /// Days from `date` (included) to the end of the period; 0 outside it.
    pub fn days_remaining(&self, date: NaiveDate) -> i64 {
        if self.contains(date) { (self.end - date).num_days() } else { 0 }
    }
}

/// A subscription's billing calendar: an anchor date and an interval.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Schedule {
    anchor: NaiveDate,
    interval: Interval,
}

impl Schedule {
    /// A calendar whose first period starts on `anchor`.
    pub fn new(anchor: NaiveDate, interval: Interval) -> Self {
        Self { anchor, interval }
    }

    /// The anchor date.
    pub fn anchor(&self) -> NaiveDate {
        self.anchor
    }

    /// The interval.
    pub fn interval(&self) -> Interval {
        self.interval
    }

    fn start_of(&self, index: u32) -> NaiveDate {
        add_months_clamped(self.anchor, index.saturating_mul(self.interval.months()), self.anchor.day())
    }

    /// Period number `index` (0 is the one starting on the anchor).
    pub fn period(&self, index: u32) -> Period {
        Period { index, start: self.start_of(index), end: self.start_of(index.saturating_add(1)) }
    }

    /// The period containing `date`; `None` before the anchor.
    pub fn period_containing(&self, date: NaiveDate) -> Option<Period> {
        if date < self.anchor {
            return None;
        }
        let months =
            (date.year() - self.anchor.year()) as i64 * 12 + i64::from(date.month0()) - i64::from(self.anchor.month0());
        // A first guess from whole months, corrected by at most one period either way.
        let mut index = (months / i64::from(self.interval.months())).max(0) as u32;
        loop {
            let p = self.period(index);
            if date < p.start {
                index -= 1;
            } else if date >= p.end {
                index += 1;
            } else {
                return Some(p);
            }
        }
    }

    /// Periods numbered `from` onwards whose start is on or before `until` (what is due).
    pub fn due(&self, from: u32, until: NaiveDate) -> impl Iterator<Item = Period> + '_ {
        (from..).map(|i| self.period(i)).take_while(move |p| p.start <= until)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).unwrap()
    }

    #[test]
    fn a_31st_anchor_clamps_to_short_months_and_comes_back() {
        let s = Schedule::new(d(2027, 1, 31), Interval::Monthly);
        let starts: Vec<_> = (0..6).map(|i| s.period(i).start).collect();
        assert_eq!(
            starts,
            [d(2027, 1, 31), d(2027, 2, 28), d(2027, 3, 31), d(2027, 4, 30), d(2027, 5, 31), d(2027, 6, 30)]
        );
        assert_eq!(s.period(1).end, d(2027, 3, 31));
        assert_eq!(s.period(1).days(), 31);
    }

    #[test]
    fn a_29th_anchor_uses_29_february_in_leap_years_only() {
        let s = Schedule::new(d(2027, 1, 29), Interval::Monthly);
        assert_eq!(s.period(1).start, d(2027, 2, 28));
        assert_eq!(s.period(2).start, d(2027, 3, 29));
        assert_eq!(s.period(13).start, d(2028, 2, 29));
        let s = Schedule::new(d(2027, 1, 30), Interval::Monthly);
        assert_eq!(s.period(13).start, d(2028, 2, 29));
        assert_eq!(s.period(14).start, d(2028, 3, 30));
    }

    #[test]
    fn an_annual_29_february_anchor_falls_on_28_february_then_back() {
        let s = Schedule::new(d(2028, 2, 29), Interval::Annual);
        assert_eq!(s.period(1).start, d(2029, 2, 28));
        assert_eq!(s.period(3).start, d(2031, 2, 28));
        assert_eq!(s.period(4).start, d(2032, 2, 29));
        assert_eq!(s.period(0).days(), 365);
        assert_eq!(s.period(3).days(), 366);
    }

    #[test]
    fn december_rolls_into_the_next_year() {
        let s = Schedule::new(d(2027, 12, 31), Interval::Monthly);
        assert_eq!(s.period(1).start, d(2028, 1, 31));
        assert_eq!(s.period(2).start, d(2028, 2, 29));
    }

    #[test]
    fn periods_tile_the_calendar_without_gaps() {
        for anchor in [d(2027, 1, 28), d(2027, 1, 29), d(2027, 1, 30), d(2027, 1, 31), d(2028, 2, 29), d(2027, 8, 31)] {
            for interval in [Interval::Monthly, Interval::Annual] {
                let s = Schedule::new(anchor, interval);
                for i in 0..60 {
                    assert_eq!(s.period(i).end, s.period(i + 1).start, "{anchor} {interval} {i}");
                    assert!(s.period(i).days() >= 28);
                }
                let mut day = anchor;
                while day < d(2033, 1, 1) {
                    let p = s.period_containing(day).unwrap();
                    assert!(p.contains(day), "{anchor} {interval} {day} {p:?}");
                    day = day.succ_opt().unwrap();
                }
            }
        }
    }

    #[test]
    fn nothing_is_due_before_the_anchor_and_due_lists_started_periods() {
        let s = Schedule::new(d(2027, 3, 31), Interval::Monthly);
        assert_eq!(s.period_containing(d(2027, 3, 30)), None);
        let due: Vec<_> = s.due(0, d(2027, 6, 29)).map(|p| p.start).collect();
        assert_eq!(due, [d(2027, 3, 31), d(2027, 4, 30), d(2027, 5, 31)]);
        assert_eq!(s.due(3, d(2027, 6, 29)).count(), 0);
        assert_eq!(s.due(3, d(2027, 6, 30)).count(), 1);
    }

    #[test]
    fn intervals_parse() {
        assert_eq!("annual".parse::<Interval>().unwrap(), Interval::Annual);
        assert!("weekly".parse::<Interval>().is_err());
    }
}
