//! Document ids. Server-written documents get UUIDv5 ids derived from what they describe
//! (`ticket:<id>`, `work:<ticket>:<expert>`, …): every server node computes the same id
//! without asking anyone, and a device cannot claim one of them for a document of its
//! own (devices create random, version-4 ids).

use automerge::ActorId;
use uuid::Uuid;

/// The namespace of Sysops Squad document ids.
pub const NAMESPACE: Uuid = Uuid::from_u128(0x5f1c_3a2e_8d4b_4e1a_9c7f_2b6d_0e8a_4c31);

/// Number of knowledge-base shards (published articles are spread over this many
/// documents so a device syncs a few dozen documents, not one per article).
pub const KB_SHARDS: u32 = 32;

/// What a document is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DocKind {
    /// An expert's index of everything they may sync (server-written).
    Root,
    /// A ticket as dispatched (server-written).
    Ticket,
    /// An expert's work on a ticket (written by that expert).
    Work,
    /// An expert's availability and location (written by that expert).
    Status,
    /// An expert's index of their KB drafts (written by that expert).
    Drafts,
    /// One KB draft, created on a device (written by that expert).
    Draft,
    /// A shard of the published knowledge base (server-written).
    Kb,
}

impl DocKind {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Root => "root",
            Self::Ticket => "ticket",
            Self::Work => "work",
            Self::Status => "status",
            Self::Drafts => "drafts",
            Self::Draft => "draft",
            Self::Kb => "kb",
        }
    }

    /// Parses a storage name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Root, Self::Ticket, Self::Work, Self::Status, Self::Drafts, Self::Draft, Self::Kb]
            .into_iter()
            .find(|k| k.as_str() == s)
    }

    /// Whether the expert, not the server, writes this kind.
    pub fn expert_written(self) -> bool {
        matches!(self, Self::Work | Self::Status | Self::Drafts | Self::Draft)
    }
}

fn v5(name: &str) -> Uuid {
    Uuid::new_v5(&NAMESPACE, name.as_bytes())
}

/// The expert's root document.
pub fn root(expert: Uuid) -> Uuid {
    v5(&format!("root:{expert}"))
}

/// The expert's status document.
pub fn status(expert: Uuid) -> Uuid {
    v5(&format!("status:{expert}"))
}

/// The expert's drafts index.
pub fn drafts(expert: Uuid) -> Uuid {
    v5(&format!("drafts:{expert}"))
}

/// A ticket's dispatch document.
pub fn ticket(ticket: Uuid) -> Uuid {
    v5(&format!("ticket:{ticket}"))
}

/// An expert's work document for a ticket.
pub fn work(ticket: Uuid, expert: Uuid) -> Uuid {
    v5(&format!("work:{ticket}:{expert}"))
}

/// A KB shard.
pub fn kb_shard(shard: u32) -> Uuid {
    v5(&format!("kb:{shard}"))
}

/// The shard holding an article.
pub fn shard_of(article: Uuid) -> u32 {
    (article.as_u128() % u128::from(KB_SHARDS)) as u32
}

/// Whether an id could be one the server derives (devices may not create these).
pub fn is_server_id(id: Uuid) -> bool {
    id.get_version_num() == 5
}

/// The actor of a server document's first change: fixed per document, so two nodes
/// creating the same document produce the same change and nothing conflicts.
pub fn initial_actor(doc: Uuid) -> ActorId {
    ActorId::from(doc.as_bytes().as_slice())
}

/// The `automerge:` URL of a document id (base58check of the 16 bytes, as
/// automerge-repo writes it).
pub fn url(doc: Uuid) -> String {
    format!("automerge:{}", bs58check(doc.as_bytes()))
}

/// Parses an `automerge:` URL (or a bare base58check id) back to the id.
pub fn parse_url(s: &str) -> Option<Uuid> {
    let id = s.strip_prefix("automerge:").unwrap_or(s);
    let id = id.split('/').next()?;
    let bytes = from_bs58check(id)?;
    Uuid::from_slice(&bytes).ok()
}

fn bs58check(data: &[u8]) -> String {
    bs58::encode(data).with_check().into_string()
}

fn from_bs58check(s: &str) -> Option<Vec<u8>> {
    bs58::decode(s).with_check(None).into_vec().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_distinct() {
        let (t, e) = (Uuid::now_v7(), Uuid::now_v7());
        assert_eq!(work(t, e), work(t, e));
        assert_ne!(work(t, e), work(e, t));
        assert_ne!(root(e), status(e));
        assert!(is_server_id(ticket(t)));
        assert!(!is_server_id(Uuid::new_v4()));
    }

    #[test]
    fn urls_round_trip_and_reject_damage() {
        for _ in 0..50 {
            let id = Uuid::new_v4();
            let u = url(id);
            assert!(u.starts_with("automerge:"));
            assert_eq!(parse_url(&u), Some(id));
        }
        let u = url(Uuid::new_v4());
        let mut damaged = u.clone().into_bytes();
        let last = damaged.len() - 1;
        damaged[last] = if damaged[last] == b'2' { b'3' } else { b'2' };
        assert_eq!(parse_url(std::str::from_utf8(&damaged).unwrap()), None);
        assert_eq!(parse_url("automerge:0OIl"), None);
    }
}
