//! The expert-performance report, read from the hourly cube (its key holds the expert)
//! and, for knowledge-base articles, their own small tables.

use super::fold::metric;
use super::query::{Count, Filters, Hist, Range, TIMINGS, Timing, as_of, filtered, ranked, sums};
use crate::db::Db;
use crate::db::entity::{kb_article, kb_review, report_cube, user};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ColumnTrait, DbErr, EntityTrait, QueryFilter, QuerySelect};
use serde::Serialize;
use std::collections::HashMap;
use utoipa::ToSchema;
use uuid::Uuid;

/// One expert's performance.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ExpertRow {
    /// The expert.
    pub expert_id: Uuid,
    /// Their name.
    pub name: String,
    /// Assignments offered.
    pub assigned: i64,
    /// Assignments accepted.
    pub accepted: i64,
    /// accepted / assigned.
    pub acceptance_rate: Option<f64>,
    /// Declined.
    pub declines: i64,
    /// Declines by reason.
    pub decline_reasons: Vec<Count>,
    /// Not accepted in time.
    pub accept_timeouts: i64,
    /// Tickets completed.
    pub completed: i64,
    /// Assigned → accepted.
    pub to_accept: Timing,
    /// Accepted → on site.
    pub to_arrive: Timing,
    /// Raised → completed.
    pub to_complete: Timing,
    /// Completions with no repeat ticket (same subscription and category) within 30
    /// days (recent completions count until a repeat arrives).
    pub first_time_fixes: i64,
    /// first_time_fixes / completed.
    pub first_time_fix_rate: Option<f64>,
    /// Survey invitations sent (one per completion).
    pub surveys_invited: i64,
    /// Survey answers received.
    pub survey_responses: i64,
    /// survey_responses / surveys_invited.
    pub survey_response_rate: Option<f64>,
    /// Mean rating (1 to 5) of the answers received.
    pub survey_score: Option<f64>,
    /// Knowledge-base articles they wrote (created in the range).
    pub kb_written: i64,
    /// Their articles published in the range.
    pub kb_published: i64,
}

/// The expert-performance report.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ExpertsReport {
    /// First day.
    pub from: NaiveDate,
    /// Last day (included).
    pub to: NaiveDate,
    /// Time zone of the days.
    pub tz: String,
    /// The read model holds every event stamped before this instant.
    pub as_of: Option<DateTime<Utc>>,
    /// Every expert with activity in the range, most completions first.
    pub experts: Vec<ExpertRow>,
}

