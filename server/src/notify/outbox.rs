//! The transactional outbox. A message is inserted in the same transaction as the state
//! change that causes it; workers claim due rows (PostgreSQL: `FOR UPDATE SKIP LOCKED`,
//! so two nodes never take the same row; SQLite: the single write connection makes the
//! claim atomic), send, and record the outcome at once.

use super::Channel;
use crate::db::Db;
use crate::db::entity::outbox_message;
use chrono::{DateTime, Utc};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseBackend, DbErr, EntityTrait, FromQueryResult};
use uuid::Uuid;

/// Row status values.
pub mod status {
    /// Waiting to be sent (or to be retried).
    pub const PENDING: &str = "pending";
    /// Claimed by a worker.
    pub const SENDING: &str = "sending";
    /// Accepted by the provider.
    pub const SENT: &str = "sent";
    /// Gave up; an admin can retry it.
    pub const DEAD: &str = "dead";
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct Outgoing {
    /// Channel.
    pub channel: Channel,
    /// Device token, phone number or e-mail address.
    pub recipient: String,
    /// The user it is for, if any.
    pub recipient_user_id: Option<Uuid>,
    /// Which template produced it.
    pub template: String,
    /// E-mail subject or push title.
    pub subject: Option<String>,
    /// The text.
    pub body: String,
    /// The ticket it is about.
    pub ticket_id: Option<Uuid>,
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

impl Outgoing {
    /// The outbox row of this message, due at `now`: the one place outbox rows are built.
    /// Its id is also the stable id receivers can de-duplicate by.
    pub fn row(self, now: DateTime<Utc>) -> outbox_message::ActiveModel {
        outbox_message::ActiveModel {
            id: Set(Uuid::now_v7()),
            channel: Set(self.channel.as_str().to_owned()),
            recipient: Set(self.recipient),
            recipient_user_id: Set(self.recipient_user_id),
            template: Set(self.template),
            subject: Set(self.subject),
            body: Set(self.body),
            payload: Set(serde_json::json!({})),
            ticket_id: Set(self.ticket_id),
            status: Set(status::PENDING.to_owned()),
            attempts: Set(0),
            next_attempt_at_ms: Set(now.timestamp_millis()),
            claimed_by: Set(None),
            claimed_until_ms: Set(None),
            last_error: Set(None),
            provider_ref: Set(None),
            created_at: Set(now),
            sent_at: Set(None),
        }
    }
}

/// Queues `m` inside the caller's transaction (a single message; writers of several use
/// `contacts::Mail`, which batches). Returns its id.
pub async fn enqueue(c: &impl ConnectionTrait, m: Outgoing) -> Result<Uuid, DbErr> {
    let row = m.row(Utc::now());
    let id = row.id.clone().unwrap();
    outbox_message::Entity::insert(row).exec_without_returning(c).await?;
    Ok(id)
}

/// Queues several messages inside the caller's transaction, in one statement per 200.
pub async fn enqueue_many(c: &impl ConnectionTrait, ms: Vec<Outgoing>) -> Result<(), DbErr> {
    let now = Utc::now();
    let mut rows = ms.into_iter().map(|m| m.row(now)).peekable();
    while rows.peek().is_some() {
        let chunk: Vec<_> = rows.by_ref().take(200).collect();
        outbox_message::Entity::insert_many(chunk).exec_without_returning(c).await?;
    }
    Ok(())
}

/// Claims up to `limit` due messages on `channels` for `node`, leased for `lease_ms`.
pub async fn claim(
    db: &Db,
    node: &str,
    channels: &[Channel],
    limit: u64,
    lease_ms: i64,
) -> Result<Vec<outbox_message::Model>, DbErr> {
    if channels.is_empty() {
        return Ok(Vec::new());
    }
    let backend = db.backend();
    let list = channels.iter().map(|c| format!("'{}'", c.as_str())).collect::<Vec<_>>().join(", ");
    let lock = if backend == DatabaseBackend::Postgres { "FOR UPDATE SKIP LOCKED" } else { "" };
    let sql = format!(
        "UPDATE outbox_messages SET status = 'sending', claimed_by = $1, claimed_until_ms = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outbox_messages WHERE status = 'pending' AND next_attempt_at_ms <= $3 \
                      AND channel IN ({list}) ORDER BY next_attempt_at_ms, id LIMIT $4 {lock}) \
         RETURNING *"
    );
    let now = now_ms();
    let txn = db.begin_write().await?;
    let rows = txn
        .query_all_raw(crate::db::statement(
            backend,
            &sql,
            vec![node.into(), (now + lease_ms).into(), now.into(), (limit as i64).into()],
        ))
        .await?;
    txn.commit().await?;
    rows.iter().map(|r| outbox_message::Model::from_query_result(r, "")).collect()
}

/// Returns to `pending` every claim whose lease ran out (a worker died mid-send), and
/// at start-up every claim this node held before it stopped.
pub async fn reclaim(db: &Db, own_node: Option<&str>) -> Result<u64, DbErr> {
    let backend = db.backend();
    let (sql, values): (&str, Vec<sea_orm::Value>) = match own_node {
        Some(n) => (
            "UPDATE outbox_messages SET status = 'pending', claimed_by = NULL WHERE status = 'sending' \
             AND (claimed_until_ms < $1 OR claimed_by = $2)",
            vec![now_ms().into(), n.into()],
        ),
        None => (
            "UPDATE outbox_messages SET status = 'pending', claimed_by = NULL WHERE status = 'sending' AND claimed_until_ms < $1",
            vec![now_ms().into()],
        ),
    };
    let txn = db.begin_write().await?;
    let r = txn.execute_raw(crate::db::statement(backend, sql, values)).await?;
    txn.commit().await?;
    Ok(r.rows_affected())
}

/// Gives back claims this node took but never attempted (claimed ahead, then the worker
/// stopped): pending again, and the attempt the claim counted is undone.
pub async fn release(db: &Db, node: &str, ids: &[Uuid]) -> Result<u64, DbErr> {
    let backend = db.backend();
    let txn = db.begin_write().await?;
    let mut released = 0;
    for id in ids {
        released += txn
            .execute_raw(crate::db::statement(
                backend,
                "UPDATE outbox_messages SET status = 'pending', claimed_by = NULL, claimed_until_ms = NULL, \
                 attempts = attempts - 1 WHERE id = $1 AND claimed_by = $2 AND status = 'sending'",
                vec![(*id).into(), node.into()],
            ))
            .await?
            .rows_affected();
    }
    txn.commit().await?;
    Ok(released)
}

/// What to record after an attempt.
#[derive(Debug, Clone)]
pub enum Finish {
    /// Accepted, with the provider's reference.
    Sent(String),
    /// Try again at this time.
    Retry {
        /// When.
        at_ms: i64,
        /// Why the attempt failed.
        error: String,
    },
    /// Give up.
    Dead(String),
}

/// Records attempts' outcomes in one transaction (the worker batches them, so a busy
/// outbox is not bound to one fsync per message). Each update applies only if this node
/// still holds the claim; returns how many did.
pub async fn finish_many(db: &Db, node: &str, outcomes: Vec<(Uuid, Finish)>) -> Result<u64, DbErr> {
    let backend = db.backend();
    let txn = db.begin_write().await?;
    let mut applied = 0;
    for (id, f) in outcomes {
        let (sql, values): (&str, Vec<sea_orm::Value>) = match f {
            Finish::Sent(r) => (
                "UPDATE outbox_messages SET status = 'sent', provider_ref = $1, sent_at = $2, last_error = NULL, \
                 claimed_until_ms = NULL WHERE id = $3 AND claimed_by = $4 AND status = 'sending'",
                vec![r.into(), Utc::now().into(), id.into(), node.into()],
            ),
            Finish::Retry { at_ms, error } => (
                "UPDATE outbox_messages SET status = 'pending', next_attempt_at_ms = $1, last_error = $2, \
                 claimed_by = NULL, claimed_until_ms = NULL WHERE id = $3 AND claimed_by = $4 AND status = 'sending'",
                vec![at_ms.into(), error.into(), id.into(), node.into()],
            ),
            Finish::Dead(error) => (
                "UPDATE outbox_messages SET status = 'dead', last_error = $1, claimed_by = NULL, claimed_until_ms = NULL \
                 WHERE id = $2 AND claimed_by = $3 AND status = 'sending'",
                vec![error.into(), id.into(), node.into()],
            ),
        };
        applied += txn.execute_raw(crate::db::statement(backend, sql, values)).await?.rows_affected();
    }
    txn.commit().await?;
    Ok(applied)
}

/// Puts a dead message back in the queue (an admin's retry) and returns it as the
/// retry left it (read in the same transaction: the worker may claim it at once).
pub async fn retry_dead(db: &Db, id: Uuid) -> Result<Option<outbox_message::Model>, DbErr> {
    let backend = db.backend();
    let txn = db.begin_write().await?;
    let r = txn
        .execute_raw(crate::db::statement(
            backend,
            "UPDATE outbox_messages SET status = 'pending', attempts = 0, next_attempt_at_ms = $1 WHERE id = $2 AND status = 'dead'",
            vec![now_ms().into(), id.into()],
        ))
        .await?;
    let retried = if r.rows_affected() == 1 { outbox_message::Entity::find_by_id(id).one(&txn).await? } else { None };
    txn.commit().await?;
    Ok(retried)
}
