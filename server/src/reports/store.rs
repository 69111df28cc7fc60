//! The effectful part of the read model (ADR 16): refreshing tickets' facts and cube
//! cells from their events, the background job that follows `ticket_events` from a
//! stored cursor, and the full rebuild.
//!
//! A refresh folds each ticket's events again from scratch and applies the difference
//! between the new and the stored contribution, so refreshing a ticket twice changes
//! nothing: the job may re-read events (after a restart, or in the overlap window that
//! catches late commits) without counting anything twice.

use super::fold::{self, Event, Facts, TicketRow};
use super::rollup;
use crate::db::Db;
use crate::db::entity::{report_cube, report_rollup, report_state, report_ticket_fact, ticket, ticket_event};
use chrono::{DateTime, Utc};
use sea_orm::sea_query::{Expr, ExprTrait, OnConflict};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Events are re-read this far behind the cursor: a transaction stamps its events
/// before it commits, so one that commits late (a long group commit, a writer queue)
/// still lands inside the window.
pub const OVERLAP_US: i64 = 120_000_000;
/// How often the job sweeps the whole overlap window; the passes between re-read only
/// [`SHORT_OVERLAP_US`], which covers a group commit's usual delay. (Every pass swept
/// two minutes: under sustained intake that re-read about 430,000 events at 600
/// tickets/s every second.)
pub const SWEEP_EVERY: Duration = Duration::from_secs(15);
/// The overlap of the passes between sweeps.
pub const SHORT_OVERLAP_US: i64 = 2_000_000;
/// Tickets refreshed per write transaction (short transactions: intake shares the
/// SQLite writer).
pub const BATCH: usize = 200;
/// Events read per page while catching up.
pub const PAGE: u64 = 5_000;

const CURSOR: &str = "cursor_us";
const LOCK: &str = "lock";

/// What a refresh did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Refreshed {
    /// Tickets folded.
    pub tickets: usize,
    /// Cube cells changed.
    pub cells: usize,
}

/// Folds `ids` (and the earlier tickets whose first-time-fix they may undo) again and
/// stores the result.
pub async fn refresh(db: &Db, ids: &[Uuid]) -> Result<Refreshed, DbErr> {
    let mut out = Refreshed::default();
    for chunk in ids.chunks(BATCH) {
        let r = refresh_chunk(db, chunk).await?;
        out.tickets += r.tickets;
        out.cells += r.cells;
    }
    Ok(out)
}

/// Stored facts of a ticket that has had a repeat (`Facts` serialize `repeat` so;
/// `facts_mark_a_repeat_as_the_refresh_looks_for_it` holds it to that).
const REPEATED: &str = "%\"repeat\":true%";

/// (id, subscription, category, created, completed) of a ticket.
type Sibling = (Uuid, Uuid, String, DateTime<Utc>, Option<DateTime<Utc>>);
/// Tickets by (subscription, category): (id, created µs, completed µs).
type BySubscription<'a> = HashMap<(Uuid, &'a str), Vec<(Uuid, i64, Option<i64>)>>;

