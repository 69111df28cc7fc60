//! The document shapes (version 1) with typed readers and writers. Writers change only
//! what differs, so re-applying the same state adds no operations.

use super::fields::*;
use automerge::transaction::Transactable;
use automerge::{AutomergeError, ObjType, ROOT, ReadDoc};
use std::collections::BTreeMap;

/// A document that is not of the expected shape.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DocError {
    /// `schema` is missing or names another shape.
    #[error("expected a {expected} document, found {found:?}")]
    WrongSchema {
        /// The schema wanted.
        expected: &'static str,
        /// What the document says.
        found: Option<String>,
    },
    /// A required field is missing or of the wrong type.
    #[error("field {0} is missing or malformed")]
    Field(&'static str),
    /// Automerge refused an operation.
    #[error("automerge: {0}")]
    Automerge(String),
}

impl From<AutomergeError> for DocError {
    fn from(e: AutomergeError) -> Self {
        Self::Automerge(e.to_string())
    }
}

fn check_schema(doc: &impl ReadDoc, expected: &'static str) -> Result<(), DocError> {
    match get_str(doc, &ROOT, "schema") {
        Some(s) if s == expected => Ok(()),
        found => Err(DocError::WrongSchema { expected, found }),
    }
}

fn req(v: Option<String>, field: &'static str) -> Result<String, DocError> {
    v.ok_or(DocError::Field(field))
}

/// The schema of a document, if it has one.
pub fn schema_of(doc: &impl ReadDoc) -> Option<String> {
    get_str(doc, &ROOT, "schema")
}

/// A ticket as dispatched (server-written).
#[derive(Debug, Clone, PartialEq)]
pub struct TicketDoc {
    /// The ticket.
    pub ticket_id: String,
    /// Its status.
    pub status: String,
    /// Category.
    pub category: String,
    /// Title.
    pub title: String,
    /// Problem description.
    pub description: String,
    /// Address of the work.
    pub address: String,
    /// Latitude.
    pub lat: f64,
    /// Longitude.
    pub lon: f64,
    /// Customer's name.
    pub customer_name: String,
    /// Customer's phone.
    pub customer_phone: String,
    /// The expert holding it.
    pub assigned_expert_id: Option<String>,
    /// Notes from the dispatcher.
    pub dispatcher_notes: String,
    /// Last change on the server.
    pub updated_at: String,
}

impl TicketDoc {
    /// Schema name.
    pub const SCHEMA: &'static str = "sysops.ticket/1";

    /// The status, typed; `None` for a string this version does not know (the document
    /// keeps strings, so a newer server's status never breaks an older reader).
    pub fn ticket_status(&self) -> Option<crate::ticket::TicketStatus> {
        self.status.parse().ok()
    }

    /// Reads one.
    pub fn read(doc: &impl ReadDoc) -> Result<Self, DocError> {
        check_schema(doc, Self::SCHEMA)?;
        Ok(Self {
            ticket_id: req(get_str(doc, &ROOT, "ticket_id"), "ticket_id")?,
            status: req(get_str(doc, &ROOT, "status"), "status")?,
            category: get_str(doc, &ROOT, "category").unwrap_or_default(),
            title: req(get_str(doc, &ROOT, "title"), "title")?,
            description: get_str(doc, &ROOT, "description").unwrap_or_default(),
            address: get_str(doc, &ROOT, "address").unwrap_or_default(),
            lat: get_f64(doc, &ROOT, "lat").ok_or(DocError::Field("lat"))?,
            lon: get_f64(doc, &ROOT, "lon").ok_or(DocError::Field("lon"))?,
            customer_name: get_str(doc, &ROOT, "customer_name").unwrap_or_default(),
            customer_phone: get_str(doc, &ROOT, "customer_phone").unwrap_or_default(),
            assigned_expert_id: get_str(doc, &ROOT, "assigned_expert_id"),
            dispatcher_notes: get_str(doc, &ROOT, "dispatcher_notes").unwrap_or_default(),
            updated_at: get_str(doc, &ROOT, "updated_at").unwrap_or_default(),
        })
    }

