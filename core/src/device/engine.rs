//! The device engine: the store, a samod repository on it, the connection to the server
//! when there is one, and every action an expert takes (each works offline: it changes
//! the expert's own documents, is projected into the tables at once, and is counted as
//! pending until the server confirms it).

use super::api::{DeviceConfig, DeviceError, DeviceListener, KeyStore, SyncState};
use super::project::{self, Watched, find};
use super::storage::DeviceStorage;
use super::store::{KbArticle, KbHit, Store, TicketRow};
use crate::client::{Traffic, WsDialer};
use crate::sync::docs::{DraftDoc, DraftsDoc, StatusDoc, WorkDoc};
use crate::sync::ids;
use crate::wire::{LoginRequest, NewDevice, RefreshRequest};
use automerge::ReadDoc;
use futures::StreamExt;
use samod::{BackoffConfig, DialerHandle, DocHandle, PeerId, Repo};
use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

mod actions;

const ACCESS: &str = "access_token";
const REFRESH: &str = "refresh_token";

struct Inner {
    store: Store,
    server: String,
    http: reqwest::Client,
    /// TLS for the HTTP client and the sync socket alike.
    tls: Arc<rustls::ClientConfig>,
    keys: Arc<dyn KeyStore>,
    listener: Arc<Mutex<Option<Arc<dyn DeviceListener>>>>,
    /// Listener calls go through one thread of their own, never a sync task: the app may
    /// call back into the device from a callback, and may take its time.
    events: Mutex<std::sync::mpsc::Sender<Event>>,
    repo: Mutex<Option<Repo>>,
    dialer: Mutex<Option<DialerHandle<crate::client::SocketError>>>,
    token: Arc<Mutex<String>>,
    watched: Mutex<HashSet<Watched>>,
    traffic: Arc<Traffic>,
    last_state: Mutex<Option<SyncState>>,
    /// Encoded size of every change made on this device (to compare sync traffic with).
    local_bytes: std::sync::atomic::AtomicU64,
    syncing: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// The expert's drafts index is on the device (articles can be written offline).
    drafts_ready: std::sync::atomic::AtomicBool,
    /// When position fixes are worth sending.
    location: Mutex<super::location::LocationThrottle>,
}

enum Event {
    Change(String),
    State(SyncState),
}

fn deliver(listener: Arc<Mutex<Option<Arc<dyn DeviceListener>>>>, rx: std::sync::mpsc::Receiver<Event>) {
    while let Ok(e) = rx.recv() {
        let Some(l) = listener.lock().ok().and_then(|l| l.clone()) else { continue };
        match e {
            Event::Change(what) => l.on_change(what),
            Event::State(s) => l.on_sync_state(s),
        }
    }
}

/// How a device redials the server after losing it: soon at first, then exponentially
/// less often up to every 10 s, jittered (samod draws each delay between half and all
/// of it), so a fleet that lost a node does not come back in one wave; never giving up.
pub fn sync_backoff() -> BackoffConfig {
    BackoffConfig { initial_delay: Duration::from_millis(200), max_delay: Duration::from_secs(10), max_retries: None }
}

/// An expert's device.
pub struct Device {
    rt: tokio::runtime::Runtime,
    inner: Arc<Inner>,
    /// Whether opening found a damaged database and started afresh.
    pub recovered: bool,
}

fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn offline(e: impl std::fmt::Display) -> DeviceError {
    DeviceError::Offline { message: e.to_string() }
}

impl Inner {
    fn expert(&self) -> Result<Uuid, DeviceError> {
        self.store.meta("expert_id")?.and_then(|e| e.parse().ok()).ok_or(DeviceError::NotSignedIn)
    }

    fn repo(&self) -> Result<Repo, DeviceError> {
        self.repo.lock().ok().and_then(|r| r.clone()).ok_or(DeviceError::NotSignedIn)
    }

    fn notify(&self, what: &str) {
        if let Ok(tx) = self.events.lock() {
            let _ = tx.send(Event::Change(what.to_owned()));
        }
    }

    fn state(&self) -> SyncState {
        SyncState {
            connected: self.dialer.lock().ok().and_then(|d| d.as_ref().map(|d| d.is_connected())).unwrap_or(false),
            last_synced_at: self.store.meta("last_synced_at").ok().flatten(),
            pending_changes: self.store.pending_count().unwrap_or(0),
        }
    }

    fn publish_state(&self) {
        let s = self.state();
        let changed = self.last_state.lock().map(|mut l| {
            let c = l.as_ref() != Some(&s);
            *l = Some(s.clone());
            c
        });
        if changed.unwrap_or(false)
            && let Ok(tx) = self.events.lock()
        {
            let _ = tx.send(Event::State(s));
        }
    }

