//! A fleet of expert devices in one process (issue 13): each device is the field app's
//! own sync stack (a samod repository dialing the server's sync endpoint with the core
//! crate's WebSocket dialer and the app's reconnection backoff), many of them sharing
//! one tokio runtime, no JS. Used by the fleet test (correctness after a reconnection
//! storm) and by the fleet bench (how long a fan-out and a storm take, memory per
//! connected device).

use crate::helpers::*;
use futures::StreamExt;
use reqwest::StatusCode;
use samod::{DialerHandle, DocHandle, PeerId, Repo};
use serde_json::json;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sysops_core::client::WsDialer;
use sysops_core::sync::docs::{RootDoc, TicketDoc, WorkDoc};
use sysops_core::sync::ids;
use uuid::Uuid;

/// What went wrong across the fleet (counted, not panicked on, so a bench can print it).
#[derive(Default)]
pub struct Stats {
    /// Documents a device asked for and was told were unavailable.
    pub unavailable: AtomicU64,
}

impl Stats {
    pub fn unavailable(&self) -> u64 {
        self.unavailable.load(Ordering::Relaxed)
    }
}

/// One expert's device, connected, with every document its root lists.
pub struct FleetDevice {
    pub expert: Uuid,
    pub email: String,
    pub repo: Repo,
    pub dialer: DialerHandle<sysops_core::client::SocketError>,
    pub root: DocHandle,
    /// Ticket id, ticket document, work document.
    pub tickets: Vec<(String, DocHandle, DocHandle)>,
    /// KB shards, the status document, the drafts index.
    pub others: Vec<DocHandle>,
}