    /// Makes the document hold this state.
    pub fn write(&self, tx: &mut impl Transactable) -> Result<(), DocError> {
        put_str(tx, &ROOT, "schema", Self::SCHEMA)?;
        put_str(tx, &ROOT, "ticket_id", &self.ticket_id)?;
        put_str(tx, &ROOT, "status", &self.status)?;
        put_str(tx, &ROOT, "category", &self.category)?;
        put_str(tx, &ROOT, "title", &self.title)?;
        put_text(tx, &ROOT, "description", &self.description)?;
        put_str(tx, &ROOT, "address", &self.address)?;
        put_f64(tx, &ROOT, "lat", self.lat)?;
        put_f64(tx, &ROOT, "lon", self.lon)?;
        put_str(tx, &ROOT, "customer_name", &self.customer_name)?;
        put_str(tx, &ROOT, "customer_phone", &self.customer_phone)?;
        put_opt_str(tx, &ROOT, "assigned_expert_id", self.assigned_expert_id.as_deref())?;
        put_text(tx, &ROOT, "dispatcher_notes", &self.dispatcher_notes)?;
        put_str(tx, &ROOT, "updated_at", &self.updated_at)?;
        Ok(())
    }
}

/// A part used on a job.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// What.
    pub name: String,
    /// How many.
    pub qty: f64,
}

/// An expert's work on a ticket (written by that expert, on or offline).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct WorkDoc {
    /// The ticket.
    pub ticket_id: String,
    /// The expert.
    pub expert_id: String,
    /// When they accepted (device time).
    pub accepted_at: Option<String>,
    /// When and why they declined.
    pub declined: Option<(String, String)>,
    /// When they set off.
    pub en_route_at: Option<String>,
    /// When they arrived.
    pub arrived_at: Option<String>,
    /// Their notes (prose, merged across devices).
    pub notes: String,
    /// Parts used.
    pub parts: Vec<Part>,
    /// Completion: device time and resolution.
    pub completed: Option<(String, String)>,
}

impl WorkDoc {
    /// Schema name.
    pub const SCHEMA: &'static str = "sysops.work/1";

    /// Reads one.
    pub fn read(doc: &impl ReadDoc) -> Result<Self, DocError> {
        check_schema(doc, Self::SCHEMA)?;
        let pair = |key: &'static str, a: &'static str, b: &'static str| {
            let obj = get_obj(doc, &ROOT, key, ObjType::Map)?;
            Some((get_str(doc, &obj, a)?, get_str(doc, &obj, b).unwrap_or_default()))
        };
        let parts = match get_obj(doc, &ROOT, "parts", ObjType::List) {
            Some(list) => (0..doc.length(&list))
                .filter_map(|i| match doc.get(&list, i).ok()?? {
                    (automerge::Value::Object(ObjType::Map), p) => {
                        Some(Part { name: get_str(doc, &p, "name")?, qty: get_f64(doc, &p, "qty").unwrap_or(1.0) })
                    }
                    _ => None,
                })
                .collect(),
            None => Vec::new(),
        };
        Ok(Self {
            ticket_id: req(get_str(doc, &ROOT, "ticket_id"), "ticket_id")?,
            expert_id: req(get_str(doc, &ROOT, "expert_id"), "expert_id")?,
            accepted_at: get_str(doc, &ROOT, "accepted_at"),
            declined: pair("declined", "at", "reason"),
            en_route_at: get_str(doc, &ROOT, "en_route_at"),
            arrived_at: get_str(doc, &ROOT, "arrived_at"),
            notes: get_str(doc, &ROOT, "notes").unwrap_or_default(),
            parts,
            completed: pair("completed", "at", "resolution"),
        })
    }

    /// The fresh document the server creates for an assignment.
    pub fn init(tx: &mut impl Transactable, ticket_id: &str, expert_id: &str) -> Result<(), DocError> {
        put_str(tx, &ROOT, "schema", Self::SCHEMA)?;
        put_str(tx, &ROOT, "ticket_id", ticket_id)?;
        put_str(tx, &ROOT, "expert_id", expert_id)?;
        put_text(tx, &ROOT, "notes", "")?;
        tx.put_object(&ROOT, "parts", ObjType::List)?;
        Ok(())
    }

    /// The expert accepts.
    pub fn accept(tx: &mut impl Transactable, at: &str) -> Result<(), DocError> {
        Ok(put_str(tx, &ROOT, "accepted_at", at)?)
    }

    /// The expert declines.
    pub fn decline(tx: &mut impl Transactable, at: &str, reason: &str) -> Result<(), DocError> {
        let d = ensure_map(tx, &ROOT, "declined")?;
        put_str(tx, &d, "at", at)?;
        put_text(tx, &d, "reason", reason)?;
        Ok(())
    }

    /// The expert sets off.
    pub fn en_route(tx: &mut impl Transactable, at: &str) -> Result<(), DocError> {
        Ok(put_str(tx, &ROOT, "en_route_at", at)?)
    }

    /// The expert arrives.
    pub fn arrived(tx: &mut impl Transactable, at: &str) -> Result<(), DocError> {
        Ok(put_str(tx, &ROOT, "arrived_at", at)?)
    }

    /// Replaces the notes (as a minimal text edit).
    pub fn set_notes(tx: &mut impl Transactable, notes: &str) -> Result<(), DocError> {
        Ok(put_text(tx, &ROOT, "notes", notes)?)
    }

    /// Adds a part.
    pub fn add_part(tx: &mut impl Transactable, name: &str, qty: f64) -> Result<(), DocError> {
        let list = match get_obj(tx, &ROOT, "parts", ObjType::List) {
            Some(l) => l,
            None => tx.put_object(&ROOT, "parts", ObjType::List)?,
        };
        let at = tx.length(&list);
        let p = tx.insert_object(&list, at, ObjType::Map)?;
        put_str(tx, &p, "name", name)?;
        put_f64(tx, &p, "qty", qty)?;
        Ok(())
    }

    /// The work is done.
    pub fn complete(tx: &mut impl Transactable, at: &str, resolution: &str) -> Result<(), DocError> {
        let c = ensure_map(tx, &ROOT, "completed")?;
        put_str(tx, &c, "at", at)?;
        put_text(tx, &c, "resolution", resolution)?;
        Ok(())
    }
}

