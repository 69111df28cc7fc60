//! The expert's device, for the apps: one object, [`SysopsDevice`], that opens the
//! offline store, signs in, syncs in the background and does everything an expert does
//! in the field, with or without a network. Generated into Kotlin, Swift and Python by
//! uniffi; the doc comments here become the apps' documentation.

use std::sync::Arc;
use std::time::Duration;
use sysops_core::device as core;

uniffi::setup_scaffolding!();

// The error, the sync state, the key store and the listener are the core's own types
// (with their uniffi derives, feature `ffi`): the apps see them as the core declares them.
pub use core::api::{DeviceConfig, DeviceError, DeviceListener, KeyStore, SyncState, TicketStage};
pub use core::location::LocationPolicy;
pub use sysops_core::ticket::TicketStatus;

/// A ticket on the device.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Ticket {
    /// Id.
    pub id: String,
    /// Status on the server; `None` when the server sent one this version of the app does
    /// not know (show [`Ticket::stage`] then).
    pub status: Option<TicketStatus>,
    /// Where the expert is with it, as the app shows it (from the device's own stamps
    /// first, the server's status second).
    pub stage: TicketStage,
    /// No more work to do on it on this device (the stage is completed, declined or
    /// withdrawn).
    pub finished: bool,
    /// Category.
    pub category: String,
    /// Title.
    pub title: String,
    /// Problem description.
    pub description: String,
    /// Address.
    pub address: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// A `geo:` link for the address (opens the maps app on Android).
    pub map_url: String,
    /// An `https:` map link for the address (any browser; iOS hands it to a maps app).
    pub web_map_url: String,
    /// Customer's name.
    pub customer_name: String,
    /// Customer's phone.
    pub customer_phone: String,
    /// Notes from the dispatcher.
    pub dispatcher_notes: String,
    /// When this device accepted it.
    pub accepted_at: Option<String>,
    /// When this device declined it.
    pub declined_at: Option<String>,
    /// When the expert set off.
    pub en_route_at: Option<String>,
    /// When the expert arrived.
    pub arrived_at: Option<String>,
    /// When the expert completed it.
    pub completed_at: Option<String>,
    /// The resolution.
    pub resolution: Option<String>,
    /// The expert's notes.
    pub notes: String,
}

impl From<core::store::TicketRow> for Ticket {
    fn from(t: core::store::TicketRow) -> Self {
        let stage = t.stage();
        Self {
            stage,
            finished: stage.is_finished(),
            map_url: format!("geo:{:.6},{:.6}?q={:.6},{:.6}", t.lat, t.lon, t.lat, t.lon),
            web_map_url: format!(
                "https://www.openstreetmap.org/?mlat={:.6}&mlon={:.6}#map=17/{:.6}/{:.6}",
                t.lat, t.lon, t.lat, t.lon
            ),
            id: t.id,
            status: t.status,
            category: t.category,
            title: t.title,
            description: t.description,
            address: t.address,
            lat: t.lat,
            lon: t.lon,
            customer_name: t.customer_name,
            customer_phone: t.customer_phone,
            dispatcher_notes: t.dispatcher_notes,
            accepted_at: t.accepted_at,
            declined_at: t.declined_at,
            en_route_at: t.en_route_at,
            arrived_at: t.arrived_at,
            completed_at: t.completed_at,
            resolution: t.resolution,
            notes: t.notes,
        }
    }
}

/// A knowledge-base search hit.
#[derive(Debug, Clone, uniffi::Record)]
pub struct KbHit {
    /// Article id.
    pub id: String,
    /// Title.
    pub title: String,
    /// The matching passage.
    pub snippet: String,
}

/// A knowledge-base article.
#[derive(Debug, Clone, uniffi::Record)]
pub struct Article {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Written on this device, not yet published.
    pub draft: bool,
}

/// The expert's device.
#[derive(uniffi::Object)]
pub struct SysopsDevice {
    // The lock is held only to clone or take the handle, never across a call: a call that
    // waits (sign-in, `wait_synced`) or a listener that calls back in never blocks another.
    inner: std::sync::RwLock<Option<Arc<core::Device>>>,
    recovered: bool,
}

impl SysopsDevice {
    fn device(&self) -> Result<Arc<core::Device>, DeviceError> {
        let g = self.inner.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        g.clone().ok_or(DeviceError::Storage { message: "the device was closed".into() })
    }

