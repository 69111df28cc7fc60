//! The sync hub: one samod repository per server node (on its own runtime), its storage
//! in our database, the registry of who may see what, and the helpers the rest of the
//! server uses to create and change server-written documents.

use super::acl::{Acl, Entry, Policy, doc_of, uuid_of};
use super::storage::DbStorage;
use crate::db::Db;
use automerge::Automerge;
use automerge::transaction::{CommitOptions, Transaction};
use samod::{DocHandle, PeerId, RepoEvent, RepoObserver, Transport};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sysops_core::sync::docs::DocError;
use sysops_core::sync::ids;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Something the server changed that devices must see.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Intent {
    /// A ticket changed (status, assignment, notes).
    Ticket(Uuid),
    /// An expert's documents must exist and their root be current.
    Expert(Uuid),
    /// An article was published, changed or withdrawn.
    Article(Uuid),
}

/// The sending side of intents: cheap to clone, usable before the hub runs.
#[derive(Clone)]
pub struct SyncHandle(mpsc::UnboundedSender<Intent>);

impl SyncHandle {
    /// A handle and the receiver the reconciler drains.
    pub fn channel() -> (Self, mpsc::UnboundedReceiver<Intent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (Self(tx), rx)
    }

    /// A ticket changed.
    pub fn ticket(&self, id: Uuid) {
        let _ = self.0.send(Intent::Ticket(id));
    }

    /// An expert's documents must be current.
    pub fn expert(&self, id: Uuid) {
        let _ = self.0.send(Intent::Expert(id));
    }

    /// An article changed.
    pub fn article(&self, id: Uuid) {
        let _ = self.0.send(Intent::Article(id));
    }

    /// Sends `intent` (again).
    pub fn send(&self, intent: Intent) {
        let _ = self.0.send(intent);
    }
}

/// How many documents a node keeps in memory (ADR 17): a document nobody is syncing
/// leaves memory after `idle`, and sooner, least recently used first, while more than
/// `documents` are open.
#[derive(Debug, Clone, Copy)]
pub struct Cache {
    /// Most documents kept open when nobody is using them.
    pub documents: usize,
    /// How long an unused document stays open.
    pub idle: Duration,
    /// Most registry entries kept in memory.
    pub entries: usize,
}

/// The documents open on this node and when each was last used.
type Opened = Arc<Mutex<HashMap<Uuid, Instant>>>;

/// Marks an open document as used now.
fn touch(opened: &Opened, id: Uuid) {
    if let Ok(mut o) = opened.lock()
        && let Some(t) = o.get_mut(&id)
    {
        *t = Instant::now();
    }
}

/// Watches the repository: which documents are open here and when they were last used,
/// and which just received a device's sync message (so their projection runs).
struct Observer {
    opened: Opened,
    open_gauge: prometheus::IntGauge,
    synced: mpsc::UnboundedSender<Uuid>,
}

impl RepoObserver for Observer {
    fn observe(&self, event: &RepoEvent) {
        match event {
            RepoEvent::DocumentOpened { document_id } => {
                if let (Some(id), Ok(mut o)) = (uuid_of(document_id), self.opened.lock()) {
                    o.insert(id, Instant::now());
                    self.open_gauge.set(i64::try_from(o.len()).unwrap_or(i64::MAX));
                }
            }
            RepoEvent::SyncMessageGenerated { document_id, .. } => {
                if let Some(id) = uuid_of(document_id) {
                    touch(&self.opened, id);
                }
            }
            RepoEvent::DocumentClosed { document_id } => {
                if let (Some(id), Ok(mut o)) = (uuid_of(document_id), self.opened.lock()) {
                    o.remove(&id);
                    self.open_gauge.set(i64::try_from(o.len()).unwrap_or(i64::MAX));
                }
            }
            RepoEvent::SyncMessageReceived { document_id, .. } => {
                if let Some(id) = uuid_of(document_id) {
                    touch(&self.opened, id);
                    let _ = self.synced.send(id);
                }
            }
            _ => {}
        }
    }
}

