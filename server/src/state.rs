//! What every handler shares: the services, and the few settings the edges read.

use crate::auth::Auth;
use crate::config::Settings;
use crate::db::Db;
use crate::dispatch::Dispatcher;
use crate::idempotency::InFlight;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::tickets::Tickets;
use std::sync::Arc;

/// The application state.
pub struct AppState {
    /// Configuration.
    pub settings: Settings,
    /// Database handles.
    pub db: Db,
    /// Token signing and verification.
    pub auth: Auth,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// The ticket service (intake, lifecycle, surveys).
    pub tickets: Arc<Tickets>,
    /// The expert pool (profile changes refresh it).
    pub dispatcher: Arc<Dispatcher>,
    /// Idempotency keys in flight on this node.
    pub inflight: Arc<InFlight>,
    /// Templates and the outbox worker's wake-up.
    pub notifier: Arc<Notifier>,
    /// Base of links in messages (`SYSOPS_PUBLIC_URL`, or this server's address).
    pub public_base: String,
    /// Device sync.
    pub sync: Arc<crate::sync::SyncHub>,
    /// Billing (charges, cards, refunds, the processor's webhooks).
    pub billing: Arc<crate::billing::Billing>,
}
