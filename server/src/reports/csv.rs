//! The reports as CSV (RFC 4180, a header row). The ticketing report is long-form, one
//! figure a row (`section,key,label,metric,value`), because its parts have different
//! shapes; the experts report is one row per expert.

use super::query::{Count, ExpertsReport, Reasons, TicketingReport, Timing};

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

fn finish(w: csv::Writer<Vec<u8>>) -> String {
    String::from_utf8(w.into_inner().unwrap_or_default()).unwrap_or_default()
}

/// The ticketing report as CSV.
pub fn ticketing(r: &TicketingReport) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut row = |section: &str, key: &str, label: &str, metric: &str, value: String| {
        let _ = w.write_record([section, key, label, metric, &value]);
    };
    row("section", "key", "label", "metric", "value".to_owned());
    for d in &r.by_day {
        let day = d.day.to_string();
        row("by_day", &day, &day, "created", d.created.to_string());
        row("by_day", &day, &day, "completed", d.completed.to_string());
        row("by_day", &day, &day, "cancelled", d.cancelled.to_string());
    }
    let mut counts = |section: &str, metric: &str, v: &[Count]| {
        for c in v {
            row(section, &c.key, &c.label, metric, c.count.to_string());
        }
    };
    counts("by_category", "created", &r.by_category);
    counts("by_area", "created", &r.by_area);
    counts("by_channel", "created", &r.by_channel);
    counts("backlog", "open", &r.backlog.by_age);
    let reasons = |section: &str, v: &Reasons, counts: &mut dyn FnMut(&str, &str, &[Count])| {
        counts(section, "count", &v.by_reason);
    };
    reasons("unassignable", &r.unassignable, &mut counts);
    reasons("declines", &r.declines, &mut counts);
    reasons("cancellations", &r.cancellations, &mut counts);
    for t in &r.times {
        timing(&mut row, "times", &t.metric, t);
    }
    row("totals", "backlog", "open tickets", "count", r.backlog.total.to_string());
    row("totals", "unassignable", "unassignable", "count", r.unassignable.total.to_string());
    row("totals", "declines", "declines", "count", r.declines.total.to_string());
    row("totals", "cancellations", "cancellations", "count", r.cancellations.total.to_string());
    row("totals", "reassignments", "reassignments", "count", r.reassignments.to_string());
    row("totals", "accept_timeouts", "accept timeouts", "count", r.accept_timeouts.to_string());
    finish(w)
}

fn timing(row: &mut dyn FnMut(&str, &str, &str, &str, String), section: &str, key: &str, t: &Timing) {
    row(section, key, key, "count", t.count.to_string());
    row(section, key, key, "p50_secs", opt(t.p50_secs));
    row(section, key, key, "p90_secs", opt(t.p90_secs));
    row(section, key, key, "mean_secs", opt(t.mean_secs));
}

/// The columns of the experts CSV, in order.
pub const EXPERT_COLUMNS: [&str; 26] = [
    "expert_id",
    "name",
    "assigned",
    "accepted",
    "acceptance_rate",
    "declines",
    "accept_timeouts",
    "completed",
    "to_accept_p50_secs",
    "to_accept_p90_secs",
    "to_arrive_p50_secs",
    "to_arrive_p90_secs",
    "to_complete_p50_secs",
    "to_complete_p90_secs",
    "to_accept_mean_secs",
    "to_arrive_mean_secs",
    "to_complete_mean_secs",
    "first_time_fixes",
    "first_time_fix_rate",
    "surveys_invited",
    "survey_responses",
    "survey_response_rate",
    "survey_score",
    "kb_written",
    "kb_published",
    "decline_reasons",
];

/// The experts report as CSV (decline reasons as `reason=count` joined by `; `).
pub fn experts(r: &ExpertsReport) -> String {
    let mut w = csv::Writer::from_writer(Vec::new());
    let _ = w.write_record(EXPERT_COLUMNS);
    for e in &r.experts {
        let reasons: Vec<String> = e.decline_reasons.iter().map(|c| format!("{}={}", c.key, c.count)).collect();
        let _ = w.write_record([
            e.expert_id.to_string(),
            e.name.clone(),
            e.assigned.to_string(),
            e.accepted.to_string(),
            opt(e.acceptance_rate),
            e.declines.to_string(),
            e.accept_timeouts.to_string(),
            e.completed.to_string(),
            opt(e.to_accept.p50_secs),
            opt(e.to_accept.p90_secs),
            opt(e.to_arrive.p50_secs),
            opt(e.to_arrive.p90_secs),
            opt(e.to_complete.p50_secs),
            opt(e.to_complete.p90_secs),
            opt(e.to_accept.mean_secs),
            opt(e.to_arrive.mean_secs),
            opt(e.to_complete.mean_secs),
            e.first_time_fixes.to_string(),
            opt(e.first_time_fix_rate),
            e.surveys_invited.to_string(),
            e.survey_responses.to_string(),
            opt(e.survey_response_rate),
            opt(e.survey_score),
            e.kb_written.to_string(),
            e.kb_published.to_string(),
            reasons.join("; "),
        ]);
    }
    finish(w)
}
