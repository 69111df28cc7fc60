//! The sync endpoint: a WebSocket carrying automerge-repo messages between a device and
//! the node's samod repository. Before samod sees a message the bridge checks it: the
//! connection's peer id (any the device likes, but not one another account's live
//! connection uses) is bound to the token's expert; every message must be a
//! well-formed envelope from that peer; a request for a document the expert may not see
//! is answered `doc-unavailable` here (it never reaches the repository); a device's new
//! document (a KB draft) is registered as the expert's; changes to a document the expert
//! may only read are dropped by samod and the device is told through its root document.
//!
//! A request answered `doc-unavailable` is kept (per connection) and handed to samod
//! once the expert may read the document: a device that asks for its root before the
//! server has written it, or for a ticket about to be assigned to it, gets the document
//! when it exists, on the same connection. (automerge-repo peers do not ask again after
//! `doc-unavailable`, and the server announces nothing, so without this the document
//! would wait for the next reconnect.)

use super::acl::Access;
use super::hub::SyncHub;
use super::wire::{self, DocRef};
use crate::auth::Caller;
use crate::state::AppState;
use actix_web::web;
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, Session};
use futures::{SinkExt, StreamExt};
use samod::{PeerId, Transport};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use sysops_core::sync::ids::{self, DocKind};
use uuid::Uuid;

/// Serves one upgraded connection of `caller` (an expert) until it ends: the sync
/// front end (`api::sync`) authenticates and upgrades, then hands the socket here.
pub fn start(state: web::Data<AppState>, caller: Caller, session: Session, stream: actix_ws::AggregatedMessageStream) {
    let standing = Standing { changes: state.auth.users.changes(), state: state.clone(), caller };
    actix_web::rt::spawn(serve(state.sync.clone(), caller.user_id, session, stream, standing));
}

async fn close(session: Session, code: CloseCode, why: &str) {
    tracing::info!(why, "sync connection closed by the server");
    let _ = session.close(Some(CloseReason { code, description: Some(why.to_owned()) })).await;
}

/// What one connection has done so far.
#[derive(Default)]
struct Budget {
    created: usize,
    unavailable: usize,
    told: HashSet<Uuid>,
    /// Requests answered `doc-unavailable`, by document: replayed to samod when access
    /// is granted.
    deferred: HashMap<Uuid, Vec<u8>>,
}

/// The largest request kept for replay (a first request carries no changes: tens of bytes).
const MAX_DEFERRED_BYTES: usize = 4096;

impl Budget {
    /// Takes the deferred requests the expert may now make (all of them on `None`).
    async fn granted(&mut self, hub: &SyncHub, user: Uuid, changed: Option<Uuid>) -> Vec<Vec<u8>> {
        let candidates: Vec<Uuid> = match changed {
            Some(doc) if self.deferred.contains_key(&doc) => vec![doc],
            Some(_) => return Vec::new(),
            None => self.deferred.keys().copied().collect(),
        };
        let mut granted = Vec::new();
        for doc in candidates {
            if hub.acl.access(user, doc).await != Access::None
                && let Some(request) = self.deferred.remove(&doc)
            {
                granted.push(request);
            }
        }
        granted
    }
}

enum Verdict {
    Forward,
    Answer(Vec<u8>),
    Drop,
    Close(CloseCode, String),
}

/// The expert's standing, re-checked whenever an account changes (here or, through
/// `NOTIFY`, on another node): a disabled or erased expert's open session ends at once.
struct Standing {
    state: web::Data<AppState>,
    caller: Caller,
    changes: tokio::sync::broadcast::Receiver<Uuid>,
}

impl Standing {
    /// Whether the change ends this session (a database hiccup does not).
    async fn revoked(&self, changed: Result<Uuid, tokio::sync::broadcast::error::RecvError>) -> bool {
        if matches!(changed, Ok(id) if id != self.caller.user_id && !id.is_nil()) {
            return false;
        }
        match self.state.auth.users.get(&self.state.db, self.caller.user_id).await {
            Ok(Some(s)) => !(s.active && s.role == self.caller.role),
            Ok(None) => true,
            Err(_) => false,
        }
    }
}