    fn with<T>(&self, f: impl FnOnce(&core::Device) -> Result<T, DeviceError>) -> Result<T, DeviceError> {
        f(&*self.device()?)
    }
}

/// Logs the device's sync to stderr when `SYSOPS_DEVICE_LOG` holds a filter (e.g.
/// `debug`, or `samod=debug`): for developers and tests on a desktop. Once per process.
fn diagnostics() {
    if let Ok(filter) = std::env::var("SYSOPS_DEVICE_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .try_init();
    }
}

#[uniffi::export]
impl SysopsDevice {
    /// Opens the store at `path` for the server at `server_url`. A damaged store is set
    /// aside and rebuilt from the server (see [`SysopsDevice::recovered_from_damage`]).
    #[uniffi::constructor]
    pub fn open(path: String, server_url: String, keys: Arc<dyn KeyStore>) -> Result<Arc<Self>, DeviceError> {
        diagnostics();
        let d = core::Device::open(std::path::Path::new(&path), &server_url, keys)?;
        let recovered = d.recovered;
        Ok(Arc::new(Self { inner: std::sync::RwLock::new(Some(Arc::new(d))), recovered }))
    }

    /// Opens the store at `path` for the server `config` names. `https://` works with no
    /// platform set-up (Mozilla's roots are bundled); a private deployment adds its own
    /// CA as PEM in `extra_ca_pem`.
    #[uniffi::constructor]
    pub fn open_with_config(
        path: String,
        config: DeviceConfig,
        keys: Arc<dyn KeyStore>,
    ) -> Result<Arc<Self>, DeviceError> {
        diagnostics();
        let d = core::Device::open_with(std::path::Path::new(&path), &config, keys)?;
        let recovered = d.recovered;
        Ok(Arc::new(Self { inner: std::sync::RwLock::new(Some(Arc::new(d))), recovered }))
    }

    /// Whether opening found a damaged store and started afresh.
    pub fn recovered_from_damage(&self) -> bool {
        self.recovered
    }

    /// Signs in (a different expert than before starts from an empty store); returns the
    /// expert's id.
    pub fn sign_in(&self, email: String, password: String) -> Result<String, DeviceError> {
        self.with(|d| d.sign_in(&email, &password))
    }

    /// The signed-in expert's id, or `None` when nobody is signed in (show the sign-in
    /// screen).
    pub fn signed_in_expert(&self) -> Result<Option<String>, DeviceError> {
        Ok(self.device()?.signed_in())
    }

    /// The availability the expert last set, or `None` if never set.
    pub fn available(&self) -> Result<Option<bool>, DeviceError> {
        self.with(|d| d.available())
    }

    /// Signs out.
    pub fn sign_out(&self) -> Result<(), DeviceError> {
        self.with(|d| {
            d.sign_out();
            Ok(())
        })
    }

    /// Starts background sync (reconnects whenever the network returns).
    pub fn start_sync(&self) -> Result<(), DeviceError> {
        self.with(|d| d.start_sync())
    }

    /// Stops background sync.
    pub fn stop_sync(&self) -> Result<(), DeviceError> {
        self.with(|d| {
            d.stop_sync();
            Ok(())
        })
    }

    /// Waits up to `timeout_ms` until connected with nothing pending; returns whether it
    /// got there.
    pub fn wait_synced(&self, timeout_ms: u64) -> Result<bool, DeviceError> {
        self.with(|d| Ok(d.wait_synced(Duration::from_millis(timeout_ms))))
    }

    /// Connection and sync state.
    pub fn sync_state(&self) -> Result<SyncState, DeviceError> {
        self.with(|d| Ok(d.sync_state()))
    }

    /// Sets the listener (or clears it with `None`).
    pub fn set_listener(&self, listener: Option<Arc<dyn DeviceListener>>) -> Result<(), DeviceError> {
        self.with(|d| {
            d.set_listener(listener);
            Ok(())
        })
    }

    /// The tickets assigned to the expert (open work first).
    pub fn tickets(&self) -> Result<Vec<Ticket>, DeviceError> {
        self.with(|d| Ok(d.tickets()?.into_iter().map(Into::into).collect()))
    }

    /// One ticket, with its location and map link.
    pub fn ticket(&self, id: String) -> Result<Ticket, DeviceError> {
        self.with(|d| d.ticket(&id).map(Into::into))
    }

