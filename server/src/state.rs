//! What every handler shares.

use crate::auth::Auth;
use crate::config::Settings;
use crate::db::Db;
use crate::dispatch::Dispatcher;
use crate::idempotency::InFlight;
use crate::metrics::Metrics;
use crate::tickets::intake::Intake;
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
}
