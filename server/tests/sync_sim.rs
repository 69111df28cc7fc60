//! Convergence simulation: a server repository and several devices (samod repositories,
//! in process) over in-memory links that drop, delay, duplicate and reorder messages,
//! with partitions coming and going, while devices make random domain edits (accept,
//! decline, notes typed on two devices at once, parts, completion) and the server makes
//! its own (dispatcher notes, timeouts that reassign). The server projects experts'
//! work documents with the real projection plan into a model of the relational tables
//! through the real ticket state machine.
//!
//! After healing (faults off, every link re-established), every replica of every
//! document must have the same heads; the projection must equal one recomputed from the
//! final documents wherever the documents alone decide (notes, parts, en route/arrived,
//! nothing left to apply); and the domain invariants must hold (every ticket state is
//! reachable, a ticket is completed at most once, every refused action is a recorded
//! conflict, every completion in a work document was either applied or is a conflict).
//!
//! `SIM_SEED=n` replays a run; the seed is printed when a run fails.

use futures::{SinkExt, StreamExt};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use samod::storage::InMemoryStorage;
use samod::{
    BackoffConfig, DialError, Dialer, DocHandle, DocumentId, PeerId, Repo, RepoEvent, RepoObserver, ShareConfig,
    Transport,
};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use sysops_core::ids::{ExpertId, TicketId};
use sysops_core::sync::docs::{TicketDoc, WorkDoc};
use sysops_core::sync::ids;
use sysops_core::sync::project::{WorkAction, WorkProjection, mark, plan};
use sysops_core::ticket::{Ticket, TicketEvent, TicketStatus};
use uuid::Uuid;

const EXPERTS: usize = 2;
const DEVICES_PER_EXPERT: usize = 2;
const TICKETS: usize = 3;
const STEPS: usize = 400;

#[derive(Clone, Copy, Default)]
struct Faults {
    drop: f64,
    dup: f64,
    max_delay_ms: u64,
}

#[derive(Debug)]
struct LinkError;
impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("link down")
    }
}
impl std::error::Error for LinkError {}

/// Shared network state: fault rates, and a kill switch per live link.
struct Net {
    /// Messages dropped and duplicated so far (the run must have exercised both).
    dropped: std::sync::atomic::AtomicUsize,
    duplicated: std::sync::atomic::AtomicUsize,
    faults: Mutex<Faults>,
    links: Mutex<Vec<tokio::sync::watch::Sender<bool>>>,
    seed: Mutex<StdRng>,
}

impl Net {
    fn roll(&self) -> f64 {
        self.seed.lock().unwrap().random::<f64>()
    }

    fn delay(&self, max: u64) -> u64 {
        if max == 0 { 0 } else { self.seed.lock().unwrap().random_range(0..=max) }
    }

    /// Cuts every live link (the dialers reconnect with backoff).
    fn partition(&self) {
        for l in self.links.lock().unwrap().drain(..) {
            let _ = l.send(true);
        }
    }
}

type Rx = futures::channel::mpsc::Receiver<Vec<u8>>;
type InTx = futures::channel::mpsc::Sender<Result<Vec<u8>, LinkError>>;

/// Moves messages one way, applying the current faults.
fn pump(net: Arc<Net>, mut from: Rx, to: InTx, mut kill: tokio::sync::watch::Receiver<bool>) {
    tokio::spawn(async move {
        loop {
            let msg = tokio::select! {
                m = from.next() => m,
                _ = kill.changed() => None,
            };
            let Some(msg) = msg else { break };
            let f = *net.faults.lock().unwrap();
            if net.roll() < f.drop {
                net.dropped.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                continue;
            }
            let copies = if net.roll() < f.dup {
                net.duplicated.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                2
            } else {
                1
            };
            for _ in 0..copies {
                let (mut to, msg, wait) = (to.clone(), msg.clone(), net.delay(f.max_delay_ms));
                // Each message waits on its own: later ones may overtake it.
                tokio::spawn(async move {
                    if wait > 0 {
                        tokio::time::sleep(Duration::from_millis(wait)).await;
                    }
                    let _ = to.send(Ok(msg)).await;
                });
            }
        }
    });
}

/// A device's dialer: each connect makes a new faulty in-memory link to the server.
struct SimDialer {
    net: Arc<Net>,
    server: samod::AcceptorHandle,
}

impl Dialer for SimDialer {
    type Error = LinkError;

    fn url(&self) -> url::Url {
        url::Url::parse("memory://server").unwrap()
    }