/// Finds a document the way the app does, counting "unavailable" answers (and trying
/// again: a document the server is still writing may come a moment later).
async fn find(repo: &Repo, id: Uuid, stats: &Stats) -> Option<DocHandle> {
    let doc = samod::DocumentId::try_from(id.as_bytes().to_vec()).ok()?;
    for _ in 0..50 {
        match repo.find(doc.clone()).await {
            Ok(Some(h)) => return Some(h),
            Ok(None) => {
                stats.unavailable.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(_) => return None,
        }
    }
    None
}

async fn find_url(repo: &Repo, url: &str, stats: &Stats) -> Result<DocHandle, String> {
    let id = ids::parse_url(url).ok_or_else(|| format!("not an automerge URL: {url}"))?;
    find(repo, id, stats).await.ok_or_else(|| format!("document {url} unavailable"))
}

impl FleetDevice {
    /// Connects as `expert` with `token` and loads every document its root lists,
    /// waiting until the root lists `tickets` tickets.
    pub async fn connect(
        base: &str,
        expert: Uuid,
        email: String,
        token: String,
        tickets: usize,
        stats: &Stats,
    ) -> Result<FleetDevice, String> {
        let device = &Uuid::new_v4().simple().to_string()[..12];
        let repo = Repo::build_tokio().with_peer_id(PeerId::from(format!("expert:{expert}:{device}"))).load().await;
        let dialer = WsDialer::new(base, Arc::new(Mutex::new(token))).map_err(|e| e.to_string())?;
        let handle = repo
            .dial(sysops_core::device::sync_backoff(), Arc::new(dialer))
            .map_err(|_| "the repository stopped".to_owned())?;
        tokio::time::timeout(Duration::from_secs(120), handle.established())
            .await
            .map_err(|_| format!("{email}: not connected in 120 s"))?
            .map_err(|e| format!("{email}: {e:?}"))?;
        let root = find(&repo, ids::root(expert), stats).await.ok_or_else(|| format!("{email}: root unavailable"))?;
        let deadline = Instant::now() + Duration::from_secs(120);
        let doc = loop {
            let doc = root.with_document_async(|d| RootDoc::read(d).ok()).await.map_err(|_| "stopped")?;
            match doc {
                Some(r) if r.tickets.len() >= tickets => break r,
                _ if Instant::now() > deadline => {
                    return Err(format!("{email}: the root never listed {tickets} tickets"));
                }
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        };
        let ticket_docs = futures::future::join_all(doc.tickets.iter().map(|(id, l)| {
            let repo = &repo;
            async move {
                let t = find_url(repo, &l.ticket, stats).await?;
                let w = find_url(repo, &l.work, stats).await?;
                Ok::<_, String>((id.clone(), t, w))
            }
        }))
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
        let urls = doc.kb.values().chain([&doc.status, &doc.drafts]).filter(|u| !u.is_empty());
        let others = futures::future::join_all(urls.map(|u| find_url(&repo, u, stats)))
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FleetDevice { expert, email, repo, dialer: handle, root, tickets: ticket_docs, others })
    }

    /// Every document on the device.
    pub fn docs(&self) -> impl Iterator<Item = &DocHandle> {
        std::iter::once(&self.root).chain(self.tickets.iter().flat_map(|(_, t, w)| [t, w])).chain(self.others.iter())
    }

    /// Waits until the device is connected and, on that connection, the server has every
    /// change the device has and the device every change the server has, document by
    /// document (samod's own record of what each side acknowledged).
    pub async fn caught_up(&self) {
        let conn = loop {
            if self.dialer.is_connected()
                && let Some(c) = self.dialer.connection_id()
            {
                break c;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        futures::future::join_all(self.docs().map(|h| async move {
            h.they_have_our_changes(conn).await;
            h.we_have_their_changes(conn).await;
        }))
        .await;
    }

    /// Writes `text` as the expert's notes on the first ticket (works offline).
    pub async fn note_first(&self, text: String) {
        let (_, _, work) = &self.tickets[0];
        work.with_document_async(move |d| {
            let mut tx = d.transaction();
            WorkDoc::set_notes(&mut tx, &text).expect("notes");
            tx.commit();
        })
        .await
        .expect("the document is loaded");
    }

    /// Waits until the first ticket's dispatcher notes contain `marker`; when it saw it.
    pub fn dispatcher_note_arrives(&self, marker: String) -> impl Future<Output = Instant> + Send + 'static {
        note_arrives(self.tickets[0].1.clone(), marker)
    }

    pub async fn stop(self) {
        self.dialer.close();
        self.repo.stop().await;
    }
}

/// When the ticket document `h` shows `marker` in its dispatcher notes (or the
/// repository stopped).
pub async fn note_arrives(h: DocHandle, marker: String) -> Instant {
    let mut changes = h.changes();
    loop {
        let m = marker.clone();
        let seen = h
            .with_document_async(move |d| TicketDoc::read(d).is_ok_and(|t| t.dispatcher_notes.contains(&m)))
            .await
            .unwrap_or(false);
        if seen || changes.next().await.is_none() {
            return Instant::now();
        }
    }
}

/// The world a fleet works in: experts (one per device) and the tickets assigned to them.
pub struct FleetWorld {
    /// Expert id, e-mail.
    pub experts: Vec<(Uuid, String)>,
    pub tickets_each: usize,
}

fn ok(what: &str, r: (StatusCode, serde_json::Value)) -> serde_json::Value {
    assert!(r.0.is_success(), "{what}: {} {}", r.0, r.1);
    r.1
}

impl FleetWorld {
    /// `experts` experts in one place with capacity for `tickets_each` tickets each (at
    /// most 20), customers nearby, and `experts × tickets_each` tickets, which the
    /// dispatcher spreads evenly (the least loaded expert wins). `parallel` requests at
    /// a time.
    pub async fn build(s: &Server, experts: usize, tickets_each: usize, parallel: usize) -> FleetWorld {
        let admin = s.admin().await;
        let body =
            json!({"name": "Fleet", "categories": ["television"], "monthly_price_cents": 1999, "currency": "USD"});
        let plan = ok("plan", s.post("/api/v1/plans", Some(&admin), &body).await);
        let plan_id = plan["id"].as_str().unwrap().to_owned();
        let added: Vec<(Uuid, String)> = futures::stream::iter(0..experts)
            .map(|i| {
                let admin = admin.clone();
                async move {
                    let email = format!("fleet{i}-{}@experts.test", Uuid::new_v4().simple());
                    let body = json!({"name": format!("Fleet expert {i}"), "email": email, "password": PASSWORD,
                        "phone": format!("+1312{:07}", 1_000_000 + i), "skills": ["television"],
                        "service_area": {"center": north(0.0), "radius_km": 40.0}, "locale": "en-US",
                        "location": north(1.0), "available": true, "capacity": tickets_each});
                    let e = ok("expert", s.post("/api/v1/experts", Some(&admin), &body).await);
                    (e["id"].as_str().unwrap().parse().unwrap(), email)
                }
            })
            .buffer_unordered(parallel)
            .collect()
            .await;
        let customers: Vec<Customer> = futures::stream::iter(0..experts.div_ceil(20))
            .map(|i| {
                let plan_id = plan_id.clone();
                async move { add_customer(s, &format!("fleet-customer{i}"), &plan_id).await }
            })
            .buffer_unordered(parallel)
            .collect()
            .await;
        let total = experts * tickets_each;
        let unassigned: usize = futures::stream::iter(0..total)
            .map(|i| {
                let c = &customers[i % customers.len()];
                async move {
                    let r = s
                        .req(reqwest::Method::POST, "/api/v1/tickets", Some(&c.token))
                        .header("Idempotency-Key", format!("fleet-{i}"))
                        .json(&ticket_body(c, "television", &format!("Fleet ticket {i}")))
                        .send()
                        .await
                        .expect("raise a ticket");
                    let st = r.status();
                    let t: serde_json::Value = r.json().await.unwrap_or_default();
                    assert!(st.is_success(), "raise a ticket: {st} {t}");
                    usize::from(t["assigned_expert_id"].is_null())
                }
            })
            .buffer_unordered(parallel)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .sum();
        assert_eq!(unassigned, 0, "every fleet ticket finds an expert");
        FleetWorld { experts: added, tickets_each }
    }

    /// Signs every expert in and connects their device, `parallel` at a time.
    pub async fn connect(&self, s: &Server, parallel: usize, stats: &Stats) -> Vec<FleetDevice> {
        let base = s.base.clone();
        futures::stream::iter(self.experts.iter().cloned())
            .map(|(id, email)| {
                let base = base.clone();
                async move {
                    let token = sign_in(s, &email).await;
                    FleetDevice::connect(&base, id, email, token, self.tickets_each, stats).await
                }
            })
            .buffer_unordered(parallel)
            .collect::<Vec<_>>()
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
            .unwrap_or_else(|e| panic!("a device did not sync: {e}"))
    }
}

/// Signs in as the app does: a busy server (503) or a rate limit (429) is waited out
/// for as long as its `Retry-After` says, then asked again.
pub async fn sign_in(s: &Server, email: &str) -> String {
    for _ in 0..30 {
        let r = s
            .req(reqwest::Method::POST, "/api/v1/auth/login", None)
            .json(&json!({"email": email, "password": PASSWORD}))
            .send()
            .await
            .expect("the server answers");
        let st = r.status();
        let wait = r.headers().get("retry-after").and_then(|v| v.to_str().ok()?.parse::<u64>().ok()).unwrap_or(1);
        let body: serde_json::Value = r.json().await.unwrap_or_default();
        match st.as_u16() {
            200 => return body["access_token"].as_str().expect("a token").to_owned(),
            429 | 503 => tokio::time::sleep(Duration::from_secs(wait)).await,
            _ => panic!("sign in {email}: {st} {body}"),
        }
    }
    panic!("sign in {email}: still refused after 30 tries")
}

/// Waits until the sync documents have caught up with the database (no intents waiting).
pub async fn documents_written(s: &Server) {
    for _ in 0..1200 {
        if metric(s, "sysops_sync_intents_pending").await == 0.0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the sync documents never caught up with the database");
}

/// Adds a dispatcher note to `ticket` as `admin`.
pub async fn dispatcher_note(s: &Server, admin: &str, ticket: &str, text: &str) {
    let (st, body) = s.post(&format!("/api/v1/tickets/{ticket}/notes"), Some(admin), &json!({"text": text})).await;
    assert_eq!(st, StatusCode::OK, "{body}");
}

/// Waits until no device is connected (the node went away and every device noticed).
pub async fn all_disconnected(devices: &[FleetDevice]) {
    for _ in 0..600 {
        if devices.iter().all(|d| !d.dialer.is_connected()) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("devices still connected to a stopped server");
}
