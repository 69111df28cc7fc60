//! Who may read and write each document: the registry of documents (kind, owner,
//! reader), the peers connected and whose they are, and the share policy samod asks.
//!
//! A document's owner (an expert) may read and write it; its reader (the expert a ticket
//! is assigned to) may read it; every expert may read the KB shards; nobody else sees
//! anything. A decision is a stream: when a ticket is reassigned the reader changes and
//! the former expert's access ends on their open connections at once.
//!
//! The registry lives in `sync_documents`; memory holds a bounded cache of the entries
//! in use (ADR 17), so a node's memory does not grow with every document ever made.

use crate::db::Db;
use crate::db::entity::sync_document;
use chrono::Utc;
use futures::Stream;
use samod::{DocumentId, PeerId, ShareConfig};
use sea_orm::{ActiveValue::Set, EntityTrait, QueryFilter, sea_query::OnConflict};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use sysops_core::sync::ids::DocKind;
use tokio::sync::{broadcast, watch};
use uuid::Uuid;

/// One registered document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// What it is.
    pub kind: DocKind,
    /// The expert who writes it (expert-written kinds).
    pub owner: Option<Uuid>,
    /// Another expert who may read it (a ticket's assignee).
    pub reader: Option<Uuid>,
    /// The ticket it belongs to.
    pub ticket: Option<Uuid>,
}

/// What a user may do with a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Nothing (it does not exist for them).
    None,
    /// Read it.
    Read,
    /// Read and write it.
    Write,
}

/// Entries kept in memory by default: the documents in use (open tickets' and connected
/// experts'), not every document ever registered. About 100 bytes each.
pub const CACHED_ENTRIES: usize = 100_000;

/// The registry, kept in `sync_documents`, with a bounded cache of the entries in use.
pub struct Acl {
    db: Db,
    db_node: String,
    cache: quick_cache::sync::Cache<Uuid, Entry>,
    /// Bumped before and after every change to the registry: an entry read from the
    /// database is cached only if no change began or ended meanwhile (else a read that
    /// raced a change could cache what the change replaced).
    generation: AtomicU64,
    /// Changes under way.
    changing: AtomicU64,
    /// Connected peers: their user and the connection that bound them.
    peers: RwLock<HashMap<String, (Uuid, u64)>>,
    next_binding: AtomicU64,
    changed: broadcast::Sender<Option<Uuid>>,
    /// The share policy's wake-ups: a decision about (document, peer) can change only
    /// when that document's entry or that peer's binding changes, so each decision
    /// waits on those two alone. One channel for all woke every decision in the
    /// repository on every change and every device that connected (quadratic in a
    /// fleet: issue 13, ADR 6 addendum).
    doc_watch: Watchers<Uuid>,
    peer_watch: Watchers<String>,
}

/// Wake-up channels by key, made when someone waits and dropped when nobody does.
struct Watchers<K> {
    map: std::sync::Mutex<(HashMap<K, watch::Sender<()>>, usize)>,
}

impl<K: std::hash::Hash + Eq> Watchers<K> {
    fn new() -> Self {
        Self { map: std::sync::Mutex::new((HashMap::new(), 1024)) }
    }

    /// A receiver woken by the next [`Watchers::wake`] of `key`.
    fn subscribe(&self, key: K) -> watch::Receiver<()> {
        let mut guard = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (map, next_prune) = &mut *guard;
        // Channels nobody waits on any more go when the map has doubled since the last
        // sweep: amortised O(1) per subscription, and the map stays proportional to the
        // decisions alive.
        if map.len() >= *next_prune {
            map.retain(|_, tx| tx.receiver_count() > 0);
            *next_prune = (map.len() * 2).max(1024);
        }
        map.entry(key).or_insert_with(|| watch::channel(()).0).subscribe()
    }

    /// Wakes whoever waits on `key`.
    fn wake(&self, key: &K) {
        let mut guard = self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(tx) = guard.0.get(key) {
            if tx.receiver_count() == 0 {
                guard.0.remove(key);
            } else {
                tx.send_replace(());
            }
        }
    }
}

fn to_entry(r: &sync_document::Model) -> Option<Entry> {
    Some(Entry { kind: DocKind::parse(&r.kind)?, owner: r.owner_id, reader: r.reader_id, ticket: r.ticket_id })
}

