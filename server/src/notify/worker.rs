//! The outbox worker: claims due messages, sends them through the providers, and
//! records each outcome at once (retry with exponential backoff, or dead-letter after
//! the last attempt). Several nodes may run one each; the claim keeps them apart.

use super::Channel;
use super::outbox::{self, Finish};
use super::providers::{Outcome, Providers};
use crate::db::Db;
use crate::db::entity::{device, outbox_message};
use prometheus::{IntCounterVec, Opts};
use rand::Rng;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// Tuning.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// Messages claimed at once.
    pub batch: u64,
    /// Sends in flight at once.
    pub concurrency: usize,
    /// How long a claim lasts before another worker may take the message back.
    pub lease_ms: i64,
    /// Attempts before a message is dead-lettered.
    pub max_attempts: i32,
    /// First retry delay; doubles each attempt.
    pub base_delay_ms: i64,
    /// Longest retry delay.
    pub max_delay_ms: i64,
    /// How often to look for due messages when nothing wakes the worker.
    pub poll_ms: u64,
}

/// The worker.
pub struct Worker {
    db: Db,
    providers: Arc<Providers>,
    node: String,
    wake: Arc<Notify>,
    cfg: WorkerConfig,
    outcomes: IntCounterVec,
}

impl Worker {
    /// A worker for `node`; `wake` is notified whenever a message is queued here.
    pub fn new(
        db: Db,
        providers: Arc<Providers>,
        node: String,
        wake: Arc<Notify>,
        cfg: WorkerConfig,
        metrics: &crate::metrics::Metrics,
    ) -> anyhow::Result<Self> {
        let outcomes = IntCounterVec::new(
            Opts::new("outbox_attempts_total", "Outbox delivery attempts by channel and outcome"),
            &["channel", "outcome"],
        )?;
        metrics.register(Box::new(outcomes.clone()))?;
        Ok(Self { db, providers, node, wake, cfg, outcomes })
    }

    /// Runs until `shutdown`, finishing the sends in flight.
    pub fn spawn(self, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move { Arc::new(self).run(shutdown).await })
    }

    /// Sends are pipelined: up to `concurrency` are in flight, and a free slot is filled
    /// at once, so one slow provider (an SMTP exchange) never holds up a push.
    async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        match outbox::reclaim(&self.db, Some(&self.node)).await {
            Ok(n) if n > 0 => tracing::warn!(n, "re-queued messages this node was sending when it stopped"),
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot re-queue interrupted messages"),
        }
        let channels = self.providers.deliverable();
        let slots = Arc::new(Semaphore::new(self.cfg.concurrency.max(1)));
        let (record, outcomes) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(record_outcomes(self.db.clone(), self.node.clone(), outcomes));
        let done = Arc::new(Notify::new());
        let mut sends = JoinSet::new();
        // Claimed ahead of the free slots: a claim is a write transaction, and claiming
        // only as many as there were free slots (often one) cost a commit per message.
        let mut claimed: VecDeque<outbox_message::Model> = VecDeque::new();
        loop {
            while sends.try_join_next().is_some() {}
            // Fill the free slots with due messages.
            while !shutdown.is_cancelled() && slots.available_permits() > 0 {
                if claimed.is_empty() {
                    let n = self.cfg.batch.max(self.cfg.concurrency as u64);
                    match outbox::claim(&self.db, &self.node, &channels, n, self.cfg.lease_ms).await {
                        Ok(b) => claimed.extend(b),
                        Err(e) => {
                            tracing::error!(error = %e, "outbox claim failed");
                            break;
                        }
                    }
                }
                let Some(m) = claimed.pop_front() else { break };
                let Ok(permit) = slots.clone().acquire_owned().await else { break };
                let (me, done, record) = (self.clone(), done.clone(), record.clone());
                sends.spawn(async move {
                    me.deliver(m, &record).await;
                    drop(permit);
                    done.notify_one();
                });
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = self.wake.notified() => {}
                () = done.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(self.cfg.poll_ms)) => {
                    if let Err(e) = outbox::reclaim(&self.db, None).await {
                        tracing::error!(error = %e, "reclaiming expired claims failed");
                    }
                }
            }
        }
        if !claimed.is_empty() {
            let ids: Vec<uuid::Uuid> = claimed.iter().map(|m| m.id).collect();
            if let Err(e) = outbox::release(&self.db, &self.node, &ids).await {
                tracing::warn!(error = %e, n = ids.len(), "cannot give back unsent claims; they retry when the lease ends");
            }
        }
        while sends.join_next().await.is_some() {}
        drop(record);
        let _ = recorder.await;
    }

    fn backoff_ms(&self, attempts: i32) -> i64 {
        let exp = self.cfg.base_delay_ms.saturating_mul(1i64 << attempts.clamp(1, 30).saturating_sub(1));
        let capped = exp.min(self.cfg.max_delay_ms) as f64;
        (capped * rand::rng().random_range(0.8..1.2)) as i64
    }

    async fn deliver(&self, m: outbox_message::Model, record: &mpsc::UnboundedSender<(uuid::Uuid, Finish)>) {
        let started = std::time::Instant::now();
        let outcome = self.providers.send(&m).await;
        tracing::debug!(id = %m.id, channel = %m.channel, ms = started.elapsed().as_millis() as u64, "attempt");
        let label = match &outcome {
            Outcome::Sent(_) => "sent",
            Outcome::Refused { permanent: true, .. } => "refused_permanently",
            Outcome::Refused { .. } => "refused",
            Outcome::Unknown(_) => "unknown",
        };
        self.outcomes.with_label_values(&[m.channel.as_str(), label]).inc();
        let finish = match outcome {
            Outcome::Sent(r) => Finish::Sent(r),
            Outcome::Refused { permanent: true, error } => {
                if m.channel == Channel::Push.as_str() && error.contains("UNREGISTERED") {
                    let _ = device::Entity::delete_many()
                        .filter(device::Column::PushToken.eq(m.recipient.clone()))
                        .exec(&self.db.write)
                        .await;
                }
                Finish::Dead(error)
            }
            Outcome::Refused { error, .. } | Outcome::Unknown(error) if m.attempts >= self.cfg.max_attempts => {
                Finish::Dead(format!("gave up after {} attempts: {error}", m.attempts))
            }
            Outcome::Refused { error, .. } | Outcome::Unknown(error) => {
                Finish::Retry { at_ms: chrono::Utc::now().timestamp_millis() + self.backoff_ms(m.attempts), error }
            }
        };
        if let Finish::Dead(e) = &finish {
            tracing::warn!(id = %m.id, channel = %m.channel, error = %e, "message dead-lettered");
        }
        let _ = record.send((m.id, finish));
    }
}

/// Writes outcomes as they come, all that are waiting in one transaction.
async fn record_outcomes(db: Db, node: String, mut rx: mpsc::UnboundedReceiver<(uuid::Uuid, Finish)>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < 512 {
            match rx.try_recv() {
                Ok(o) => batch.push(o),
                Err(_) => break,
            }
        }
        let n = batch.len() as u64;
        match outbox::finish_many(&db, &node, batch).await {
            Ok(applied) if applied < n => {
                tracing::warn!(lost = n - applied, "claims lost before outcomes were recorded")
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!(error = %e, "cannot record outcomes; their claims will expire and the messages retry")
            }
        }
    }
}
