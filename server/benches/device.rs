//! The device benchmark: the expert's offline store and its catch-up sync, measured on
//! the real device engine (the code the apps run through uniffi).
//!
//! 1. A store holding 10,000 tickets and 50,000 KB articles (projected tables, full-text
//!    index and the documents' chunks): opening it, listing the tickets, KB search
//!    p50/p99 against a baseline of the same queries as plain `LIKE` scans.
//! 2. A catch-up: a device with 200 tickets and 5,000 articles from the real server
//!    binary makes 1,000 edits offline, then reconnects; time until the server has
//!    confirmed everything, messages each way, and bytes against the encoded size of
//!    the changes themselves.
//!
//! `cargo bench -p sysops-server --bench device`

#[path = "../tests/api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use automerge::AutoCommit;
use futures::StreamExt;
use helpers::{Backend, PASSWORD, Server, add_customer, add_expert};
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde_json::json;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use sysops_core::device::{Device, KeyStore, Store};
use sysops_core::sync::docs::{KbEntry, KbShardDoc, TicketDoc, WorkDoc};
use sysops_core::sync::ids;
use uuid::Uuid;

const TICKETS: usize = 10_000;
const ARTICLES: usize = 50_000;
const CATCHUP_TICKETS: usize = 200;
const CATCHUP_ARTICLES: usize = 5_000;
const EDITS: usize = 1_000;

#[derive(Default)]
struct Keys(Mutex<HashMap<String, String>>);

impl KeyStore for Keys {
    fn get(&self, key: String) -> Option<String> {
        self.0.lock().ok()?.get(&key).cloned()
    }
    fn put(&self, key: String, value: String) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(key, value);
        }
    }
    fn remove(&self, key: String) {
        if let Ok(mut m) = self.0.lock() {
            m.remove(&key);
        }
    }
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Text with the shape of real articles: word frequencies fall off as 1/rank (Zipf) over
/// a vocabulary of function words, the trade's words at random ranks and a tail of
/// other words, plus model numbers, so the index has realistic posting lists.
struct Words {
    common: Vec<&'static str>,
    vocab: Vec<String>,
}

impl Words {
    fn new() -> Self {
        let common: Vec<&'static str> = "screen power cable firmware reset battery charger display flicker hdmi \
            input remote signal audio speaker driver update boot loop fan overheating noise paper jam toner \
            cartridge tray wifi router bluetooth pairing keyboard touchpad hinge port usb adapter fuse board \
            capacitor backlight panel lines pixels dead stuck menu settings factory restore warranty replace clean \
            dust vent thermal paste compressor fridge freezer door seal ice maker leak drain pump washer drum spin \
            cycle error code sensor thermostat oven element igniter gas flame microwave magnetron turntable \
            dishwasher spray arm filter console controller disc drive laser camera lens focus shutter memory \
            card phone tablet dock projector lamp color calibration brightness contrast sound bar subwoofer \
            amplifier receiver antenna channel scan tuner network ethernet dns dhcp login account password unlock \
            licence install software"
            .split_whitespace()
            .collect();
        let mut rng = StdRng::seed_from_u64(1);
        let syllables = ["ka", "lo", "mi", "ter", "an", "son", "ed", "ing", "re", "pro", "di", "ver", "al", "ut"];
        let mut tail: Vec<String> = common.iter().map(|w| (*w).to_owned()).collect();
        while tail.len() < 2500 {
            let n = rng.random_range(2..4);
            tail.push((0..n).map(|_| syllables[rng.random_range(0..syllables.len())]).collect());
        }
        // Shuffle so the trade's words land at every rank, from everywhere to rare.
        for i in (1..tail.len()).rev() {
            tail.swap(i, rng.random_range(0..=i));
        }
        let mut vocab: Vec<String> =
            "the and to a of is it on if not check with for".split_whitespace().map(str::to_owned).collect();
        vocab.extend(tail);
        Self { common, vocab }
    }

    fn word(&self, rng: &mut StdRng) -> String {
        if rng.random_bool(0.97) {
            // P(rank r) ~ 1/r: log-uniform ranks.
            let r = ((self.vocab.len() as f64 + 1.0).powf(rng.random::<f64>()) as usize).saturating_sub(1);
            self.vocab[r.min(self.vocab.len() - 1)].clone()
        } else {
            format!(
                "{}{}",
                ["xr", "kd", "qn", "lg", "sm", "ph", "hp", "ep"][rng.random_range(0..8)],
                rng.random_range(10..99_999)
            )
        }
    }