    fn connect(&self) -> futures::future::BoxFuture<'static, Result<Transport, DialError<LinkError>>> {
        let (net, server) = (self.net.clone(), self.server.clone());
        Box::pin(async move {
            let (kill, watch) = tokio::sync::watch::channel(false);
            net.links.lock().unwrap().push(kill);
            let (dev_out, dev_out_rx) = futures::channel::mpsc::channel::<Vec<u8>>(256);
            let (srv_in_tx, srv_in) = futures::channel::mpsc::channel::<Result<Vec<u8>, LinkError>>(256);
            let (srv_out, srv_out_rx) = futures::channel::mpsc::channel::<Vec<u8>>(256);
            let (dev_in_tx, dev_in) = futures::channel::mpsc::channel::<Result<Vec<u8>, LinkError>>(256);
            pump(net.clone(), dev_out_rx, srv_in_tx, watch.clone());
            pump(net, srv_out_rx, dev_in_tx, watch);
            server
                .accept(Transport::new(srv_in, srv_out.sink_map_err(|_| LinkError)))
                .map_err(|_| DialError::PermanentFailure(LinkError))?;
            Ok(Transport::new(dev_in, dev_out.sink_map_err(|_| LinkError)))
        })
    }
}

/// The relational model the projection writes.
#[derive(Default)]
struct Model {
    machines: BTreeMap<Uuid, Ticket>,
    projections: HashMap<(Uuid, Uuid), WorkProjection>,
    notes: BTreeMap<(Uuid, Uuid), String>,
    parts: BTreeMap<(Uuid, Uuid), usize>,
    visits: BTreeMap<(Uuid, Uuid), (bool, bool)>,
    completions: BTreeMap<Uuid, Vec<Uuid>>,
    conflicts: BTreeSet<(Uuid, Uuid, &'static str)>,
    /// (ticket, expert) pairs where the expert declined: their completion is refused.
    declined: BTreeSet<(Uuid, Uuid)>,
}

struct Observer(tokio::sync::mpsc::UnboundedSender<DocumentId>);
impl RepoObserver for Observer {
    fn observe(&self, event: &RepoEvent) {
        if let RepoEvent::SyncMessageReceived { document_id, .. } = event {
            let _ = self.0.send(document_id.clone());
        }
    }
}

fn doc_id(u: Uuid) -> DocumentId {
    DocumentId::try_from(u.as_bytes().to_vec()).unwrap()
}

struct World {
    experts: Vec<Uuid>,
    tickets: Vec<Uuid>,
    server: Repo,
    devices: Vec<(Uuid, Repo)>,
    model: Arc<Mutex<Model>>,
    work_owner: HashMap<Uuid, (Uuid, Uuid)>,
}

/// Applies one projected action to the model, as the server does with `ops::run`.
fn apply(model: &mut Model, ticket: Uuid, expert: Uuid, action: &WorkAction, others: &[Uuid]) -> Option<Uuid> {
    let m = model.machines.get_mut(&ticket).unwrap();
    let by = ExpertId::from_uuid(expert);
    let mut reassigned_to = None;
    let refused = match action {
        WorkAction::Accept { .. } => match m.apply(TicketEvent::Accept { by }) {
            Ok(_) => None,
            Err(_) if m.assignee() == Some(by) && m.status() == TicketStatus::Accepted => None,
            Err(_) if m.completed_by() == Some(by) => None,
            Err(_) => Some("accept_refused"),
        },
        WorkAction::Decline { .. } => match m.apply(TicketEvent::Decline { by }) {
            Ok(t) if t.needs_assignment => {
                model.declined.insert((ticket, expert));
                let next = others.iter().find(|e| !m.excluded().contains(&ExpertId::from_uuid(**e))).copied();
                match next {
                    Some(e) => {
                        m.apply(TicketEvent::Assign { expert: ExpertId::from_uuid(e) }).unwrap();
                        reassigned_to = Some(e);
                    }
                    None => {
                        m.apply(TicketEvent::NoExpertFits).unwrap();
                    }
                }
                None
            }
            Ok(_) => None,
            Err(_) => Some("decline_refused"),
        },
        // After an explicit decline the server refuses a late completion (ADR 21).
        WorkAction::Complete { .. } if model.declined.contains(&(ticket, expert)) && m.completed_by() != Some(by) => {
            Some("completion_refused")
        }
        WorkAction::Complete { .. } => match m.apply(TicketEvent::Complete { by }) {
            Ok(_) => {
                model.completions.entry(ticket).or_default().push(expert);
                None
            }
            Err(_) if m.completed_by() == Some(by) => None,
            Err(_) => Some("completion_refused"),
        },
        WorkAction::EnRoute { .. } => {
            model.visits.entry((ticket, expert)).or_default().0 = true;
            None
        }
        WorkAction::Arrived { .. } => {
            model.visits.entry((ticket, expert)).or_default().1 = true;
            None
        }
        WorkAction::Notes(n) => {
            model.notes.insert((ticket, expert), n.clone());
            None
        }
        WorkAction::Parts(p) => {
            *model.parts.entry((ticket, expert)).or_default() += p.len();
            None
        }
    };
    if let Some(kind) = refused {
        model.conflicts.insert((ticket, expert, kind));
    }
    assert!(model.machines[&ticket].check_invariants().is_ok(), "invalid ticket state");
    reassigned_to
}

async fn read_work(h: &DocHandle) -> Option<WorkDoc> {
    h.with_document_async(|d| WorkDoc::read(d).ok()).await.ok().flatten()
}

async fn heads(h: &DocHandle) -> Vec<automerge::ChangeHash> {
    h.with_document_async(|d| d.get_heads()).await.unwrap()
}

async fn edit(h: &DocHandle, f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) + Send + 'static) {
    h.with_document_async(move |d| {
        let mut tx = d.transaction();
        f(&mut tx);
        tx.commit();
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_converge_and_the_projection_holds_under_a_faulty_network() {
    let seed: u64 = std::env::var("SIM_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| rand::rng().random());
    let result = tokio::time::timeout(Duration::from_secs(240), run(seed)).await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(msg)) => panic!("simulation failed (replay with SIM_SEED={seed}): {msg}"),
        Err(_) => panic!("simulation did not finish (replay with SIM_SEED={seed})"),
    }
}

async fn run(seed: u64) -> Result<(), String> {
    eprintln!("sync simulation: SIM_SEED={seed}");
    let mut rng = StdRng::seed_from_u64(seed);
    let net = Arc::new(Net {
        dropped: Default::default(),
        duplicated: Default::default(),
        faults: Mutex::new(Faults::default()),
        links: Mutex::new(Vec::new()),
        seed: Mutex::new(StdRng::seed_from_u64(seed ^ 0x9e37_79b9)),
    });
    let experts: Vec<Uuid> = (0..EXPERTS).map(|_| Uuid::new_v4()).collect();
    let tickets: Vec<Uuid> = (0..TICKETS).map(|_| Uuid::now_v7()).collect();
    // Ownership as the server's registry has it: work documents are their expert's.
    let mut work_owner = HashMap::new();
    for t in &tickets {
        for e in &experts {
            work_owner.insert(ids::work(*t, *e), (*t, *e));
        }
    }
    let owners: Arc<HashMap<Uuid, Uuid>> = Arc::new(work_owner.iter().map(|(d, (_, e))| (*d, *e)).collect());
    let policy = {
        let owners = owners.clone();
        move |doc: DocumentId, peer: PeerId| {
            let id = Uuid::from_slice(doc.as_bytes()).unwrap();
            let writer = owners.get(&id).map(|e| peer.as_str().starts_with(&format!("expert:{e}:")));
            futures::stream::once(async move {
                match writer {
                    Some(true) => ShareConfig::read_write().with_announce(false),
                    _ => ShareConfig::read_only().with_announce(false),
                }
            })
        }
    };
    let (synced_tx, mut synced) = tokio::sync::mpsc::unbounded_channel();
    let storage = InMemoryStorage::new();
    let server = Repo::build_tokio()
        .with_peer_id(PeerId::from("sysops-server:sim"))
        .with_storage(storage.clone())
        .with_share_policy(policy)
        .with_observer(Observer(synced_tx))
        .load()
        .await;
    let acceptor = server.make_acceptor(url::Url::parse("memory://server").unwrap()).unwrap();

    // The server's documents: one ticket document per ticket, a work document per
    // ticket and expert; every ticket starts assigned to expert 0.
    let model = Arc::new(Mutex::new(Model::default()));
    for t in &tickets {
        let mut m = Ticket::new(TicketId::from_uuid(*t));
        m.apply(TicketEvent::Assign { expert: ExpertId::from_uuid(experts[0]) }).unwrap();
        model.lock().unwrap().machines.insert(*t, m);
        let mut doc = automerge::Automerge::new();
        let td = TicketDoc {
            ticket_id: t.to_string(),
            status: "assigned".into(),
            category: "television".into(),
            title: "Simulated".into(),
            description: String::new(),
            address: "1 Main St".into(),
            lat: 41.0,
            lon: -87.0,
            customer_name: "C".into(),
            customer_phone: "+13125550100".into(),
            assigned_expert_id: Some(experts[0].to_string()),
            dispatcher_notes: String::new(),
            updated_at: "t0".into(),
        };
        doc.transact::<_, _, sysops_core::sync::docs::DocError>(|tx| td.write(tx)).unwrap();
        put(&server, &storage, ids::ticket(*t), doc).await;
        for e in &experts {
            let mut doc = automerge::Automerge::new();
            doc.transact::<_, _, sysops_core::sync::docs::DocError>(|tx| {
                WorkDoc::init(tx, &t.to_string(), &e.to_string())
            })
            .unwrap();
            put(&server, &storage, ids::work(*t, *e), doc).await;
        }
    }

    // Devices: two per expert.
    let mut devices = Vec::new();
    for e in &experts {
        for d in 0..DEVICES_PER_EXPERT {
            let repo = Repo::build_tokio().with_peer_id(PeerId::from(format!("expert:{e}:{d}"))).load().await;
            let h = repo
                .dial(
                    BackoffConfig {
                        initial_delay: Duration::from_millis(20),
                        max_delay: Duration::from_millis(200),
                        max_retries: None,
                    },
                    Arc::new(SimDialer { net: net.clone(), server: acceptor.clone() }),
                )
                .unwrap();
            h.established().await.map_err(|_| "a device could not connect".to_owned())?;
            devices.push((*e, repo));
        }
    }
    let world =
        World { experts: experts.clone(), tickets: tickets.clone(), server, devices, model: model.clone(), work_owner };

    // The server's projection, driven by what devices sync.
    let projector = {
        let (server, model, owner) = (world.server.clone(), model.clone(), world.work_owner.clone());
        let experts = experts.clone();
        tokio::spawn(async move {
            while let Some(doc) = synced.recv().await {
                let id = Uuid::from_slice(doc.as_bytes()).unwrap();
                let Some((ticket, expert)) = owner.get(&id).copied() else { continue };
                let Ok(Some(h)) = server.find(doc).await else { continue };
                let Some(work) = read_work(&h).await else { continue };
                let mut reassign = None;
                {
                    let mut m = model.lock().unwrap();
                    let mut done = m.projections.get(&(ticket, expert)).cloned().unwrap_or_default();
                    for action in plan(&work, &done) {
                        let others: Vec<Uuid> = experts.iter().copied().filter(|e| *e != expert).collect();
                        if let Some(e) = apply(&mut m, ticket, expert, &action, &others) {
                            reassign = Some(e);
                        }
                        mark(&mut done, &action);
                    }
                    m.projections.insert((ticket, expert), done);
                }
                if let Some(e) = reassign {
                    set_assignee(&server, ticket, e).await;
                }
            }
        })
    };

    // The server takes documents nobody is syncing out of memory all the time (ADR 17):
    // every document, every few milliseconds, as soon as it is idle. A document in use
    // must stay, and one loaded again must be the same: convergence checks both.
    let evicted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let evictor = {
        let (server, evicted) = (world.server.clone(), evicted.clone());
        let docs: Vec<DocumentId> = world
            .tickets
            .iter()
            .flat_map(|t| std::iter::once(ids::ticket(*t)).chain(world.experts.iter().map(move |e| ids::work(*t, *e))))
            .map(doc_id)
            .collect();
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(Duration::from_millis(7)).await;
                for d in &docs {
                    if server.close_if_idle(d) {
                        evicted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    }
                }
            }
        })
    };

    // Random edits under faults; partitions come and go.
    let mut handles: HashMap<(usize, Uuid), DocHandle> = HashMap::new();
    for step in 0..STEPS {
        if step % 100 == 0 {
            *net.faults.lock().unwrap() = Faults { drop: 0.1, dup: 0.1, max_delay_ms: 8 };
        }
        if rng.random_bool(0.03) {
            net.partition();
        }
        let r: f64 = rng.random();
        if r < 0.12 {
            // The dispatcher writes a note on a ticket document.
            let t = world.tickets[rng.random_range(0..TICKETS)];
            let note = format!("note {step}");
            if let Ok(Some(h)) = world.server.find(doc_id(ids::ticket(t))).await {
                edit(&h, move |tx| {
                    let mut td = TicketDoc::read(tx).unwrap();
                    td.dispatcher_notes = format!("{}\n{note}", td.dispatcher_notes);
                    td.write(tx).unwrap();
                })
                .await;
            }
        } else if r < 0.18 {
            // An accept timeout moves a waiting ticket to the other expert.
            let t = world.tickets[rng.random_range(0..TICKETS)];
            let next = {
                let mut m = model.lock().unwrap();
                let machine = m.machines.get_mut(&t).unwrap();
                if machine.status() == TicketStatus::Assigned && machine.apply(TicketEvent::AcceptTimeout).is_ok() {
                    let next =
                        world.experts.iter().copied().find(|e| !machine.excluded().contains(&ExpertId::from_uuid(*e)));
                    match next {
                        Some(e) => {
                            machine.apply(TicketEvent::Assign { expert: ExpertId::from_uuid(e) }).ok().map(|_| e)
                        }
                        None => {
                            let _ = machine.apply(TicketEvent::NoExpertFits);
                            None
                        }
                    }
                } else {
                    None
                }
            };
            if let Some(e) = next {
                set_assignee(&world.server, t, e).await;
            }
        } else {
            // A device edits its expert's work document for a ticket.
            let d = rng.random_range(0..world.devices.len());
            let (expert, repo) = &world.devices[d];
            let t = world.tickets[rng.random_range(0..TICKETS)];
            let key = (d, t);
            let h = match handles.get(&key) {
                Some(h) => h.clone(),
                None => {
                    match tokio::time::timeout(Duration::from_millis(500), repo.find(doc_id(ids::work(t, *expert))))
                        .await
                    {
                        Ok(Ok(Some(h))) => handles.entry(key).or_insert(h).clone(),
                        _ => continue,
                    }
                }
            };
            let at = format!("2026-11-26T10:{:02}:{:02}Z", step / 60, step % 60);
            let pick = rng.random_range(0..10);
            let word = format!("w{step}d{d} ");
            let pos: usize = rng.random_range(0..1000);
            edit(&h, move |tx| {
                let _ = match pick {
                    0 => WorkDoc::accept(tx, &at),
                    1 => WorkDoc::en_route(tx, &at),
                    2 => WorkDoc::arrived(tx, &at),
                    3 => WorkDoc::add_part(tx, "fuse", 1.0),
                    4 => WorkDoc::complete(tx, &at, "Fixed in the simulation."),
                    5 => WorkDoc::decline(tx, &at, "busy"),
                    _ => {
                        // Type into the notes at some position (two devices may do so at once).
                        let notes = WorkDoc::read(tx).map(|w| w.notes).unwrap_or_default();
                        let cut = notes
                            .char_indices()
                            .map(|(i, _)| i)
                            .nth(pos % (notes.chars().count() + 1))
                            .unwrap_or(notes.len());
                        WorkDoc::set_notes(tx, &format!("{}{word}{}", &notes[..cut], &notes[cut..]))
                    }
                };
            })
            .await;
        }
        tokio::time::sleep(Duration::from_millis(rng.random_range(0..5))).await;
    }

    // Heal: no more faults, fresh links everywhere, then wait for quiescence.
    *net.faults.lock().unwrap() = Faults::default();
    net.partition();
    let docs: Vec<Uuid> = world
        .tickets
        .iter()
        .flat_map(|t| std::iter::once(ids::ticket(*t)).chain(world.experts.iter().map(move |e| ids::work(*t, *e))))
        .collect();
    let mut last_diff = String::new();
    let mut converged = false;
    for _ in 0..300 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        last_diff = divergence(&world, &docs).await;
        if last_diff.is_empty() {
            converged = true;
            break;
        }
    }
    if !converged {
        return Err(format!("replicas did not converge: {last_diff}"));
    }
    // Let the projection catch up with the last syncs: poll until it has (a loaded
    // machine may take longer than any fixed pause), then check once more below.
    for _ in 0..300 {
        if check_projection(&world).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    projector.abort();
    evictor.abort();
    let (dropped, duplicated, evicted) = (
        net.dropped.load(std::sync::atomic::Ordering::Relaxed),
        net.duplicated.load(std::sync::atomic::Ordering::Relaxed),
        evicted.load(std::sync::atomic::Ordering::Relaxed),
    );
    let projected = world.model.lock().unwrap().projections.len();
    eprintln!(
        "sync simulation: {dropped} messages dropped, {duplicated} duplicated, {projected} work documents projected, \
         {evicted} server documents evicted"
    );
    if dropped == 0 || duplicated == 0 || projected == 0 || evicted == 0 {
        return Err(format!(
            "the run exercised too little ({dropped} dropped, {duplicated} duplicated, {projected} projected, \
             {evicted} evicted)"
        ));
    }
    check_projection(&world).await
}

