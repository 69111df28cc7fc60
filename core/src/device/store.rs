//! The device database: one SQLite file in WAL mode with one writer (a connection behind
//! a mutex, never handed out). It holds the synced automerge documents (`chunks`), the
//! tables projected from them (`tickets`, `kb` with its FTS5 index) and what is waiting
//! to sync (`pending`).

use super::api::{DeviceError, TicketStage};
use super::schema;
use crate::sync::docs::{KbEntry, TicketDoc, WorkDoc};
use crate::ticket::TicketStatus;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A ticket as the app shows it: the dispatch and the expert's work, together.
#[derive(Debug, Clone, PartialEq)]
pub struct TicketRow {
    /// Ticket id.
    pub id: String,
    /// Server status; `None` when the server sent one this version does not know (the
    /// document keeps the string; the stage then follows the device's stamps).
    pub status: Option<TicketStatus>,
    /// Category.
    pub category: String,
    /// Title.
    pub title: String,
    /// Problem description.
    pub description: String,
    /// Address.
    pub address: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Customer's name.
    pub customer_name: String,
    /// Customer's phone.
    pub customer_phone: String,
    /// Dispatcher's notes.
    pub dispatcher_notes: String,
    /// When the expert accepted (device time).
    pub accepted_at: Option<String>,
    /// When the expert declined it on this device.
    pub declined_at: Option<String>,
    /// When the expert set off.
    pub en_route_at: Option<String>,
    /// When the expert arrived.
    pub arrived_at: Option<String>,
    /// When the expert completed it.
    pub completed_at: Option<String>,
    /// The resolution.
    pub resolution: Option<String>,
    /// The expert's notes.
    pub notes: String,
}

impl TicketRow {
    /// Where the expert is with it, as the app shows it.
    pub fn stage(&self) -> TicketStage {
        TicketStage::of(self.status, self)
    }
}

/// A knowledge-base search hit.
#[derive(Debug, Clone, PartialEq)]
pub struct KbHit {
    /// Article id.
    pub id: String,
    /// Title.
    pub title: String,
    /// The matching passage.
    pub snippet: String,
}

/// A whole article.
#[derive(Debug, Clone, PartialEq)]
pub struct KbArticle {
    /// Id.
    pub id: String,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Written on this device and not yet published.
    pub draft: bool,
}

/// Above this many matches, a search ranks the most recently added ones.
const RANK_CAP: u32 = 1000;

/// The device database.
#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
    path: PathBuf,
}

/// The `meta` key under which the heads of the documents last projected for `what` (a
/// ticket id, or `kb:` and a shard document) are kept. [`Store::wipe`] clears them with
/// the tables they describe, and a ticket dropped from the tables drops its key.
pub fn projected_key(what: &str) -> String {
    format!("projected:{what}")
}

fn storage_err(e: rusqlite::Error) -> DeviceError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
            DeviceError::Storage { message: "the device is out of storage space; free some and try again".into() }
        }
        rusqlite::Error::SqliteFailure(f, _)
            if matches!(f.code, rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase) =>
        {
            DeviceError::Storage { message: "the local database is damaged; it will be rebuilt from the server".into() }
        }
        _ => DeviceError::Storage { message: e.to_string() },
    }
}

impl From<rusqlite::Error> for DeviceError {
    fn from(e: rusqlite::Error) -> Self {
        storage_err(e)
    }
}

fn is_corrupt(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase))
}

fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let mut conn = Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "wal")?;
    conn.pragma_update(None, "synchronous", "full")?;
    conn.pragma_update(None, "foreign_keys", "on")?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    // Reading the schema fails at once on a file that is not a database.
    let _: i64 = conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))?;
    schema::upgrade(&mut conn)?;
    Ok(conn)
}

