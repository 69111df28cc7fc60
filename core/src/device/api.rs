//! What the app sees: the errors it can act on, the sync state it shows, and the two
//! platform services it implements (a key store for the tokens, a listener for changes).

/// Everything that can go wrong, in terms an app can act on. Messages never carry
/// personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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

/// Where syncing stands.
#[derive(Debug, Clone, PartialEq, Eq)]
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
pub trait KeyStore: Send + Sync {
    /// A stored value.
    fn get(&self, key: String) -> Option<String>;
    /// Stores a value.
    fn put(&self, key: String, value: String);
    /// Forgets a value.
    fn remove(&self, key: String);
}

/// What the app hears about (called from a background thread).
pub trait DeviceListener: Send + Sync {
    /// `tickets` or `kb` changed (from the server or from this device).
    fn on_change(&self, what: String);
    /// The sync state changed.
    fn on_sync_state(&self, state: SyncState);
}