/// The expert-performance report.
pub async fn experts(db: &Db, r: &Range, f: &Filters) -> Result<ExpertsReport, DbErr> {
    use report_cube::Column as C;
    let rows: Vec<(String, String, String, i64, i64)> =
        sums(filtered(report_cube::Entity::find().select_only().columns([C::Expert, C::Metric, C::Label]), r, f))
            .filter(C::Expert.ne(""))
            .group_by(C::Expert)
            .group_by(C::Metric)
            .group_by(C::Label)
            .into_tuple()
            .all(&db.read)
            .await?;
    #[derive(Default)]
    struct Acc {
        counts: HashMap<String, (i64, i64)>,
        hists: HashMap<String, Hist>,
        declines: HashMap<String, i64>,
        kb_written: i64,
        kb_published: i64,
    }
    let mut by: HashMap<Uuid, Acc> = HashMap::new();
    for (expert, m, label, n, total) in rows {
        // A cell that was counted and later taken back (a repeat ticket, a refold).
        if (n, total) == (0, 0) {
            continue;
        }
        let Ok(id) = expert.parse::<Uuid>() else { continue };
        let acc = by.entry(id).or_default();
        if TIMINGS.contains(&m.as_str()) {
            acc.hists.entry(m).or_default().add(&label, n, total);
            continue;
        }
        if m == metric::DECLINED {
            *acc.declines.entry(label).or_insert(0) += n;
        }
        let v = acc.counts.entry(m).or_insert((0, 0));
        v.0 += n;
        v.1 += total;
    }
    // Knowledge-base articles (a small table, read directly; category and area do not
    // apply to them).
    let (start, end) = (r.start(), r.end());
    let mut written = kb_article::Entity::find()
        .select_only()
        .column(kb_article::Column::AuthorId)
        .filter(kb_article::Column::CreatedAt.gte(start))
        .filter(kb_article::Column::CreatedAt.lt(end))
        .filter(kb_article::Column::AuthorId.is_not_null());
    if let Some(e) = f.expert {
        written = written.filter(kb_article::Column::AuthorId.eq(e));
    }
    for author in written.into_tuple::<Option<Uuid>>().all(&db.read).await?.into_iter().flatten() {
        by.entry(author).or_default().kb_written += 1;
    }
    let published: Vec<Uuid> = kb_review::Entity::find()
        .select_only()
        .column(kb_review::Column::ArticleId)
        .filter(kb_review::Column::Outcome.eq("published"))
        .filter(kb_review::Column::ReviewedAt.gte(start))
        .filter(kb_review::Column::ReviewedAt.lt(end))
        .into_tuple()
        .all(&db.read)
        .await?;
    for chunk in published.chunks(500) {
        let authors: Vec<Option<Uuid>> = kb_article::Entity::find()
            .select_only()
            .column(kb_article::Column::AuthorId)
            .filter(kb_article::Column::Id.is_in(chunk.to_vec()))
            .into_tuple()
            .all(&db.read)
            .await?;
        for a in authors.into_iter().flatten() {
            if f.expert.is_none_or(|e| e == a) {
                by.entry(a).or_default().kb_published += 1;
            }
        }
    }
    let ids: Vec<Uuid> = by.keys().copied().collect();
    let mut names: HashMap<Uuid, String> = HashMap::new();
    for chunk in ids.chunks(500) {
        let rows: Vec<(Uuid, String)> = user::Entity::find()
            .select_only()
            .columns([user::Column::Id, user::Column::Name])
            .filter(user::Column::Id.is_in(chunk.to_vec()))
            .into_tuple()
            .all(&db.read)
            .await?;
        names.extend(rows);
    }
    let ratio = |a: i64, b: i64| (b > 0).then(|| a as f64 / b as f64);
    let mut experts: Vec<ExpertRow> = by
        .into_iter()
        .map(|(id, acc)| {
            let n = |m: &str| acc.counts.get(m).map_or(0, |v| v.0);
            let timing = |m: &str| acc.hists.get(m).cloned().unwrap_or_default().timing(m);
            let (survey_responses, rating_sum) = acc.counts.get(metric::SURVEY_RECEIVED).copied().unwrap_or((0, 0));
            ExpertRow {
                expert_id: id,
                name: names.get(&id).cloned().unwrap_or_default(),
                assigned: n(metric::ASSIGNED),
                accepted: n(metric::ACCEPTED),
                acceptance_rate: ratio(n(metric::ACCEPTED), n(metric::ASSIGNED)),
                declines: n(metric::DECLINED),
                decline_reasons: ranked(acc.declines, str::to_owned),
                accept_timeouts: n(metric::ACCEPT_TIMEOUT),
                completed: n(metric::COMPLETED),
                to_accept: timing(metric::TO_ACCEPT),
                to_arrive: timing(metric::TO_ARRIVE),
                to_complete: timing(metric::TO_COMPLETE),
                first_time_fixes: n(metric::FIRST_TIME_FIX),
                first_time_fix_rate: ratio(n(metric::FIRST_TIME_FIX), n(metric::COMPLETED)),
                surveys_invited: n(metric::SURVEY_INVITED),
                survey_responses,
                survey_response_rate: ratio(survey_responses, n(metric::SURVEY_INVITED)),
                survey_score: ratio(rating_sum, survey_responses),
                kb_written: acc.kb_written,
                kb_published: acc.kb_published,
            }
        })
        .collect();
    experts.sort_by(|a, b| {
        b.completed.cmp(&a.completed).then_with(|| a.name.cmp(&b.name)).then(a.expert_id.cmp(&b.expert_id))
    });
    Ok(ExpertsReport { from: r.from, to: r.to, tz: r.tz.name().to_owned(), as_of: as_of(db).await?, experts })
}
