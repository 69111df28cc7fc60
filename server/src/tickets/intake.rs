//! Ticket intake with group commit. Submissions queue to one writer task, which takes
//! every ticket waiting (up to a batch limit) and writes them in one transaction: the
//! tickets, their assignments, audit events, alerts, queued notifications and
//! idempotency records, one multi-row statement per table and one fsync for the batch.
//! The answer goes out only after the commit. If a batch fails, each ticket in it is
//! retried alone, so one bad ticket cannot fail its neighbours.
//!
//! A bounded admission gate sheds load (`TicketError::Overloaded`) instead of letting
//! the queue, and the latency, grow without limit.

use super::effects::Effects;
use super::error::TicketError;
use super::place::{self, Placed, Round};
use super::pooltx::PoolTx;
use super::{Actor, Created, NewTicket, Recorded};
use crate::db::entity::{idempotency_key, ticket};
use crate::db::{Db, is_unique_violation};
use crate::dispatch::Dispatcher;
use crate::idempotency::KeyError;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::notify::contacts::Contacts;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::EntityTrait;
use std::sync::Arc;
use std::time::Duration;
use sysops_core::ticket::Ticket;
use tokio::sync::{Semaphore, mpsc, oneshot};
use uuid::Uuid;

struct Job {
    ticket: NewTicket,
    recorded: Option<Recorded>,
    reply: oneshot::Sender<Result<Created, TicketError>>,
}

/// What the writer needs.
pub struct Writer {
    /// Database.
    pub db: Db,
    /// Expert pool.
    pub dispatcher: Arc<Dispatcher>,
    /// Templates and the worker's wake-up.
    pub notifier: Arc<Notifier>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Most tickets per transaction.
    pub batch_max: usize,
    /// Devices hear about new tickets through this.
    pub sync: crate::sync::SyncHandle,
}

/// The queue submissions go through.
#[derive(Clone)]
pub struct Intake {
    tx: mpsc::Sender<Job>,
    admission: Arc<Semaphore>,
    wait: Duration,
    metrics: Arc<Metrics>,
}

impl Intake {
    /// Starts the writer task.
    pub fn start(writer: Writer, max_inflight: usize, wait: Duration) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(max_inflight);
        let metrics = writer.metrics.clone();
        let handle = tokio::spawn(run(writer, rx));
        (Self { tx, admission: Arc::new(Semaphore::new(max_inflight)), wait, metrics }, handle)
    }

    /// Writes `ticket` (and its idempotency record) durably.
    pub async fn submit(&self, ticket: NewTicket, recorded: Option<Recorded>) -> Result<Created, TicketError> {
        let permit = match tokio::time::timeout(self.wait, self.admission.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => {
                self.metrics.intake_shed.inc();
                return Err(TicketError::Overloaded {
                    detail: "ticket intake is saturated; nothing was stored. Retry with the same Idempotency-Key"
                        .to_owned(),
                    retry_after_secs: 1,
                });
            }
        };
        self.metrics.intake_inflight.inc();
        let (reply, rx) = oneshot::channel();
        let result = match self.tx.send(Job { ticket, recorded, reply }).await {
            Ok(()) => rx.await.unwrap_or_else(|_| Err(shutting_down())),
            Err(_) => Err(shutting_down()),
        };
        self.metrics.intake_inflight.dec();
        drop(permit);
        result
    }
}

fn shutting_down() -> TicketError {
    TicketError::Overloaded {
        detail: "the server is shutting down; nothing was stored".to_owned(),
        retry_after_secs: 2,
    }
}

async fn run(w: Writer, mut rx: mpsc::Receiver<Job>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < w.batch_max {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        w.metrics.intake_batch_size.with_label_values(&[] as &[&str]).observe(batch.len() as f64);
        write_batch(&w, batch).await;
    }
}

/// Writes `jobs` in one transaction, keeping the pool in step with what commits.
async fn write_pooled(w: &Writer, jobs: &[Job], now: DateTime<Utc>) -> Result<Vec<Created>, TicketError> {
    let mut attempt = 0;
    loop {
        let mut pool = PoolTx::new(&w.dispatcher);
        match write(w, &mut pool, jobs, now).await {
            Ok(created) => {
                let touched = pool.commit();
                w.dispatcher.announce(&w.db, &touched).await;
                return Ok(created);
            }
            // Another node filled an expert's last place meanwhile: re-read them and
            // place the batch again.
            Err(TicketError::Raced(experts)) if attempt < super::ops::RACE_RETRIES => {
                pool.undo();
                attempt += 1;
                for e in experts {
                    w.dispatcher.reload_expert(&w.db, e).await?;
                }
            }
            Err(e) => {
                pool.undo();
                return Err(e);
            }
        }
    }
}

