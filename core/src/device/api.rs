//! What the app sees: the errors it can act on, the sync state it shows, and the two
//! platform services it implements (a key store for the tokens, a listener for changes).
//! With the `ffi` feature they carry their uniffi derives, so `mobile-ffi` exports these
//! very types to Kotlin, Swift and Python instead of copies.

/// Everything that can go wrong, in terms an app can act on. Messages never carry
/// personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[cfg_attr(feature = "ffi", derive(uniffi::Error))]
pub enum DeviceError {
    /// Sign in first.
    #[error("not signed in")]
    NotSignedIn,
    /// The e-mail or password is wrong.
    #[error("wrong e-mail or password")]
    BadCredentials,
    /// The server cannot be reached now (the action needs it); try again later.
    #[error("the server cannot be reached: {message}")]
    Offline {
        /// Why.
        message: String,
    },
    /// No such ticket or article on this device.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for.
        what: String,
    },
    /// The input is not acceptable (the message says why).
    #[error("{message}")]
    Invalid {
        /// Why.
        message: String,
    },
    /// The local database failed (full disk, damaged file).
    #[error("storage: {message}")]
    Storage {
        /// Why.
        message: String,
    },
    /// The server refused or failed.
    #[error("server: {message}")]
    Server {
        /// Why.
        message: String,
    },
}

/// Where the device's server is and how to trust it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct DeviceConfig {
    /// The server (`https://…`; `http://` for development).
    pub server_url: String,
    /// PEM certificate(s) of a private deployment's own CA, trusted besides the bundled
    /// Mozilla roots (which need no platform set-up); `None` for a public certificate.
    #[cfg_attr(feature = "ffi", uniffi(default))]
    pub extra_ca_pem: Option<String>,
}

/// Where syncing stands.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "ffi", derive(uniffi::Record))]
pub struct SyncState {
    /// Connected to the server now.
    pub connected: bool,
    /// When the device last knew it had everything (RFC 3339), if ever.
    pub last_synced_at: Option<String>,
    /// Documents with local changes the server has not confirmed yet.
    pub pending_changes: u32,
}

/// Secure storage the app provides (Android Keystore, iOS Keychain): the tokens live
/// there, not in the database.
#[cfg_attr(feature = "ffi", uniffi::export(with_foreign))]
pub trait KeyStore: Send + Sync {
    /// A stored value.
    fn get(&self, key: String) -> Option<String>;
    /// Stores a value.
    fn put(&self, key: String, value: String);
    /// Forgets a value.
    fn remove(&self, key: String);
}

/// What the app hears about (called from a background thread).
#[cfg_attr(feature = "ffi", uniffi::export(with_foreign))]
pub trait DeviceListener: Send + Sync {
    /// `tickets` or `kb` changed (from the server or from this device).
    fn on_change(&self, what: String);
    /// The sync state changed.
    fn on_sync_state(&self, state: SyncState);
}

/// Where the expert is with a ticket, as the app shows it. It follows the device's own
/// timestamps first (they change offline at once) and the server's status second (it
/// catches up after sync); a status this version does not know leaves the timestamps to
/// decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "ffi", derive(uniffi::Enum))]
pub enum TicketStage {
    /// Assigned to the expert, not yet accepted.
    Assigned,
    /// Accepted, not yet on the way.
    Accepted,
    /// On the way.
    EnRoute,
    /// At the customer's.
    OnSite,
    /// Completed (or closed after the survey).
    Completed,
    /// Declined on this device.
    Declined,
    /// No longer the expert's to work: cancelled, or no expert could be found for it
    /// (`unassignable`) after it left this one.
    Withdrawn,
}

impl TicketStage {
    /// The stage of a ticket from its server status (if known) and the device's stamps.
    pub fn of(status: Option<crate::ticket::TicketStatus>, stamps: &super::store::TicketRow) -> Self {
        use crate::ticket::TicketStatus as S;
        if stamps.completed_at.is_some() || matches!(status, Some(S::Completed | S::Closed)) {
            return Self::Completed;
        }
        if matches!(status, Some(S::Cancelled | S::Unassignable)) {
            return Self::Withdrawn;
        }
        if stamps.declined_at.is_some() {
            return Self::Declined;
        }
        if stamps.arrived_at.is_some() {
            return Self::OnSite;
        }
        if stamps.en_route_at.is_some() {
            return Self::EnRoute;
        }
        if stamps.accepted_at.is_some() || status == Some(S::Accepted) {
            return Self::Accepted;
        }
        Self::Assigned
    }
}

#[cfg_attr(feature = "ffi", uniffi::export)]
impl TicketStage {
    /// No more work to do on it on this device.
    pub fn is_finished(&self) -> bool {
        matches!(self, Self::Completed | Self::Declined | Self::Withdrawn)
    }

    /// A short label for lists (English; the apps may translate by stage).
    pub fn label(&self) -> String {
        match self {
            Self::Assigned => "New",
            Self::Accepted => "Accepted",
            Self::EnRoute => "En route",
            Self::OnSite => "On site",
            Self::Completed => "Completed",
            Self::Declined => "Declined",
            Self::Withdrawn => "Withdrawn",
        }
        .to_owned()
    }
}