    /// Accepts a ticket.
    pub fn accept(&self, ticket_id: String) -> Result<(), DeviceError> {
        self.with(|d| d.accept(&ticket_id))
    }

    /// Declines a ticket.
    pub fn decline(&self, ticket_id: String, reason: String) -> Result<(), DeviceError> {
        self.with(|d| d.decline(&ticket_id, &reason))
    }

    /// On the way.
    pub fn en_route(&self, ticket_id: String) -> Result<(), DeviceError> {
        self.with(|d| d.en_route(&ticket_id))
    }

    /// Arrived.
    pub fn arrived(&self, ticket_id: String) -> Result<(), DeviceError> {
        self.with(|d| d.arrived(&ticket_id))
    }

    /// Replaces the work notes.
    pub fn set_notes(&self, ticket_id: String, notes: String) -> Result<(), DeviceError> {
        self.with(|d| d.set_notes(&ticket_id, &notes))
    }

    /// Records a part used.
    pub fn add_part(&self, ticket_id: String, name: String, quantity: f64) -> Result<(), DeviceError> {
        self.with(|d| d.add_part(&ticket_id, &name, quantity))
    }

    /// Completes a ticket with the resolution (stamped with this device's clock).
    pub fn complete(&self, ticket_id: String, resolution: String) -> Result<(), DeviceError> {
        self.with(|d| d.complete(&ticket_id, &resolution))
    }

    /// Sets availability.
    pub fn set_available(&self, available: bool) -> Result<(), DeviceError> {
        self.with(|d| d.set_available(available))
    }

    /// Reports the current position now, whatever the location policy says.
    pub fn set_location(&self, lat: f64, lon: f64) -> Result<(), DeviceError> {
        self.with(|d| d.set_location(lat, lon))
    }

    /// A fix from the phone's location service: sent to the dispatcher on start (the first
    /// fix after sync starts or availability is switched on), on a significant move at
    /// most once per interval (see [`SysopsDevice::set_location_policy`]), and only while
    /// the expert is available. Feed it every fix; returns whether this one was sent.
    pub fn report_location(&self, lat: f64, lon: f64) -> Result<bool, DeviceError> {
        self.with(|d| d.report_location(lat, lon))
    }

    /// How large a move (metres) is worth reporting and how often (seconds) at most;
    /// the default is 250 m and 5 minutes.
    pub fn set_location_policy(&self, policy: LocationPolicy) -> Result<(), DeviceError> {
        self.with(|d| d.set_location_policy(policy))
    }

    /// The location policy in force.
    pub fn location_policy(&self) -> Result<LocationPolicy, DeviceError> {
        self.with(|d| Ok(d.location_policy()))
    }

    /// Searches the knowledge base (ranked, with snippets), offline.
    pub fn search_kb(&self, query: String, limit: u32) -> Result<Vec<KbHit>, DeviceError> {
        self.with(|d| {
            Ok(d.search_kb(&query, limit)?
                .into_iter()
                .map(|h| KbHit { id: h.id, title: h.title, snippet: h.snippet })
                .collect())
        })
    }

    /// Reads an article, offline.
    pub fn article(&self, id: String) -> Result<Article, DeviceError> {
        self.with(|d| {
            let a = d.article(&id)?;
            Ok(Article { id: a.id, title: a.title, body: a.body, tags: a.tags, draft: a.draft })
        })
    }

    /// Writes a KB article (offline); it goes to review on the next sync. Returns its id.
    pub fn write_article(&self, title: String, body: String, tags: Vec<String>) -> Result<String, DeviceError> {
        self.with(|d| d.write_article(&title, &body, tags))
    }

    /// Registers the phone's push token (`android` or `ios`).
    pub fn register_push_token(&self, platform: String, token: String) -> Result<(), DeviceError> {
        self.with(|d| d.register_push_token(&platform, &token))
    }

    /// Stops syncing and closes the store (the object is unusable afterwards).
    pub fn close(&self) -> Result<(), DeviceError> {
        let d = self.inner.write().unwrap_or_else(std::sync::PoisonError::into_inner).take();
        if let Some(d) = d {
            // Calls still running on other threads finish against a stopped device; the
            // last of them closes the store when it lets go.
            d.shutdown();
            if let Ok(d) = Arc::try_unwrap(d) {
                d.close();
            }
        }
        Ok(())
    }
}
