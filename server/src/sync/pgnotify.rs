//! Several server nodes on one PostgreSQL: each node's repository keeps the documents it
//! has open in memory, so when another node stores new changes (a device synced there,
//! or that node's server wrote a document) it says so with `NOTIFY`, and this node loads
//! the new chunks into its open copy, which samod then syncs to the devices connected
//! here. Access changes travel the same way.

use super::acl::doc_of;
use super::hub::SyncHub;
use super::storage::CHANNEL;
use sea_orm::sqlx::postgres::PgListener;
use std::sync::Arc;
use std::time::Duration;
use uuid::Uuid;

/// Listens until the process ends, reconnecting after failures.
pub async fn run(hub: Arc<SyncHub>, url: String) {
    loop {
        if let Err(e) = listen(&hub, &url).await {
            tracing::error!(error = %e, "sync notifications interrupted; reconnecting");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

async fn listen(hub: &Arc<SyncHub>, url: &str) -> anyhow::Result<()> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    loop {
        let n = listener.recv().await?;
        let mut parts = n.payload().split(' ');
        let (kind, node, what) = (parts.next(), parts.next(), parts.next());
        if node == Some(hub.node.as_str()) {
            continue;
        }
        match (kind, what) {
            (Some("acl"), Some(id)) => {
                if let Ok(id) = id.parse::<Uuid>() {
                    hub.acl.reload(&hub.db, id).await?;
                }
            }
            (Some("doc"), Some(key)) => {
                let Some(id) = sysops_core::sync::ids::parse_url(key) else { continue };
                if hub.is_open(id) {
                    let hub = hub.clone();
                    hub.rt.clone().spawn(async move {
                        if let Err(e) = load_new_chunks(&hub, id).await {
                            tracing::warn!(error = %e, %id, "cannot load another node's changes");
                        }
                    });
                }
            }
            _ => {}
        }
    }
}

/// Loads every stored chunk of `id` into the open document (automerge ignores what it
/// already has).
pub async fn load_new_chunks(hub: &SyncHub, id: Uuid) -> anyhow::Result<()> {
    let key = doc_of(id).to_string();
    let chunks = hub.storage.range(std::slice::from_ref(&key)).await?;
    let Some(h) = hub.find(id).await? else { return Ok(()) };
    h.with_document_async(move |doc| {
        for (_, bytes) in chunks {
            if let Err(e) = doc.load_incremental(&bytes) {
                tracing::warn!(error = %e, "a stored chunk did not load");
            }
        }
    })
    .await
    .map_err(|_| anyhow::anyhow!("the sync repository stopped"))
}
