//! From the database to the documents: every server-written document is rewritten from
//! the rows it describes (idempotently: an unchanged state adds no operations). The
//! database stays the source of truth; if the server stops between a commit and the
//! document update, the next pass (at start, or the next intent) catches up.

use super::acl::Entry;
use super::hub::{Intent, SyncHub};
use crate::db::entity::{customer, kb_article, ticket, user};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use sysops_core::sync::docs::{
    DocError, DraftsDoc, KbEntry, KbShardDoc, RootDoc, StatusDoc, TicketDoc, TicketLinks, WorkDoc,
};
use sysops_core::sync::ids::{self, DocKind};
use sysops_core::ticket::TicketStatus;
use tokio::sync::mpsc;
use uuid::Uuid;

/// Most attempts at one intent before it is left for the next pass (a restart, or the
/// next change to the same ticket or expert). Backoff doubles from one second, so the
/// attempts span about eight minutes: a database restart or failover is ridden out.
const MAX_ATTEMPTS: u32 = 10;

/// An expert's root lists their open tickets and their most recent completions: at most
/// this many, completed within [`ROOT_COMPLETED_DAYS`]. Listing every completion made
/// each root change cost the expert's whole history (ADR 17); an older ticket leaves
/// the device and stays readable through the API.
pub const ROOT_COMPLETED: u64 = 50;
/// See [`ROOT_COMPLETED`].
pub const ROOT_COMPLETED_DAYS: i64 = 14;

/// Drains intents (several at a time, each once) until the channel closes. An intent
/// that fails (the database went away mid-way) is sent again after a backoff instead of
/// being dropped: otherwise an expert's root would stay stale until something else
/// changed it.
pub async fn run(hub: Arc<SyncHub>, mut rx: mpsc::UnboundedReceiver<Intent>) {
    if let Err(e) = kb_shards(&hub).await {
        tracing::error!(error = %format!("{e:#}"), "cannot prepare the knowledge-base documents");
    }
    let mut attempts: HashMap<Intent, u32> = HashMap::new();
    while let Some(first) = rx.recv().await {
        // Let a burst (an intake batch) collect, then handle each intent once: the
        // tickets' new documents together, then each expert concerned once.
        tokio::time::sleep(Duration::from_millis(5)).await;
        let mut batch: Vec<Intent> = vec![first];
        while let Ok(i) = rx.try_recv() {
            batch.push(i);
        }
        hub.pending_gauge.set(i64::try_from(batch.len()).unwrap_or(i64::MAX));
        let mut seen = HashSet::new();
        let (mut tickets, mut experts, mut articles) = (Vec::new(), Vec::new(), Vec::new());
        for intent in batch.into_iter().filter(|i| seen.insert(i.clone())) {
            match intent {
                Intent::Ticket(id) => tickets.push(id),
                Intent::Expert(id) => experts.push(id),
                Intent::Article(id) => articles.push(id),
            }
        }
        let mut failed: Vec<(Intent, String)> = Vec::new();
        if !tickets.is_empty() {
            match ticket_batch(&hub, &tickets, &mut experts).await {
                Ok(bad) => failed.extend(bad.into_iter().map(|(id, e)| (Intent::Ticket(id), e))),
                Err(e) => {
                    let e = format!("{e:#}");
                    failed.extend(tickets.iter().map(|id| (Intent::Ticket(*id), e.clone())));
                }
            }
        }
        if let Err(e) = experts_batch(&hub, &experts).await {
            let e = format!("{e:#}");
            failed.extend(experts.iter().map(|id| (Intent::Expert(*id), e.clone())));
        }
        for id in articles {
            if let Err(e) = article(&hub, id).await {
                failed.push((Intent::Article(id), format!("{e:#}")));
            }
        }
        for intent in seen {
            if !failed.iter().any(|(i, _)| *i == intent) {
                attempts.remove(&intent);
            }
        }
        // What waits now: the gauge read zero only while the channel is empty and no
        // batch is being written (it used to keep the last batch's size for ever).
        hub.pending_gauge.set(i64::try_from(rx.len()).unwrap_or(i64::MAX));
        for (intent, error) in failed {
            let n = attempts.entry(intent.clone()).or_insert(0);
            *n += 1;
            if *n >= MAX_ATTEMPTS {
                tracing::error!(?intent, attempts = *n, error, "document not updated; left for the next pass");
                attempts.remove(&intent);
                continue;
            }
            let wait = Duration::from_secs(1 << (*n - 1).min(8));
            tracing::warn!(
                ?intent,
                attempt = *n,
                retry_in_secs = wait.as_secs(),
                error,
                "document not updated; retrying"
            );
            let handle = hub.handle.clone();
            tokio::spawn(async move {
                tokio::time::sleep(wait).await;
                handle.send(intent);
            });
        }
    }
}

