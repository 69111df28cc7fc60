//! The reports, read from the cube (and, for the backlog, the per-ticket facts; for
//! knowledge-base articles, their own small tables): a date range in the manager's time
//! zone, filters, and figures.

use super::fold::{self, bucket_value, metric};
use super::rollup;
use crate::db::Db;
use crate::db::entity::{report_cube, report_rollup, report_ticket_fact};
use chrono::{DateTime, Days, NaiveDate, TimeZone, Utc};
use chrono_tz::Tz;
use sea_orm::sea_query::Expr;
use sea_orm::{ColumnTrait, Condition, DbErr, EntityTrait, QueryFilter, QuerySelect, Select};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use utoipa::ToSchema;
use uuid::Uuid;

pub use super::experts::{ExpertRow, ExpertsReport, experts};

/// Dates in a time zone: `from` and `to` both included.
#[derive(Debug, Clone)]
pub struct Range {
    /// First day.
    pub from: NaiveDate,
    /// Last day.
    pub to: NaiveDate,
    /// The manager's time zone.
    pub tz: Tz,
}

impl Range {
    fn midnight(&self, d: NaiveDate) -> DateTime<Utc> {
        let local = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        self.tz.from_local_datetime(&local).earliest().map_or_else(|| local.and_utc(), |t| t.with_timezone(&Utc))
    }

    /// The first instant of the range.
    pub fn start(&self) -> DateTime<Utc> {
        self.midnight(self.from)
    }

    /// The first instant after the range.
    pub fn end(&self) -> DateTime<Utc> {
        self.midnight(self.to.checked_add_days(Days::new(1)).unwrap_or(self.to))
    }

    /// The UTC hours whose start lies in the range: `[first, last)`. Exact for zones
    /// whose offset is whole hours; within the hour otherwise.
    pub fn hours(&self) -> (i64, i64) {
        let ceil = |t: DateTime<Utc>| (t.timestamp() + 3599).div_euclid(3600);
        (ceil(self.start()), ceil(self.end()))
    }

    /// The local day an hour's start falls on.
    pub fn day_of_hour(&self, hour: i64) -> NaiveDate {
        DateTime::from_timestamp(hour * 3600, 0).unwrap_or_default().with_timezone(&self.tz).date_naive()
    }

    /// Every day of the range.
    pub fn days(&self) -> Vec<NaiveDate> {
        self.from.iter_days().take_while(|d| *d <= self.to).collect()
    }
}

/// What to count.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct Filters {
    /// One category.
    pub category: Option<String>,
    /// One area (as reports name it, e.g. `+41.5-088.0`).
    pub area: Option<String>,
    /// One expert.
    pub expert: Option<Uuid>,
}

/// A count under a key.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Count {
    /// The key (a category, an area, a channel, a reason, an age bracket).
    pub key: String,
    /// How people read it (an area's nearest town).
    pub label: String,
    /// How many.
    pub count: i64,
}

/// Tickets raised, completed and cancelled on one day.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct DayVolume {
    /// The local day.
    pub day: NaiveDate,
    /// Raised.
    pub created: i64,
    /// Completed.
    pub completed: i64,
    /// Cancelled.
    pub cancelled: i64,
}

/// A duration's distribution. Percentiles come from histogram buckets 5% wide and are
/// reported as the bucket's upper bound.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Timing {
    /// `to_assign` (raised → first assigned), `to_accept` (assigned → accepted),
    /// `to_arrive` (accepted → on site), `to_complete` (raised → completed).
    pub metric: String,
    /// How many were measured.
    pub count: i64,
    /// Median, seconds.
    pub p50_secs: Option<i64>,
    /// 90th percentile, seconds.
    pub p90_secs: Option<i64>,
    /// Mean, seconds (exact).
    pub mean_secs: Option<i64>,
}

/// Counts with their reasons.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Reasons {
    /// How many.
    pub total: i64,
    /// By reason, most frequent first.
    pub by_reason: Vec<Count>,
}