async fn write_batch(w: &Writer, batch: Vec<Job>) {
    let now = Utc::now().trunc_subsecs(6);
    match write_pooled(w, &batch, now).await {
        Ok(created) => {
            w.notifier.kick();
            for job in &batch {
                w.sync.ticket(job.ticket.id.as_uuid());
            }
            for (job, c) in batch.into_iter().zip(created) {
                w.metrics.tickets_created.inc();
                let _ = job.reply.send(Ok(c));
            }
        }
        Err(e) if batch.len() == 1 => {
            if let Some(j) = batch.into_iter().next() {
                let _ = j.reply.send(Err(e));
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, n = batch.len(), "intake batch failed; writing its tickets one by one");
            for job in batch {
                let r = write_pooled(w, std::slice::from_ref(&job), now).await;
                if r.is_ok() {
                    w.sync.ticket(job.ticket.id.as_uuid());
                    w.metrics.tickets_created.inc();
                }
                let r = r.and_then(|mut c| c.pop().ok_or_else(|| TicketError::internal("a write returned no ticket")));
                let _ = job.reply.send(r);
            }
            w.notifier.kick();
        }
    }
}

/// The stored row of a new ticket and its placement.
fn new_row(t: &NewTicket, machine: &Ticket, placed: &Placed, now: DateTime<Utc>) -> ticket::Model {
    let (expert, reason, at) = match placed {
        Placed::Assigned(a) => (Some(a.expert_id.as_uuid()), None, Some(now.timestamp_millis())),
        Placed::Unassignable(u) => (None, Some(u.reason.clone()), None),
    };
    ticket::Model {
        id: t.id.as_uuid(),
        customer_id: t.customer_id,
        subscription_id: t.subscription_id,
        category: t.category.slug().to_owned(),
        title: t.title.to_string(),
        description: t.description.to_string(),
        address: t.address.clone(),
        lat: t.location.lat(),
        lon: t.location.lon(),
        status: machine.status().as_str().to_owned(),
        assigned_expert_id: expert,
        excluded_experts: serde_json::json!([]),
        completed_by: None,
        resolution: None,
        completed_at: None,
        close_reason: None,
        unassignable_reason: reason,
        created_by: t.created_by.user_id,
        created_at: now,
        updated_at: now,
        assigned_at_ms: at,
        accepted_at_ms: None,
        version: 0,
        expert_notes: String::new(),
        dispatcher_notes: String::new(),
    }
}

/// Writes `jobs` in one transaction; returns each ticket as created.
async fn write(
    w: &Writer,
    pool: &mut PoolTx<'_>,
    jobs: &[Job],
    now: DateTime<Utc>,
) -> Result<Vec<Created>, TicketError> {
    let mut plans = Vec::with_capacity(jobs.len());
    for job in jobs {
        let t = &job.ticket;
        let mut machine = Ticket::new(t.id);
        let placed = place::choose(pool, &mut machine, t.category, t.location, now)?;
        let row = new_row(t, &machine, &placed, now);
        plans.push((job, row, placed));
    }
    let experts: Vec<Uuid> = plans.iter().filter_map(|(_, _, p)| p.expert().map(|e| e.as_uuid())).collect();
    let customers: Vec<Uuid> = plans.iter().map(|(_, r, _)| r.customer_id).collect();
    let managers = plans.iter().any(|(_, _, p)| matches!(p, Placed::Unassignable(_)));
    // Read on the write connection, inside the batch's transaction: the read pool is
    // busy with every request's own lookups, and queueing there stretched each group
    // commit (and so every request's wait) by several milliseconds.
    let txn = w.db.begin_write().await?;
    let contacts = Contacts::load(&txn, &experts, &customers, managers).await?;

    let mut fx = Effects::new(&w.notifier, now);
    let mut rows = Vec::with_capacity(plans.len());
    let mut idem = Vec::new();
    let mut created = Vec::with_capacity(plans.len());
    for (job, row, placed) in plans {
        let t = &job.ticket;
        fx.event(
            row.id,
            "created",
            Actor::User(t.created_by),
            serde_json::json!({"category": row.category, "title": row.title}),
        );
        let assignment = place::effects(&mut fx, &contacts, &row, &placed, Round::First);
        let expert_first_name = assignment
            .as_ref()
            .and_then(|a| contacts.experts.get(&a.expert_id))
            .map(|e| super::disclose::first_name(&e.name));
        let c = Created { ticket: row, assignment, expert_first_name };
        if let Some(r) = &job.recorded {
            let (status, body) = (r.answer)(&c);
            idem.push(r.claim.row(status, &body));
        }
        rows.push(ticket::ActiveModel::from(c.ticket.clone()));
        created.push(c);
    }
    ticket::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    let over = fx.over_capacity(&txn).await?;
    if !over.is_empty() {
        return Err(TicketError::Raced(over));
    }
    fx.write(&txn).await?;
    if !idem.is_empty()
        && let Err(e) = idempotency_key::Entity::insert_many(idem).exec_without_returning(&txn).await
    {
        return Err(if is_unique_violation(&e) { KeyError::Raced.into() } else { e.into() });
    }
    txn.commit().await?;
    Ok(created)
}