async fn refresh_chunk(db: &Db, ids: &[Uuid]) -> Result<Refreshed, DbErr> {
    // Read outside the write transaction (the read pool), fold, then lock and diff.
    let rows = ticket::Entity::find().filter(ticket::Column::Id.is_in(ids.to_vec())).all(&db.read).await?;
    if rows.is_empty() {
        return Ok(Refreshed::default());
    }
    let subs: Vec<Uuid> = rows.iter().map(|r| r.subscription_id).collect::<HashSet<_>>().into_iter().collect();
    // Only siblings near these tickets in time matter (a repeat is within the window of
    // a completion), so a subscription's long history is not read on every refresh
    // (`ix_tickets_subscription`).
    let window = chrono::Duration::days(fold::REPEAT_WINDOW_DAYS);
    let oldest = rows.iter().map(|r| r.created_at).min().unwrap_or_else(Utc::now) - window;
    let siblings: Vec<Sibling> = ticket::Entity::find()
        .select_only()
        .columns([
            ticket::Column::Id,
            ticket::Column::SubscriptionId,
            ticket::Column::Category,
            ticket::Column::CreatedAt,
            ticket::Column::CompletedAt,
        ])
        .filter(ticket::Column::SubscriptionId.is_in(subs))
        .filter(
            sea_orm::Condition::any()
                .add(ticket::Column::CreatedAt.gte(oldest))
                .add(ticket::Column::CompletedAt.gte(oldest)),
        )
        .into_tuple()
        .all(&db.read)
        .await?;
    let mut by_sub: BySubscription<'_> = HashMap::new();
    for (id, sub, cat, created, completed) in &siblings {
        by_sub.entry((*sub, cat.as_str())).or_default().push((
            *id,
            fold::micros(*created),
            completed.map(fold::micros),
        ));
    }
    // A new ticket may be the repeat that undoes an earlier ticket's first-time fix.
    let window = fold::REPEAT_WINDOW_DAYS * 86_400_000_000;
    let mut all: Vec<ticket::Model> = rows;
    let known: HashSet<Uuid> = all.iter().map(|r| r.id).collect();
    let mut extra = HashSet::new();
    for r in &all {
        let created = fold::micros(r.created_at);
        for (id, _, completed) in by_sub.get(&(r.subscription_id, r.category.as_str())).into_iter().flatten() {
            if completed.is_some_and(|c| c < created && created - c <= window) && !known.contains(id) {
                extra.insert(*id);
            }
        }
    }
    // Of those, only the ones not yet marked as repeated can change: once a ticket has
    // had a repeat, later ones change nothing (without this a subscription with many
    // recent tickets refolded all of them on each new one).
    if !extra.is_empty() {
        let candidates: Vec<Uuid> = extra.drain().collect();
        for chunk in candidates.chunks(500) {
            let repeated: HashSet<Uuid> = report_ticket_fact::Entity::find()
                .select_only()
                .column(report_ticket_fact::Column::TicketId)
                .filter(report_ticket_fact::Column::TicketId.is_in(chunk.to_vec()))
                .filter(report_ticket_fact::Column::Facts.like(REPEATED))
                .into_tuple::<Uuid>()
                .all(&db.read)
                .await?
                .into_iter()
                .collect();
            extra.extend(chunk.iter().copied().filter(|id| !repeated.contains(id)));
        }
    }
    if !extra.is_empty() {
        let more = ticket::Entity::find()
            .filter(ticket::Column::Id.is_in(extra.into_iter().collect::<Vec<_>>()))
            .all(&db.read)
            .await?;
        all.extend(more);
    }
    let ids: Vec<Uuid> = all.iter().map(|r| r.id).collect();
    let events = ticket_event::Entity::find()
        .filter(ticket_event::Column::TicketId.is_in(ids.clone()))
        .order_by_asc(ticket_event::Column::TicketId)
        .order_by_asc(ticket_event::Column::At)
        .order_by_asc(ticket_event::Column::Id)
        .all(&db.read)
        .await?;
    let mut per: HashMap<Uuid, Vec<Event>> = HashMap::new();
    for e in events {
        per.entry(e.ticket_id).or_default().push(Event {
            kind: e.kind,
            actor_id: e.actor_id,
            actor_role: e.actor_role,
            at: e.at,
            detail: e.detail,
        });
    }
    let mut folded: Vec<(Uuid, Facts)> = Vec::with_capacity(all.len());
    for r in &all {
        let Some(evs) = per.get(&r.id) else { continue };
        let row = TicketRow { category: r.category.clone(), lat: r.lat, lon: r.lon, repeat: false };
        let mut f = fold::fold(&row, evs);
        if let Some((_, done)) = f.completed {
            f.repeat = by_sub
                .get(&(r.subscription_id, r.category.as_str()))
                .into_iter()
                .flatten()
                .any(|(id, created, _)| *id != r.id && *created > done && *created - done <= window);
        }
        folded.push((r.id, f));
    }
    write(db, folded).await
}

