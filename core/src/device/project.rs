//! From synced documents to the device's tables: the root decides which tickets are on
//! the device; a ticket's row is written from its ticket and work documents together;
//! each KB shard replaces its articles.

use super::store::{Store, projected_key};
use crate::sync::docs::{KbShardDoc, RootDoc, TicketDoc, WorkDoc};
use crate::sync::ids;
use samod::{DocHandle, DocumentId, Repo};
use std::time::Duration;
use uuid::Uuid;

/// What a watched document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Watched {
    /// The expert's root.
    Root,
    /// A ticket's dispatch or work document (by ticket id).
    Ticket(Uuid),
    /// A KB shard.
    Kb(u32),
    /// One of the expert's own documents (status, drafts index): kept on the device so
    /// it can be changed offline; nothing to project.
    Own(Uuid),
}

/// The samod id of a document.
pub fn doc_id(u: Uuid) -> DocumentId {
    DocumentId::try_from(u.as_bytes().to_vec()).expect("16 bytes")
}

/// A document from local storage or the server, giving up after `wait`.
pub async fn find(repo: &Repo, id: Uuid, wait: Duration) -> Option<DocHandle> {
    match tokio::time::timeout(wait, repo.find(doc_id(id))).await {
        Ok(Ok(h)) => h,
        _ => None,
    }
}

/// Reads a document with `f`.
pub async fn read<T: Send + 'static>(
    h: &DocHandle,
    f: impl FnOnce(&automerge::Automerge) -> T + Send + 'static,
) -> Option<T> {
    h.with_document_async(move |d| f(d)).await.ok()
}

/// A document's heads, as text.
async fn heads(h: &DocHandle) -> Option<String> {
    read(h, |d| d.get_heads().iter().map(ToString::to_string).collect::<Vec<_>>().join(",")).await
}

/// Whether `what` was last projected at these heads (so a device reopened with nothing
/// new does not project everything again).
fn unchanged(store: &Store, what: &str, heads: &str) -> bool {
    store.meta(&projected_key(what)).ok().flatten().as_deref() == Some(heads)
}

/// Writes a ticket's row if both its documents are here and changed since it was last
/// written. Returns whether it was written.
pub async fn ticket(repo: &Repo, store: &Store, expert: Uuid, ticket: Uuid) -> bool {
    let wait = Duration::from_secs(5);
    let (Some(th), Some(wh)) =
        (find(repo, ids::ticket(ticket), wait).await, find(repo, ids::work(ticket, expert), wait).await)
    else {
        return false;
    };
    let (Some(a), Some(b)) = (heads(&th).await, heads(&wh).await) else { return false };
    let (what, now) = (ticket.to_string(), format!("{a}|{b}"));
    if unchanged(store, &what, &now) {
        return false;
    }
    let (Some(Ok(t)), Some(Ok(w))) = (read(&th, TicketDoc::read).await, read(&wh, WorkDoc::read).await) else {
        return false;
    };
    store.put_ticket(&t, &w).is_ok() && store.set_meta(&projected_key(&what), &now).is_ok()
}

/// The tickets and KB shards a root lists; drops tickets it no longer lists.
pub async fn root(h: &DocHandle, store: &Store) -> Option<(Vec<Uuid>, Vec<u32>)> {
    let r = read(h, RootDoc::read).await?.ok()?;
    let tickets: Vec<Uuid> = r.tickets.keys().filter_map(|k| k.parse().ok()).collect();
    let keep: Vec<String> = tickets.iter().map(Uuid::to_string).collect();
    let _ = store.retain_tickets(&keep);
    let shards = r.kb.keys().filter_map(|k| k.parse().ok()).collect();
    Some((tickets, shards))
}

/// Replaces a KB shard's articles, if the shard changed since it was last projected.
pub async fn kb(h: &DocHandle, store: &Store) -> bool {
    let Some(now) = heads(h).await else { return false };
    let what = format!("kb:{}", h.document_id());
    if unchanged(store, &what, &now) {
        return false;
    }
    let Some(Ok(shard)) = read(h, KbShardDoc::read).await else { return false };
    let articles: Vec<_> = shard.articles.into_iter().collect();
    store.put_kb_shard(shard.shard, &articles).is_ok() && store.set_meta(&projected_key(&what), &now).is_ok()
}
