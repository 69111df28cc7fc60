//! The pure part of the read model (ADR 16): a ticket's events fold into its [`Facts`],
//! and facts map to their additive [`Contribution`] to the cube. Nothing here touches the
//! database, so the incremental job and `reports rebuild` cannot disagree: both store
//! `contribution(fold(events))`, the job as the difference from what it stored before.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use uuid::Uuid;

/// The cube's metrics (the `metric` column).
pub mod metric {
    /// Tickets raised.
    pub const CREATED: &str = "created";
    /// Assignments offered to an expert (the first and every later one).
    pub const ASSIGNED: &str = "assigned";
    /// Assignments after the first (a decline or a timeout moved the ticket on).
    pub const REASSIGNED: &str = "reassigned";
    /// Seconds from creation to the first assignment (histogram).
    pub const TO_ASSIGN: &str = "to_assign";
    /// Assignments accepted.
    pub const ACCEPTED: &str = "accepted";
    /// Seconds from an assignment to its acceptance (histogram).
    pub const TO_ACCEPT: &str = "to_accept";
    /// Assignments declined (label: the reason given).
    pub const DECLINED: &str = "declined";
    /// Assignments not accepted in time.
    pub const ACCEPT_TIMEOUT: &str = "accept_timeout";
    /// Placements that found nobody (label: the reason).
    pub const UNASSIGNABLE: &str = "unassignable";
    /// Arrivals on site.
    pub const ARRIVED: &str = "arrived";
    /// Seconds from acceptance to arrival (histogram).
    pub const TO_ARRIVE: &str = "to_arrive";
    /// Tickets completed.
    pub const COMPLETED: &str = "completed";
    /// Seconds from creation to completion (histogram).
    pub const TO_COMPLETE: &str = "to_complete";
    /// Completed with no repeat ticket (same subscription and category) within 30 days.
    pub const FIRST_TIME_FIX: &str = "first_time_fix";
    /// Survey invitations (one per completed ticket).
    pub const SURVEY_INVITED: &str = "survey_invited";
    /// Survey answers (`total`: the sum of ratings).
    pub const SURVEY_RECEIVED: &str = "survey_received";
    /// Tickets cancelled (label: the reason given).
    pub const CANCELLED: &str = "cancelled";
}

/// A repeat ticket within this many days of a completion means the fix did not hold.
pub const REPEAT_WINDOW_DAYS: i64 = 30;

/// One event as the fold needs it (a row of `ticket_events`).
#[derive(Debug, Clone)]
pub struct Event {
    /// `created`, `assigned`, `accepted`, ...
    pub kind: String,
    /// Who did it.
    pub actor_id: Option<Uuid>,
    /// Their role (`customer`, `agent`, `expert`, `system`, ...).
    pub actor_role: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The event's details.
    pub detail: serde_json::Value,
}

/// The ticket row's fields the fold needs.
#[derive(Debug, Clone)]
pub struct TicketRow {
    /// Its category.
    pub category: String,
    /// Latitude of the place.
    pub lat: f64,
    /// Longitude of the place.
    pub lon: f64,
    /// Whether another ticket for the same subscription and category was raised within
    /// [`REPEAT_WINDOW_DAYS`] after this one's completion.
    pub repeat: bool,
}

/// One assignment of the ticket to an expert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Assignment {
    /// The expert.
    pub expert: Uuid,
    /// When it was offered (µs since the epoch).
    pub at: i64,
    /// When the expert accepted it.
    pub accepted: Option<i64>,
    /// How it ended before completion: `declined`, `accept_timeout`.
    pub ended: Option<String>,
    /// When it ended that way.
    pub ended_at: Option<i64>,
    /// The reason given for a decline.
    pub reason: Option<String>,
}

/// Everything the reports know about one ticket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Facts {
    /// When it was raised (µs).
    pub created: i64,
    /// Its category.
    pub category: String,
    /// Its area ([`area_of`]).
    pub area: String,
    /// `web` (a customer), `call_center` (an agent), or the raiser's role.
    pub channel: String,
    /// Its assignments, in order.
    pub assignments: Vec<Assignment>,
    /// Placements that found nobody: (µs, reason).
    pub unassignable: Vec<(i64, String)>,
    /// The first arrival on site: (expert, µs).
    pub arrived: Option<(Uuid, i64)>,
    /// The completion: (expert, µs).
    pub completed: Option<(Uuid, i64)>,
    /// The cancellation: (µs, reason, the expert assigned then).
    pub cancelled: Option<(i64, String, Option<Uuid>)>,
    /// When it was closed (after completion: survey answered or expired).
    pub closed: Option<i64>,
    /// The survey answer: (µs, rating).
    pub survey: Option<(i64, i64)>,
    /// A repeat ticket followed within the window.
    pub repeat: bool,
    /// How many events were folded.
    pub events: i32,
}