/// An expert's availability and location.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct StatusDoc {
    /// The expert.
    pub expert_id: String,
    /// On duty.
    pub available: Option<bool>,
    /// Last position and when (device time).
    pub location: Option<(f64, f64, String)>,
}

impl StatusDoc {
    /// Schema name.
    pub const SCHEMA: &'static str = "sysops.status/1";

    /// Reads one.
    pub fn read(doc: &impl ReadDoc) -> Result<Self, DocError> {
        check_schema(doc, Self::SCHEMA)?;
        let location = get_obj(doc, &ROOT, "location", ObjType::Map).and_then(|l| {
            Some((get_f64(doc, &l, "lat")?, get_f64(doc, &l, "lon")?, get_str(doc, &l, "at").unwrap_or_default()))
        });
        Ok(Self {
            expert_id: req(get_str(doc, &ROOT, "expert_id"), "expert_id")?,
            available: get_bool(doc, &ROOT, "available"),
            location,
        })
    }

    /// The fresh document.
    pub fn init(tx: &mut impl Transactable, expert_id: &str) -> Result<(), DocError> {
        put_str(tx, &ROOT, "schema", Self::SCHEMA)?;
        Ok(put_str(tx, &ROOT, "expert_id", expert_id)?)
    }

    /// Sets availability.
    pub fn set_available(tx: &mut impl Transactable, available: bool) -> Result<(), DocError> {
        Ok(put_bool(tx, &ROOT, "available", available)?)
    }

    /// Sets the location.
    pub fn set_location(tx: &mut impl Transactable, lat: f64, lon: f64, at: &str) -> Result<(), DocError> {
        let l = ensure_map(tx, &ROOT, "location")?;
        put_f64(tx, &l, "lat", lat)?;
        put_f64(tx, &l, "lon", lon)?;
        put_str(tx, &l, "at", at)?;
        Ok(())
    }
}

/// An expert's index of their drafts: draft document id → URL.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DraftsDoc {
    /// The expert.
    pub expert_id: String,
    /// Drafts by document id.
    pub drafts: BTreeMap<String, String>,
}

impl DraftsDoc {
    /// Schema name.
    pub const SCHEMA: &'static str = "sysops.drafts/1";

    /// Reads one.
    pub fn read(doc: &impl ReadDoc) -> Result<Self, DocError> {
        check_schema(doc, Self::SCHEMA)?;
        let mut drafts = BTreeMap::new();
        if let Some(m) = get_obj(doc, &ROOT, "drafts", ObjType::Map) {
            for k in doc.keys(&m) {
                if let Some(url) = get_str(doc, &m, &k) {
                    drafts.insert(k, url);
                }
            }
        }
        Ok(Self { expert_id: req(get_str(doc, &ROOT, "expert_id"), "expert_id")?, drafts })
    }