    async fn post(
        &self,
        path: &str,
        body: &(impl serde::Serialize + Sync),
        auth: bool,
    ) -> Result<serde_json::Value, DeviceError> {
        let mut r = self.http.post(format!("{}{path}", self.server)).json(body);
        if auth {
            let t = self.token.lock().map(|t| t.clone()).unwrap_or_default();
            r = r.bearer_auth(t);
        }
        let resp = r.send().await.map_err(offline)?;
        let status = resp.status();
        let v: serde_json::Value = resp.json().await.unwrap_or_default();
        match status.as_u16() {
            200..=299 => Ok(v),
            401 => Err(DeviceError::BadCredentials),
            500..=599 => Err(offline(format!("server error {status}"))),
            _ => Err(DeviceError::Server { message: v["detail"].as_str().unwrap_or("refused").to_owned() }),
        }
    }

    /// Watches a document: projects it now and whenever it changes.
    fn watch(self: &Arc<Self>, what: Watched, id: Uuid) {
        if !self.watched.lock().is_ok_and(|mut w| w.insert(what)) {
            return;
        }
        let me = self.clone();
        tokio::spawn(async move {
            let Ok(repo) = me.repo() else { return };
            let Some(h) = find(&repo, id, Duration::from_secs(30)).await else {
                if let Ok(mut w) = me.watched.lock() {
                    w.remove(&what);
                }
                return;
            };
            // Listen before reading, so a change landing while we project is not missed;
            // project once for every burst of changes.
            let mut changes = h.changes().ready_chunks(1024);
            me.project(what, &h).await;
            while changes.next().await.is_some() {
                me.project(what, &h).await;
            }
        });
    }

    async fn project(self: &Arc<Self>, what: Watched, h: &DocHandle) {
        let Ok(expert) = self.expert() else { return };
        let Ok(repo) = self.repo() else { return };
        match what {
            Watched::Root => {
                if let Some((tickets, shards)) = project::root(h, &self.store).await {
                    for t in tickets {
                        self.watch(Watched::Ticket(t), ids::ticket(t));
                        let me = self.clone();
                        let (r, s) = (repo.clone(), self.store.clone());
                        // The work document changes too; watch it under the same ticket.
                        tokio::spawn(async move {
                            if let Some(wh) = find(&r, ids::work(t, expert), Duration::from_secs(30)).await {
                                let mut ch = wh.changes().ready_chunks(1024);
                                if project::ticket(&r, &s, expert, t).await {
                                    me.notify("tickets");
                                }
                                while ch.next().await.is_some() {
                                    if project::ticket(&r, &s, expert, t).await {
                                        me.notify("tickets");
                                    }
                                }
                            }
                        });
                    }
                    for s in shards {
                        self.watch(Watched::Kb(s), ids::kb_shard(s));
                    }
                    for own in [ids::status(expert), ids::drafts(expert)] {
                        self.watch(Watched::Own(own), own);
                    }
                    self.notify("tickets");
                }
            }
            Watched::Ticket(t) => {
                if project::ticket(&repo, &self.store, expert, t).await {
                    self.notify("tickets");
                }
            }
            Watched::Kb(_) => {
                if project::kb(h, &self.store).await {
                    self.notify("kb");
                }
            }
            Watched::Own(id) => {
                if id == ids::drafts(expert) {
                    self.drafts_ready.store(true, std::sync::atomic::Ordering::Release);
                }
            }
        }
    }