async fn serve(
    hub: Arc<SyncHub>,
    user: Uuid,
    mut session: Session,
    mut stream: actix_ws::AggregatedMessageStream,
    mut standing: Standing,
) {
    // The first message must be `join`, naming a peer id of this expert.
    let first = match tokio::time::timeout(Duration::from_secs(30), stream.next()).await {
        Ok(Some(Ok(AggregatedMessage::Binary(b)))) => b,
        Ok(Some(Ok(AggregatedMessage::Text(_)))) => {
            return close(session, CloseCode::Unsupported, "binary CBOR messages only").await;
        }
        _ => return close(session, CloseCode::Policy, "expected a join message").await,
    };
    let peer = match wire::decode(&first) {
        Ok(env) if env.kind == Some("join") => env.sender.unwrap_or_default().to_owned(),
        Ok(_) => return close(session, CloseCode::Policy, "the first message must be join").await,
        Err(e) => return close(session, CloseCode::Invalid, &e.to_string()).await,
    };
    // Any peer id will do (a stock automerge-repo client picks a random one): it is
    // bound to this connection's user, and a message naming another sender is refused.
    if peer.is_empty() || peer.len() > 200 || peer == hub.peer_id || peer.chars().any(char::is_control) {
        let _ = session.binary(wire::error("the peer id must be 1 to 200 printable characters")).await;
        return close(session, CloseCode::Policy, "unusable peer id").await;
    }
    let Some(binding) = hub.acl.bind(&peer, user) else {
        let _ = session.binary(wire::error("this peer id is in use by another account; choose another")).await;
        return close(session, CloseCode::Policy, "peer id in use by another account").await;
    };
    hub.handle.expert(user);
    let (mut to_repo, from_device) = futures::channel::mpsc::channel::<Result<Vec<u8>, std::io::Error>>(64);
    let (to_device, mut from_repo) = futures::channel::mpsc::channel::<Vec<u8>>(64);
    if hub.accept(Transport::new(from_device, to_device).with_expected_peer_id(PeerId::from(peer.clone()))).is_err() {
        hub.acl.unbind(&peer, binding);
        return close(session, CloseCode::Away, "the server is shutting down").await;
    }
    let _ = to_repo.send(Ok(first.to_vec())).await;
    let mut out = session.clone();
    let (repo_done, mut repo_closed) = tokio::sync::oneshot::channel::<()>();
    actix_web::rt::spawn(async move {
        while let Some(bytes) = from_repo.next().await {
            if out.binary(bytes).await.is_err() {
                break;
            }
        }
        let _ = repo_done.send(());
    });
    let mut budget = Budget::default();
    let mut access = hub.acl.subscribe();
    let closing = loop {
        let msg = tokio::select! {
            m = stream.next() => m,
            changed = access.recv(), if !budget.deferred.is_empty() => {
                let changed = match changed {
                    Ok(c) => c,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => None,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break None,
                };
                for request in budget.granted(&hub, user, changed).await {
                    if to_repo.send(Ok(request)).await.is_err() {
                        break;
                    }
                }
                continue;
            }
            changed = standing.changes.recv() => {
                if standing.revoked(changed).await {
                    break Some((CloseCode::Policy, "the account was disabled or changed; sign in again".to_owned()));
                }
                continue;
            }
            _ = &mut repo_closed => break Some((CloseCode::Normal, "the server ended the sync session".to_owned())),
            () = hub.closing.cancelled() => break Some((CloseCode::Restart, "the server is restarting".to_owned())),
        };
        let Some(msg) = msg else { break None };
        match msg {
            Ok(AggregatedMessage::Binary(b)) => match check(&hub, user, &peer, &b, &mut budget).await {
                Verdict::Forward => {
                    if to_repo.send(Ok(b.to_vec())).await.is_err() {
                        break None;
                    }
                }
                Verdict::Answer(reply) => {
                    if session.binary(reply).await.is_err() {
                        break None;
                    }
                }
                Verdict::Drop => {}
                Verdict::Close(code, why) => break Some((code, why)),
            },
            Ok(AggregatedMessage::Ping(p)) => {
                if session.pong(&p).await.is_err() {
                    break None;
                }
            }
            Ok(AggregatedMessage::Text(_)) => {
                break Some((CloseCode::Unsupported, "binary CBOR messages only".to_owned()));
            }
            Ok(AggregatedMessage::Close(_)) => break None,
            Ok(AggregatedMessage::Pong(_)) => {}
            Err(e) => break Some((CloseCode::Size, format!("unreadable frame: {e}"))),
        }
    };
    drop(to_repo);
    hub.acl.unbind(&peer, binding);
    match closing {
        Some((code, why)) => close(session, code, &why).await,
        None => {
            let _ = session.close(None).await;
        }
    }
}

