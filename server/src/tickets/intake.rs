//! Ticket intake with group commit. Submissions queue to one writer task, which takes
//! every ticket waiting (up to a batch limit) and writes them in one transaction: the
//! tickets, their assignments, audit events, alerts, queued notifications and
//! idempotency records, one multi-row statement per table and one fsync for the batch.
//! The 201 goes out only after the commit. If a batch fails, each ticket in it is
//! retried alone, so one bad ticket cannot fail its neighbours.
//!
//! A bounded admission gate sheds load with 503 instead of letting the queue, and the
//! latency, grow without limit.

use crate::api::problem::ApiError;
use crate::api::views::{AssignmentView, TicketView};
use crate::auth::Caller;
use crate::db::entity::{idempotency_key, ticket};
use crate::db::{Db, is_unique_violation};
use crate::dispatch::Dispatcher;
use crate::idempotency::Claim;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::notify::contacts::Contacts;
use crate::tickets::store::Actor;
use crate::workflow::effects::Effects;
use crate::workflow::place::{self, Placed, Round};
use crate::workflow::pooltx::PoolTx;
use actix_web::http::StatusCode;
use chrono::{DateTime, SubsecRound, Utc};
use sea_orm::EntityTrait;
use std::sync::Arc;
use std::time::Duration;
use sysops_core::category::Category;
use sysops_core::geo::GeoPoint;
use sysops_core::ids::TicketId;
use sysops_core::text::{Description, Title};
use sysops_core::ticket::Ticket;
use tokio::sync::{Semaphore, mpsc, oneshot};
use uuid::Uuid;

/// A validated ticket, ready to be written.
pub struct NewTicket {
    /// Its id.
    pub id: TicketId,
    /// The customer.
    pub customer_id: Uuid,
    /// The subscription.
    pub subscription_id: Uuid,
    /// Category (covered by the plan).
    pub category: Category,
    /// Title.
    pub title: Title,
    /// Description.
    pub description: Description,
    /// Address of the work.
    pub address: String,
    /// Location of the work.
    pub location: GeoPoint,
    /// Who entered it.
    pub created_by: Caller,
}

struct Job {
    ticket: NewTicket,
    claim: Option<Claim>,
    reply: oneshot::Sender<Result<String, ApiError>>,
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

/// The handle handlers submit through.
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

    /// Writes `ticket` (and its idempotency record) durably and returns the 201 body.
    pub async fn submit(&self, ticket: NewTicket, claim: Option<Claim>) -> Result<String, ApiError> {
        let permit = match tokio::time::timeout(self.wait, self.admission.clone().acquire_owned()).await {
            Ok(Ok(p)) => p,
            _ => {
                self.metrics.intake_shed.inc();
                return Err(ApiError::Overloaded {
                    detail: "ticket intake is saturated; nothing was stored. Retry with the same Idempotency-Key"
                        .to_owned(),
                    retry_after_secs: 1,
                });
            }
        };
        self.metrics.intake_inflight.inc();
        let (reply, rx) = oneshot::channel();
        let result = match self.tx.send(Job { ticket, claim, reply }).await {
            Ok(()) => rx.await.unwrap_or_else(|_| Err(shutting_down())),
            Err(_) => Err(shutting_down()),
        };
        self.metrics.intake_inflight.dec();
        drop(permit);
        result
    }
}

fn shutting_down() -> ApiError {
    ApiError::Overloaded { detail: "the server is shutting down; nothing was stored".to_owned(), retry_after_secs: 2 }
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

async fn write_batch(w: &Writer, batch: Vec<Job>) {
    let mut guard = w.dispatcher.pool.lock().await;
    let now = Utc::now().trunc_subsecs(6);
    let outcome = {
        let mut pool = PoolTx::new(&mut guard);
        let r = write(w, &mut pool, &batch, now).await;
        if r.is_err() {
            pool.rollback();
        }
        r
    };
    match outcome {
        Ok(bodies) => {
            drop(guard);
            w.notifier.kick();
            for job in &batch {
                w.sync.ticket(job.ticket.id.as_uuid());
            }
            for (job, body) in batch.into_iter().zip(bodies) {
                w.metrics.tickets_created.inc();
                let _ = job.reply.send(Ok(body));
            }
        }
        Err(e) if batch.len() == 1 => {
            drop(guard);
            let _ = batch.into_iter().next().map(|j| j.reply.send(Err(e)));
        }
        Err(e) => {
            tracing::warn!(error = %e, n = batch.len(), "intake batch failed; writing its tickets one by one");
            for job in batch {
                let r = {
                    let mut pool = PoolTx::new(&mut guard);
                    let r = write(w, &mut pool, std::slice::from_ref(&job), now).await;
                    if r.is_err() {
                        pool.rollback();
                    }
                    r
                };
                if r.is_ok() {
                    w.sync.ticket(job.ticket.id.as_uuid());
                }
                let _ = job.reply.send(r.map(|mut b| {
                    w.metrics.tickets_created.inc();
                    b.pop().unwrap_or_default()
                }));
            }
            drop(guard);
            w.notifier.kick();
        }
    }
}

/// Writes `jobs` in one transaction; returns each ticket's 201 body.
async fn write(w: &Writer, pool: &mut PoolTx<'_>, jobs: &[Job], now: DateTime<Utc>) -> Result<Vec<String>, ApiError> {
    let mut plans = Vec::with_capacity(jobs.len());
    for job in jobs {
        let t = &job.ticket;
        let mut machine = Ticket::new(t.id);
        let placed = place::choose(pool, &mut machine, t.category, t.location, now)?;
        let (expert, reason, at) = match &placed {
            Placed::Assigned(a) => (Some(a.expert_id.as_uuid()), None, Some(now.timestamp_millis())),
            Placed::Unassignable(u) => (None, Some(u.reason.clone()), None),
        };
        let row = ticket::Model {
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
        };
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
    let mut bodies = Vec::with_capacity(plans.len());
    for (job, row, placed) in plans {
        let t = &job.ticket;
        fx.event(
            row.id,
            "created",
            Actor::User(t.created_by),
            serde_json::json!({"category": row.category, "title": row.title}),
        );
        place::effects(&mut fx, &contacts, &row, &placed, Round::First);
        let assignment = match &placed {
            Placed::Assigned(a) => Some(AssignmentView::from_decision(a, now)),
            Placed::Unassignable(_) => None,
        };
        let body = serde_json::to_string(&TicketView::with_assignment(&row, assignment))
            .map_err(|e| ApiError::Internal(e.into()))?;
        if let Some(claim) = &job.claim {
            idem.push(claim.row(StatusCode::CREATED, &body));
        }
        bodies.push(body);
        rows.push(ticket::ActiveModel::from(row));
    }
    ticket::Entity::insert_many(rows).exec_without_returning(&txn).await?;
    fx.write(&txn).await?;
    if !idem.is_empty()
        && let Err(e) = idempotency_key::Entity::insert_many(idem).exec_without_returning(&txn).await
    {
        return Err(if is_unique_violation(&e) {
            ApiError::Conflict(
                "a request with this Idempotency-Key was completed concurrently; retry to get its response".into(),
            )
        } else {
            e.into()
        });
    }
    txn.commit().await?;
    Ok(bodies)
}