    /// The fresh document.
    pub fn init(tx: &mut impl Transactable, expert_id: &str) -> Result<(), DocError> {
        put_str(tx, &ROOT, "schema", Self::SCHEMA)?;
        put_str(tx, &ROOT, "expert_id", expert_id)?;
        ensure_map(tx, &ROOT, "drafts")?;
        Ok(())
    }

    /// Lists a draft.
    pub fn add(tx: &mut impl Transactable, doc_id: &str, url: &str) -> Result<(), DocError> {
        let m = ensure_map(tx, &ROOT, "drafts")?;
        Ok(put_str(tx, &m, doc_id, url)?)
    }
}

/// One KB draft written on a device.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DraftDoc {
    /// Title.
    pub title: String,
    /// Body (prose).
    pub body: String,
    /// Tags.
    pub tags: Vec<String>,
    /// When it was started (device time).
    pub created_at: String,
}

impl DraftDoc {
    /// Schema name.
    pub const SCHEMA: &'static str = "sysops.draft/1";

    /// Reads one.
    pub fn read(doc: &impl ReadDoc) -> Result<Self, DocError> {
        check_schema(doc, Self::SCHEMA)?;
        Ok(Self {
            title: req(get_str(doc, &ROOT, "title"), "title")?,
            body: get_str(doc, &ROOT, "body").unwrap_or_default(),
            tags: get_str_list(doc, &ROOT, "tags"),
            created_at: get_str(doc, &ROOT, "created_at").unwrap_or_default(),
        })
    }

    /// Writes a draft.
    pub fn write(&self, tx: &mut impl Transactable) -> Result<(), DocError> {
        put_str(tx, &ROOT, "schema", Self::SCHEMA)?;
        put_str(tx, &ROOT, "title", &self.title)?;
        put_text(tx, &ROOT, "body", &self.body)?;
        put_str_list(tx, &ROOT, "tags", &self.tags)?;
        put_str(tx, &ROOT, "created_at", &self.created_at)?;
        Ok(())
    }
}

/// A published article in a KB shard.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KbEntry {
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Tags.
    pub tags: Vec<String>,
    /// Last change.
    pub updated_at: String,
}

/// A shard of the published knowledge base (server-written).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KbShardDoc {
    /// Which shard.
    pub shard: u32,
    /// Articles by id.
    pub articles: BTreeMap<String, KbEntry>,
}

impl KbShardDoc {
    /// Schema name.
    pub const SCHEMA: &'static str = "sysops.kb/1";

    /// Reads one.
    pub fn read(doc: &impl ReadDoc) -> Result<Self, DocError> {
        check_schema(doc, Self::SCHEMA)?;
        let mut articles = BTreeMap::new();
        if let Some(m) = get_obj(doc, &ROOT, "articles", ObjType::Map) {
            for k in doc.keys(&m) {
                if let Some(a) = get_obj(doc, &m, &k, ObjType::Map) {
                    articles.insert(
                        k,
                        KbEntry {
                            title: get_str(doc, &a, "title").unwrap_or_default(),
                            body: get_str(doc, &a, "body").unwrap_or_default(),
                            tags: get_str_list(doc, &a, "tags"),
                            updated_at: get_str(doc, &a, "updated_at").unwrap_or_default(),
                        },
                    );
                }
            }
        }
        Ok(Self { shard: get_f64(doc, &ROOT, "shard").unwrap_or_default() as u32, articles })
    }

    /// The fresh document.
    pub fn init(tx: &mut impl Transactable, shard: u32) -> Result<(), DocError> {
        put_str(tx, &ROOT, "schema", Self::SCHEMA)?;
        put_f64(tx, &ROOT, "shard", f64::from(shard))?;
        ensure_map(tx, &ROOT, "articles")?;
        Ok(())
    }

    /// Adds or updates an article.
    pub fn upsert(tx: &mut impl Transactable, id: &str, e: &KbEntry) -> Result<(), DocError> {
        let m = ensure_map(tx, &ROOT, "articles")?;
        let a = ensure_map(tx, &m, id)?;
        put_str(tx, &a, "title", &e.title)?;
        // A scalar, not text: the server is the only writer, and as text the bodies of a
        // few thousand articles are millions of operations for every device to load.
        put_str(tx, &a, "body", &e.body)?;
        put_str_list(tx, &a, "tags", &e.tags)?;
        put_str(tx, &a, "updated_at", &e.updated_at)?;
        Ok(())
    }

