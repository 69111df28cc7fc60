//! Ticket intake with group commit. Submissions queue to one writer task, which takes
//! every ticket waiting (up to a batch limit) and writes them, each with its assignment,
//! audit events and idempotency record, in one transaction: one fsync for the batch,
//! and a 201 only after it is durable. A bounded admission gate sheds load with 503
//! instead of letting the queue, and the latency, grow without limit.

use super::store::{Actor, record_event};
use crate::api::problem::ApiError;
use crate::api::views::TicketView;
use crate::auth::Caller;
use crate::db::Db;
use crate::db::entity::{alert, assignment, expert, ticket};
use crate::dispatch::Dispatcher;
use crate::idempotency::Claim;
use crate::metrics::Metrics;
use actix_web::http::StatusCode;
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, DatabaseTransaction, EntityTrait, QueryFilter, TransactionTrait,
};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;
use sysops_core::assignment::{Decision, ExpertPool, Request};
use sysops_core::category::Category;
use sysops_core::geo::GeoPoint;
use sysops_core::ids::{ExpertId, TicketId};
use sysops_core::text::{Description, Title};
use sysops_core::ticket::{Ticket, TicketEvent};
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
    pub fn start(
        db: Db,
        dispatcher: Arc<Dispatcher>,
        metrics: Arc<Metrics>,
        max_inflight: usize,
        batch_max: usize,
        wait: Duration,
    ) -> (Self, tokio::task::JoinHandle<()>) {
        let (tx, rx) = mpsc::channel(max_inflight);
        let writer = tokio::spawn(run(db, dispatcher, rx, batch_max, metrics.clone()));
        (
            Self {
                tx,
                admission: Arc::new(Semaphore::new(max_inflight)),
                wait,
                metrics,
            },
            writer,
        )
    }

    /// Writes `ticket` (and its idempotency record) durably and returns the 201 body.
    pub async fn submit(
        &self,
        ticket: NewTicket,
        claim: Option<Claim>,
    ) -> Result<String, ApiError> {
        let permit = match tokio::time::timeout(self.wait, self.admission.clone().acquire_owned())
            .await
        {
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
        let sent = self
            .tx
            .send(Job {
                ticket,
                claim,
                reply,
            })
            .await;
        let result = match sent {
            Ok(()) => rx.await.unwrap_or_else(|_| Err(shutting_down())),
            Err(_) => Err(shutting_down()),
        };
        self.metrics.intake_inflight.dec();
        drop(permit);
        result
    }
}

fn shutting_down() -> ApiError {
    ApiError::Overloaded {
        detail: "the server is shutting down; nothing was stored".to_owned(),
        retry_after_secs: 2,
    }
}

async fn run(
    db: Db,
    dispatcher: Arc<Dispatcher>,
    mut rx: mpsc::Receiver<Job>,
    batch_max: usize,
    metrics: Arc<Metrics>,
) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < batch_max {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        metrics
            .intake_batch_size
            .with_label_values(&[] as &[&str])
            .observe(batch.len() as f64);
        write_batch(&db, &dispatcher, batch, &metrics).await;
    }
}

/// What to put back in the pool if the batch does not commit.
struct Undo {
    expert: ExpertId,
    active: u32,
    last: Option<DateTime<Utc>>,
}

async fn write_batch(db: &Db, dispatcher: &Dispatcher, batch: Vec<Job>, metrics: &Metrics) {
    let mut pool = dispatcher.pool.lock().await;
    let txn = match db.begin_write().await {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "cannot start the intake transaction");
            for job in batch {
                let _ = job.reply.send(Err(ApiError::Internal(anyhow::anyhow!(
                    "database unavailable"
                ))));
            }
            return;
        }
    };
    let now = Utc::now();
    let mut undo = Vec::new();
    let mut results = Vec::with_capacity(batch.len());
    for job in batch {
        let outcome = match txn.begin().await {
            Ok(sp) => match write_one(&sp, &mut pool, &job, now).await {
                Ok((body, assigned)) => match sp.commit().await {
                    Ok(()) => {
                        if let Some(e) = assigned {
                            if let Some(c) = pool.get(e) {
                                undo.push(Undo {
                                    expert: e,
                                    active: c.active_tickets,
                                    last: c.last_assigned_at,
                                });
                            }
                            pool.record_assignment(e, now);
                        }
                        Ok(body)
                    }
                    Err(e) => Err(ApiError::from(e)),
                },
                Err(e) => {
                    let _ = sp.rollback().await;
                    Err(e)
                }
            },
            Err(e) => Err(ApiError::from(e)),
        };
        results.push((job, outcome));
    }
    let committed = txn.commit().await;
    if let Err(e) = &committed {
        tracing::error!(error = %e, "intake batch failed to commit; nothing in it was acknowledged");
        for u in undo.into_iter().rev() {
            if let Some(mut c) = pool.get(u.expert).cloned() {
                c.active_tickets = u.active;
                c.last_assigned_at = u.last;
                pool.upsert(c);
            }
        }
    }
    drop(pool);
    for (job, outcome) in results {
        let outcome = match (&committed, outcome) {
            (Ok(()), Ok(body)) => {
                metrics.tickets_created.inc();
                Ok(body)
            }
            (Err(_), Ok(_)) => Err(ApiError::Internal(anyhow::anyhow!("batch commit failed"))),
            (_, Err(e)) => Err(e),
        };
        let _ = job.reply.send(outcome);
    }
}