/// The hub.
pub struct SyncHub {
    /// The repository.
    pub repo: samod::Repo,
    acceptor: samod::AcceptorHandle,
    /// Who may see what.
    pub acl: Arc<Acl>,
    /// The database.
    pub db: Db,
    /// Document storage.
    pub storage: DbStorage,
    /// This node's name.
    pub node: String,
    /// The server's peer id.
    pub peer_id: String,
    /// Documents open on this node, and when each was last used.
    opened: Opened,
    /// How many documents stay in memory.
    pub cache: Cache,
    /// Intents (the reconciler's input).
    pub handle: SyncHandle,
    /// The runtime samod and the sync tasks run on.
    pub rt: tokio::runtime::Handle,
    /// Per-connection limits: new documents, and requests for unavailable ones.
    pub limits: (usize, usize),
    /// Documents open on this node (a gauge on `/metrics`).
    open_gauge: prometheus::IntGauge,
    /// Documents that left memory unused (a counter on `/metrics`).
    closed_total: prometheus::IntCounter,
    /// Intents waiting for the reconciler (a gauge on `/metrics`): a backlog that grows
    /// under steady load means documents fall behind the database.
    pub pending_gauge: prometheus::IntGauge,
    /// Requests answered `doc-unavailable` (a counter on `/metrics`): a device asking for
    /// a document it may not have, or one this node cannot find; during a reconnection
    /// storm it must stay flat.
    pub unavailable_total: prometheus::IntCounter,
    /// Cancelled when the server shuts down: open sync sessions close at once (devices
    /// reconnect to another node or later) instead of holding the shutdown up.
    pub closing: tokio_util::sync::CancellationToken,
}

/// The receivers the sync tasks drain.
pub struct Inputs {
    /// Intents from the rest of the server.
    pub intents: mpsc::UnboundedReceiver<Intent>,
    /// Documents that just received a device's changes.
    pub synced: mpsc::UnboundedReceiver<Uuid>,
}

impl SyncHub {
    /// Loads the registry and the repository on `rt`.
    pub async fn start(
        db: Db,
        node: String,
        rt: tokio::runtime::Handle,
        handle: SyncHandle,
        intents: mpsc::UnboundedReceiver<Intent>,
        limits: (usize, usize),
        cache: Cache,
    ) -> anyhow::Result<(Arc<Self>, Inputs)> {
        let acl = Arc::new(Acl::load(&db, node.clone(), cache.entries).await?);
        let storage = DbStorage::new(db.clone(), node.clone(), &rt);
        let opened: Opened = Default::default();
        let (synced_tx, synced) = mpsc::unbounded_channel();
        // Short: the peer id rides in every message's envelope both ways. A hash of the
        // node's name keeps it stable across restarts and distinct between nodes.
        let peer_id = {
            use sha2::Digest;
            format!("srv:{}", &hex::encode(sha2::Sha256::digest(node.as_bytes()))[..12])
        };
        let open_gauge = prometheus::IntGauge::new("sync_documents_open", "Sync documents in memory on this node")?;
        let observer = Observer { opened: opened.clone(), open_gauge: open_gauge.clone(), synced: synced_tx };
        let builder = samod::Repo::builder(rt.clone())
            .with_peer_id(PeerId::from(peer_id.clone()))
            .with_storage(storage.clone())
            .with_share_policy(Policy(acl.clone()))
            // The server never announces a document (the policy says so for every
            // peer): a connection needs to meet only the documents its device asks
            // about, not every one open on the node (vendor/README.md, patch 5).
            .with_connect_on_demand(true)
            .with_observer(observer);
        let repo = rt.spawn(async move { builder.load().await }).await?;
        let acceptor = repo
            .make_acceptor(samod::Url::parse("ws://sysops-server/api/v1/sync")?)
            .map_err(|_| anyhow::anyhow!("the sync repository stopped"))?;
        let hub = Arc::new(Self {
            repo,
            acceptor,
            acl,
            db,
            storage,
            node,
            peer_id,
            opened,
            cache,
            handle,
            rt,
            limits,
            open_gauge,
            closed_total: prometheus::IntCounter::new(
                "sync_documents_closed_total",
                "Sync documents that left memory because nobody was using them",
            )?,
            pending_gauge: prometheus::IntGauge::new(
                "sync_intents_pending",
                "Changes waiting to be written into sync documents on this node",
            )?,
            unavailable_total: prometheus::IntCounter::new(
                "sync_unavailable_total",
                "Document requests answered doc-unavailable",
            )?,
            closing: Default::default(),
        });
        hub.rt.spawn(evict(hub.clone()));
        Ok((hub, Inputs { intents, synced }))
    }