    fn text(&self, rng: &mut StdRng, n: usize) -> String {
        (0..n).map(|_| self.word(rng)).collect::<Vec<_>>().join(" ")
    }
}

fn save(doc: &mut AutoCommit) -> Vec<u8> {
    doc.save()
}

fn ticket_docs(i: usize, expert: Uuid, words: &Words, rng: &mut StdRng) -> (TicketDoc, WorkDoc) {
    let id = Uuid::now_v7().to_string();
    let t = TicketDoc {
        ticket_id: id.clone(),
        status: ["assigned", "accepted", "completed"][i % 3].to_owned(),
        category: "television".to_owned(),
        title: words.text(rng, 5),
        description: words.text(rng, 30),
        address: format!("{} N State St, Chicago", i + 1),
        lat: 41.88 + rng.random_range(-0.2..0.2),
        lon: -87.63 + rng.random_range(-0.2..0.2),
        customer_name: format!("Customer {i}"),
        customer_phone: format!("+1312{:07}", i),
        assigned_expert_id: Some(expert.to_string()),
        dispatcher_notes: words.text(rng, 8),
        updated_at: format!("2026-11-{:02}T{:02}:00:00.000Z", 1 + i % 25, i % 24),
    };
    let w = WorkDoc {
        ticket_id: id,
        expert_id: expert.to_string(),
        accepted_at: (!i.is_multiple_of(3)).then(|| "2026-11-20T10:00:00.000Z".to_owned()),
        notes: words.text(rng, 12),
        completed: (i % 3 == 2).then(|| ("2026-11-20T12:00:00.000Z".to_owned(), words.text(rng, 15))),
        ..WorkDoc::default()
    };
    (t, w)
}

fn put_chunk(store: &Store, doc: Uuid, data: &[u8]) {
    store
        .with(|c| {
            c.execute(
                "INSERT INTO chunks (k1, k2, k3, data) VALUES (?1, 'snapshot', ?2, ?3)",
                rusqlite::params![doc.to_string(), Uuid::new_v4().simple().to_string(), data],
            )
        })
        .unwrap();
}