/// The id of a samod document.
pub fn uuid_of(doc: &DocumentId) -> Option<Uuid> {
    Uuid::from_slice(doc.as_bytes()).ok()
}

/// The samod document of an id.
pub fn doc_of(id: Uuid) -> DocumentId {
    DocumentId::try_from(id.as_bytes().to_vec()).expect("16 bytes make a document id")
}

/// A change to the registry under way (see [`Acl::generation`]).
struct Changing<'a>(&'a Acl);

impl<'a> Changing<'a> {
    fn begin(acl: &'a Acl) -> Self {
        acl.changing.fetch_add(1, Ordering::SeqCst);
        acl.generation.fetch_add(1, Ordering::SeqCst);
        Self(acl)
    }
}

impl Drop for Changing<'_> {
    fn drop(&mut self) {
        self.0.generation.fetch_add(1, Ordering::SeqCst);
        self.0.changing.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Acl {
    /// The registry of `db` (nothing is read until asked for).
    pub async fn load(db: &Db, node: String, cached: usize) -> anyhow::Result<Self> {
        let (changed, _) = broadcast::channel(4096);
        Ok(Self {
            db: db.clone(),
            db_node: node,
            cache: quick_cache::sync::Cache::new(cached.max(1)),
            generation: AtomicU64::new(0),
            changing: AtomicU64::new(0),
            peers: RwLock::new(HashMap::new()),
            next_binding: Default::default(),
            changed,
            doc_watch: Watchers::new(),
            peer_watch: Watchers::new(),
        })
    }

    /// A stream of changed entries (`None`: re-check everything).
    pub fn subscribe(&self) -> broadcast::Receiver<Option<Uuid>> {
        self.changed.subscribe()
    }

    /// A document's entry (from memory, else from the database).
    pub async fn get(&self, doc: Uuid) -> anyhow::Result<Option<Entry>> {
        Ok(self.get_many(&[doc]).await?.remove(&doc))
    }

    /// The entries of several documents: those not in memory in one query per 500.
    pub async fn get_many(&self, docs: &[Uuid]) -> anyhow::Result<HashMap<Uuid, Entry>> {
        let mut found = HashMap::with_capacity(docs.len());
        let mut missing = Vec::new();
        for &doc in docs {
            match self.cache.get(&doc) {
                Some(e) => {
                    found.insert(doc, e);
                }
                None => missing.push(doc),
            }
        }
        for chunk in missing.chunks(500) {
            let before = self.generation.load(Ordering::SeqCst);
            let rows = sync_document::Entity::find()
                .filter(sea_orm::ColumnTrait::is_in(&sync_document::Column::DocId, chunk.iter().copied()))
                .all(&self.db.read)
                .await?;
            let settled = self.changing.load(Ordering::SeqCst) == 0 && self.generation.load(Ordering::SeqCst) == before;
            for row in rows {
                if let Some(e) = to_entry(&row) {
                    if settled {
                        self.cache.insert(row.doc_id, e);
                    }
                    found.insert(row.doc_id, e);
                }
            }
        }
        Ok(found)
    }

    /// What `user` (an expert) may do with `doc` (nothing, if the registry cannot be
    /// read now).
    pub async fn access(&self, user: Uuid, doc: Uuid) -> Access {
        match self.get(doc).await {
            Ok(Some(e)) if e.owner == Some(user) => Access::Write,
            Ok(Some(e)) if e.kind == DocKind::Kb || e.reader == Some(user) => Access::Read,
            Ok(_) => Access::None,
            Err(e) => {
                tracing::warn!(error = %e, %doc, "cannot read the sync registry; access refused for now");
                Access::None
            }
        }
    }

    /// Entries in memory (for `/metrics`).
    pub fn cached(&self) -> usize {
        self.cache.len()
    }

    /// Registers a document (first registration wins); returns the entry in force.
    pub async fn register(&self, db: &Db, doc: Uuid, entry: Entry) -> anyhow::Result<Entry> {
        self.register_many(db, vec![(doc, entry)]).await?;
        Ok(self.get(doc).await?.unwrap_or(entry))
    }

    /// Registers several documents in one transaction; for each, the first registration
    /// wins (one already known, here or by another node, keeps its entry).
    pub async fn register_many(&self, db: &Db, docs: Vec<(Uuid, Entry)>) -> anyhow::Result<()> {
        let ids: Vec<Uuid> = docs.iter().map(|(d, _)| *d).collect();
        let known = self.get_many(&ids).await?;
        let docs: Vec<(Uuid, Entry)> = docs.into_iter().filter(|(d, _)| !known.contains_key(d)).collect();
        if docs.is_empty() {
            return Ok(());
        }
        let _changing = Changing::begin(self);
        let now = Utc::now();
        let txn = db.begin_write().await?;
        let mut inserted = 0;
        for chunk in docs.chunks(500) {
            let rows = chunk.iter().map(|(doc, entry)| sync_document::ActiveModel {
                doc_id: Set(*doc),
                kind: Set(entry.kind.as_str().to_owned()),
                owner_id: Set(entry.owner),
                reader_id: Set(entry.reader),
                ticket_id: Set(entry.ticket),
                created_at: Set(now),
            });
            inserted += sync_document::Entity::insert_many(rows)
                .on_conflict(OnConflict::column(sync_document::Column::DocId).do_nothing().to_owned())
                .exec_without_returning(&txn)
                .await?;
        }
        txn.commit().await?;
        // Another node may have registered some first: then their entries stand.
        let mut entries: HashMap<Uuid, Entry> = docs.iter().copied().collect();
        if inserted < docs.len() as u64 {
            let ids: Vec<Uuid> = docs.iter().map(|(d, _)| *d).collect();
            for row in sync_document::Entity::find()
                .filter(sea_orm::ColumnTrait::is_in(&sync_document::Column::DocId, ids))
                .all(&db.write)
                .await?
            {
                if let Some(e) = to_entry(&row) {
                    entries.insert(row.doc_id, e);
                }
            }
        }
        for (doc, _) in &docs {
            self.tell_others(db, *doc).await;
        }
        for (d, e) in &entries {
            self.cache.insert(*d, *e);
        }
        for (doc, _) in docs {
            self.doc_watch.wake(&doc);
            let _ = self.changed.send(Some(doc));
        }
        Ok(())
    }

    /// Changes who may read a document (a ticket reassigned).
    pub async fn set_reader(&self, db: &Db, doc: Uuid, reader: Option<Uuid>) -> anyhow::Result<()> {
        if self.get(doc).await?.is_some_and(|e| e.reader == reader) {
            return Ok(());
        }
        let _changing = Changing::begin(self);
        sync_document::Entity::update_many()
            .col_expr(sync_document::Column::ReaderId, sea_orm::sea_query::Expr::val(reader))
            .filter(sea_orm::ColumnTrait::eq(&sync_document::Column::DocId, doc))
            .exec(&db.write)
            .await?;
        self.tell_others(db, doc).await;
        self.reload(db, doc).await
    }

    /// [`Acl::set_reader`] for many documents: the changed ones in one transaction.
    pub async fn set_readers(&self, db: &Db, changes: &[(Uuid, Option<Uuid>)]) -> anyhow::Result<()> {
        let ids: Vec<Uuid> = changes.iter().map(|(d, _)| *d).collect();
        let known = self.get_many(&ids).await?;
        let changed: Vec<(Uuid, Option<Uuid>)> = changes
            .iter()
            .copied()
            .filter(|(doc, reader)| known.get(doc).is_some_and(|e| e.reader != *reader))
            .collect();
        if changed.is_empty() {
            return Ok(());
        }
        let _changing = Changing::begin(self);
        let txn = db.begin_write().await?;
        for (doc, reader) in &changed {
            sync_document::Entity::update_many()
                .col_expr(sync_document::Column::ReaderId, sea_orm::sea_query::Expr::val(*reader))
                .filter(sea_orm::ColumnTrait::eq(&sync_document::Column::DocId, *doc))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
        for (doc, _) in &changed {
            self.tell_others(db, *doc).await;
        }
        for (doc, reader) in &changed {
            if let Some(e) = known.get(doc) {
                self.cache.insert(*doc, Entry { reader: *reader, ..*e });
            }
        }
        for (doc, _) in changed {
            self.doc_watch.wake(&doc);
            let _ = self.changed.send(Some(doc));
        }
        Ok(())
    }

    /// On PostgreSQL, tells the other nodes to re-read this entry.
    async fn tell_others(&self, db: &Db, doc: Uuid) {
        use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
        if db.backend() == DatabaseBackend::Postgres {
            let payload = format!("acl {} {doc}", self.db_node);
            let stmt = Statement::from_sql_and_values(
                DatabaseBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [super::storage::CHANNEL.into(), payload.into()],
            );
            if let Err(e) = db.write.execute_raw(stmt).await {
                tracing::warn!(error = %e, "cannot notify other nodes of an access change");
            }
        }
    }

    /// Re-reads one entry (after another node changed it).
    pub async fn reload(&self, db: &Db, doc: Uuid) -> anyhow::Result<()> {
        let _changing = Changing::begin(self);
        let row = sync_document::Entity::find_by_id(doc).one(&db.write).await?;
        match row.as_ref().and_then(to_entry) {
            Some(e) => self.cache.insert(doc, e),
            None => {
                self.cache.remove(&doc);
            }
        }
        self.doc_watch.wake(&doc);
        let _ = self.changed.send(Some(doc));
        Ok(())
    }

    /// Binds a connected peer id to its user, for one connection; the binding returned
    /// is what [`Acl::unbind`] needs. A peer id bound to another user's live connection
    /// is refused (`None`): a device may choose its id, not take someone else's.
    pub fn bind(&self, peer: &str, user: Uuid) -> Option<u64> {
        let binding = self.next_binding.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        {
            let mut p = self.peers.write().ok()?;
            if p.get(peer).is_some_and(|(u, _)| *u != user) {
                return None;
            }
            p.insert(peer.to_owned(), (user, binding));
        }
        self.peer_watch.wake(&peer.to_owned());
        let _ = self.changed.send(None);
        Some(binding)
    }

    /// Forgets a peer when the connection that bound it ends (a newer connection of
    /// the same device keeps its own binding).
    pub fn unbind(&self, peer: &str, binding: u64) {
        if let Ok(mut p) = self.peers.write()
            && p.get(peer).is_some_and(|(_, b)| *b == binding)
        {
            p.remove(peer);
        }
    }

    async fn decide(&self, doc: &DocumentId, peer: &PeerId) -> ShareConfig {
        let user = self.peers.read().ok().and_then(|p| p.get(peer.as_str()).map(|(u, _)| *u));
        match (user, uuid_of(doc)) {
            (Some(u), Some(d)) => match self.access(u, d).await {
                Access::Write => ShareConfig::read_write().with_announce(false),
                Access::Read => ShareConfig::read_only().with_announce(false),
                Access::None => ShareConfig::none(),
            },
            _ => ShareConfig::none(),
        }
    }
}

/// The share policy samod consults: a live stream of decisions per document and peer.
#[derive(Clone)]
pub struct Policy(pub Arc<Acl>);

impl samod::SharePolicy for Policy {
    fn share(&self, doc_id: DocumentId, peer_id: PeerId) -> impl Stream<Item = ShareConfig> + Send + 'static {
        let acl = self.0.clone();
        // Subscribed before the first decision, so a change made while deciding wakes it.
        let doc_rx = uuid_of(&doc_id).map(|d| acl.doc_watch.subscribe(d));
        let peer_rx = acl.peer_watch.subscribe(peer_id.as_str().to_owned());
        let state = (acl, doc_rx, peer_rx, doc_id, peer_id, None::<ShareConfig>);
        futures::stream::unfold(state, move |state| async move {
            let (acl, mut doc_rx, mut peer_rx, doc, peer, last) = state;
            if last.is_none() {
                let d = acl.decide(&doc, &peer).await;
                return Some((d, (acl, doc_rx, peer_rx, doc, peer, Some(d))));
            }
            loop {
                let doc_changed = async {
                    match doc_rx.as_mut() {
                        Some(rx) => rx.changed().await,
                        None => std::future::pending().await,
                    }
                };
                let woke = tokio::select! {
                    r = doc_changed => r.is_ok(),
                    r = peer_rx.changed() => r.is_ok(),
                };
                if !woke {
                    return None;
                }
                let d = acl.decide(&doc, &peer).await;
                if Some(d) != last {
                    return Some((d, (acl, doc_rx, peer_rx, doc, peer, Some(d))));
                }
            }
        })
    }
}
