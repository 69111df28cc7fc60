//! samod's storage on our database: every chunk of every automerge document is a row of
//! `sync_chunks`, keyed by samod's storage key (document, kind, name). On PostgreSQL a
//! write also notifies the other nodes, which load the new chunks into their copy.
//!
//! samod's storage calls cannot fail, so a failed database call is retried (with
//! backoff) until it succeeds rather than being reported as done.
//!
//! Writes go through one writer task that commits whatever has queued up in one
//! transaction (group commit): a device back from a day offline changes hundreds of
//! documents at once, and one durable commit per chunk would make it wait on the disk
//! hundreds of times.

use crate::db::Db;
use samod::storage::{Storage, StorageKey};
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr};
use std::collections::HashMap;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The channel PostgreSQL notifications about documents go on.
pub const CHANNEL: &str = "sysops_sync";

/// Document storage in `sync_chunks`.
#[derive(Clone)]
pub struct DbStorage {
    db: Db,
    writes: mpsc::UnboundedSender<Write>,
}

/// A write waiting for the writer: a chunk to put (`Some`) or delete (`None`).
struct Write {
    key: Vec<String>,
    data: Option<Vec<u8>>,
    done: oneshot::Sender<Result<(), String>>,
}

/// Most writes committed together.
const BATCH: usize = 512;

fn parts(key: &StorageKey) -> Vec<String> {
    key.clone().into_iter().collect()
}

impl DbStorage {
    /// Storage for this node; its writer runs on `rt`.
    pub fn new(db: Db, node: String, rt: &tokio::runtime::Handle) -> Self {
        let (writes, rx) = mpsc::unbounded_channel();
        rt.spawn(writer(db.clone(), node, rx));
        Self { db, writes }
    }

    /// Queues a write and waits until it is committed.
    async fn write(&self, key: &[String], data: Option<&[u8]>) -> Result<(), DbErr> {
        let (done, rx) = oneshot::channel();
        let w = Write { key: key.to_vec(), data: data.map(<[u8]>::to_vec), done };
        self.writes.send(w).map_err(|_| DbErr::Custom("the sync storage writer stopped".into()))?;
        rx.await.map_err(|_| DbErr::Custom("the sync storage writer stopped".into()))?.map_err(DbErr::Custom)
    }