async fn check(hub: &SyncHub, user: Uuid, peer: &str, bytes: &[u8], budget: &mut Budget) -> Verdict {
    let env = match wire::decode(bytes) {
        Ok(e) => e,
        Err(e) => return Verdict::Close(CloseCode::Invalid, e.to_string()),
    };
    if env.sender.is_some_and(|s| s != peer) {
        return Verdict::Close(CloseCode::Policy, "senderId does not match this connection".to_owned());
    }
    let kind = env.kind.unwrap_or_default();
    if !matches!(kind, "request" | "sync" | "ephemeral") {
        return Verdict::Forward;
    }
    let Some(doc_ref) = env.document else {
        return Verdict::Close(CloseCode::Invalid, format!("a {kind} message without a documentId"));
    };
    let doc = match doc_ref.uuid() {
        Ok(d) => d,
        Err(e) => return Verdict::Close(CloseCode::Invalid, e.to_string()),
    };
    let info = match (kind, env.data) {
        ("request" | "sync", Some(data)) => match wire::inspect_sync(data) {
            Ok(i) => Some(i),
            Err(e) => return Verdict::Close(CloseCode::Invalid, e.to_string()),
        },
        ("request" | "sync", None) => {
            return Verdict::Close(CloseCode::Invalid, format!("a {kind} message without data"));
        }
        _ => None,
    };
    match hub.acl.access(user, doc).await {
        Access::Write => Verdict::Forward,
        Access::Read => {
            // A read-only peer does not even send its changes (the protocol tells it the
            // server is read-only for it), but its heads show edits the server never
            // made: tell the device, once per document and connection.
            if let Some(info) = info.filter(|i| i.has_changes || !i.heads.is_empty())
                && !budget.told.contains(&doc)
                && diverged(hub, doc, &info).await
            {
                budget.told.insert(doc);
                refused_write(hub, user, doc).await;
            }
            Verdict::Forward
        }
        Access::None if kind == "ephemeral" => Verdict::Drop,
        Access::None if kind == "sync" && !ids::is_server_id(doc) && matches!(hub.acl.get(doc).await, Ok(None)) => {
            // A document the device created (a KB draft): it becomes this expert's.
            if budget.created >= hub.limits.0 {
                return Verdict::Close(CloseCode::Policy, format!("too many new documents (limit {})", hub.limits.0));
            }
            budget.created += 1;
            let entry = super::acl::Entry { kind: DocKind::Draft, owner: Some(user), reader: None, ticket: None };
            match hub.acl.register(&hub.db, doc, entry).await {
                Ok(e) if e.owner == Some(user) => Verdict::Forward,
                Ok(_) => unavailable(peer, hub, doc_ref, budget, None),
                Err(e) => {
                    tracing::error!(error = %e, "cannot register a device's document");
                    Verdict::Close(CloseCode::Error, "the server cannot take new documents now".to_owned())
                }
            }
        }
        Access::None => {
            let request = (kind == "request" && bytes.len() <= MAX_DEFERRED_BYTES).then(|| (doc, bytes.to_vec()));
            unavailable(peer, hub, doc_ref, budget, request)
        }
    }
}

fn unavailable(
    peer: &str,
    hub: &SyncHub,
    doc: DocRef<'_>,
    budget: &mut Budget,
    request: Option<(Uuid, Vec<u8>)>,
) -> Verdict {
    budget.unavailable += 1;
    hub.unavailable_total.inc();
    if budget.unavailable > hub.limits.1 {
        return Verdict::Close(
            CloseCode::Policy,
            format!("too many requests for unavailable documents (limit {})", hub.limits.1),
        );
    }
    if let Some((id, bytes)) = request {
        budget.deferred.insert(id, bytes);
    }
    let id = match doc {
        DocRef::Text(s) => s.trim_start_matches("automerge:").to_owned(),
        DocRef::Bytes(b) => Uuid::from_slice(b).map(|u| ids::url(u)[10..].to_owned()).unwrap_or_default(),
    };
    Verdict::Answer(wire::doc_unavailable(&hub.peer_id, peer, &id))
}

/// Whether a reader's copy of a server-written document has changes the server does not
/// (after loading whatever other nodes stored).
async fn diverged(hub: &SyncHub, doc: Uuid, info: &wire::SyncInfo) -> bool {
    if info.has_changes {
        return true;
    }
    let Ok(Some(h)) = hub.find(doc).await else { return false };
    let heads = info.heads.clone();
    let unknown =
        move |d: &automerge::Automerge| heads.iter().any(|c| automerge::ReadDoc::get_change_by_hash(d, c).is_none());
    if !hub.read(&h, unknown.clone()).await.unwrap_or(false) {
        return false;
    }
    let _ = super::pgnotify::load_new_chunks(hub, doc).await;
    hub.read(&h, unknown).await.unwrap_or(false)
}

async fn refused_write(hub: &SyncHub, user: Uuid, doc: Uuid) {
    let message = "this document is written by the server; your changes to it were not applied".to_owned();
    if let Err(e) = super::reconcile::notice(hub, user, doc, message).await {
        tracing::error!(error = %e, "cannot record a refused-write notice");
    }
}