/// Locks the read model, diffs against the stored facts and writes.
async fn write(db: &Db, folded: Vec<(Uuid, Facts)>) -> Result<Refreshed, DbErr> {
    let txn = db.begin_write().await?;
    lock(&txn).await?;
    let ids: Vec<Uuid> = folded.iter().map(|(id, _)| *id).collect();
    let old: HashMap<Uuid, report_ticket_fact::Model> = report_ticket_fact::Entity::find()
        .filter(report_ticket_fact::Column::TicketId.is_in(ids))
        .all(&txn)
        .await?
        .into_iter()
        .map(|m| (m.ticket_id, m))
        .collect();
    let mut delta: BTreeMap<(String, String, String, fold::Cell), (i64, i64)> = BTreeMap::new();
    let mut facts = Vec::new();
    let mut tickets = 0;
    for (id, new) in folded {
        let before = old.get(&id).and_then(|m| serde_json::from_str::<Facts>(&m.facts).ok());
        // Another refresh folded more events meanwhile: ours is stale.
        if before.as_ref().is_some_and(|b| b.events > new.events) {
            continue;
        }
        if before.as_ref() == Some(&new) {
            continue;
        }
        tickets += 1;
        // Old cells come off under the old dimensions, new ones go on under the new.
        let mut put = |f: &Facts, sign: i64| {
            for (cell, (n, t)) in fold::contribution(f) {
                let v = delta.entry((f.category.clone(), f.area.clone(), f.channel.clone(), cell)).or_insert((0, 0));
                v.0 += sign * n;
                v.1 += sign * t;
            }
        };
        if let Some(b) = &before {
            put(b, -1);
        }
        put(&new, 1);
        facts.push(report_ticket_fact::ActiveModel {
            ticket_id: Set(id),
            created_us: Set(new.created),
            ended_us: Set(new.ended()),
            category: Set(new.category.clone()),
            area: Set(new.area.clone()),
            channel: Set(new.channel.clone()),
            status: Set(new.status().to_owned()),
            expert_id: Set(new.expert()),
            events: Set(new.events),
            facts: Set(serde_json::to_string(&new).unwrap_or_default()),
        });
    }
    delta.retain(|_, v| *v != (0, 0));
    let cells = delta.len();
    let mut rolled = rollup::Delta::new();
    for ((category, area, channel, cell), (n, t)) in &delta {
        rollup::add_cell(&mut rolled, category, area, channel, cell, *n, *t);
    }
    add_rollup(&txn, rolled).await?;
    let rows: Vec<report_cube::ActiveModel> = delta
        .into_iter()
        .map(|((category, area, channel, c), (n, t))| report_cube::ActiveModel {
            hour: Set(c.hour),
            category: Set(category),
            area: Set(area),
            channel: Set(channel),
            expert: Set(c.expert),
            metric: Set(c.metric.to_owned()),
            label: Set(c.label),
            n: Set(n),
            total: Set(t),
        })
        .collect();
    add_cells(&txn, rows).await?;
    for chunk in facts.chunks(500) {
        report_ticket_fact::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::column(report_ticket_fact::Column::TicketId)
                    .update_columns([
                        report_ticket_fact::Column::CreatedUs,
                        report_ticket_fact::Column::EndedUs,
                        report_ticket_fact::Column::Category,
                        report_ticket_fact::Column::Area,
                        report_ticket_fact::Column::Channel,
                        report_ticket_fact::Column::Status,
                        report_ticket_fact::Column::ExpertId,
                        report_ticket_fact::Column::Events,
                        report_ticket_fact::Column::Facts,
                    ])
                    .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(Refreshed { tickets, cells })
}

/// Adds counts to cube cells (creating them), in statements of bounded size.
async fn add_cells(c: &impl ConnectionTrait, rows: Vec<report_cube::ActiveModel>) -> Result<(), DbErr> {
    use report_cube::Column as C;
    for chunk in rows.chunks(1000) {
        report_cube::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([C::Hour, C::Category, C::Area, C::Channel, C::Expert, C::Metric, C::Label])
                    .value(C::N, Expr::cust("report_cube.n + excluded.n"))
                    .value(C::Total, Expr::cust("report_cube.total + excluded.total"))
                    .to_owned(),
            )
            .exec_without_returning(c)
            .await?;
    }
    Ok(())
}