/// Open tickets at the end of the range (or now, if sooner), by age.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Backlog {
    /// The instant measured.
    pub at: DateTime<Utc>,
    /// Open tickets then.
    pub total: i64,
    /// By age bracket (`lt_1h`, `1h_4h`, `4h_24h`, `1d_3d`, `3d_7d`, `ge_7d`).
    pub by_age: Vec<Count>,
}

/// The ticketing report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TicketingReport {
    /// First day.
    pub from: NaiveDate,
    /// Last day (included).
    pub to: NaiveDate,
    /// Time zone of the days.
    pub tz: String,
    /// The read model holds every event stamped before this instant.
    pub as_of: Option<DateTime<Utc>>,
    /// Raised, completed, cancelled per local day (every day of the range).
    pub by_day: Vec<DayVolume>,
    /// Tickets raised per category.
    pub by_category: Vec<Count>,
    /// Tickets raised per area.
    pub by_area: Vec<Count>,
    /// Tickets raised per channel (`web`, `call_center`, or the raiser's role).
    pub by_channel: Vec<Count>,
    /// Durations.
    pub times: Vec<Timing>,
    /// Open tickets by age.
    pub backlog: Backlog,
    /// Placements that found nobody, by reason.
    pub unassignable: Reasons,
    /// Assignments after a ticket's first.
    pub reassignments: i64,
    /// Declined assignments, by reason.
    pub declines: Reasons,
    /// Assignments not accepted in time.
    pub accept_timeouts: i64,
    /// Cancelled tickets, by reason.
    pub cancellations: Reasons,
}

/// A histogram: bucket → count, plus the exact sum.
#[derive(Debug, Default, Clone)]
pub struct Hist {
    buckets: BTreeMap<u32, i64>,
    count: i64,
    sum: i64,
}

impl Hist {
    pub(super) fn add(&mut self, label: &str, n: i64, total: i64) {
        if let Ok(b) = label.parse::<u32>() {
            *self.buckets.entry(b).or_default() += n;
        }
        self.count += n;
        self.sum += total;
    }

    /// The nearest-rank percentile `p` (0..1], as its bucket's value.
    pub fn percentile(&self, p: f64) -> Option<i64> {
        if self.count <= 0 {
            return None;
        }
        let rank = ((p * self.count as f64).ceil() as i64).max(1);
        let mut seen = 0;
        for (b, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(bucket_value(*b));
            }
        }
        None
    }

    pub(super) fn timing(&self, metric: &str) -> Timing {
        Timing {
            metric: metric.to_owned(),
            count: self.count,
            p50_secs: self.percentile(0.5),
            p90_secs: self.percentile(0.9),
            mean_secs: (self.count > 0).then(|| self.sum / self.count),
        }
    }
}

/// The time metrics, in report order.
pub const TIMINGS: [&str; 4] = [metric::TO_ASSIGN, metric::TO_ACCEPT, metric::TO_ARRIVE, metric::TO_COMPLETE];

pub(super) fn filtered(mut q: Select<report_cube::Entity>, r: &Range, f: &Filters) -> Select<report_cube::Entity> {
    use report_cube::Column as C;
    let (a, b) = r.hours();
    q = q.filter(C::Hour.gte(a)).filter(C::Hour.lt(b));
    if let Some(c) = &f.category {
        q = q.filter(C::Category.eq(c.as_str()));
    }
    if let Some(x) = &f.area {
        q = q.filter(C::Area.eq(x.as_str()));
    }
    if let Some(e) = f.expert {
        q = q.filter(C::Expert.eq(e.to_string()));
    }
    q
}

pub(super) fn sums(q: Select<report_cube::Entity>) -> Select<report_cube::Entity> {
    q.column_as(Expr::cust("CAST(SUM(n) AS BIGINT)"), "n").column_as(Expr::cust("CAST(SUM(total) AS BIGINT)"), "total")
}