impl Store {
    /// Opens (or creates) the store at `path`. A damaged file is moved aside
    /// (`…corrupt-<time>`) and a fresh store made, to be refilled from the server; the
    /// second value says whether that happened.
    pub fn open(path: &Path) -> Result<(Self, bool), DeviceError> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| DeviceError::Storage { message: e.to_string() })?;
        }
        let (conn, recovered) = match connect(path) {
            Ok(c) => (c, false),
            Err(e) if is_corrupt(&e) => {
                let aside = path.with_extension(format!("corrupt-{}", chrono::Utc::now().timestamp()));
                std::fs::rename(path, &aside).map_err(|e| DeviceError::Storage { message: e.to_string() })?;
                for ext in ["db-wal", "db-shm"] {
                    let _ = std::fs::remove_file(path.with_extension(ext));
                }
                (connect(path)?, true)
            }
            Err(e) => return Err(e.into()),
        };
        Ok((Self { conn: Arc::new(Mutex::new(conn)), path: path.to_owned() }, recovered))
    }

    /// Where the store lives.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` with the connection.
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T, DeviceError> {
        let mut c = self.conn.lock().map_err(|_| DeviceError::Storage { message: "store lock poisoned".into() })?;
        f(&mut c).map_err(storage_err)
    }

    /// A value from `meta`.
    pub fn meta(&self, key: &str) -> Result<Option<String>, DeviceError> {
        self.with(|c| c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0)).optional())
    }

    /// Sets a `meta` value.
    pub fn set_meta(&self, key: &str, value: &str) -> Result<(), DeviceError> {
        self.with(|c| c.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)", [key, value]).map(|_| ()))
    }

    /// Forgets everything (another expert signs in on this device).
    pub fn wipe(&self) -> Result<(), DeviceError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for t in ["chunks", "tickets", "kb", "pending", "meta"] {
                tx.execute(&format!("DELETE FROM {t}"), [])?;
            }
            tx.commit()
        })?;
        self.with(|c| c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); VACUUM;"))
    }

    /// Writes a ticket and the expert's work on it together (a ticket is on the device
    /// whole or not at all).
    pub fn put_ticket(&self, t: &TicketDoc, w: &WorkDoc) -> Result<(), DeviceError> {
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO tickets (id, status, category, title, description, address, lat, lon,
                   customer_name, customer_phone, dispatcher_notes, updated_at, accepted_at, declined_at, en_route_at,
                   arrived_at, completed_at, resolution, notes)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
                params![
                    t.ticket_id,
                    t.status,
                    t.category,
                    t.title,
                    t.description,
                    t.address,
                    t.lat,
                    t.lon,
                    t.customer_name,
                    t.customer_phone,
                    t.dispatcher_notes,
                    t.updated_at,
                    w.accepted_at,
                    w.declined.as_ref().map(|d| &d.0),
                    w.en_route_at,
                    w.arrived_at,
                    w.completed.as_ref().map(|c| &c.0),
                    w.completed.as_ref().map(|c| &c.1),
                    w.notes
                ],
            )
            .map(|_| ())
        })
    }

    /// Removes tickets not in `keep`.
    pub fn retain_tickets(&self, keep: &[String]) -> Result<usize, DeviceError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let ids: Vec<String> = {
                let mut s = tx.prepare("SELECT id FROM tickets")?;
                s.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
            };
            let keep: std::collections::HashSet<&String> = keep.iter().collect();
            let mut n = 0;
            for id in ids.iter().filter(|i| !keep.contains(i)) {
                n += tx.execute("DELETE FROM tickets WHERE id = ?1", [id])?;
                // Should the ticket come back, it is projected afresh.
                tx.execute("DELETE FROM meta WHERE key = ?1", [projected_key(id)])?;
            }
            tx.commit()?;
            Ok(n)
        })
    }

    fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TicketRow> {
        Ok(TicketRow {
            id: r.get(0)?,
            status: r.get::<_, String>(1)?.parse().ok(),
            category: r.get(2)?,
            title: r.get(3)?,
            description: r.get(4)?,
            address: r.get(5)?,
            lat: r.get(6)?,
            lon: r.get(7)?,
            customer_name: r.get(8)?,
            customer_phone: r.get(9)?,
            dispatcher_notes: r.get(10)?,
            accepted_at: r.get(11)?,
            en_route_at: r.get(12)?,
            arrived_at: r.get(13)?,
            completed_at: r.get(14)?,
            resolution: r.get(15)?,
            notes: r.get(16)?,
            declined_at: r.get(17)?,
        })
    }

    const COLUMNS: &'static str = "id, status, category, title, description, address, lat, lon, customer_name,
        customer_phone, dispatcher_notes, accepted_at, en_route_at, arrived_at, completed_at, resolution, notes, declined_at";

    /// The expert's tickets: open work first, then the rest, newest first.
    pub fn tickets(&self) -> Result<Vec<TicketRow>, DeviceError> {
        self.with(|c| {
            let mut s = c.prepare_cached(&format!(
                "SELECT {} FROM tickets ORDER BY completed_at IS NOT NULL, status = 'completed', updated_at DESC",
                Self::COLUMNS
            ))?;
            s.query_map([], Self::row)?.collect()
        })
    }

    /// One ticket.
    pub fn ticket(&self, id: &str) -> Result<Option<TicketRow>, DeviceError> {
        self.with(|c| {
            c.query_row(&format!("SELECT {} FROM tickets WHERE id = ?1", Self::COLUMNS), [id], Self::row).optional()
        })
    }

    /// Makes the published articles of `shard` exactly `articles` (drafts untouched).
    pub fn put_kb_shard(&self, shard: u32, articles: &[(String, KbEntry)]) -> Result<(), DeviceError> {
        self.with(|c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let existing: Vec<(String, String)> = {
                let mut s = tx.prepare("SELECT id, updated_at FROM kb WHERE draft = 0")?;
                s.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<Result<_, _>>()?
            };
            let incoming: std::collections::HashMap<&str, &KbEntry> =
                articles.iter().map(|(k, v)| (k.as_str(), v)).collect();
            for (id, _) in existing.iter().filter(|(id, _)| {
                uuid::Uuid::parse_str(id).is_ok_and(|u| crate::sync::ids::shard_of(u) == shard)
                    && !incoming.contains_key(id.as_str())
            }) {
                tx.execute("DELETE FROM kb WHERE id = ?1", [id])?;
            }
            let known: std::collections::HashMap<&str, &str> =
                existing.iter().map(|(i, u)| (i.as_str(), u.as_str())).collect();
            {
                let mut up = tx.prepare_cached(
                    "INSERT INTO kb (id, title, body, tags, updated_at, draft) VALUES (?1, ?2, ?3, ?4, ?5, 0)
                     ON CONFLICT(id) DO UPDATE SET title = excluded.title, body = excluded.body, tags = excluded.tags,
                       updated_at = excluded.updated_at, draft = 0",
                )?;
                for (id, e) in articles {
                    if known.get(id.as_str()) == Some(&e.updated_at.as_str()) {
                        continue;
                    }
                    up.execute(params![id, e.title, e.body, e.tags.join(" "), e.updated_at])?;
                }
            }
            tx.commit()
        })
    }

    /// Writes a draft written on this device (searchable at once, offline).
    pub fn put_draft(&self, id: &str, title: &str, body: &str, tags: &[String], at: &str) -> Result<(), DeviceError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO kb (id, title, body, tags, updated_at, draft) VALUES (?1, ?2, ?3, ?4, ?5, 1)
                 ON CONFLICT(id) DO UPDATE SET title = excluded.title, body = excluded.body, tags = excluded.tags,
                   updated_at = excluded.updated_at",
                params![id, title, body, tags.join(" "), at],
            )
            .map(|_| ())
        })
    }

    /// Ranked full-text search of the knowledge base (published and this device's
    /// drafts): every term, the last as a prefix; failing that, any term.
    pub fn search(&self, q: &str, limit: u32) -> Result<Vec<KbHit>, DeviceError> {
        let terms: Vec<String> =
            q.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_lowercase).take(12).collect();
        if terms.is_empty() {
            return self.with(|c| {
                let mut s = c.prepare_cached(
                    "SELECT id, title, substr(body, 1, 160) FROM kb ORDER BY updated_at DESC LIMIT ?1",
                )?;
                s.query_map([limit], |r| Ok(KbHit { id: r.get(0)?, title: r.get(1)?, snippet: r.get(2)? }))?.collect()
            });
        }
        let query = |any: bool| {
            let n = terms.len();
            terms
                .iter()
                .enumerate()
                // The last term is a prefix (search as you type) once it has two letters.
                .map(
                    |(i, t)| if i + 1 == n && t.chars().count() > 1 { format!("\"{t}\"*") } else { format!("\"{t}\"") },
                )
                .collect::<Vec<_>>()
                .join(if any { " OR " } else { " " })
        };
        let words: Vec<&str> = terms.iter().map(String::as_str).collect();
        let run = |q: String| {
            self.with(|c| {
                // Ranking costs a little for every match, so a query matching more than
                // RANK_CAP articles ranks the RANK_CAP most recently added ones (a broad
                // query favours recent articles), keeping every search fast.
                let cut: i64 = c
                    .prepare_cached(
                        "SELECT rowid FROM kb_fts WHERE kb_fts MATCH ?1 ORDER BY rowid DESC LIMIT 1 OFFSET ?2",
                    )?
                    .query_row(params![q, RANK_CAP], |r| r.get(0))
                    .optional()?
                    .unwrap_or(0);
                let mut s = c.prepare_cached(
                    "SELECT kb.id, kb.title, kb.body FROM
                       (SELECT rowid, bm25(kb_fts, 8.0, 1.0, 4.0) AS score FROM kb_fts
                        WHERE kb_fts MATCH ?1 AND rowid > ?3 ORDER BY score LIMIT ?2) AS top
                     JOIN kb ON kb.rowid = top.rowid ORDER BY top.score",
                )?;
                s.query_map(params![q, limit, cut], |r| {
                    let body: String = r.get(2)?;
                    Ok(KbHit { id: r.get(0)?, title: r.get(1)?, snippet: crate::kb::snippet(&body, &words, 160) })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
        };
        let hits = run(query(false))?;
        if hits.is_empty() && terms.len() > 1 { run(query(true)) } else { Ok(hits) }
    }

    /// One article.
    pub fn article(&self, id: &str) -> Result<Option<KbArticle>, DeviceError> {
        self.with(|c| {
            c.query_row("SELECT id, title, body, tags, draft FROM kb WHERE id = ?1", [id], |r| {
                let tags: String = r.get(3)?;
                Ok(KbArticle {
                    id: r.get(0)?,
                    title: r.get(1)?,
                    body: r.get(2)?,
                    tags: tags.split_whitespace().map(str::to_owned).collect(),
                    draft: r.get::<_, i64>(4)? != 0,
                })
            })
            .optional()
        })
    }

    /// Notes that `doc` has a local change (up to `heads`) the server has not confirmed.
    pub fn add_pending(&self, doc: &str, heads: &[String]) -> Result<(), DeviceError> {
        let at = chrono::Utc::now().to_rfc3339();
        self.with(|c| {
            c.execute(
                "INSERT OR REPLACE INTO pending (doc_id, heads, since) VALUES (?1, ?2, ?3)",
                [doc, &heads.join(","), &at],
            )
            .map(|_| ())
        })
    }

    /// Local changes waiting: document id and the heads to be confirmed.
    pub fn pending(&self) -> Result<Vec<(String, Vec<String>)>, DeviceError> {
        self.with(|c| {
            let mut s = c.prepare_cached("SELECT doc_id, heads FROM pending")?;
            s.query_map([], |r| {
                let h: String = r.get(1)?;
                Ok((r.get(0)?, h.split(',').filter(|x| !x.is_empty()).map(str::to_owned).collect()))
            })?
            .collect()
        })
    }

    /// The server confirmed `doc` up to `heads`.
    pub fn confirm(&self, doc: &str, heads: &[String]) -> Result<(), DeviceError> {
        self.with(|c| {
            c.execute("DELETE FROM pending WHERE doc_id = ?1 AND heads = ?2", [doc, &heads.join(",")]).map(|_| ())
        })
    }

    /// How many KB articles (published and drafts) are stored.
    pub fn article_count(&self) -> Result<u64, DeviceError> {
        self.with(|c| c.query_row("SELECT count(*) FROM kb", [], |r| r.get::<_, i64>(0))).map(|n| n as u64)
    }

    /// How many documents have changes waiting to sync.
    pub fn pending_count(&self) -> Result<u32, DeviceError> {
        self.with(|c| c.query_row("SELECT count(*) FROM pending", [], |r| r.get(0)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_is_a_clear_error_and_leaves_a_usable_store() {
        let dir = tempfile::tempdir().unwrap();
        let (s, recovered) = Store::open(&dir.path().join("store.db")).unwrap();
        assert!(!recovered);
        s.set_meta("expert_id", "e1").unwrap();
        s.put_draft("a1", "Kept", "An article written before the disk filled up.", &[], "t0").unwrap();
        // The disk is full: the database may not grow by a single page.
        let pages: i64 = s.with(|c| c.query_row("PRAGMA page_count", [], |r| r.get(0))).unwrap();
        s.with(|c| c.pragma_update(None, "max_page_count", pages)).unwrap();
        let err = s.put_draft("a2", "Too big", &"x".repeat(2_000_000), &[], "t1").unwrap_err();
        assert!(
            matches!(&err, DeviceError::Storage { message } if message.contains("out of storage space")),
            "{err:?}"
        );
        // Nothing half-written, everything readable, and writable again once space frees up.
        assert!(s.article("a2").unwrap().is_none());
        assert_eq!(s.article("a1").unwrap().unwrap().title, "Kept");
        assert_eq!(s.meta("expert_id").unwrap().as_deref(), Some("e1"));
        assert_eq!(s.search("written before", 5).unwrap()[0].id, "a1");
        s.with(|c| c.pragma_update(None, "max_page_count", 1_073_741_823)).unwrap();
        s.put_draft("a2", "Fits now", &"x".repeat(2_000_000), &[], "t1").unwrap();
        assert_eq!(s.article("a2").unwrap().unwrap().title, "Fits now");
    }

    #[test]
    fn search_ranks_titles_first_and_falls_back_to_any_term() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Store::open(&dir.path().join("store.db")).unwrap();
        s.put_draft("body", "Printer jams", "Mentions hdmi only in passing.", &[], "t").unwrap();
        s.put_draft("title", "HDMI handshake", "Reseat the cable.", &["hdmi".into()], "t").unwrap();
        let hits = s.search("hdmi", 5).unwrap();
        assert_eq!(hits.iter().map(|h| h.id.as_str()).collect::<Vec<_>>(), vec!["title", "body"]);
        assert_eq!(s.search("handsh", 5).unwrap()[0].id, "title", "the last term is a prefix");
        assert_eq!(s.search("hdmi toaster", 5).unwrap().len(), 2, "no article has both: any term");
        assert!(s.search("\"; DROP TABLE kb; --", 5).is_ok(), "query syntax cannot be injected");
    }

    #[test]
    fn a_ticket_is_written_whole_and_removed_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Store::open(&dir.path().join("store.db")).unwrap();
        let t = TicketDoc {
            ticket_id: "t1".into(),
            status: "assigned".into(),
            category: "television".into(),
            title: "TV".into(),
            description: "No picture".into(),
            address: "1 Main St".into(),
            lat: 41.0,
            lon: -87.0,
            customer_name: "Casey".into(),
            customer_phone: "+13125550100".into(),
            assigned_expert_id: Some("e".into()),
            dispatcher_notes: String::new(),
            updated_at: "t".into(),
        };
        let w = WorkDoc { ticket_id: "t1".into(), expert_id: "e".into(), notes: "ladder".into(), ..Default::default() };
        s.put_ticket(&t, &w).unwrap();
        s.set_meta(&projected_key("t1"), "heads").unwrap();
        let row = s.ticket("t1").unwrap().unwrap();
        assert_eq!((row.customer_phone.as_str(), row.notes.as_str()), ("+13125550100", "ladder"));
        assert_eq!(s.retain_tickets(&["t2".into()]).unwrap(), 1);
        assert!(s.tickets().unwrap().is_empty());
        // Reassigned back later, it is projected afresh, not skipped as unchanged.
        assert_eq!(s.meta(&projected_key("t1")).unwrap(), None);
    }

    #[test]
    fn the_status_is_typed_on_reading_and_the_stage_follows_the_device_first() {
        use crate::device::api::TicketStage as Stage;
        let dir = tempfile::tempdir().unwrap();
        let (s, _) = Store::open(&dir.path().join("store.db")).unwrap();
        let doc = |status: &str| TicketDoc {
            ticket_id: "t1".into(),
            status: status.into(),
            category: "television".into(),
            title: "TV".into(),
            description: String::new(),
            address: String::new(),
            lat: 41.0,
            lon: -87.0,
            customer_name: String::new(),
            customer_phone: String::new(),
            assigned_expert_id: Some("e".into()),
            dispatcher_notes: String::new(),
            updated_at: "t".into(),
        };
        let fresh = WorkDoc { ticket_id: "t1".into(), expert_id: "e".into(), ..Default::default() };
        let row = |status: &str, w: &WorkDoc| {
            s.put_ticket(&doc(status), w).unwrap();
            s.ticket("t1").unwrap().unwrap()
        };
        let r = row("assigned", &fresh);
        assert_eq!((r.status, r.stage()), (Some(TicketStatus::Assigned), Stage::Assigned));
        // A status a newer server invented: kept as text in the document, no panic, the
        // device's stamps decide.
        let r = row("escalated", &fresh);
        assert_eq!((r.status, r.stage()), (None, Stage::Assigned));
        let arrived = WorkDoc { accepted_at: Some("a".into()), arrived_at: Some("b".into()), ..fresh.clone() };
        assert_eq!(row("escalated", &arrived).stage(), Stage::OnSite);
        assert_eq!(row("assigned", &arrived).stage(), Stage::OnSite, "the device's stamps come first");
        // Both apps used to disagree here: unassignable is no longer this expert's work.
        let r = row("unassignable", &fresh);
        assert_eq!((r.stage(), r.stage().is_finished()), (Stage::Withdrawn, true));
        let declined = WorkDoc { declined: Some(("d".into(), "too far".into())), ..fresh.clone() };
        assert_eq!(row("created", &declined).stage(), Stage::Declined);
        let done = WorkDoc { completed: Some(("c".into(), "fixed".into())), ..fresh };
        let r = row("accepted", &done);
        assert_eq!(
            (r.stage(), r.stage().is_finished(), r.stage().label()),
            (Stage::Completed, true, "Completed".into())
        );
        assert!(!Stage::EnRoute.is_finished());
    }
}