    /// Changes one of the expert's documents, records the change as pending, and returns.
    async fn edit(
        self: &Arc<Self>,
        id: Uuid,
        f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), crate::sync::docs::DocError>
        + Send
        + 'static,
    ) -> Result<(), DeviceError> {
        let repo = self.repo()?;
        let h = find(&repo, id, Duration::from_secs(5))
            .await
            .ok_or_else(|| DeviceError::NotFound { what: "that document is not on this device yet".into() })?;
        let (heads, size) = h
            .with_document_async(move |d| {
                let before = d.get_heads();
                let mut tx = d.transaction();
                let r = f(&mut tx);
                match r {
                    Ok(()) => {
                        tx.commit();
                        let size: usize = d.get_changes(&before).iter().map(|c| c.raw_bytes().len()).sum();
                        Ok((d.get_heads(), size))
                    }
                    Err(e) => {
                        tx.rollback();
                        Err(e)
                    }
                }
            })
            .await
            .map_err(|_| DeviceError::Storage { message: "the document store stopped".into() })?
            .map_err(|e| DeviceError::Invalid { message: e.to_string() })?;
        self.local_bytes.fetch_add(size as u64, std::sync::atomic::Ordering::Relaxed);
        let heads: Vec<String> = heads.iter().map(ToString::to_string).collect();
        self.store.add_pending(&id.to_string(), &heads)?;
        self.publish_state();
        Ok(())
    }

    /// Drops pending entries the server now has.
    async fn confirm(self: &Arc<Self>) {
        let Ok(repo) = self.repo() else { return };
        let Ok(pending) = self.store.pending() else { return };
        // Every pending document at once: finding one can wait on the server, and a
        // device back from a day offline has hundreds.
        futures::stream::iter(pending)
            .for_each_concurrent(64, |(doc, heads)| {
                let repo = repo.clone();
                async move {
                    let Ok(id) = doc.parse::<Uuid>() else { return };
                    let Some(h) = find(&repo, id, Duration::from_millis(500)).await else { return };
                    let (peers, _) = h.peers();
                    let wanted = heads.clone();
                    let confirmed = h
                        .with_document_async(move |d| {
                            peers.values().any(|p| {
                                let Some(shared) = &p.shared_heads else { return false };
                                let after: HashSet<String> =
                                    d.get_changes(shared).iter().map(|c| c.hash().to_string()).collect();
                                wanted.iter().all(|w| {
                                    !after.contains(w)
                                        && d.get_change_by_hash(&w.parse().unwrap_or(automerge::ChangeHash([0; 32])))
                                            .is_some()
                                })
                            })
                        })
                        .await
                        .unwrap_or(false);
                    if confirmed {
                        let _ = self.store.confirm(&doc, &heads);
                    }
                }
            })
            .await;
        let s = self.state();
        if s.connected && s.pending_changes == 0 {
            let _ = self.store.set_meta("last_synced_at", &now());
        }
        self.publish_state();
    }
}

impl Device {
    /// Opens the store at `path` for the server at `server` (`https://…`), trusting the
    /// bundled Mozilla roots.
    pub fn open(path: &Path, server: &str, keys: Arc<dyn KeyStore>) -> Result<Self, DeviceError> {
        Self::open_with(path, &DeviceConfig { server_url: server.to_owned(), extra_ca_pem: None }, keys)
    }

