//! samod's storage on the device database: the documents' chunks in the `chunks` table,
//! in the same SQLite file (and the same writer) as everything else.

use super::store::Store;
use rusqlite::params;
use samod::storage::{Storage, StorageKey};
use std::collections::HashMap;

/// Document storage in the device store.
#[derive(Clone)]
pub struct DeviceStorage(pub Store);

fn parts(k: &StorageKey) -> Vec<String> {
    k.clone().into_iter().collect()
}

impl DeviceStorage {
    fn range(&self, prefix: &[String]) -> Vec<(Vec<String>, Vec<u8>)> {
        let names = ["k1", "k2", "k3"];
        let filter: Vec<String> = (0..prefix.len().min(3)).map(|i| format!("{} = ?{}", names[i], i + 1)).collect();
        let sql = if filter.is_empty() {
            "SELECT k1, k2, k3, data FROM chunks".to_owned()
        } else {
            format!("SELECT k1, k2, k3, data FROM chunks WHERE {}", filter.join(" AND "))
        };
        let r = self.0.with(|c| {
            let mut s = c.prepare_cached(&sql)?;
            let vals: Vec<&dyn rusqlite::ToSql> = prefix.iter().take(3).map(|p| p as &dyn rusqlite::ToSql).collect();
            s.query_map(vals.as_slice(), |r| {
                let key: Vec<String> =
                    [r.get::<_, String>(0)?, r.get(1)?, r.get(2)?].into_iter().filter(|s| !s.is_empty()).collect();
                Ok((key, r.get::<_, Vec<u8>>(3)?))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()
        });
        r.unwrap_or_else(|e| {
            tracing::error!(error = %e, "device storage read failed");
            Vec::new()
        })
    }
}

impl Storage for DeviceStorage {
    fn load(&self, key: StorageKey) -> impl Future<Output = Option<Vec<u8>>> + Send {
        let p = parts(&key);
        let found = self.range(&p).into_iter().find(|(k, _)| *k == p).map(|(_, d)| d);
        async move { found }
    }

    fn load_range(&self, prefix: StorageKey) -> impl Future<Output = HashMap<StorageKey, Vec<u8>>> + Send {
        let rows = self.range(&parts(&prefix));
        let map = rows.into_iter().filter_map(|(k, d)| Some((StorageKey::from_parts(k).ok()?, d))).collect();
        async move { map }
    }

    fn put(&self, key: StorageKey, data: Vec<u8>) -> impl Future<Output = ()> + Send {
        let p = parts(&key);
        let k = |i: usize| p.get(i).cloned().unwrap_or_default();
        if let Err(e) = self.0.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO chunks (k1, k2, k3, data) VALUES (?1, ?2, ?3, ?4)",
                params![k(0), k(1), k(2), data],
            )
        }) {
            // A full disk: the change stays in memory and is stored with the next write;
            // the app hears about it from the action that failed.
            tracing::error!(error = %e, "device storage write failed");
        }
        async {}
    }

    fn delete(&self, key: StorageKey) -> impl Future<Output = ()> + Send {
        let p = parts(&key);
        let k = |i: usize| p.get(i).cloned().unwrap_or_default();
        let _ = self
            .0
            .with(|c| c.execute("DELETE FROM chunks WHERE k1 = ?1 AND k2 = ?2 AND k3 = ?3", params![k(0), k(1), k(2)]));
        async {}
    }
}