    /// Removes an article.
    pub fn remove(tx: &mut impl Transactable, id: &str) -> Result<(), DocError> {
        let m = ensure_map(tx, &ROOT, "articles")?;
        if tx.get(&m, id)?.is_some() {
            tx.delete(&m, id)?;
        }
        Ok(())
    }
}

/// An outcome the device should show (a refused write, a conflict).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// When (server time).
    pub at: String,
    /// The document it is about.
    pub document: String,
    /// What happened.
    pub message: String,
}

/// A ticket in an expert's root: its two documents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TicketLinks {
    /// The dispatch document.
    pub ticket: String,
    /// The expert's work document.
    pub work: String,
}

/// An expert's root document (server-written): everything they may sync.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RootDoc {
    /// The expert.
    pub expert_id: String,
    /// Their status document.
    pub status: String,
    /// Their drafts index.
    pub drafts: String,
    /// KB shards by number.
    pub kb: BTreeMap<String, String>,
    /// Their tickets by id.
    pub tickets: BTreeMap<String, TicketLinks>,
    /// Outcomes to show.
    pub notices: Vec<Notice>,
}

impl RootDoc {
    /// Schema name.
    pub const SCHEMA: &'static str = "sysops.root/1";

    /// Reads one.
    pub fn read(doc: &impl ReadDoc) -> Result<Self, DocError> {
        check_schema(doc, Self::SCHEMA)?;
        let mut kb = BTreeMap::new();
        if let Some(m) = get_obj(doc, &ROOT, "kb", ObjType::Map) {
            for k in doc.keys(&m) {
                if let Some(u) = get_str(doc, &m, &k) {
                    kb.insert(k, u);
                }
            }
        }
        let mut tickets = BTreeMap::new();
        if let Some(m) = get_obj(doc, &ROOT, "tickets", ObjType::Map) {
            for k in doc.keys(&m) {
                if let Some(t) = get_obj(doc, &m, &k, ObjType::Map)
                    && let (Some(ticket), Some(work)) = (get_str(doc, &t, "ticket"), get_str(doc, &t, "work"))
                {
                    tickets.insert(k, TicketLinks { ticket, work });
                }
            }
        }
        let mut notices = Vec::new();
        if let Some(l) = get_obj(doc, &ROOT, "notices", ObjType::List) {
            for i in 0..doc.length(&l) {
                if let Ok(Some((automerge::Value::Object(ObjType::Map), n))) = doc.get(&l, i) {
                    notices.push(Notice {
                        at: get_str(doc, &n, "at").unwrap_or_default(),
                        document: get_str(doc, &n, "document").unwrap_or_default(),
                        message: get_str(doc, &n, "message").unwrap_or_default(),
                    });
                }
            }
        }
        Ok(Self {
            expert_id: req(get_str(doc, &ROOT, "expert_id"), "expert_id")?,
            status: get_str(doc, &ROOT, "status").unwrap_or_default(),
            drafts: get_str(doc, &ROOT, "drafts").unwrap_or_default(),
            kb,
            tickets,
            notices,
        })
    }

    /// Makes the document list exactly these tickets and documents (notices are only
    /// ever appended, with [`RootDoc::notice`]).
    pub fn write(&self, tx: &mut impl Transactable) -> Result<(), DocError> {
        put_str(tx, &ROOT, "schema", Self::SCHEMA)?;
        put_str(tx, &ROOT, "expert_id", &self.expert_id)?;
        put_str(tx, &ROOT, "status", &self.status)?;
        put_str(tx, &ROOT, "drafts", &self.drafts)?;
        let kb = ensure_map(tx, &ROOT, "kb")?;
        for (k, u) in &self.kb {
            put_str(tx, &kb, k, u)?;
        }
        let tickets = ensure_map(tx, &ROOT, "tickets")?;
        for stale in tx.keys(&tickets).filter(|k| !self.tickets.contains_key(k)).collect::<Vec<_>>() {
            tx.delete(&tickets, stale.as_str())?;
        }
        for (id, links) in &self.tickets {
            let t = ensure_map(tx, &tickets, id)?;
            put_str(tx, &t, "ticket", &links.ticket)?;
            put_str(tx, &t, "work", &links.work)?;
        }
        if get_obj(tx, &ROOT, "notices", ObjType::List).is_none() {
            tx.put_object(&ROOT, "notices", ObjType::List)?;
        }
        Ok(())
    }