    /// Opens the store at `path` for the server `config` names, trusting the bundled
    /// Mozilla roots and the config's extra CA, if any.
    pub fn open_with(path: &Path, config: &DeviceConfig, keys: Arc<dyn KeyStore>) -> Result<Self, DeviceError> {
        let server = config.server_url.as_str();
        let tls = crate::client::tls_config(config.extra_ca_pem.as_deref())
            .map_err(|message| DeviceError::Invalid { message })?;
        let (store, recovered) = Store::open(path)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sysops-device")
            .enable_all()
            .build()
            .map_err(|e| DeviceError::Storage { message: e.to_string() })?;
        let token = keys.get(ACCESS.into()).unwrap_or_default();
        let listener: Arc<Mutex<Option<Arc<dyn DeviceListener>>>> = Arc::default();
        let (events, rx) = std::sync::mpsc::channel();
        let l = listener.clone();
        std::thread::Builder::new()
            .name("sysops-device-events".into())
            .spawn(move || deliver(l, rx))
            .map_err(|e| DeviceError::Storage { message: e.to_string() })?;
        let inner = Arc::new(Inner {
            store,
            server: server.trim_end_matches('/').to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(15))
                .use_preconfigured_tls(rustls::ClientConfig::clone(&tls))
                .build()
                .map_err(|e| DeviceError::Invalid { message: e.to_string() })?,
            tls,
            keys,
            listener,
            events: Mutex::new(events),
            repo: Mutex::new(None),
            dialer: Mutex::new(None),
            token: Arc::new(Mutex::new(token)),
            watched: Mutex::new(HashSet::new()),
            traffic: Arc::default(),
            last_state: Mutex::new(None),
            local_bytes: Default::default(),
            syncing: Mutex::new(None),
            drafts_ready: Default::default(),
            location: Mutex::default(),
        });
        let d = Self { rt, inner, recovered };
        if let Ok(expert) = d.inner.expert() {
            d.build_repo(expert)?;
        }
        Ok(d)
    }

    fn build_repo(&self, expert: Uuid) -> Result<(), DeviceError> {
        let device = match self.inner.store.meta("device_id")? {
            Some(d) => d,
            None => {
                // Short: the peer id rides in every sync message's envelope, and 48 random
                // bits tell one expert's few devices apart.
                let d = Uuid::new_v4().simple().to_string()[..12].to_owned();
                self.inner.store.set_meta("device_id", &d)?;
                d
            }
        };
        let storage = DeviceStorage(self.inner.store.clone());
        let peer = PeerId::from(format!("expert:{expert}:{device}"));
        let handle = self.rt.handle().clone();
        let repo = self
            .rt
            .block_on(async move { Repo::builder(handle).with_storage(storage).with_peer_id(peer).load().await });
        if let Ok(mut r) = self.inner.repo.lock() {
            *r = Some(repo);
        }
        Ok(())
    }

    /// Signs in; a different expert than before starts from an empty store.
    pub fn sign_in(&self, email: &str, password: &str) -> Result<String, DeviceError> {
        let inner = self.inner.clone();
        let body = LoginRequest { email: email.to_owned(), password: password.to_owned() };
        let v = self.rt.block_on(inner.post("/api/v1/auth/login", &body, false))?;
        if v["role"] != "expert" {
            return Err(DeviceError::Invalid { message: "only experts can use the field app".into() });
        }
        let user = v["user_id"].as_str().and_then(|u| u.parse::<Uuid>().ok()).ok_or(DeviceError::BadCredentials)?;
        if self.inner.expert().ok() != Some(user) {
            self.stop_sync();
            if let Some(repo) = self.inner.repo.lock().ok().and_then(|mut r| r.take()) {
                self.rt.block_on(repo.stop());
            }
            if let Ok(mut w) = self.inner.watched.lock() {
                w.clear();
            }
            self.inner.store.wipe()?;
            self.inner.store.set_meta("expert_id", &user.to_string())?;
            self.build_repo(user)?;
        }
        let (access, refresh) =
            (v["access_token"].as_str().unwrap_or_default(), v["refresh_token"].as_str().unwrap_or_default());
        self.inner.keys.put(ACCESS.into(), access.to_owned());
        self.inner.keys.put(REFRESH.into(), refresh.to_owned());
        if let Ok(mut t) = self.inner.token.lock() {
            *t = access.to_owned();
        }
        Ok(user.to_string())
    }

    /// Signs out (the data stays for the same expert's next sign-in).
    pub fn sign_out(&self) {
        self.stop_sync();
        self.inner.keys.remove(ACCESS.into());
        self.inner.keys.remove(REFRESH.into());
    }

    /// Starts syncing in the background (reconnecting whenever the network returns).
    pub fn start_sync(&self) -> Result<(), DeviceError> {
        let expert = self.inner.expert()?;
        let repo = self.inner.repo()?;
        if self.inner.keys.get(ACCESS.into()).is_none() {
            return Err(DeviceError::NotSignedIn);
        }
        self.stop_sync();
        // A (re)start reports the next position fix whatever the throttle last saw.
        if let Ok(mut l) = self.inner.location.lock() {
            l.restart();
        }
        let dialer = WsDialer::new(&self.inner.server, self.inner.token.clone())
            .map_err(|e| DeviceError::Invalid { message: e.to_string() })?
            .with_traffic(self.inner.traffic.clone())
            .with_tls(self.inner.tls.clone());
        let handle = repo
            .dial(sync_backoff(), Arc::new(dialer))
            .map_err(|_| DeviceError::Storage { message: "stopped".into() })?;
        if let Ok(mut d) = self.inner.dialer.lock() {
            *d = Some(handle);
        }
        let inner = self.inner.clone();
        let task = self.rt.spawn(async move {
            let mut refreshed = std::time::Instant::now();
            loop {
                // Load (and project) what is stored here before the connection is up:
                // samod syncs the documents that are loaded, so they go out at once.
                inner.watch(Watched::Root, ids::root(expert));
                let state = inner.state();
                if state.connected {
                    inner.confirm().await;
                    if let Some(token) = inner.store.meta("push_token").ok().flatten()
                        && inner.store.meta("push_registered").ok().flatten().as_deref() != Some(&token)
                    {
                        let platform = inner.store.meta("push_platform").ok().flatten().unwrap_or_default();
                        let body = NewDevice { platform, push_token: token.clone() };
                        if inner.post("/api/v1/devices", &body, true).await.is_ok() {
                            let _ = inner.store.set_meta("push_registered", &token);
                        }
                    }
                    if refreshed.elapsed() > Duration::from_secs(600) {
                        if let Some(r) = inner.keys.get(REFRESH.into())
                            && let Ok(v) =
                                inner.post("/api/v1/auth/refresh", &RefreshRequest { refresh_token: r }, false).await
                        {
                            if let Some(a) = v["access_token"].as_str() {
                                inner.keys.put(ACCESS.into(), a.to_owned());
                                if let Ok(mut t) = inner.token.lock() {
                                    *t = a.to_owned();
                                }
                            }
                            if let Some(r) = v["refresh_token"].as_str() {
                                inner.keys.put(REFRESH.into(), r.to_owned());
                            }
                        }
                        refreshed = std::time::Instant::now();
                    }
                } else {
                    inner.publish_state();
                }
                // Look for confirmations often while changes wait for the server.
                let tick = if state.connected && state.pending_changes > 0 { 50 } else { 200 };
                tokio::time::sleep(Duration::from_millis(tick)).await;
            }
        });
        if let Ok(mut s) = self.inner.syncing.lock() {
            *s = Some(task);
        }
        Ok(())
    }

    /// Stops syncing (everything keeps working offline).
    pub fn stop_sync(&self) {
        if let Some(d) = self.inner.dialer.lock().ok().and_then(|mut d| d.take()) {
            d.close();
        }
        if let Some(t) = self.inner.syncing.lock().ok().and_then(|mut s| s.take()) {
            t.abort();
        }
        self.inner.publish_state();
    }

    /// Waits until connected, nothing is pending and the expert's own documents are here,
    /// up to `timeout`; returns whether it got there.
    pub fn wait_synced(&self, timeout: Duration) -> bool {
        let inner = self.inner.clone();
        self.rt.block_on(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            while tokio::time::Instant::now() < deadline {
                let s = inner.state();
                // Synced means the expert's own documents arrived too, so that an article
                // written right after the first sync has its drafts index to go in.
                let ready = inner.drafts_ready.load(std::sync::atomic::Ordering::Acquire);
                if s.connected && s.pending_changes == 0 && s.last_synced_at.is_some() && ready {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        })
    }

    /// Where syncing stands.
    pub fn sync_state(&self) -> SyncState {
        self.inner.state()
    }

    /// Bytes and messages exchanged with the server so far.
    pub fn traffic(&self) -> (u64, u64, u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        let t = &self.inner.traffic;
        (
            t.sent_messages.load(Relaxed),
            t.sent_bytes.load(Relaxed),
            t.received_messages.load(Relaxed),
            t.received_bytes.load(Relaxed),
        )
    }

    /// The encoded size of every change made on this device since it was opened (the
    /// raw size that sync traffic is measured against).
    pub fn local_change_bytes(&self) -> u64 {
        self.inner.local_bytes.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many KB articles (published and drafts) are on the device.
    pub fn article_count(&self) -> Result<u64, DeviceError> {
        self.inner.store.article_count()
    }

    /// Sets (or clears) the listener.
    pub fn set_listener(&self, l: Option<Arc<dyn DeviceListener>>) {
        if let Ok(mut x) = self.inner.listener.lock() {
            *x = l;
        }
    }

    /// Whether a document is on the device (for tests and diagnostics).
    pub fn has_document(&self, id: Uuid) -> bool {
        let Ok(repo) = self.inner.repo() else { return false };
        self.rt.block_on(async move { find(&repo, id, Duration::from_millis(300)).await.is_some() })
    }

    /// The signed-in expert's id, if someone is signed in on this device.
    pub fn signed_in(&self) -> Option<String> {
        let expert = self.inner.expert().ok()?;
        self.inner.keys.get(ACCESS.into()).map(|_| expert.to_string())
    }

    /// The availability the expert last set (on this device or another), if ever.
    pub fn available(&self) -> Result<Option<bool>, DeviceError> {
        let expert = self.inner.expert()?;
        let repo = self.inner.repo()?;
        self.rt.block_on(async move {
            let Some(h) = find(&repo, ids::status(expert), Duration::from_millis(500)).await else {
                return Ok(None);
            };
            h.with_document_async(|d| StatusDoc::read(d).ok().and_then(|s| s.available))
                .await
                .map_err(|_| DeviceError::Storage { message: "the document store stopped".into() })
        })
    }

    /// Stops syncing and the document repository; the store stays open until
    /// [`Device::close`] or drop. Safe to call while other threads use the device.
    pub fn shutdown(&self) {
        self.stop_sync();
        if let Some(repo) = self.inner.repo.lock().ok().and_then(|mut r| r.take()) {
            self.rt.block_on(repo.stop());
        }
    }

    /// Stops everything and closes the store.
    pub fn close(self) {
        self.shutdown();
        self.rt.shutdown_timeout(Duration::from_secs(2));
    }
}