/// Microseconds since the epoch.
pub fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

/// The UTC hour (hours since the epoch) of a µs instant.
pub fn hour_of(us: i64) -> i64 {
    us.div_euclid(3_600_000_000)
}

/// A ticket's area: the half-degree cell of its place (about 55 km), e.g. `+41.5-088.0`.
/// Pages name it after the nearest town of the cell's centre.
pub fn area_of(lat: f64, lon: f64) -> String {
    let cell = |x: f64| (x * 2.0).floor() / 2.0;
    format!("{:+05.1}{:+06.1}", cell(lat), cell(lon))
}

/// The centre of an area's cell, if `area` is one.
pub fn area_centre(area: &str) -> Option<(f64, f64)> {
    let split = area[1..].find(['+', '-'])? + 1;
    let lat: f64 = area[..split].parse().ok()?;
    let lon: f64 = area[split..].parse().ok()?;
    Some((lat + 0.25, lon + 0.25))
}

/// A histogram bucket of a duration in seconds: 0 for none, then buckets 5% wide.
pub fn bucket(secs: i64) -> u32 {
    if secs <= 0 { 0 } else { 1 + ((secs as f64).ln() / 1.05f64.ln()).floor() as u32 }
}

/// The value a bucket stands for in reports: its upper bound, in whole seconds.
pub fn bucket_value(b: u32) -> i64 {
    if b == 0 { 0 } else { 1.05f64.powi(b as i32).ceil() as i64 }
}

/// The cube label of a bucket (sorts like the number).
pub fn bucket_label(b: u32) -> String {
    format!("{b:04}")
}

/// Free text (a decline or cancellation reason) as a label: trimmed, lower-cased,
/// at most 80 characters; `unspecified` when empty.
pub fn reason_label(text: Option<&str>) -> String {
    let t = text.unwrap_or("").trim().to_lowercase();
    let t: String = t.chars().take(80).collect();
    if t.is_empty() { "unspecified".to_owned() } else { t }
}

fn channel_of(role: &str) -> String {
    match role {
        "customer" => "web".to_owned(),
        "agent" => "call_center".to_owned(),
        other => other.to_owned(),
    }
}

fn uuid_in(v: &serde_json::Value, key: &str) -> Option<Uuid> {
    v.get(key).and_then(|x| x.as_str()).and_then(|s| s.parse().ok())
}

/// Folds a ticket's events (in the order they happened) into its facts.
pub fn fold(row: &TicketRow, events: &[Event]) -> Facts {
    let mut f = Facts {
        category: row.category.clone(),
        area: area_of(row.lat, row.lon),
        channel: "web".to_owned(),
        repeat: row.repeat,
        events: events.len() as i32,
        ..Facts::default()
    };
    if let Some(first) = events.first() {
        f.created = micros(first.at);
    }
    for e in events {
        let at = micros(e.at);
        let open = |f: &mut Facts, expert: Option<Uuid>| -> Option<usize> {
            f.assignments.iter().rposition(|a| a.ended.is_none() && expert.is_none_or(|x| a.expert == x))
        };
        match e.kind.as_str() {
            "created" => {
                f.created = at;
                f.channel = channel_of(&e.actor_role);
            }
            "assigned" => {
                if let Some(expert) = uuid_in(&e.detail, "expert_id") {
                    f.assignments.push(Assignment {
                        expert,
                        at,
                        accepted: None,
                        ended: None,
                        ended_at: None,
                        reason: None,
                    });
                }
            }
            "accepted" => {
                if let Some(i) = open(&mut f, e.actor_id) {
                    f.assignments[i].accepted.get_or_insert(at);
                }
            }
            "declined" | "accept_timeout" => {
                let who = if e.kind == "declined" { e.actor_id } else { uuid_in(&e.detail, "expert_id") };
                if let Some(i) = open(&mut f, who) {
                    let a = &mut f.assignments[i];
                    a.ended = Some(e.kind.clone());
                    a.ended_at = Some(at);
                    if e.kind == "declined" {
                        a.reason = Some(reason_label(e.detail.get("reason").and_then(|r| r.as_str())));
                    }
                }
            }
            "unassignable" => {
                let reason = e.detail.get("reason").and_then(|r| r.as_str());
                f.unassignable.push((at, reason_label(reason)));
            }
            "arrived" => {
                if let (None, Some(x)) = (f.arrived, e.actor_id) {
                    f.arrived = Some((x, at));
                }
            }
            "completed" => {
                let when = e
                    .detail
                    .get("completed_at")
                    .and_then(|v| serde_json::from_value::<DateTime<Utc>>(v.clone()).ok())
                    .map_or(at, micros);
                if let (None, Some(x)) = (f.completed, e.actor_id) {
                    f.completed = Some((x, when));
                }
            }
            "cancelled" => {
                let who = open(&mut f, None).map(|i| f.assignments[i].expert);
                let reason = reason_label(e.detail.get("reason").and_then(|r| r.as_str()));
                f.cancelled.get_or_insert((at, reason, who));
            }
            "closed" => {
                f.closed.get_or_insert(at);
            }
            "survey_received" => {
                if let Some(r) = e.detail.get("rating").and_then(|r| r.as_i64()) {
                    f.survey.get_or_insert((at, r));
                }
            }
            _ => {}
        }
    }
    f
}

