//! The ticketing rollup (ADR 25), pure part: the same additive cells as the cube, without
//! the expert, summed per *slice* (everything, one category, one area) at three UTC
//! grains (hour, day, month), one row per slice and period with its cells packed.
//!
//! A range of hours is answered from whole months in its middle, whole days around them
//! and hours at its edges, so a year reads about a hundred rows instead of every hour's
//! cells; the per-hour volume columns (raised, completed, cancelled) give the local days'
//! bars in any time zone (a day row carries them per hour).

use super::fold::{Cell, metric};
use chrono::{DateTime, Datelike, NaiveDate};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};

/// The row's period is a UTC hour (hours since the epoch).
pub const HOUR: i16 = 0;
/// The row's period is a UTC day (days since the epoch).
pub const DAY: i16 = 1;
/// The row's period is a UTC month (`year * 12 + month - 1`).
pub const MONTH: i16 = 2;

/// Raised tickets by category (label: the category), in every slice.
pub const BY_CATEGORY: &str = "by_category";
/// Raised tickets by area (label: the area).
pub const BY_AREA: &str = "by_area";
/// Raised tickets by channel (label: the channel).
pub const BY_CHANNEL: &str = "by_channel";

/// The slice of everything.
pub const ALL: &str = "";

/// The slice of one category.
pub fn category_slice(c: &str) -> String {
    format!("c:{c}")
}

/// The slice of one area.
pub fn area_slice(a: &str) -> String {
    format!("a:{a}")
}

/// The UTC day of an hour.
pub fn day_of_hour(h: i64) -> i64 {
    h.div_euclid(24)
}

/// The UTC month of a day.
pub fn month_of_day(d: i64) -> i64 {
    let date = DateTime::from_timestamp(d * 86_400, 0).unwrap_or_default().date_naive();
    i64::from(date.year()) * 12 + i64::from(date.month0())
}

/// The first day of a month.
pub fn month_start_day(m: i64) -> i64 {
    let (y, m0) = (m.div_euclid(12), m.rem_euclid(12));
    NaiveDate::from_ymd_opt(y as i32, m0 as u32 + 1, 1)
        .map_or(0, |d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp().div_euclid(86_400))
}

/// The period of an hour at a grain.
pub fn period(grain: i16, hour: i64) -> i64 {
    match grain {
        HOUR => hour,
        DAY => day_of_hour(hour),
        _ => month_of_day(day_of_hour(hour)),
    }
}

/// The rows that cover hours `[a, b)` exactly: (grain, first period, end period), whole
/// months in the middle, whole days around them, hours at the edges.
pub fn spans(a: i64, b: i64) -> Vec<(i16, i64, i64)> {
    let mut out = Vec::new();
    if a >= b {
        return out;
    }
    let (da, db) = ((a + 23).div_euclid(24), b.div_euclid(24));
    if da >= db {
        out.push((HOUR, a, b));
        return out;
    }
    out.push((HOUR, a, da * 24));
    let first_month = {
        let m = month_of_day(da);
        if month_start_day(m) == da { m } else { m + 1 }
    };
    let end_month = month_of_day(db);
    if first_month < end_month {
        out.push((DAY, da, month_start_day(first_month)));
        out.push((MONTH, first_month, end_month));
        out.push((DAY, month_start_day(end_month), db));
    } else {
        out.push((DAY, da, db));
    }
    out.push((HOUR, db * 24, b));
    out.retain(|(_, p, q)| p < q);
    out
}

/// (metric, label) → (count, total).
pub type Cells = BTreeMap<(String, String), (i64, i64)>;

/// One row's content: the volume of the period, per hour for a day, and its cells.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Packed {
    /// Raised.
    pub created: i64,
    /// Completed.
    pub completed: i64,
    /// Cancelled.
    pub cancelled: i64,
    /// A day's volume per UTC hour (raised, completed, cancelled): the local days' bars
    /// read one row per day instead of 24. Empty for other grains.
    pub hourly: Vec<[i64; 3]>,
    /// Every cell, none zero.
    pub cells: Cells,
}

#[derive(Serialize, Deserialize)]
struct Wire(String, String, i64, i64);

impl Packed {
    /// Adds `n` and `total` to a cell (and to the volume when the metric is one).
    pub fn add(&mut self, metric: &str, label: &str, n: i64, total: i64) {
        match metric {
            metric::CREATED => self.created += n,
            metric::COMPLETED => self.completed += n,
            metric::CANCELLED => self.cancelled += n,
            _ => {}
        }
        let v = self.cells.entry((metric.to_owned(), label.to_owned())).or_insert((0, 0));
        v.0 += n;
        v.1 += total;
    }