fn rfc3339(t: chrono::DateTime<chrono::Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// The experts a ticket concerns: its assignee, who completed it, and who passed on it.
fn experts_of(t: &ticket::Model) -> BTreeSet<Uuid> {
    let excluded: Vec<Uuid> = serde_json::from_value(t.excluded_experts.clone()).unwrap_or_default();
    t.assigned_expert_id.into_iter().chain(t.completed_by).chain(excluded).collect()
}

/// The expert who may read a ticket's document now.
fn reader_of(t: &ticket::Model) -> Option<Uuid> {
    match t.status.parse::<TicketStatus>() {
        Ok(TicketStatus::Assigned | TicketStatus::Accepted | TicketStatus::Completed) => t.assigned_expert_id,
        _ => None,
    }
}

/// A ticket document's registry entry.
fn ticket_entry(t: &ticket::Model) -> Entry {
    Entry { kind: DocKind::Ticket, owner: None, reader: reader_of(t), ticket: Some(t.id) }
}

/// The registry entry of `expert`'s work document for a ticket.
fn work_entry(t: &ticket::Model, expert: Uuid) -> Entry {
    Entry { kind: DocKind::Work, owner: Some(expert), reader: None, ticket: Some(t.id) }
}

/// The experts who hold a work document for a ticket (its assignee and who completed
/// it, while it is open or completed).
fn workers_of(t: &ticket::Model) -> BTreeSet<Uuid> {
    match t.status.parse::<TicketStatus>() {
        Ok(TicketStatus::Assigned | TicketStatus::Accepted | TicketStatus::Completed) => {
            t.assigned_expert_id.into_iter().chain(t.completed_by).collect()
        }
        _ => BTreeSet::new(),
    }
}

type Init = Box<dyn FnOnce(&mut automerge::transaction::Transaction<'_>) -> Result<(), DocError> + Send>;

/// A ticket's document, to be made if missing.
fn ticket_doc(t: &ticket::Model) -> (Uuid, Entry, Init) {
    let tid = t.id.to_string();
    (ids::ticket(t.id), ticket_entry(t), Box::new(move |tx| ticket_init(tx, &tid)))
}

/// `expert`'s work document for a ticket, to be made if missing.
fn work_doc(t: &ticket::Model, expert: Uuid) -> (Uuid, Entry, Init) {
    let (tid, eid) = (t.id.to_string(), expert.to_string());
    (ids::work(t.id, expert), work_entry(t, expert), Box::new(move |tx| WorkDoc::init(tx, &tid, &eid)))
}

/// Rewrites several tickets' documents, creating the new ones together (one group
/// commit of snapshots, one registration transaction: an intake batch would otherwise
/// cost a commit per document). Adds the experts they concern to `experts`, once each,
/// for the caller to rewrite. Returns the tickets whose document could not be written.
async fn ticket_batch(hub: &SyncHub, ids: &[Uuid], experts: &mut Vec<Uuid>) -> anyhow::Result<Vec<(Uuid, String)>> {
    let mut rows = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(500) {
        rows.extend(
            ticket::Entity::find().filter(ticket::Column::Id.is_in(chunk.iter().copied())).all(&hub.db.read).await?,
        );
    }
    let mut new_docs: Vec<(Uuid, Entry, Init)> = Vec::new();
    for t in &rows {
        new_docs.push(ticket_doc(t));
        new_docs.extend(workers_of(t).into_iter().map(|e| work_doc(t, e)));
    }
    hub.ensure_many(new_docs).await?;
    let readers: Vec<(Uuid, Option<Uuid>)> = rows.iter().map(|t| (ids::ticket(t.id), reader_of(t))).collect();
    hub.acl.set_readers(&hub.db, &readers).await?;
    let contacts = contacts_of(hub, &rows).await?;
    let mut failed = Vec::new();
    for t in &rows {
        if let Err(e) = write_ticket_with(hub, t, &contacts).await {
            failed.push((t.id, format!("{e:#}")));
            continue;
        }
        for e in experts_of(t) {
            if !experts.contains(&e) {
                experts.push(e);
            }
        }
    }
    Ok(failed)
}

/// A ticket document's first change: only what never changes, so it is the same on
/// every node (the rest is an ordinary change).
fn ticket_init(tx: &mut automerge::transaction::Transaction<'_>, ticket_id: &str) -> Result<(), DocError> {
    sysops_core::sync::fields::put_str(tx, &automerge::ROOT, "schema", TicketDoc::SCHEMA)?;
    Ok(sysops_core::sync::fields::put_str(tx, &automerge::ROOT, "ticket_id", ticket_id)?)
}

/// The customers' names and phone numbers for these tickets' documents, in two queries.
async fn contacts_of(hub: &SyncHub, rows: &[ticket::Model]) -> anyhow::Result<HashMap<Uuid, (String, String)>> {
    let ids: Vec<Uuid> = rows.iter().map(|t| t.customer_id).collect::<BTreeSet<_>>().into_iter().collect();
    let mut out: HashMap<Uuid, (String, String)> = HashMap::new();
    for chunk in ids.chunks(500) {
        for u in user::Entity::find().filter(user::Column::Id.is_in(chunk.iter().copied())).all(&hub.db.read).await? {
            out.entry(u.id).or_default().0 = u.name;
        }
        for c in customer::Entity::find()
            .filter(customer::Column::UserId.is_in(chunk.iter().copied()))
            .all(&hub.db.read)
            .await?
        {
            out.entry(c.user_id).or_default().1 = c.phone;
        }
    }
    Ok(out)
}

/// Writes a ticket's document from its row, with the customer's contact details from
/// `contacts` (see [`contacts_of`]).
async fn write_ticket_with(
    hub: &SyncHub,
    t: &ticket::Model,
    contacts: &HashMap<Uuid, (String, String)>,
) -> anyhow::Result<()> {
    let doc_id = ids::ticket(t.id);
    let entry = ticket_entry(t);
    // A document's first change must be the same on every node (same actor, same
    // content), so it holds only what never changes; the rest is an ordinary change.
    let tid = t.id.to_string();
    hub.ensure_exists(doc_id, entry, move |tx| ticket_init(tx, &tid)).await?;
    hub.acl.set_reader(&hub.db, doc_id, reader_of(t)).await?;
    if experts_of(t).is_empty() && !hub.is_open(doc_id) {
        // No expert has ever been given it (it waits for one), so no device has it and
        // nobody may sync it: it stays in storage as created, and memory stays free
        // (ADR 17). It is written from the row when an expert gets it, before they may
        // read it. A ticket an expert has seen is always written (a closed ticket's
        // final state, an erased customer's details).
        return Ok(());
    }
    let (customer_name, customer_phone) = contacts.get(&t.customer_id).cloned().unwrap_or_default();
    let doc = TicketDoc {
        ticket_id: t.id.to_string(),
        status: t.status.clone(),
        category: t.category.clone(),
        title: t.title.clone(),
        description: t.description.clone(),
        address: t.address.clone(),
        lat: t.lat,
        lon: t.lon,
        customer_name,
        customer_phone,
        assigned_expert_id: t.assigned_expert_id.map(|e| e.to_string()),
        dispatcher_notes: t.dispatcher_notes.clone(),
        updated_at: rfc3339(t.updated_at),
    };
    let h = hub.find(doc_id).await?.ok_or_else(|| anyhow::anyhow!("document {doc_id} is not in storage"))?;
    hub.change(&h, move |tx| doc.write(tx)).await
}

/// Makes sure an expert's documents exist and their root lists what they may sync;
/// returns the root's id.
pub async fn expert_docs(hub: &SyncHub, expert: Uuid) -> anyhow::Result<Uuid> {
    experts_batch(hub, &[expert]).await?;
    Ok(ids::root(expert))
}

/// [`expert_docs`] for several experts at once: their tickets in one query, every
/// missing document registered in one transaction (the database's single writer is
/// busy with intake under load: a transaction per expert made the reconciler fall
/// behind and its backlog grow without bound), then each root rewritten.
async fn experts_batch(hub: &SyncHub, experts: &[Uuid]) -> anyhow::Result<()> {
    if experts.is_empty() {
        return Ok(());
    }
    // Open tickets: one indexed query per 200 experts.
    let mut tickets: Vec<ticket::Model> = Vec::new();
    for chunk in experts.chunks(200) {
        tickets.extend(
            ticket::Entity::find()
                .filter(ticket::Column::AssignedExpertId.is_in(chunk.iter().copied()))
                .filter(
                    ticket::Column::Status.is_in([TicketStatus::Assigned.as_str(), TicketStatus::Accepted.as_str()]),
                )
                .all(&hub.db.read)
                .await?,
        );
    }
    // Recent completions: an index range per expert (`ix_tickets_completed_by`).
    let since = chrono::Utc::now() - chrono::Duration::days(ROOT_COMPLETED_DAYS);
    for &expert in experts {
        tickets.extend(
            ticket::Entity::find()
                .filter(ticket::Column::CompletedBy.eq(expert))
                .filter(ticket::Column::CompletedAt.gte(since))
                .filter(ticket::Column::Status.eq(TicketStatus::Completed.as_str()))
                .order_by_desc(ticket::Column::CompletedAt)
                .limit(ROOT_COMPLETED)
                .all(&hub.db.read)
                .await?,
        );
    }
    // Which tickets each expert's root lists: those assigned to them (open) or recently
    // completed by them.
    let mine = |expert: Uuid| {
        tickets.iter().filter(move |t| {
            if t.status == TicketStatus::Completed.as_str() {
                t.completed_by == Some(expert)
            } else {
                t.assigned_expert_id == Some(expert)
            }
        })
    };
    let mut new_docs: Vec<(Uuid, Entry, Init)> = Vec::new();
    for &expert in experts {
        let owned = |kind| Entry { kind, owner: Some(expert), reader: None, ticket: None };
        let e = expert.to_string();
        let es = e.clone();
        new_docs.push((ids::status(expert), owned(DocKind::Status), Box::new(move |tx| StatusDoc::init(tx, &es))));
        let ed = e.clone();
        new_docs.push((ids::drafts(expert), owned(DocKind::Drafts), Box::new(move |tx| DraftsDoc::init(tx, &ed))));
        new_docs.extend(mine(expert).map(|t| work_doc(t, expert)));
    }
    // Tickets the reconciler has not reached yet (their intents still queued) get their
    // documents here, so a root never lists a document that does not exist.
    let mut seen = HashSet::new();
    let known = hub.acl.get_many(&tickets.iter().map(|t| ids::ticket(t.id)).collect::<Vec<_>>()).await?;
    let unknown: Vec<ticket::Model> =
        tickets.iter().filter(|t| seen.insert(t.id) && !known.contains_key(&ids::ticket(t.id))).cloned().collect();
    new_docs.extend(unknown.iter().map(ticket_doc));
    hub.ensure_many(new_docs).await?;
    if !unknown.is_empty() {
        let contacts = contacts_of(hub, &unknown).await?;
        for t in &unknown {
            write_ticket_with(hub, t, &contacts).await?;
        }
    }
    for &expert in experts {
        let e = expert.to_string();
        let (status, drafts, root) = (ids::status(expert), ids::drafts(expert), ids::root(expert));
        let mut r = RootDoc {
            expert_id: e.clone(),
            status: ids::url(status),
            drafts: ids::url(drafts),
            kb: (0..ids::KB_SHARDS).map(|s| (s.to_string(), ids::url(ids::kb_shard(s)))).collect(),
            ..Default::default()
        };
        for t in mine(expert) {
            let links = TicketLinks { ticket: ids::url(ids::ticket(t.id)), work: ids::url(ids::work(t.id, expert)) };
            r.tickets.insert(t.id.to_string(), links);
        }
        let entry = Entry { kind: DocKind::Root, owner: None, reader: Some(expert), ticket: None };
        let initial = RootDoc { tickets: Default::default(), ..r.clone() };
        let h = hub.ensure(root, entry, move |tx| initial.write(tx)).await?;
        hub.change(&h, move |tx| r.write(tx)).await?;
    }
    Ok(())
}

/// Appends a notice to an expert's root (a refused write, a conflict).
pub async fn notice(hub: &SyncHub, expert: Uuid, document: Uuid, message: String) -> anyhow::Result<()> {
    let root = expert_docs(hub, expert).await?;
    let Some(h) = hub.find(root).await? else { return Ok(()) };
    let n = sysops_core::sync::docs::Notice { at: rfc3339(chrono::Utc::now()), document: ids::url(document), message };
    hub.change(&h, move |tx| RootDoc::notice(tx, &n)).await
}

fn entry_of(a: &kb_article::Model) -> KbEntry {
    KbEntry {
        title: a.title.clone(),
        body: a.body.clone(),
        tags: serde_json::from_value(a.tags.clone()).unwrap_or_default(),
        updated_at: rfc3339(a.updated_at),
    }
}

/// Puts an article in (or takes it out of) its KB shard.
async fn article(hub: &SyncHub, id: Uuid) -> anyhow::Result<()> {
    let a = kb_article::Entity::find_by_id(id).one(&hub.db.read).await?;
    let shard = ids::shard_of(id);
    let entry = Entry { kind: DocKind::Kb, owner: None, reader: None, ticket: None };
    let h = hub.ensure(ids::kb_shard(shard), entry, move |tx| KbShardDoc::init(tx, shard)).await?;
    let key = id.to_string();
    match a.filter(|a| a.status == "published") {
        Some(a) => {
            let e = entry_of(&a);
            hub.change(&h, move |tx| KbShardDoc::upsert(tx, &key, &e)).await
        }
        None => hub.change(&h, move |tx| KbShardDoc::remove(tx, &key)).await,
    }
}

/// Creates the KB shards that do not exist yet, filled with the published articles.
async fn kb_shards(hub: &SyncHub) -> anyhow::Result<()> {
    let known = hub.acl.get_many(&(0..ids::KB_SHARDS).map(ids::kb_shard).collect::<Vec<_>>()).await?;
    let missing: Vec<u32> = (0..ids::KB_SHARDS).filter(|s| !known.contains_key(&ids::kb_shard(*s))).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let published =
        kb_article::Entity::find().filter(kb_article::Column::Status.eq("published")).all(&hub.db.read).await?;
    for shard in missing {
        let articles: Vec<(String, KbEntry)> = published
            .iter()
            .filter(|a| ids::shard_of(a.id) == shard)
            .map(|a| (a.id.to_string(), entry_of(a)))
            .collect();
        let entry = Entry { kind: DocKind::Kb, owner: None, reader: None, ticket: None };
        let h = hub.ensure(ids::kb_shard(shard), entry, move |tx| KbShardDoc::init(tx, shard)).await?;
        hub.change(&h, move |tx| {
            for (id, e) in &articles {
                KbShardDoc::upsert(tx, id, e)?;
            }
            Ok(())
        })
        .await?;
    }
    Ok(())
}
