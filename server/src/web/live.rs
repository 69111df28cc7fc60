//! Live ticket status for pages (server-sent events). One watcher per node reads the
//! ticket events table by primary key (UUIDv7: a range scan of the last few seconds)
//! twice a second, only while someone is listening, and fans the changed tickets out to
//! the open streams. It sees changes made on any node, with any backend, because the
//! events table is where every change of every node is written (ADR 23).
//!
//! A stream starts with the current state of what it watches, so a change between the
//! page's rendering and the stream's start is never missed.

use crate::db::Db;
use crate::db::entity::{ticket, ticket_event};
use actix_web::HttpResponse;
use actix_web::web::Bytes;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// How often the watcher looks.
const POLL: Duration = Duration::from_millis(500);
/// How far back each look reaches: a transaction that committed late (its event ids
/// were made before a later one's) is still seen if it committed within this window.
const LOOKBACK_MS: i64 = 10_000;
/// A comment line that keeps proxies from closing an idle stream.
const KEEPALIVE: Duration = Duration::from_secs(20);

/// A ticket that changed, as streams are told.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    /// The ticket.
    pub id: Uuid,
    /// Its customer (streams filter on it; never sent).
    #[serde(skip)]
    pub customer: Uuid,
    /// Its status as stored.
    pub status: String,
    /// The status in a customer's words.
    pub label: &'static str,
    /// The row's version (a page refreshes its timeline when it grows).
    pub version: i32,
}

impl Change {
    fn of(t: &ticket::Model) -> Self {
        Self {
            id: t.id,
            customer: t.customer_id,
            label: super::customer::status_words(&t.status),
            status: t.status.clone(),
            version: t.version,
        }
    }
}

/// The node's watcher.
pub struct Live {
    db: Db,
    tx: broadcast::Sender<Change>,
    started: AtomicBool,
    shutdown: CancellationToken,
}

/// What a stream watches.
#[derive(Debug, Clone, Copy)]
pub enum Watch {
    /// Every ticket of this customer.
    Customer(Uuid),
    /// One ticket.
    Ticket(Uuid),
}

impl Watch {
    fn wants(self, c: &Change) -> bool {
        match self {
            Watch::Customer(id) => c.customer == id,
            Watch::Ticket(id) => c.id == id,
        }
    }
}

fn v7_floor(ms: i64) -> Uuid {
    let ms = u64::try_from(ms.max(0)).unwrap_or(0) & 0xFFFF_FFFF_FFFF;
    Uuid::from_u128((u128::from(ms) << 80) | (0x7u128 << 76) | (0b10u128 << 62))
}

impl Live {
    /// A watcher over `db` that stops with `shutdown` (started by the first stream).
    pub fn new(db: Db, shutdown: CancellationToken) -> Arc<Self> {
        Arc::new(Self { db, tx: broadcast::channel(1024).0, started: AtomicBool::new(false), shutdown })
    }

    fn start(self: &Arc<Self>) {
        if self.started.swap(true, Ordering::SeqCst) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move { me.run().await });
    }

    async fn run(self: Arc<Self>) {
        // Event id → when it was seen (ms); forgotten after the lookback window.
        let mut seen: HashMap<Uuid, i64> = HashMap::new();
        let mut tick = tokio::time::interval(POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut first = true;
        loop {
            tokio::select! {
                () = self.shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if self.tx.receiver_count() == 0 {
                first = true;
                continue;
            }
            match self.look(&mut seen, first).await {
                Ok(()) => first = false,
                Err(e) => tracing::warn!(error = %e, "live ticket status: cannot read ticket events"),
            }
        }
    }

    async fn look(&self, seen: &mut HashMap<Uuid, i64>, first: bool) -> Result<(), sea_orm::DbErr> {
        let now = chrono::Utc::now().timestamp_millis();
        let events: Vec<(Uuid, Uuid)> = ticket_event::Entity::find()
            .select_only()
            .column(ticket_event::Column::Id)
            .column(ticket_event::Column::TicketId)
            .filter(ticket_event::Column::Id.gte(v7_floor(now - LOOKBACK_MS)))
            .order_by_asc(ticket_event::Column::Id)
            .limit(5000)
            .into_tuple()
            .all(&self.db.read)
            .await?;
        seen.retain(|_, at| *at >= now - 2 * LOOKBACK_MS);
        let mut changed: Vec<Uuid> = Vec::new();
        for (event, ticket) in events {
            if seen.insert(event, now).is_none() && !first && !changed.contains(&ticket) {
                changed.push(ticket);
            }
        }
        // On the first look everything in the window is only remembered: streams start
        // with the current state anyway.
        for ids in changed.chunks(500) {
            let rows = ticket::Entity::find().filter(ticket::Column::Id.is_in(ids.to_vec())).all(&self.db.read).await?;
            for t in &rows {
                let _ = self.tx.send(Change::of(t));
            }
        }
        Ok(())
    }

    /// An event stream of `watch`, starting with `current` (the rows as they are now).
    pub fn stream(self: &Arc<Self>, watch: Watch, current: Vec<ticket::Model>) -> HttpResponse {
        self.start();
        let rx = self.tx.subscribe();
        let initial: Vec<Bytes> = current.iter().map(|t| frame(&Change::of(t))).collect();
        let shutdown = self.shutdown.clone();
        let state = (rx, shutdown, false);
        let live = futures::stream::unfold(state, move |(mut rx, shutdown, done)| async move {
            if done {
                return None;
            }
            loop {
                tokio::select! {
                    () = shutdown.cancelled() => return None,
                    () = tokio::time::sleep(KEEPALIVE) => {
                        return Some((Ok::<_, actix_web::Error>(Bytes::from_static(b": still here\n\n")), (rx, shutdown, false)));
                    }
                    got = rx.recv() => match got {
                        Ok(c) if watch.wants(&c) => return Some((Ok(frame(&c)), (rx, shutdown, false))),
                        Ok(_) => {}
                        // Fell behind: tell the page to reload what it shows.
                        Err(broadcast::error::RecvError::Lagged(_)) => {
                            return Some((Ok(Bytes::from_static(b"event: reload\ndata: {}\n\n")), (rx, shutdown, false)));
                        }
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        });
        let head = futures::stream::iter(
            std::iter::once(Bytes::from_static(b"retry: 2000\n\n")).chain(initial).map(Ok::<_, actix_web::Error>),
        );
        use futures::StreamExt;
        HttpResponse::Ok()
            .content_type("text/event-stream")
            .insert_header(("Cache-Control", "no-cache"))
            .insert_header(("X-Accel-Buffering", "no"))
            .streaming(head.chain(live))
    }
}

fn frame(c: &Change) -> Bytes {
    let data = serde_json::to_string(c).unwrap_or_else(|_| "{}".to_owned());
    Bytes::from(format!("event: ticket\ndata: {data}\n\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_sorts_below_every_later_id() {
        let now = chrono::Utc::now().timestamp_millis();
        assert!(v7_floor(now - 1) < Uuid::now_v7());
        assert!(v7_floor(now + 10_000) > Uuid::now_v7());
        let c = Change { id: Uuid::nil(), customer: Uuid::max(), status: "assigned".into(), label: "x", version: 3 };
        let f = String::from_utf8(frame(&c).to_vec()).unwrap();
        assert!(f.starts_with("event: ticket\ndata: {") && f.ends_with("}\n\n"));
        assert!(!f.contains("ffffffff"), "the customer is never sent: {f}");
    }
}