impl Facts {
    /// `open`, `completed` (closed ones too) or `cancelled`.
    pub fn status(&self) -> &'static str {
        if self.cancelled.is_some() {
            "cancelled"
        } else if self.completed.is_some() {
            "completed"
        } else {
            "open"
        }
    }

    /// When it left the backlog (µs): completed or cancelled.
    pub fn ended(&self) -> Option<i64> {
        self.cancelled.as_ref().map(|c| c.0).or(self.completed.map(|c| c.1))
    }

    /// The expert who completed it, or the last one assigned.
    pub fn expert(&self) -> Option<Uuid> {
        self.completed.map(|c| c.0).or_else(|| self.assignments.last().map(|a| a.expert))
    }
}

/// A cell of the cube (the ticket's category, area and channel are the same for all
/// of one ticket's cells, so they are not repeated here).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cell {
    /// UTC hour.
    pub hour: i64,
    /// The expert concerned, or empty.
    pub expert: String,
    /// One of [`metric`].
    pub metric: &'static str,
    /// A reason, a histogram bucket, or empty.
    pub label: String,
}

/// (count, total) per cell.
pub type Contribution = BTreeMap<Cell, (i64, i64)>;

/// What a ticket adds to the cube.
pub fn contribution(f: &Facts) -> Contribution {
    use metric::*;
    let mut c = Contribution::new();
    let mut add = |us: i64, expert: Option<Uuid>, metric: &'static str, label: String, total: i64| {
        let cell = Cell { hour: hour_of(us), expert: expert.map(|e| e.to_string()).unwrap_or_default(), metric, label };
        let v = c.entry(cell).or_insert((0, 0));
        v.0 += 1;
        v.1 += total;
    };
    let secs = |from: i64, to: i64| (to - from).max(0) / 1_000_000;
    let hist = |s: i64| bucket_label(bucket(s));
    if f.events == 0 {
        return c;
    }
    add(f.created, None, CREATED, String::new(), 0);
    for (i, a) in f.assignments.iter().enumerate() {
        add(a.at, Some(a.expert), ASSIGNED, String::new(), 0);
        if i == 0 {
            {
                let s = secs(f.created, a.at);
                add(a.at, Some(a.expert), TO_ASSIGN, hist(s), s)
            };
        } else {
            add(a.at, Some(a.expert), REASSIGNED, String::new(), 0);
        }
        if let Some(acc) = a.accepted {
            add(acc, Some(a.expert), ACCEPTED, String::new(), 0);
            {
                let s = secs(a.at, acc);
                add(acc, Some(a.expert), TO_ACCEPT, hist(s), s)
            };
        }
        match (a.ended.as_deref(), a.ended_at) {
            (Some("declined"), Some(t)) => add(t, Some(a.expert), DECLINED, a.reason.clone().unwrap_or_default(), 0),
            (Some("accept_timeout"), Some(t)) => add(t, Some(a.expert), ACCEPT_TIMEOUT, String::new(), 0),
            _ => {}
        }
    }
    for (at, reason) in &f.unassignable {
        add(*at, None, UNASSIGNABLE, reason.clone(), 0);
    }
    if let Some((expert, at)) = f.arrived {
        add(at, Some(expert), ARRIVED, String::new(), 0);
        let accepted = f.assignments.iter().rev().find(|a| a.expert == expert).and_then(|a| a.accepted);
        if let Some(acc) = accepted {
            {
                let s = secs(acc, at);
                add(at, Some(expert), TO_ARRIVE, hist(s), s)
            };
        }
    }
    if let Some((expert, at)) = f.completed {
        add(at, Some(expert), COMPLETED, String::new(), 0);
        {
            let s = secs(f.created, at);
            add(at, Some(expert), TO_COMPLETE, hist(s), s)
        };
        add(at, Some(expert), SURVEY_INVITED, String::new(), 0);
        if !f.repeat {
            add(at, Some(expert), FIRST_TIME_FIX, String::new(), 0);
        }
        if let Some((sat, rating)) = f.survey {
            add(sat, Some(expert), SURVEY_RECEIVED, String::new(), rating);
        }
    }
    if let Some((at, reason, expert)) = &f.cancelled {
        add(*at, *expert, CANCELLED, reason.clone(), 0);
    }
    c
}