    /// Hands a device's connection to the repository.
    pub fn accept(&self, transport: Transport) -> anyhow::Result<()> {
        self.acceptor.accept(transport).map(|_| ()).map_err(|_| anyhow::anyhow!("the sync repository stopped"))
    }

    /// The document `id`, created (identically on every node) with `init` and
    /// registered with `entry` if it does not exist yet.
    pub async fn ensure(
        &self,
        id: Uuid,
        entry: Entry,
        init: impl FnOnce(&mut Transaction<'_>) -> Result<(), DocError>,
    ) -> anyhow::Result<DocHandle> {
        self.ensure_exists(id, entry, init).await?;
        self.find(id).await?.ok_or_else(|| anyhow::anyhow!("document {id} is not in storage"))
    }

    /// Like [`SyncHub::ensure`], without loading the document. A registered document is
    /// in storage (its first snapshot is written before it is registered), so this
    /// costs nothing for a document that exists.
    pub async fn ensure_exists(
        &self,
        id: Uuid,
        entry: Entry,
        init: impl FnOnce(&mut Transaction<'_>) -> Result<(), DocError>,
    ) -> anyhow::Result<()> {
        self.ensure_many(vec![(id, entry, init)]).await
    }

    /// [`SyncHub::ensure_exists`] for many documents: the snapshots go out together (one
    /// group commit) and the registrations in one transaction, instead of a commit each.
    pub async fn ensure_many<F>(&self, docs: Vec<(Uuid, Entry, F)>) -> anyhow::Result<()>
    where
        F: FnOnce(&mut Transaction<'_>) -> Result<(), DocError>,
    {
        let ids: Vec<Uuid> = docs.iter().map(|(id, _, _)| *id).collect();
        let known = self.acl.get_many(&ids).await?;
        let missing: Vec<_> = docs.into_iter().filter(|(id, _, _)| !known.contains_key(id)).collect();
        if missing.is_empty() {
            return Ok(());
        }
        // One query finds which are already in storage (another node, or a crash between
        // the snapshot and the registration); the rest get their first snapshot.
        let keys: Vec<String> = missing.iter().map(|(id, _, _)| doc_of(*id).to_string()).collect();
        let stored = self.storage.existing(&keys).await?;
        let mut entries = Vec::with_capacity(missing.len());
        let mut writes = Vec::new();
        for ((id, entry, init), key) in missing.into_iter().zip(keys) {
            entries.push((id, entry));
            if !stored.contains(&key) {
                writes.push(self.store_initial(id, key, init)?);
            }
        }
        futures::future::join_all(writes).await;
        self.acl.register_many(&self.db, entries).await
    }

    /// A document's first snapshot, to be written. The first change is the same on every
    /// node (fixed actor and time), so two nodes racing write identical bytes.
    fn store_initial(
        &self,
        id: Uuid,
        key: String,
        init: impl FnOnce(&mut Transaction<'_>) -> Result<(), DocError>,
    ) -> anyhow::Result<impl std::future::Future<Output = ()> + '_> {
        let mut doc = Automerge::new().with_actor(ids::initial_actor(id));
        doc.transact_with(|_| CommitOptions::default().with_time(0), |tx| init(tx))
            .map_err(|f| anyhow::anyhow!("cannot create {}: {}", id, f.error))?;
        let k = samod::storage::StorageKey::from_parts([key.as_str(), "snapshot", "initial"])
            .map_err(|_| anyhow::anyhow!("bad storage key"))?;
        let bytes = doc.save();
        Ok(async move {
            use samod::storage::Storage;
            self.storage.put(k, bytes).await;
        })
    }

    /// A document, loaded if needed.
    pub async fn find(&self, id: Uuid) -> anyhow::Result<Option<DocHandle>> {
        let found = self.repo.find(doc_of(id)).await.map_err(|_| anyhow::anyhow!("the sync repository stopped"))?;
        if found.is_some() {
            touch(&self.opened, id);
        }
        Ok(found)
    }

    /// Changes a document on its actor (the change syncs to connected devices and is
    /// stored).
    pub async fn change<R: Send + 'static>(
        &self,
        h: &DocHandle,
        f: impl FnOnce(&mut Transaction<'_>) -> Result<R, DocError> + Send + 'static,
    ) -> anyhow::Result<R> {
        let now = chrono::Utc::now().timestamp();
        h.with_document_async(move |doc| {
            doc.transact_with(|_| CommitOptions::default().with_time(now), f).map(|s| s.result).map_err(|f| f.error)
        })
        .await
        .map_err(|_| anyhow::anyhow!("the sync repository stopped"))?
        .map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// Reads a document.
    pub async fn read<R: Send + 'static>(
        &self,
        h: &DocHandle,
        f: impl FnOnce(&Automerge) -> R + Send + 'static,
    ) -> anyhow::Result<R> {
        h.with_document_async(move |doc| f(doc)).await.map_err(|_| anyhow::anyhow!("the sync repository stopped"))
    }

    /// Whether a document is open on this node.
    pub fn is_open(&self, id: Uuid) -> bool {
        self.opened.lock().is_ok_and(|o| o.contains_key(&id))
    }

    /// How many documents are open on this node.
    pub fn open_documents(&self) -> usize {
        self.opened.lock().map_or(0, |o| o.len())
    }

    /// Takes documents nobody is using out of memory: those unused for longer than the
    /// idle time, and the least recently used while more than the cache's size are open.
    /// A document in use (a device syncing it, changes being stored, a handle held) stays
    /// and is looked at again after another idle period. Returns how many left.
    pub fn evict_unused(&self) -> usize {
        let now = Instant::now();
        let mut docs: Vec<(Instant, Uuid)> = match self.opened.lock() {
            Ok(o) => o.iter().map(|(d, t)| (*t, *d)).collect(),
            Err(_) => return 0,
        };
        let expired = |t: Instant| now.saturating_duration_since(t) >= self.cache.idle;
        if docs.len() <= self.cache.documents && !docs.iter().any(|(t, _)| expired(*t)) {
            return 0;
        }
        docs.sort_unstable();
        let (mut open, mut closed) = (docs.len(), 0);
        let mut busy = Vec::new();
        for (t, d) in docs {
            if open <= self.cache.documents && !expired(t) {
                break;
            }
            if self.repo.close_if_idle(&doc_of(d)) {
                open -= 1;
                closed += 1;
            } else {
                busy.push(d);
            }
        }
        if let Ok(mut o) = self.opened.lock() {
            for d in busy {
                if let Some(t) = o.get_mut(&d) {
                    *t = now;
                }
            }
        }
        closed
    }

    /// The hub's metrics, for the server's registry.
    pub fn collectors(&self) -> Vec<Box<dyn prometheus::core::Collector>> {
        vec![
            Box::new(self.open_gauge.clone()),
            Box::new(self.closed_total.clone()),
            Box::new(self.pending_gauge.clone()),
            Box::new(self.unavailable_total.clone()),
        ]
    }

    /// Stops the repository (flushing storage).
    pub async fn stop(&self) {
        let stop = self.repo.stop();
        let _ = self.rt.spawn(stop).await;
    }
}

/// Evicts unused documents every second until the server shuts down. Once documents
/// have left memory and the sync work has calmed down (no eviction for a few seconds),
/// the freed memory goes back to the system (see [`release_free_memory`]).
async fn evict(hub: Arc<SyncHub>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut closed_since_release = 0usize;
    let mut quiet = 0u32;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = hub.closing.cancelled() => return,
        }
        let closed = hub.evict_unused();
        if closed > 0 {
            hub.closed_total.inc_by(closed as u64);
            closed_since_release += closed;
            quiet = 0;
            tracing::debug!(closed, open = hub.open_documents(), "sync documents left memory");
        } else {
            quiet += 1;
        }
        if closed_since_release >= 100 && quiet >= 3 {
            closed_since_release = 0;
            tokio::task::spawn_blocking(release_free_memory);
        }
    }
}

/// Hands memory the allocator holds free back to the system. glibc's allocator keeps
/// what closed documents freed (in per-thread arenas, fragmented between live blocks),
/// so without this the resident size stays near its peak although the documents are
/// gone: measured with the `sync_memory` bench at 5,000 tickets, 244 MB idle, 160 MB
/// after a trim (ADR 17).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_free_memory() {
    // SAFETY: `malloc_trim` only returns free pages to the system; it takes the
    // allocator's own locks and touches no memory in use.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}