async fn write_one(
    c: &DatabaseTransaction,
    pool: &mut ExpertPool,
    job: &Job,
    now: DateTime<Utc>,
) -> Result<(String, Option<ExpertId>), ApiError> {
    let t = &job.ticket;
    let none = BTreeSet::new();
    let decision = pool.choose(&Request {
        category: t.category,
        location: t.location,
        exclude: &none,
        now,
    });
    let mut machine = Ticket::new(t.id);
    let id = t.id.as_uuid();
    let (assigned, unassignable_reason, assignment_row) = match &decision {
        Decision::Assigned(a) => {
            machine
                .apply(TicketEvent::Assign {
                    expert: a.expert_id,
                })
                .map_err(|e| ApiError::Internal(e.into()))?;
            let row = assignment::ActiveModel {
                id: Set(Uuid::now_v7()),
                ticket_id: Set(id),
                expert_id: Set(a.expert_id.as_uuid()),
                score: Set(a.score),
                reasons: Set(serde_json::to_value(&a.reasons).map_err(anyhow::Error::from)?),
                runners_up: Set(serde_json::to_value(&a.runners_up).map_err(anyhow::Error::from)?),
                assigned_at: Set(now),
                ended_at: Set(None),
                end_reason: Set(None),
            };
            (Some(a.expert_id), None, Some(row))
        }
        Decision::Unassignable(u) => {
            machine
                .apply(TicketEvent::NoExpertFits)
                .map_err(|e| ApiError::Internal(e.into()))?;
            (None, Some(u.reason.clone()), None)
        }
    };
    let row = ticket::ActiveModel {
        id: Set(id),
        customer_id: Set(t.customer_id),
        subscription_id: Set(t.subscription_id),
        category: Set(t.category.slug().to_owned()),
        title: Set(t.title.to_string()),
        description: Set(t.description.to_string()),
        address: Set(t.address.clone()),
        lat: Set(t.location.lat()),
        lon: Set(t.location.lon()),
        status: Set(machine.status().as_str().to_owned()),
        assigned_expert_id: Set(assigned.map(|e| e.as_uuid())),
        excluded_experts: Set(serde_json::json!([])),
        completed_by: Set(None),
        resolution: Set(None),
        completed_at: Set(None),
        close_reason: Set(None),
        unassignable_reason: Set(unassignable_reason.clone()),
        created_by: Set(t.created_by.user_id),
        created_at: Set(now),
        updated_at: Set(now),
        assigned_at_ms: Set(assigned.map(|_| now.timestamp_millis())),
        accepted_at_ms: Set(None),
        version: Set(0),
    };
    let stored = ticket::Entity::insert(row).exec_with_returning(c).await?;
    record_event(
        c,
        id,
        "created",
        Actor::User(t.created_by),
        now,
        serde_json::json!({ "category": t.category.slug(), "title": t.title.as_str() }),
    )
    .await?;
    let mut stored_assignment = None;
    match (&decision, assignment_row) {
        (Decision::Assigned(a), Some(row)) => {
            stored_assignment = Some(
                assignment::Entity::insert(row)
                    .exec_with_returning(c)
                    .await?,
            );
            expert::Entity::update_many()
                .col_expr(
                    expert::Column::LastAssignedAt,
                    sea_orm::sea_query::Expr::val(now).into(),
                )
                .filter(expert::Column::UserId.eq(a.expert_id.as_uuid()))
                .exec(c)
                .await?;
            record_event(
                c,
                id,
                "assigned",
                Actor::System,
                now,
                serde_json::json!({
                    "expert_id": a.expert_id, "score": a.score, "reasons": a.reasons, "runners_up": a.runners_up,
                }),
            )
            .await?;
        }
        (Decision::Unassignable(u), _) => {
            record_event(
                c,
                id,
                "unassignable",
                Actor::System,
                now,
                serde_json::json!({ "reason": u.reason, "detail": u }),
            )
            .await?;
            alert::Entity::insert(alert::ActiveModel {
                id: Set(Uuid::now_v7()),
                kind: Set("unassignable".to_owned()),
                ticket_id: Set(Some(id)),
                message: Set(format!(
                    "Ticket \"{}\" cannot be assigned: {}",
                    t.title, u.reason
                )),
                created_at: Set(now),
                acknowledged_at: Set(None),
            })
            .exec_without_returning(c)
            .await?;
        }
        _ => {}
    }
    let body = serde_json::to_string(&TicketView::new(&stored, stored_assignment.as_ref()))
        .map_err(|e| ApiError::Internal(e.into()))?;
    if let Some(claim) = &job.claim {
        claim.store(c, StatusCode::CREATED, &body).await?;
    }
    Ok((body, assigned))
}