    /// Appends a notice.
    pub fn notice(tx: &mut impl Transactable, n: &Notice) -> Result<(), DocError> {
        let l = match get_obj(tx, &ROOT, "notices", ObjType::List) {
            Some(l) => l,
            None => tx.put_object(&ROOT, "notices", ObjType::List)?,
        };
        let at = tx.length(&l);
        let m = tx.insert_object(&l, at, ObjType::Map)?;
        put_str(tx, &m, "at", &n.at)?;
        put_str(tx, &m, "document", &n.document)?;
        put_str(tx, &m, "message", &n.message)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use automerge::Automerge;

    fn edit<T>(doc: &mut Automerge, f: impl FnOnce(&mut automerge::transaction::Transaction<'_>) -> T) -> T {
        let mut tx = doc.transaction();
        let r = f(&mut tx);
        tx.commit();
        r
    }

    #[test]
    fn a_work_document_round_trips_and_merges_notes_from_two_devices() {
        let mut a = Automerge::new();
        edit(&mut a, |tx| WorkDoc::init(tx, "t1", "e1").unwrap());
        let mut b = a.fork();
        edit(&mut a, |tx| WorkDoc::set_notes(tx, "Checked the cable.").unwrap());
        edit(&mut b, |tx| WorkDoc::set_notes(tx, "Replaced the fuse.").unwrap());
        edit(&mut b, |tx| WorkDoc::complete(tx, "2026-11-26T10:00:00Z", "Fuse replaced.").unwrap());
        a.merge(&mut b).unwrap();
        let w = WorkDoc::read(&a).unwrap();
        assert!(w.notes.contains("Checked the cable.") && w.notes.contains("Replaced the fuse."), "{}", w.notes);
        assert_eq!(w.completed, Some(("2026-11-26T10:00:00Z".into(), "Fuse replaced.".into())));
    }

    #[test]
    fn writing_the_same_state_twice_adds_no_changes() {
        let mut d = Automerge::new();
        let t = TicketDoc {
            ticket_id: "t".into(),
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
            updated_at: "now".into(),
        };
        edit(&mut d, |tx| t.write(tx).unwrap());
        let heads = d.get_heads();
        let mut tx = d.transaction();
        t.write(&mut tx).unwrap();
        assert_eq!(tx.pending_ops(), 0);
        tx.rollback();
        assert_eq!(d.get_heads(), heads);
        assert_eq!(TicketDoc::read(&d).unwrap(), t);
    }

    #[test]
    fn a_wrong_document_is_reported_not_misread() {
        let mut d = Automerge::new();
        edit(&mut d, |tx| StatusDoc::init(tx, "e").unwrap());
        assert!(matches!(WorkDoc::read(&d), Err(DocError::WrongSchema { .. })));
        assert!(StatusDoc::read(&d).is_ok());
    }

    #[test]
    fn plain_strings_written_as_text_are_read_as_strings() {
        // A JS client that assigns a plain string creates text.
        let mut d = Automerge::new();
        edit(&mut d, |tx| {
            for (k, v) in [("schema", DraftDoc::SCHEMA), ("title", "Fix")] {
                let t = tx.put_object(&ROOT, k, ObjType::Text).unwrap();
                tx.splice_text(&t, 0, 0, v).unwrap();
            }
        });
        assert_eq!(DraftDoc::read(&d).unwrap().title, "Fix");
    }

    #[test]
    fn the_root_lists_exactly_the_tickets_given() {
        let mut d = Automerge::new();
        let mut r = RootDoc { expert_id: "e".into(), ..Default::default() };
        for id in ["a", "b"] {
            r.tickets.insert(id.into(), TicketLinks { ticket: format!("t-{id}"), work: format!("w-{id}") });
        }
        edit(&mut d, |tx| r.write(tx).unwrap());
        r.tickets.remove("a");
        edit(&mut d, |tx| r.write(tx).unwrap());
        edit(&mut d, |tx| {
            RootDoc::notice(tx, &Notice { at: "now".into(), document: "x".into(), message: "m".into() }).unwrap()
        });
        let back = RootDoc::read(&d).unwrap();
        assert_eq!(back.tickets.keys().collect::<Vec<_>>(), vec!["b"]);
        assert_eq!(back.notices.len(), 1);
    }
}