/// `new - old`, cell by cell, without the cells that do not change.
pub fn difference(old: &Contribution, new: &Contribution) -> Contribution {
    let mut d = Contribution::new();
    for (k, (n, t)) in new {
        let (on, ot) = old.get(k).copied().unwrap_or((0, 0));
        if (n - on, t - ot) != (0, 0) {
            d.insert(k.clone(), (n - on, t - ot));
        }
    }
    for (k, (n, t)) in old {
        if !new.contains_key(k) {
            d.insert(k.clone(), (-n, -t));
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ev(kind: &str, actor: Option<Uuid>, role: &str, secs: i64, detail: serde_json::Value) -> Event {
        Event {
            kind: kind.into(),
            actor_id: actor,
            actor_role: role.into(),
            at: DateTime::from_timestamp(1_700_000_000 + secs, 0).unwrap(),
            detail,
        }
    }

    fn row() -> TicketRow {
        TicketRow { category: "laptop".into(), lat: 41.88, lon: -87.63, repeat: false }
    }

    #[test]
    fn a_declined_then_completed_ticket_counts_each_step_once() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let events = vec![
            ev("created", None, "agent", 0, json!({})),
            ev("assigned", None, "system", 10, json!({"expert_id": a})),
            ev("declined", Some(a), "expert", 70, json!({"reason": "  Too far "})),
            ev("assigned", None, "system", 70, json!({"expert_id": b})),
            ev("accepted", Some(b), "expert", 100, json!({})),
            ev("arrived", Some(b), "expert", 1000, json!({})),
            ev("completed", Some(b), "expert", 4000, json!({})),
            ev("survey_received", None, "system", 5000, json!({"rating": 4})),
        ];
        let f = fold(&row(), &events);
        assert_eq!(f.channel, "call_center");
        assert_eq!(f.status(), "completed");
        let c = contribution(&f);
        let count = |m: &str| c.iter().filter(|(k, _)| k.metric == m).map(|(_, v)| v.0).sum::<i64>();
        assert_eq!(count(metric::ASSIGNED), 2);
        assert_eq!(count(metric::REASSIGNED), 1);
        assert_eq!(count(metric::DECLINED), 1);
        assert!(c.keys().any(|k| k.metric == metric::DECLINED && k.label == "too far"));
        assert_eq!(count(metric::ACCEPTED), 1);
        assert_eq!(count(metric::FIRST_TIME_FIX), 1);
        let to_complete = c.iter().find(|(k, _)| k.metric == metric::TO_COMPLETE).unwrap();
        assert_eq!(to_complete.1.1, 4000);
        assert_eq!(to_complete.0.label, bucket_label(bucket(4000)));
        let survey = c.iter().find(|(k, _)| k.metric == metric::SURVEY_RECEIVED).unwrap();
        assert_eq!(survey.0.expert, b.to_string());
        assert_eq!(survey.1.1, 4);
    }

    #[test]
    fn the_difference_undoes_and_redoes_exactly() {
        let a = Uuid::now_v7();
        let early = vec![
            ev("created", None, "customer", 0, json!({})),
            ev("assigned", None, "system", 10, json!({"expert_id": a})),
        ];
        let mut late = early.clone();
        late.push(ev("cancelled", None, "customer", 99, json!({"reason": null})));
        let (c1, c2) = (contribution(&fold(&row(), &early)), contribution(&fold(&row(), &late)));
        let d = difference(&c1, &c2);
        let mut sum = c1.clone();
        for (k, v) in &d {
            let e = sum.entry(k.clone()).or_insert((0, 0));
            e.0 += v.0;
            e.1 += v.1;
        }
        sum.retain(|_, v| *v != (0, 0));
        assert_eq!(sum, c2);
        assert!(difference(&c2, &c2).is_empty());
    }

    #[test]
    fn buckets_are_monotone_and_their_value_bounds_them() {
        let mut last = 0;
        for s in [0, 1, 2, 3, 10, 59, 60, 61, 3600, 86_400, 2_000_000] {
            let b = bucket(s);
            assert!(b >= last);
            assert!(bucket_value(b) >= s, "{s} in {b}");
            last = b;
        }
    }

    #[test]
    fn areas_round_trip_to_their_centre() {
        let a = area_of(41.88, -87.63);
        assert_eq!(a, "+41.5-088.0");
        assert_eq!(area_centre(&a), Some((41.75, -87.75)));
        assert_eq!(area_centre(&area_of(-33.9, 151.2)), Some((-33.75, 151.25)));
    }
}