    async fn retry<T, F, Fut>(&self, what: &str, f: F) -> T
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Result<T, DbErr>>,
    {
        let mut delay = Duration::from_millis(50);
        loop {
            match f().await {
                Ok(v) => return v,
                Err(e) => {
                    tracing::error!(error = %e, what, "sync storage failed; retrying");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Which of these documents (first key parts) have any chunk in storage: one query
    /// per 500 instead of reading every chunk of each.
    pub async fn existing(&self, docs: &[String]) -> Result<std::collections::HashSet<String>, DbErr> {
        let backend = self.db.backend();
        let mut found = std::collections::HashSet::new();
        for chunk in docs.chunks(500) {
            let marks: Vec<String> = (1..=chunk.len()).map(|i| format!("${i}")).collect();
            let sql = format!("SELECT DISTINCT k1 FROM sync_chunks WHERE k1 IN ({})", marks.join(", "));
            let values: Vec<sea_orm::Value> = chunk.iter().map(|d| d.clone().into()).collect();
            for r in self.db.read.query_all_raw(crate::db::statement(backend, &sql, values)).await? {
                found.insert(r.try_get::<String>("", "k1")?);
            }
        }
        Ok(found)
    }

    /// Every chunk under `prefix` (0 to 3 key parts).
    pub async fn range(&self, prefix: &[String]) -> Result<Vec<(Vec<String>, Vec<u8>)>, DbErr> {
        let backend = self.db.backend();
        let names = ["k1", "k2", "k3"];
        let filter: Vec<String> = (0..prefix.len().min(3)).map(|i| format!("{} = ${}", names[i], i + 1)).collect();
        let sql = if filter.is_empty() {
            "SELECT k1, k2, k3, data FROM sync_chunks".to_owned()
        } else {
            format!("SELECT k1, k2, k3, data FROM sync_chunks WHERE {}", filter.join(" AND "))
        };
        let values: Vec<sea_orm::Value> = prefix.iter().take(3).map(|p| p.clone().into()).collect();
        let rows = self.db.read.query_all_raw(crate::db::statement(backend, &sql, values)).await?;
        rows.iter()
            .map(|r| {
                let key: Vec<String> = ["k1", "k2", "k3"]
                    .iter()
                    .map(|c| r.try_get::<String>("", c))
                    .collect::<Result<Vec<_>, _>>()?
                    .into_iter()
                    .filter(|s| !s.is_empty())
                    .collect();
                Ok((key, r.try_get::<Vec<u8>>("", "data")?))
            })
            .collect()
    }
}

/// Commits queued writes, as many together as have queued up.
async fn writer(db: Db, node: String, mut rx: mpsc::UnboundedReceiver<Write>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < BATCH {
            match rx.try_recv() {
                Ok(w) => batch.push(w),
                Err(_) => break,
            }
        }
        match commit(&db, &node, &batch).await {
            Ok(()) => {
                for w in batch {
                    let _ = w.done.send(Ok(()));
                }
            }
            // One write the database refuses must not hold the others back: each is
            // tried on its own, and only what fails reports failure (and is retried).
            Err(e) if batch.len() > 1 => {
                tracing::warn!(error = %e, writes = batch.len(), "sync storage batch failed; committing one by one");
                for w in batch {
                    let r = commit(&db, &node, std::slice::from_ref(&w)).await.map_err(|e| e.to_string());
                    let _ = w.done.send(r);
                }
            }
            Err(e) => {
                for w in batch {
                    let _ = w.done.send(Err(e.to_string()));
                }
            }
        }
    }
}

async fn commit(db: &Db, node: &str, batch: &[Write]) -> Result<(), DbErr> {
    let backend = db.backend();
    let txn = db.begin_write().await?;
    let mut changed = std::collections::BTreeSet::new();
    for w in batch {
        let k = |i: usize| w.key.get(i).cloned().unwrap_or_default();
        match &w.data {
            Some(data) => {
                let sql = "INSERT INTO sync_chunks (k1, k2, k3, data) VALUES ($1, $2, $3, $4) \
                           ON CONFLICT (k1, k2, k3) DO UPDATE SET data = excluded.data \
                           WHERE sync_chunks.data <> excluded.data";
                let r = txn
                    .execute_raw(crate::db::statement(
                        backend,
                        sql,
                        vec![k(0).into(), k(1).into(), k(2).into(), data.clone().into()],
                    ))
                    .await?;
                if r.rows_affected() > 0 && w.key.len() > 1 {
                    changed.insert(k(0));
                }
            }
            None => {
                txn.execute_raw(crate::db::statement(
                    backend,
                    "DELETE FROM sync_chunks WHERE k1 = $1 AND k2 = $2 AND k3 = $3",
                    vec![k(0).into(), k(1).into(), k(2).into()],
                ))
                .await?;
            }
        }
    }
    // Tell the other nodes, but only about data they do not have yet.
    if backend == DatabaseBackend::Postgres {
        for doc in changed {
            txn.execute_raw(crate::db::statement(
                backend,
                "SELECT pg_notify($1, $2)",
                vec![CHANNEL.into(), format!("doc {node} {doc}").into()],
            ))
            .await?;
        }
    }
    txn.commit().await
}

fn key_of(parts: Vec<String>) -> Option<StorageKey> {
    StorageKey::from_parts(parts).ok()
}

impl Storage for DbStorage {
    fn load(&self, key: StorageKey) -> impl std::future::Future<Output = Option<Vec<u8>>> + Send {
        let this = self.clone();
        async move {
            let p = parts(&key);
            let rows = this.retry("load", || this.range(&p)).await;
            rows.into_iter().find(|(k, _)| *k == p).map(|(_, d)| d)
        }
    }

    fn load_range(&self, prefix: StorageKey) -> impl std::future::Future<Output = HashMap<StorageKey, Vec<u8>>> + Send {
        let this = self.clone();
        async move {
            let p = parts(&prefix);
            let rows = this.retry("load_range", || this.range(&p)).await;
            rows.into_iter().filter_map(|(k, d)| Some((key_of(k)?, d))).collect()
        }
    }

    fn put(&self, key: StorageKey, data: Vec<u8>) -> impl std::future::Future<Output = ()> + Send {
        let this = self.clone();
        async move {
            let p = parts(&key);
            this.retry("put", || this.write(&p, Some(&data))).await;
        }
    }

    fn delete(&self, key: StorageKey) -> impl std::future::Future<Output = ()> + Send {
        let this = self.clone();
        async move {
            let p = parts(&key);
            this.retry("delete", || this.write(&p, None)).await;
        }
    }
}