/// Adds changes to the rollup's rows: reads the rows concerned (in the write
/// transaction, under the lock), adds, writes them back, and deletes the ones left empty.
async fn add_rollup(c: &impl ConnectionTrait, delta: rollup::Delta) -> Result<(), DbErr> {
    use report_rollup::Column as C;
    if delta.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<(String, i16, i64)> = delta.keys().cloned().collect();
    keys.sort();
    let mut rows: HashMap<(String, i16, i64), rollup::Packed> = HashMap::new();
    // By slice and grain, periods in bounded lists.
    let mut groups: BTreeMap<(&str, i16), Vec<i64>> = BTreeMap::new();
    for (s, g, p) in &keys {
        groups.entry((s.as_str(), *g)).or_default().push(*p);
    }
    for ((slice, grain), periods) in &groups {
        for chunk in periods.chunks(500) {
            let found = report_rollup::Entity::find()
                .filter(C::Slice.eq(*slice))
                .filter(C::Grain.eq(*grain))
                .filter(C::Period.is_in(chunk.to_vec()))
                .all(c)
                .await?;
            for m in found {
                let packed = rollup::Packed::decode(m.created, m.completed, m.cancelled, &m.hourly, &m.cells);
                rows.insert((m.slice, m.grain, m.period), packed);
            }
        }
    }
    let (mut put, mut gone) = (Vec::new(), Vec::new());
    for key in keys {
        let mut row = rows.remove(&key).unwrap_or_default();
        if let Some(d) = delta.get(&key) {
            row.merge(d);
        }
        if row.is_empty() {
            gone.push(key);
            continue;
        }
        put.push(report_rollup::ActiveModel {
            slice: Set(key.0),
            grain: Set(key.1),
            period: Set(key.2),
            created: Set(row.created),
            completed: Set(row.completed),
            cancelled: Set(row.cancelled),
            hourly: Set(row.encode_hourly()),
            cells: Set(row.encode()),
        });
    }
    for chunk in put.chunks(500) {
        report_rollup::Entity::insert_many(chunk.to_vec())
            .on_conflict(
                OnConflict::columns([C::Slice, C::Grain, C::Period])
                    .update_columns([C::Created, C::Completed, C::Cancelled, C::Hourly, C::Cells])
                    .to_owned(),
            )
            .exec_without_returning(c)
            .await?;
    }
    for (slice, grain, period) in gone {
        report_rollup::Entity::delete_many()
            .filter(C::Slice.eq(slice))
            .filter(C::Grain.eq(grain))
            .filter(C::Period.eq(period))
            .exec(c)
            .await?;
    }
    Ok(())
}

/// Takes the read model's lock row: one refresh at a time across every node (SQLite's
/// single writer serialises them anyway).
async fn lock(c: &impl ConnectionTrait) -> Result<(), DbErr> {
    report_state::Entity::update_many()
        .col_expr(report_state::Column::Value, Expr::col(report_state::Column::Value).add(1))
        .filter(report_state::Column::Name.eq(LOCK))
        .exec(c)
        .await?;
    Ok(())
}

/// The cursor: every event stamped before it has been folded (µs; `i64::MIN` before the
/// first pass).
pub async fn cursor(c: &impl ConnectionTrait) -> Result<i64, DbErr> {
    Ok(report_state::Entity::find_by_id(CURSOR.to_owned()).one(c).await?.map_or(i64::MIN, |m| m.value))
}

async fn advance(c: &impl ConnectionTrait, to: i64) -> Result<(), DbErr> {
    report_state::Entity::update_many()
        .col_expr(report_state::Column::Value, Expr::val(to))
        .filter(report_state::Column::Name.eq(CURSOR))
        .filter(report_state::Column::Value.lt(to))
        .exec(c)
        .await?;
    Ok(())
}

/// Event ids already folded inside the overlap window (this process's memory; after a
/// restart the window is folded again, which changes nothing).
#[derive(Default)]
pub struct Seen {
    ids: HashMap<Uuid, i64>,
}

/// Folds every event stamped after the cursor, less the overlap ([`OVERLAP_US`] when
/// `sweep`, else [`SHORT_OVERLAP_US`]), that this process has not folded yet; returns
/// how many tickets changed.
pub async fn catch_up(db: &Db, seen: &mut Seen, sweep: bool) -> Result<usize, DbErr> {
    let start = cursor(&db.read).await?;
    let mut after: Option<(DateTime<Utc>, Uuid)> = None;
    let since = (start != i64::MIN).then(|| start.saturating_sub(if sweep { OVERLAP_US } else { SHORT_OVERLAP_US }));
    let mut changed = 0;
    loop {
        let mut q = ticket_event::Entity::find().select_only().columns([
            ticket_event::Column::Id,
            ticket_event::Column::TicketId,
            ticket_event::Column::At,
        ]);
        if let Some(s) = since.and_then(DateTime::from_timestamp_micros) {
            q = q.filter(ticket_event::Column::At.gt(s));
        }
        if let Some((at, id)) = after {
            q = q.filter(sea_orm::Condition::any().add(ticket_event::Column::At.gt(at)).add(
                sea_orm::Condition::all().add(ticket_event::Column::At.eq(at)).add(ticket_event::Column::Id.gt(id)),
            ));
        }
        let page: Vec<(Uuid, Uuid, DateTime<Utc>)> = q
            .order_by_asc(ticket_event::Column::At)
            .order_by_asc(ticket_event::Column::Id)
            .limit(PAGE)
            .into_tuple()
            .all(&db.read)
            .await?;
        let Some(last) = page.last().copied() else { break };
        let fresh: Vec<&(Uuid, Uuid, DateTime<Utc>)> =
            page.iter().filter(|(id, _, _)| !seen.ids.contains_key(id)).collect();
        let tickets: Vec<Uuid> = fresh.iter().map(|e| e.1).collect::<HashSet<_>>().into_iter().collect();
        if !tickets.is_empty() {
            changed += refresh(db, &tickets).await?.tickets;
        }
        for (id, _, at) in fresh {
            seen.ids.insert(*id, fold::micros(*at));
        }
        // Never past now: an event stamped in the future (a skewed clock) must not make
        // the job skip the events stamped meanwhile.
        advance(&db.write, Ord::min(fold::micros(last.2), fold::micros(Utc::now()))).await?;
        if (page.len() as u64) < PAGE {
            break;
        }
        after = Some((last.2, last.0));
    }
    let floor = cursor(&db.read).await?.saturating_sub(OVERLAP_US);
    seen.ids.retain(|_, at| *at > floor);
    Ok(changed)
}

