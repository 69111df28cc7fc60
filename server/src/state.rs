//! What every handler shares.

use crate::auth::Auth;
use crate::config::Settings;
use crate::db::Db;
use crate::dispatch::Dispatcher;
use crate::idempotency::InFlight;
use crate::metrics::Metrics;
use crate::notify::Notifier;
use crate::tickets::intake::Intake;
use crate::workflow::survey::SurveyKeys;
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
    /// The expert pool.
    pub dispatcher: Arc<Dispatcher>,
    /// Ticket intake (group commit).
    pub intake: Intake,
    /// Idempotency keys in flight on this node.
    pub inflight: Arc<InFlight>,
    /// Templates and the outbox worker's wake-up.
    pub notifier: Arc<Notifier>,
    /// Survey link signing.
    pub surveys: SurveyKeys,
    /// Base of links in messages (`SYSOPS_PUBLIC_URL`, or this server's address).
    pub public_base: String,
    /// Device sync.
    pub sync: Arc<crate::sync::SyncHub>,
}