pub(super) fn ranked(map: HashMap<String, i64>, label: impl Fn(&str) -> String) -> Vec<Count> {
    let mut v: Vec<Count> =
        map.into_iter().filter(|(_, n)| *n != 0).map(|(k, n)| Count { label: label(&k), key: k, count: n }).collect();
    v.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
    v
}

fn reasons(map: HashMap<String, i64>) -> Reasons {
    let by_reason = ranked(map, str::to_owned);
    Reasons { total: by_reason.iter().map(|c| c.count).sum(), by_reason }
}

pub(super) async fn as_of(db: &Db) -> Result<Option<DateTime<Utc>>, DbErr> {
    let c = super::store::cursor(&db.read).await?;
    Ok((c != i64::MIN).then(|| DateTime::from_timestamp_micros(c)).flatten())
}

/// A category as people read it (`laptop` → `Laptops`).
pub fn category_label(c: &str) -> String {
    c.parse::<sysops_core::category::Category>().map_or_else(|_| c.to_owned(), |c| c.label().to_owned())
}

/// A channel as people read it.
pub fn channel_label(c: &str) -> String {
    match c {
        "web" => "Web".to_owned(),
        "call_center" => "Call center".to_owned(),
        other => other.replace('_', " "),
    }
}

/// The age brackets of the backlog, in order, with their upper bounds in seconds.
pub const AGES: [(&str, &str, i64); 6] = [
    ("lt_1h", "under 1 hour", 3_600),
    ("1h_4h", "1 to 4 hours", 4 * 3_600),
    ("4h_24h", "4 to 24 hours", 86_400),
    ("1d_3d", "1 to 3 days", 3 * 86_400),
    ("3d_7d", "3 to 7 days", 7 * 86_400),
    ("ge_7d", "7 days or more", i64::MAX),
];

/// Open tickets at `at`: raised before it and not completed or cancelled by then.
/// Counted bracket by bracket in the database (`ix_report_facts_open` covers every
/// filter): a million tickets leave tens of thousands open, too many to fetch.
async fn backlog(db: &Db, at: DateTime<Utc>, f: &Filters) -> Result<Backlog, DbErr> {
    use report_ticket_fact::Column as C;
    use sea_orm::PaginatorTrait;
    let at_us = fold::micros(at);
    let mut counts = [0i64; AGES.len()];
    let mut younger = 0i64;
    for (i, (_, _, max)) in AGES.iter().enumerate() {
        // Age in whole seconds in [younger, max): raised in (at - max, at - younger].
        for open_now in [true, false] {
            let mut q = report_ticket_fact::Entity::find()
                .select_only()
                .column(C::CreatedUs)
                .filter(C::CreatedUs.lt(at_us))
                .filter(C::CreatedUs.lte(at_us.saturating_sub(younger.saturating_mul(1_000_000))));
            if *max != i64::MAX {
                q = q.filter(C::CreatedUs.gt(at_us.saturating_sub(max.saturating_mul(1_000_000))));
            }
            q = if open_now { q.filter(C::EndedUs.is_null()) } else { q.filter(C::EndedUs.gte(at_us)) };
            if let Some(c) = &f.category {
                q = q.filter(C::Category.eq(c.as_str()));
            }
            if let Some(x) = &f.area {
                q = q.filter(C::Area.eq(x.as_str()));
            }
            if let Some(e) = f.expert {
                q = q.filter(C::ExpertId.eq(e));
            }
            counts[i] += q.count(&db.read).await? as i64;
        }
        younger = *max;
    }
    Ok(Backlog {
        at,
        total: counts.iter().sum(),
        by_age: AGES
            .iter()
            .zip(counts)
            .map(|((k, l, _), n)| Count { key: (*k).to_owned(), label: (*l).to_owned(), count: n })
            .collect(),
    })
}

/// (hour, category, area, channel, metric, label, n, total).
type HourRow = (i64, String, String, String, String, String, i64, i64);