/// Creates a server document with a chosen id, as the real server does: its first
/// snapshot is stored, then the repository finds it.
async fn put(server: &Repo, storage: &InMemoryStorage, id: Uuid, doc: automerge::Automerge) {
    use samod::storage::{Storage, StorageKey};
    let key = StorageKey::from_parts([doc_id(id).to_string().as_str(), "snapshot", "initial"]).unwrap();
    storage.put(key, doc.save()).await;
    server.find(doc_id(id)).await.unwrap().expect("the stored document loads");
}

async fn set_assignee(server: &Repo, ticket: Uuid, expert: Uuid) {
    if let Ok(Some(h)) = server.find(doc_id(ids::ticket(ticket))).await {
        edit(&h, move |tx| {
            let mut td = TicketDoc::read(tx).unwrap();
            td.assigned_expert_id = Some(expert.to_string());
            td.write(tx).unwrap();
        })
        .await;
    }
}

/// Empty when every replica of every document has the same heads as the server's.
async fn divergence(world: &World, docs: &[Uuid]) -> String {
    let mut out = String::new();
    for id in docs {
        let Ok(Some(h)) = world.server.find(doc_id(*id)).await else {
            out.push_str(&format!("server lacks {id}; "));
            continue;
        };
        let want = heads(&h).await;
        for (i, (_, repo)) in world.devices.iter().enumerate() {
            if let Ok(Ok(Some(d))) = tokio::time::timeout(Duration::from_millis(300), repo.find(doc_id(*id))).await {
                let got = heads(&d).await;
                if got != want {
                    out.push_str(&format!("device {i} differs on {id}; "));
                }
            }
        }
    }
    out
}