    /// Adds to a day's hour (0 to 23) when the metric is a volume.
    pub fn add_hourly(&mut self, hour_of_day: usize, metric: &str, n: i64) {
        let i = match metric {
            metric::CREATED => 0,
            metric::COMPLETED => 1,
            metric::CANCELLED => 2,
            _ => return,
        };
        if self.hourly.is_empty() {
            self.hourly = vec![[0; 3]; 24];
        }
        if let Some(h) = self.hourly.get_mut(hour_of_day) {
            h[i] += n;
        }
    }

    /// Adds another row's content.
    pub fn merge(&mut self, other: &Packed) {
        self.created += other.created;
        self.completed += other.completed;
        self.cancelled += other.cancelled;
        if !other.hourly.is_empty() {
            if self.hourly.is_empty() {
                self.hourly = vec![[0; 3]; 24];
            }
            for (a, b) in self.hourly.iter_mut().zip(&other.hourly) {
                for k in 0..3 {
                    a[k] += b[k];
                }
            }
        }
        for (k, (n, t)) in &other.cells {
            let v = self.cells.entry(k.clone()).or_insert((0, 0));
            v.0 += n;
            v.1 += t;
        }
    }

    /// Adds stored cells (`encode`'s text) without copying their keys.
    pub fn add_encoded(&mut self, cells: &str) {
        let v: Vec<Wire> = serde_json::from_str(cells).unwrap_or_default();
        for Wire(m, l, n, t) in v {
            let e = self.cells.entry((m, l)).or_insert((0, 0));
            e.0 += n;
            e.1 += t;
        }
    }

    /// Whether nothing is left (a row to delete).
    pub fn is_empty(&mut self) -> bool {
        self.cells.retain(|_, v| *v != (0, 0));
        if self.hourly.iter().all(|h| *h == [0; 3]) {
            self.hourly.clear();
        }
        self.cells.is_empty() && self.hourly.is_empty() && (self.created, self.completed, self.cancelled) == (0, 0, 0)
    }

    /// The cells as stored: a JSON array of `[metric, label, n, total]`, in key order.
    pub fn encode(&self) -> String {
        let v: Vec<Wire> = self
            .cells
            .iter()
            .filter(|(_, v)| **v != (0, 0))
            .map(|((m, l), (n, t))| Wire(m.clone(), l.clone(), *n, *t))
            .collect();
        serde_json::to_string(&v).unwrap_or_else(|_| "[]".to_owned())
    }

    /// The hourly volume as stored: 24 `[raised, completed, cancelled]`, or empty.
    pub fn encode_hourly(&self) -> String {
        if self.hourly.iter().all(|h| *h == [0; 3]) {
            String::new()
        } else {
            serde_json::to_string(&self.hourly).unwrap_or_default()
        }
    }

    /// A stored row back (what does not parse counts as nothing).
    pub fn decode(created: i64, completed: i64, cancelled: i64, hourly: &str, cells: &str) -> Packed {
        let v: Vec<Wire> = serde_json::from_str(cells).unwrap_or_default();
        Packed {
            created,
            completed,
            cancelled,
            hourly: decode_hourly(hourly),
            cells: v.into_iter().map(|w| ((w.0, w.1), (w.2, w.3))).collect(),
        }
    }
}

/// A day row's hourly volume back (empty when there is none).
pub fn decode_hourly(hourly: &str) -> Vec<[i64; 3]> {
    if hourly.is_empty() { Vec::new() } else { serde_json::from_str(hourly).unwrap_or_default() }
}

/// Changes to rows, by (slice, grain, period).
pub type Delta = HashMap<(String, i16, i64), Packed>;