/// The ticketing report's figures as cells arrive (from the rollup or the cube).
struct TicketingAcc {
    days: BTreeMap<NaiveDate, DayVolume>,
    by_cat: HashMap<String, i64>,
    by_area: HashMap<String, i64>,
    by_channel: HashMap<String, i64>,
    hists: HashMap<&'static str, Hist>,
    unassignable: HashMap<String, i64>,
    declines: HashMap<String, i64>,
    cancellations: HashMap<String, i64>,
    reassignments: i64,
    timeouts: i64,
}

impl TicketingAcc {
    fn new(r: &Range) -> Self {
        TicketingAcc {
            days: r
                .days()
                .into_iter()
                .map(|d| (d, DayVolume { day: d, created: 0, completed: 0, cancelled: 0 }))
                .collect(),
            by_cat: HashMap::new(),
            by_area: HashMap::new(),
            by_channel: HashMap::new(),
            hists: HashMap::new(),
            unassignable: HashMap::new(),
            declines: HashMap::new(),
            cancellations: HashMap::new(),
            reassignments: 0,
            timeouts: 0,
        }
    }

    /// Tickets raised, completed and cancelled in an hour.
    fn volume(&mut self, r: &Range, hour: i64, created: i64, completed: i64, cancelled: i64) {
        if let Some(d) = self.days.get_mut(&r.day_of_hour(hour)) {
            d.created += created;
            d.completed += completed;
            d.cancelled += cancelled;
        }
    }

    /// A cell's count, over the whole range (the volume comes through [`Self::volume`]).
    fn cell(&mut self, m: &str, label: String, n: i64, total: i64) {
        match m {
            rollup::BY_CATEGORY => *self.by_cat.entry(label).or_insert(0) += n,
            rollup::BY_AREA => *self.by_area.entry(label).or_insert(0) += n,
            rollup::BY_CHANNEL => *self.by_channel.entry(label).or_insert(0) += n,
            metric::CANCELLED => *self.cancellations.entry(label).or_insert(0) += n,
            metric::UNASSIGNABLE => *self.unassignable.entry(label).or_insert(0) += n,
            metric::DECLINED => *self.declines.entry(label).or_insert(0) += n,
            metric::REASSIGNED => self.reassignments += n,
            metric::ACCEPT_TIMEOUT => self.timeouts += n,
            other => {
                if let Some(t) = TIMINGS.iter().find(|t| **t == other) {
                    self.hists.entry(t).or_default().add(&label, n, total);
                }
            }
        }
    }

    async fn finish(self, db: &Db, r: &Range, f: &Filters) -> Result<TicketingReport, DbErr> {
        let at = r.end().min(Utc::now());
        Ok(TicketingReport {
            from: r.from,
            to: r.to,
            tz: r.tz.name().to_owned(),
            as_of: as_of(db).await?,
            by_day: self.days.into_values().collect(),
            by_category: ranked(self.by_cat, category_label),
            by_area: ranked(self.by_area, area_label),
            by_channel: ranked(self.by_channel, channel_label),
            times: TIMINGS.iter().map(|t| self.hists.get(t).cloned().unwrap_or_default().timing(t)).collect(),
            backlog: backlog(db, at, f).await?,
            unassignable: reasons(self.unassignable),
            reassignments: self.reassignments,
            declines: reasons(self.declines),
            accept_timeouts: self.timeouts,
            cancellations: reasons(self.cancellations),
        })
    }
}

/// The ticketing report: from the rollup (ADR 25) unless it is filtered by expert or by
/// both a category and an area, which the cube answers.
pub async fn ticketing(db: &Db, r: &Range, f: &Filters) -> Result<TicketingReport, DbErr> {
    let slice = match (&f.category, &f.area, f.expert) {
        (None, None, None) => Some(rollup::ALL.to_owned()),
        (Some(c), None, None) => Some(rollup::category_slice(c)),
        (None, Some(a), None) => Some(rollup::area_slice(a)),
        _ => None,
    };
    match slice {
        Some(s) => ticketing_rolled(db, r, f, &s).await,
        None => ticketing_from_cube(db, r, f).await,
    }
}