async fn check_projection(world: &World) -> Result<(), String> {
    let model = world.model.lock().unwrap();
    let mut final_docs = Vec::new();
    drop(model);
    for t in &world.tickets {
        for e in &world.experts {
            let h = world.server.find(doc_id(ids::work(*t, *e))).await.ok().flatten().ok_or("work document missing")?;
            final_docs.push((*t, *e, read_work(&h).await.ok_or("unreadable work document")?));
        }
    }
    let model = world.model.lock().unwrap();
    for (t, e, w) in &final_docs {
        let done = model.projections.get(&(*t, *e)).cloned().unwrap_or_default();
        if !plan(w, &done).is_empty() {
            return Err(format!("work {t}/{e} has unprojected actions: {:?}", plan(w, &done)));
        }
        // Where the documents alone decide, the projection equals a recomputation.
        let mut fresh = WorkProjection::default();
        for a in plan(w, &fresh) {
            mark(&mut fresh, &a);
        }
        if model.notes.get(&(*t, *e)).cloned().unwrap_or_default() != w.notes {
            return Err(format!("notes of {t}/{e} differ from the document"));
        }
        if model.parts.get(&(*t, *e)).copied().unwrap_or(0) != w.parts.len() {
            return Err(format!("parts of {t}/{e} differ from the document"));
        }
        let visits = model.visits.get(&(*t, *e)).copied().unwrap_or_default();
        if visits != (w.en_route_at.is_some(), w.arrived_at.is_some()) {
            return Err(format!("en route / arrived of {t}/{e} differ from the document"));
        }
        if fresh != done {
            return Err(format!("projection state of {t}/{e} differs from a recomputation"));
        }
        // Every completion in a document was applied, or is a recorded conflict.
        if w.completed.is_some() {
            let applied = model.completions.get(t).is_some_and(|c| c.contains(e));
            let refused = model.conflicts.contains(&(*t, *e, "completion_refused"));
            let already = model.machines[t].completed_by() == Some(ExpertId::from_uuid(*e));
            if !(applied || refused || already) {
                return Err(format!("completion of {t} by {e} neither applied nor recorded as a conflict"));
            }
        }
    }
    for (t, m) in &model.machines {
        m.check_invariants().map_err(|e| format!("ticket {t}: {e}"))?;
        if model.completions.get(t).map_or(0, Vec::len) > 1 {
            return Err(format!("ticket {t} was completed more than once"));
        }
    }
    Ok(())
}