/// Fills a store the way a long-running device's looks, returning sample article words.
fn fill_store(path: &std::path::Path, words: &Words) {
    let mut rng = StdRng::seed_from_u64(7);
    let (store, _) = Store::open(path).unwrap();
    let expert = Uuid::now_v7();
    store.set_meta("expert_id", &expert.to_string()).unwrap();
    store.with(|c| c.execute_batch("BEGIN")).unwrap();
    for i in 0..TICKETS {
        let (t, w) = ticket_docs(i, expert, words, &mut rng);
        store.put_ticket(&t, &w).unwrap();
        let tid: Uuid = t.ticket_id.parse().unwrap();
        let mut d = AutoCommit::new();
        t.write(&mut d).unwrap();
        put_chunk(&store, ids::ticket(tid), &save(&mut d));
        let mut d = AutoCommit::new();
        WorkDoc::init(&mut d, &w.ticket_id, &w.expert_id).unwrap();
        if let Some(at) = &w.accepted_at {
            WorkDoc::accept(&mut d, at).unwrap();
        }
        WorkDoc::set_notes(&mut d, &w.notes).unwrap();
        if let Some((at, r)) = &w.completed {
            WorkDoc::complete(&mut d, at, r).unwrap();
        }
        put_chunk(&store, ids::work(tid, expert), &save(&mut d));
    }
    store.with(|c| c.execute_batch("COMMIT")).unwrap();
    let mut shards: BTreeMap<u32, Vec<(String, KbEntry)>> = BTreeMap::new();
    for _ in 0..ARTICLES {
        let id = Uuid::new_v4();
        let n = rng.random_range(60..220);
        let e = KbEntry {
            title: words.text(&mut rng, 6),
            body: words.text(&mut rng, n),
            tags: vec![words.word(&mut rng), words.word(&mut rng)],
            updated_at: "2026-11-01T00:00:00.000Z".to_owned(),
        };
        shards.entry(ids::shard_of(id)).or_default().push((id.to_string(), e));
    }
    for (shard, articles) in shards {
        store.put_kb_shard(shard, &articles).unwrap();
        let mut d = AutoCommit::new();
        KbShardDoc::init(&mut d, shard).unwrap();
        for (id, e) in &articles {
            KbShardDoc::upsert(&mut d, id, e).unwrap();
        }
        put_chunk(&store, ids::kb_shard(shard), &save(&mut d));
    }
    store.with(|c| c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")).unwrap();
}

fn store_bench() {
    let tmp = tempfile::tempdir().unwrap();
    // BENCH_DEVICE_STORE=PATH keeps the filled store there and reuses it next time.
    let path = std::env::var_os("BENCH_DEVICE_STORE").map_or_else(|| tmp.path().join("device.db"), Into::into);
    let words = Words::new();
    let t = Instant::now();
    if !path.exists() {
        fill_store(&path, &words);
    }
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    println!(
        "store: {TICKETS} tickets (with their documents), {ARTICLES} articles in 32 shard documents; \
         {:.0} MB on disk, filled in {:.1} s",
        size as f64 / 1e6,
        t.elapsed().as_secs_f64()
    );

    let keys: Arc<dyn KeyStore> = Arc::new(Keys::default());
    let mut opens = Vec::new();
    let mut lists = Vec::new();
    for _ in 0..10 {
        let t = Instant::now();
        let d = Device::open(&path, "http://127.0.0.1:9", keys.clone()).unwrap();
        opens.push(ms(t.elapsed()));
        let t = Instant::now();
        let n = d.tickets().unwrap().len();
        lists.push(ms(t.elapsed()));
        assert_eq!(n, TICKETS);
        d.close();
    }
    println!(
        "open a signed-in device on that store: p50 {:.1} ms, max {:.1} ms (aim < 100 ms)",
        pct(&mut opens.clone(), 0.5),
        pct(&mut opens, 1.0)
    );
    println!(
        "list the {TICKETS} assigned tickets (sorted, whole rows): p50 {:.1} ms, max {:.1} ms",
        pct(&mut lists.clone(), 0.5),
        pct(&mut lists, 1.0)
    );

    let d = Device::open(&path, "http://127.0.0.1:9", keys).unwrap();
    let mut rng = StdRng::seed_from_u64(11);
    let queries: Vec<String> = (0..400)
        .map(|i| match i % 4 {
            0 => words.common[rng.random_range(0..words.common.len())].to_owned(),
            1 => format!(
                "{} {}",
                words.common[rng.random_range(0..words.common.len())],
                words.common[rng.random_range(0..words.common.len())]
            ),
            2 => {
                let w = words.common[rng.random_range(0..words.common.len())];
                format!("{} {}", words.common[rng.random_range(0..40)], &w[..w.len().min(3)])
            }
            _ => format!("{} not working", words.common[rng.random_range(0..words.common.len())]),
        })
        .collect();
    for q in queries.iter().take(20) {
        d.search_kb(q, 20).unwrap();
    }
    let mut fts = Vec::new();
    let mut hits = 0;
    for q in &queries {
        let t = Instant::now();
        hits += d.search_kb(q, 20).unwrap().len();
        fts.push(ms(t.elapsed()));
    }
    assert!(hits > queries.len() * 5, "searches find articles ({hits} hits)");
    d.close();
    // Baseline: the same first terms as an unindexed scan, in the same run.
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mut scan = Vec::new();
    for q in queries.iter().take(40) {
        let term = format!("%{}%", q.split(' ').next().unwrap());
        let t = Instant::now();
        let mut s = conn
            .prepare_cached(
                "SELECT id, title FROM kb WHERE title LIKE ?1 OR body LIKE ?1 ORDER BY updated_at DESC LIMIT 20",
            )
            .unwrap();
        let n = s.query_map([&term], |r| r.get::<_, String>(0)).unwrap().count();
        scan.push(ms(t.elapsed()));
        assert!(n > 0);
    }
    let (p50, p99, scan50) = (pct(&mut fts.clone(), 0.5), pct(&mut fts, 0.99), pct(&mut scan, 0.5));
    println!(
        "KB search over {ARTICLES} articles ({} queries, ranked with snippets): p50 {p50:.2} ms, p99 {p99:.2} ms \
         (aim p99 < 10 ms); LIKE scan p50 {scan50:.1} ms = {:.0}x slower",
        queries.len(),
        scan50 / p50
    );
}

fn catchup_bench() {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let words = Words::new();
    let (server, expert, open) = rt.block_on(async {
        let s = Server::spawn(Backend::Sqlite).await;
        let admin = s.admin().await;
        let cats: Vec<&str> = sysops_core::category::Category::ALL.iter().map(|c| c.slug()).collect();
        let (_, plan) = s
            .post(
                "/api/v1/plans",
                Some(&admin),
                &json!({"name": "Everything", "categories": cats, "monthly_price_cents": 4999, "currency": "USD"}),
            )
            .await;
        let expert = add_expert(&s, &admin, "field", &cats, 1.0).await;
        let (st, v) = s.patch(&format!("/api/v1/experts/{}", expert.id), Some(&admin), &json!({"capacity": 20})).await;
        assert!(st.is_success(), "{v}");
        let customer = add_customer(&s, "bench", plan["id"].as_str().unwrap()).await;
        let t = Instant::now();
        let mut rng = StdRng::seed_from_u64(3);
        let bodies: Vec<_> = (0..CATCHUP_ARTICLES)
            .map(|i| {
                let n = rng.random_range(60..220);
                json!({"title": format!("{} {i}", words.text(&mut rng, 5)), "body": words.text(&mut rng, n),
                       "tags": [words.common[i % 40]]})
            })
            .collect();
        let admin_ref = &admin;
        let s_ref = &s;
        futures::stream::iter(bodies)
            .for_each_concurrent(16, |b| async move {
                let (st, v) = s_ref.post("/api/v1/kb", Some(admin_ref), &b).await;
                assert_eq!(st, reqwest::StatusCode::CREATED, "{v}");
            })
            .await;
        // An expert holds at most 20 open tickets: 180 done earlier (still on the device
        // as history) and 20 open now.
        let mut open = Vec::new();
        for i in 0..CATCHUP_TICKETS {
            let (st, v) = s
                .post(
                    "/api/v1/tickets",
                    Some(&customer.token),
                    &json!({"subscription_id": customer.subscription_id, "category": cats[i % cats.len()],
                            "title": format!("Ticket {i}: {}", words.text(&mut rng, 4)),
                            "description": words.text(&mut rng, 25)}),
                )
                .await;
            assert_eq!(st, reqwest::StatusCode::CREATED, "{v}");
            assert_eq!(v["assigned_expert_id"], expert.id.as_str(), "{v}");
            open.push(v["id"].as_str().unwrap().to_owned());
            if open.len() == 20 && i + 1 < CATCHUP_TICKETS {
                for id in open.drain(..) {
                    let (st, v) =
                        s.post(&format!("/api/v1/tickets/{id}/accept"), Some(&expert.token), &json!({})).await;
                    assert!(st.is_success(), "{v}");
                    let r = json!({"resolution": words.text(&mut rng, 10)});
                    let (st, v) = s.post(&format!("/api/v1/tickets/{id}/complete"), Some(&expert.token), &r).await;
                    assert!(st.is_success(), "{v}");
                }
            }
        }
        println!(
            "catch-up setup: {CATCHUP_ARTICLES} articles and {CATCHUP_TICKETS} tickets through the API in {:.1} s",
            t.elapsed().as_secs_f64()
        );
        (s, expert, open)
    });

    let tmp = tempfile::tempdir().unwrap();
    // The server takes the articles into the sync documents in the background: a probe
    // device waits until it has them all, so the first sync below measures a settled server.
    {
        let probe = Device::open(&tmp.path().join("probe.db"), &server.base, Arc::new(Keys::default())).unwrap();
        probe.sign_in(&expert.email, PASSWORD).unwrap();
        probe.start_sync().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        while probe.article_count().unwrap() < CATCHUP_ARTICLES as u64 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        probe.close();
    }
    let path = tmp.path().join("device.db");
    let keys: Arc<dyn KeyStore> = Arc::new(Keys::default());
    let d = Device::open(&path, &server.base, keys.clone()).unwrap();
    d.sign_in(&expert.email, PASSWORD).unwrap();
    let t = Instant::now();
    d.start_sync().unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while (d.tickets().unwrap().len() < CATCHUP_TICKETS || d.article_count().unwrap() < CATCHUP_ARTICLES as u64)
        && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(d.tickets().unwrap().len(), CATCHUP_TICKETS, "all tickets reached the device");
    assert_eq!(d.article_count().unwrap(), CATCHUP_ARTICLES as u64, "the whole KB reached the device");
    let (sm, sb, rm, rb) = d.traffic();
    println!(
        "first sync of a new device ({CATCHUP_TICKETS} tickets, {CATCHUP_ARTICLES} articles): {:.2} s, \
         {sm} messages / {:.0} KB sent, {rm} messages / {:.0} KB received",
        t.elapsed().as_secs_f64(),
        sb as f64 / 1e3,
        rb as f64 / 1e3
    );
    assert!(d.wait_synced(Duration::from_secs(60)));
    d.stop_sync();

    // 1,000 edits with no network, the way a field day goes.
    let tickets: Vec<String> = d.tickets().unwrap().into_iter().map(|t| t.id).collect();
    let before = d.local_change_bytes();
    let mut rng = StdRng::seed_from_u64(5);
    let mut edits = 0;
    let t = Instant::now();
    for id in &open {
        d.accept(id).unwrap();
        d.en_route(id).unwrap();
        d.arrived(id).unwrap();
        d.complete(id, &words.text(&mut rng, 12)).unwrap();
        edits += 4;
    }
    for id in &tickets {
        d.set_notes(id, &words.text(&mut rng, 20)).unwrap();
        edits += 1;
    }
    while edits < EDITS - 10 {
        d.add_part(&tickets[edits % tickets.len()], &words.word(&mut rng), 1.0).unwrap();
        edits += 1;
    }
    while edits < EDITS {
        d.write_article(&format!("Field note {edits}"), &words.text(&mut rng, 80), vec!["field".into()]).unwrap();
        edits += 1;
    }
    let offline = t.elapsed();
    let raw = d.local_change_bytes() - before;
    let pending = d.sync_state().pending_changes;
    println!(
        "{edits} offline edits in {:.2} s ({:.2} ms each); {pending} documents pending; \
         encoded size of the changes {:.0} KB",
        offline.as_secs_f64(),
        ms(offline) / edits as f64,
        raw as f64 / 1e3
    );
    d.close();

    // The app is reopened later and the network is back.
    let d = Device::open(&path, &server.base, keys).unwrap();
    let (sm0, sb0, rm0, rb0) = d.traffic();
    let t = Instant::now();
    d.start_sync().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let trace = std::env::var_os("BENCH_DEVICE_TRACE").is_some();
    let mut last = (u32::MAX, false);
    while d.sync_state().pending_changes > 0 && Instant::now() < deadline {
        let st = d.sync_state();
        if trace && ((st.pending_changes, st.connected) != last || t.elapsed().as_millis() % 250 < 5) {
            last = (st.pending_changes, st.connected);
            eprintln!(
                "{:>6.0} ms: connected {} pending {} traffic {:?}",
                ms(t.elapsed()),
                st.connected,
                st.pending_changes,
                d.traffic()
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let took = t.elapsed();
    assert_eq!(d.sync_state().pending_changes, 0, "the server confirmed every change");
    let (sm, sb, rm, rb) = d.traffic();
    let (sm, sb, rm, rb) = (sm - sm0, sb - sb0, rm - rm0, rb - rb0);
    println!(
        "catch-up after {EDITS} offline edits: {:.2} s until the server confirmed all (aim < 2 s); \
         {sm} messages sent, {rm} received (each document's exchange is one message each way per round); \
         {:.0} KB sent = {:.2}x the changes, {:.0} KB received = {:.2}x, total {:.2}x (aim < 2x)",
        took.as_secs_f64(),
        sb as f64 / 1e3,
        sb as f64 / raw as f64,
        rb as f64 / 1e3,
        rb as f64 / raw as f64,
        (sb + rb) as f64 / raw as f64
    );
    // The server really has the work: the tickets completed offline are completed there.
    let done = rt.block_on(async {
        let mut done = 0;
        for _ in 0..100 {
            done = 0;
            for id in &open {
                let (_, v) = server.get(&format!("/api/v1/tickets/{id}"), Some(&expert.token)).await;
                done += usize::from(v["status"] == "completed");
            }
            if done == open.len() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        done
    });
    println!("server: {done} of {} tickets completed offline are completed on the server", open.len());
    assert_eq!(done, open.len());
    d.close();
    drop(server);
}

fn main() {
    store_bench();
    if std::env::var_os("BENCH_DEVICE_STORE_ONLY").is_none() {
        catchup_bench();
    }
}