async fn ticketing_rolled(db: &Db, r: &Range, f: &Filters, slice: &str) -> Result<TicketingReport, DbErr> {
    use report_rollup::Column as C;
    let (a, b) = r.hours();
    let mut acc = TicketingAcc::new(r);
    // The local days' bars, from the days' hourly volume (one row a day, no cells read).
    let days: Vec<(i64, String)> = report_rollup::Entity::find()
        .select_only()
        .columns([C::Period, C::Hourly])
        .filter(C::Slice.eq(slice))
        .filter(C::Grain.eq(rollup::DAY))
        .filter(C::Period.gte(rollup::day_of_hour(a)))
        .filter(C::Period.lte(rollup::day_of_hour(b)))
        .into_tuple()
        .all(&db.read)
        .await?;
    for (day, hourly) in days {
        for (h, [created, completed, cancelled]) in rollup::decode_hourly(&hourly).into_iter().enumerate() {
            let hour = day * 24 + h as i64;
            if (a..b).contains(&hour) {
                acc.volume(r, hour, created, completed, cancelled);
            }
        }
    }
    // Everything else from months, days and hours that cover the range once.
    let spans = rollup::spans(a, b);
    if !spans.is_empty() {
        let mut cover = Condition::any();
        for (g, p, q) in spans {
            cover = cover.add(Condition::all().add(C::Grain.eq(g)).add(C::Period.gte(p)).add(C::Period.lt(q)));
        }
        let rows: Vec<String> = report_rollup::Entity::find()
            .select_only()
            .column(C::Cells)
            .filter(C::Slice.eq(slice))
            .filter(cover)
            .into_tuple()
            .all(&db.read)
            .await?;
        let mut sum = rollup::Packed::default();
        for cells in rows {
            sum.add_encoded(&cells);
        }
        for ((m, label), (n, total)) in sum.cells {
            acc.cell(&m, label, n, total);
        }
    }
    acc.finish(db, r, f).await
}

async fn ticketing_from_cube(db: &Db, r: &Range, f: &Filters) -> Result<TicketingReport, DbErr> {
    use report_cube::Column as C;
    let rows: Vec<HourRow> = sums(filtered(
        report_cube::Entity::find().select_only().columns([
            C::Hour,
            C::Category,
            C::Area,
            C::Channel,
            C::Metric,
            C::Label,
        ]),
        r,
        f,
    ))
    .group_by(C::Hour)
    .group_by(C::Category)
    .group_by(C::Area)
    .group_by(C::Channel)
    .group_by(C::Metric)
    .group_by(C::Label)
    .into_tuple()
    .all(&db.read)
    .await?;
    let mut acc = TicketingAcc::new(r);
    for (hour, category, area, channel, m, label, n, total) in rows {
        match m.as_str() {
            metric::CREATED => {
                acc.volume(r, hour, n, 0, 0);
                acc.cell(rollup::BY_CATEGORY, category, n, 0);
                acc.cell(rollup::BY_AREA, area, n, 0);
                acc.cell(rollup::BY_CHANNEL, channel, n, 0);
            }
            metric::COMPLETED => acc.volume(r, hour, 0, n, 0),
            metric::CANCELLED => {
                acc.volume(r, hour, 0, 0, n);
                acc.cell(&m, label, n, total);
            }
            _ => acc.cell(&m, label, n, total),
        }
    }
    acc.finish(db, r, f).await
}

/// An area as people read it: near the nearest town to its cell's centre.
pub fn area_label(area: &str) -> String {
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(l) = cache.lock().ok().and_then(|c| c.get(area).cloned()) {
        return l;
    }
    let label = fold::area_centre(area)
        .and_then(|(lat, lon)| crate::gazetteer::nearest(lat, lon))
        .map_or_else(|| area.to_owned(), |t| format!("near {}", t.label()));
    if let Ok(mut c) = cache.lock() {
        c.insert(area.to_owned(), label.clone());
    }
    label
}