/// Adds one cube cell's change (of a ticket in `category`, `area`, `channel`) to the
/// rows it belongs to: every grain of the slices of everything, its category and its
/// area. The expert is dropped: expert figures are read from the cube.
pub fn add_cell(delta: &mut Delta, category: &str, area: &str, channel: &str, cell: &Cell, n: i64, total: i64) {
    let slices = [ALL.to_owned(), category_slice(category), area_slice(area)];
    for grain in [HOUR, DAY, MONTH] {
        let p = period(grain, cell.hour);
        for s in &slices {
            let row = delta.entry((s.clone(), grain, p)).or_default();
            row.add(cell.metric, &cell.label, n, total);
            if grain == DAY {
                row.add_hourly(cell.hour.rem_euclid(24) as usize, cell.metric, n);
            }
            if cell.metric == metric::CREATED {
                row.add(BY_CATEGORY, category, n, 0);
                row.add(BY_AREA, area, n, 0);
                row.add(BY_CHANNEL, channel, n, 0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};

    fn hour(y: i32, m: u32, d: u32, h: u32) -> i64 {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap().timestamp() / 3600
    }

    /// Every hour of `[a, b)` is covered by exactly one span, whatever the edges.
    fn covered_once(a: i64, b: i64) {
        let spans = spans(a, b);
        let mut hours: Vec<i64> = Vec::new();
        for (g, p, q) in &spans {
            for x in *p..*q {
                match *g {
                    HOUR => hours.push(x),
                    DAY => hours.extend(x * 24..x * 24 + 24),
                    _ => hours.extend(month_start_day(x) * 24..month_start_day(x + 1) * 24),
                }
            }
        }
        hours.sort_unstable();
        let want: Vec<i64> = (a..b).collect();
        assert_eq!(hours, want, "{a}..{b}: {spans:?}");
    }

    #[test]
    fn spans_cover_a_range_once_with_months_in_the_middle() {
        let a = hour(2025, 1, 30, 6);
        let b = hour(2026, 3, 2, 5);
        covered_once(a, b);
        let s = spans(a, b);
        assert!(s.contains(&(MONTH, 2025 * 12 + 1, 2026 * 12 + 2)), "{s:?}");
        assert!(s.len() <= 5, "{s:?}");
        // Short ranges, ranges on boundaries, a leap February, empty ranges.
        for (a, b) in [
            (hour(2024, 2, 1, 0), hour(2024, 3, 1, 0)),
            (hour(2024, 2, 28, 5), hour(2024, 3, 1, 2)),
            (hour(2024, 2, 28, 5), hour(2024, 2, 28, 9)),
            (hour(2024, 12, 31, 23), hour(2025, 1, 1, 1)),
            (hour(2023, 11, 15, 0), hour(2024, 1, 1, 0)),
            (hour(2024, 1, 1, 0), hour(2024, 1, 1, 0)),
        ] {
            covered_once(a, b);
        }
        for a in (hour(2024, 1, 25, 0)..hour(2024, 3, 5, 0)).step_by(7) {
            covered_once(a, a + 24 * 33 + 5);
        }
    }

    #[test]
    fn months_and_days_round_trip() {
        let d = hour(2024, 2, 29, 12) / 24;
        let m = month_of_day(d);
        assert_eq!(m, 2024 * 12 + 1);
        assert_eq!(month_start_day(m), hour(2024, 2, 1, 0) / 24);
        assert_eq!(month_start_day(m + 1), hour(2024, 3, 1, 0) / 24);
        assert_eq!(month_of_day(month_start_day(m) - 1), m - 1);
    }

    #[test]
    fn packed_rows_round_trip_and_empty_out() {
        let mut p = Packed::default();
        p.add(metric::CREATED, "", 2, 0);
        p.add(metric::TO_ASSIGN, "0042", 1, 300);
        p.add_hourly(7, metric::CREATED, 2);
        let back = Packed::decode(p.created, p.completed, p.cancelled, &p.encode_hourly(), &p.encode());
        assert_eq!(back, p);
        assert_eq!(back.hourly[7], [2, 0, 0]);
        let mut twice = Packed::default();
        twice.add_encoded(&p.encode());
        twice.add_encoded(&p.encode());
        assert_eq!(twice.cells[&(metric::TO_ASSIGN.to_owned(), "0042".to_owned())], (2, 600));
        let mut undo = Packed::default();
        undo.add(metric::CREATED, "", -2, 0);
        undo.add(metric::TO_ASSIGN, "0042", -1, -300);
        undo.add_hourly(7, metric::CREATED, -2);
        p.merge(&undo);
        assert!(p.is_empty());
        assert_eq!(p.encode(), "[]");
    }

    #[test]
    fn a_raised_ticket_counts_in_its_slices_and_dimensions() {
        let mut d = Delta::new();
        let h = hour(2024, 5, 3, 10);
        let cell = Cell { hour: h, expert: "x".into(), metric: metric::CREATED, label: String::new() };
        add_cell(&mut d, "laptop", "+41.5-088.0", "web", &cell, 1, 0);
        assert_eq!(d.len(), 9);
        let row = &d[&(category_slice("laptop"), MONTH, 2024 * 12 + 4)];
        assert_eq!(row.created, 1);
        assert_eq!(row.cells[&(BY_AREA.to_owned(), "+41.5-088.0".to_owned())], (1, 0));
        assert_eq!(row.cells[&(BY_CHANNEL.to_owned(), "web".to_owned())], (1, 0));
        assert!(row.hourly.is_empty());
        assert_eq!(d[&(ALL.to_owned(), DAY, h / 24)].hourly[10], [1, 0, 0]);
    }
}