/// The background job: catches up every `every` until `stop`; errors are logged and
/// retried on the next tick (the cursor only moves after a page is stored).
pub fn spawn(db: Db, every: Duration, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut seen = Seen::default();
        let mut swept: Option<std::time::Instant> = None;
        loop {
            // The first pass sweeps (a restart forgot what was seen), then every
            // SWEEP_EVERY: an event that committed late is folded within that.
            let sweep = swept.is_none_or(|t| t.elapsed() >= SWEEP_EVERY);
            if sweep {
                swept = Some(std::time::Instant::now());
            }
            match catch_up(&db, &mut seen, sweep).await {
                Ok(n) if n > 0 => tracing::debug!(tickets = n, "reports read model caught up"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reports read model: catch-up failed; retrying"),
            }
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(every) => {}
            }
        }
    })
}

/// Empties the read model and folds every ticket again; `progress(done, total)` after
/// each batch. The cursor is set to the rebuild's start, so a running server's job
/// carries on with what arrives meanwhile.
pub async fn rebuild(db: &Db, progress: impl Fn(u64, u64)) -> Result<Refreshed, DbErr> {
    let started = fold::micros(Utc::now());
    let txn = db.begin_write().await?;
    lock(&txn).await?;
    report_cube::Entity::delete_many().exec(&txn).await?;
    report_rollup::Entity::delete_many().exec(&txn).await?;
    report_ticket_fact::Entity::delete_many().exec(&txn).await?;
    report_state::Entity::update_many()
        .col_expr(report_state::Column::Value, Expr::val(started))
        .filter(report_state::Column::Name.eq(CURSOR))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    let total = sea_orm::PaginatorTrait::count(ticket::Entity::find(), &db.read).await?;
    // In the order they were raised (`ix_tickets_created`): a batch's events fall in a
    // few hours, so each batch reads and writes few rollup rows.
    let mut after: Option<(DateTime<Utc>, Uuid)> = None;
    let mut done = 0u64;
    let mut out = Refreshed::default();
    loop {
        let mut q = ticket::Entity::find().select_only().columns([ticket::Column::CreatedAt, ticket::Column::Id]);
        if let Some((at, id)) = after {
            q =
                q.filter(sea_orm::Condition::any().add(ticket::Column::CreatedAt.gt(at)).add(
                    sea_orm::Condition::all().add(ticket::Column::CreatedAt.eq(at)).add(ticket::Column::Id.gt(id)),
                ));
        }
        let page: Vec<(DateTime<Utc>, Uuid)> = q
            .order_by_asc(ticket::Column::CreatedAt)
            .order_by_asc(ticket::Column::Id)
            .limit(BATCH as u64 * 5)
            .into_tuple()
            .all(&db.read)
            .await?;
        let Some(last) = page.last().copied() else { break };
        let ids: Vec<Uuid> = page.iter().map(|(_, id)| *id).collect();
        let r = refresh(db, &ids).await?;
        out.tickets += r.tickets;
        out.cells += r.cells;
        done += ids.len() as u64;
        progress(Ord::min(done, total), total);
        after = Some(last);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_mark_a_repeat_as_the_refresh_looks_for_it() {
        let like = |f: &Facts| {
            let text = serde_json::to_string(f).unwrap();
            text.contains(REPEATED.trim_matches('%'))
        };
        let mut f = Facts { category: "tv".into(), ..Facts::default() };
        assert!(!like(&f));
        f.repeat = true;
        assert!(like(&f), "{}", serde_json::to_string(&f).unwrap());
    }
}
