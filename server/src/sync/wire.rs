//! The automerge-repo wire messages as far as the server must look into them before
//! samod does: the CBOR envelope (type, sender, document) and whether a sync message
//! carries changes. This is the first code to touch a device's untrusted bytes, so it
//! is small, total (never panics) and fuzzed by a property test.

use minicbor::data::Type;
use minicbor::{Decoder, Encoder};
use uuid::Uuid;

/// Largest message accepted from a device (a first sync of a large document is one
/// message).
pub const MAX_MESSAGE_BYTES: usize = 32 * 1024 * 1024;

/// Why a message is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Not a CBOR map with text keys.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// A document id that is neither an automerge URL/id nor 16 bytes.
    #[error("invalid documentId")]
    BadDocumentId,
    /// The `data` of a sync message is not an automerge sync message.
    #[error("invalid automerge sync message: {0}")]
    BadSyncMessage(String),
}

/// The envelope fields the server routes on.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Envelope<'a> {
    /// `join`, `request`, `sync`, `ephemeral`, …
    pub kind: Option<&'a str>,
    /// Who sent it.
    pub sender: Option<&'a str>,
    /// Which document (text as sent).
    pub document: Option<DocRef<'a>>,
    /// The payload of `request`/`sync`/`ephemeral`.
    pub data: Option<&'a [u8]>,
}

/// A document id as it appears on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocRef<'a> {
    /// base58check text (or an automerge URL).
    Text(&'a str),
    /// Raw bytes.
    Bytes(&'a [u8]),
}

impl DocRef<'_> {
    /// The document's UUID.
    pub fn uuid(&self) -> Result<Uuid, WireError> {
        match self {
            DocRef::Text(s) => sysops_core::sync::ids::parse_url(s).ok_or(WireError::BadDocumentId),
            DocRef::Bytes(b) => Uuid::from_slice(b).map_err(|_| WireError::BadDocumentId),
        }
    }
}

fn malformed(e: impl std::fmt::Display) -> WireError {
    WireError::Malformed(e.to_string())
}

/// Reads the envelope of one message.
pub fn decode(bytes: &[u8]) -> Result<Envelope<'_>, WireError> {
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(WireError::Malformed("message too large".into()));
    }
    let mut d = Decoder::new(bytes);
    let len = d.map().map_err(malformed)?;
    let mut env = Envelope::default();
    let mut read = 0u64;
    loop {
        match len {
            Some(n) if read >= n => break,
            None if d.datatype().map_err(malformed)? == Type::Break => {
                d.skip().map_err(malformed)?;
                break;
            }
            _ => {}
        }
        read += 1;
        if read > 64 {
            return Err(WireError::Malformed("too many fields".into()));
        }
        let key = d.str().map_err(malformed)?;
        match key {
            "type" => env.kind = Some(d.str().map_err(malformed)?),
            "senderId" => env.sender = Some(d.str().map_err(malformed)?),
            "documentId" => {
                env.document = Some(match d.datatype().map_err(malformed)? {
                    Type::String => DocRef::Text(d.str().map_err(malformed)?),
                    Type::Bytes => DocRef::Bytes(d.bytes().map_err(malformed)?),
                    _ => return Err(WireError::BadDocumentId),
                })
            }
            "data" => env.data = Some(d.bytes().map_err(malformed)?),
            _ => d.skip().map_err(malformed)?,
        }
    }
    if d.position() != bytes.len() {
        return Err(WireError::Malformed("trailing bytes after the message".into()));
    }
    Ok(env)
}

/// What a sync message says about the sender's copy.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncInfo {
    /// It carries changes.
    pub has_changes: bool,
    /// The sender's heads.
    pub heads: Vec<automerge::ChangeHash>,
}

/// Decodes a sync message's `data` (so invalid data is refused here rather than deep
/// inside the repository).
pub fn inspect_sync(data: &[u8]) -> Result<SyncInfo, WireError> {
    automerge::sync::Message::decode(data)
        .map(|m| SyncInfo { has_changes: !m.changes.is_empty(), heads: m.heads })
        .map_err(|e| WireError::BadSyncMessage(e.to_string()))
}

fn encode(fields: &[(&str, &str)]) -> Vec<u8> {
    let mut e = Encoder::new(Vec::new());
    let _ = e.map(fields.len() as u64);
    for (k, v) in fields {
        let _ = e.str(k).and_then(|e| e.str(v));
    }
    e.into_writer()
}

/// A `doc-unavailable` answer.
pub fn doc_unavailable(sender: &str, target: &str, document: &str) -> Vec<u8> {
    encode(&[("type", "doc-unavailable"), ("senderId", sender), ("targetId", target), ("documentId", document)])
}

/// An `error` message (the peer closes the connection on receipt).
pub fn error(message: &str) -> Vec<u8> {
    encode(&[("type", "error"), ("message", message)])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn msg(fields: &[(&str, &str)], doc_bytes: Option<&[u8]>, data: Option<&[u8]>) -> Vec<u8> {
        let mut e = Encoder::new(Vec::new());
        let n = fields.len() + usize::from(doc_bytes.is_some()) + usize::from(data.is_some());
        e.map(n as u64).unwrap();
        for (k, v) in fields {
            e.str(k).unwrap().str(v).unwrap();
        }
        if let Some(b) = doc_bytes {
            e.str("documentId").unwrap().bytes(b).unwrap();
        }
        if let Some(b) = data {
            e.str("data").unwrap().bytes(b).unwrap();
        }
        e.into_writer()
    }

    #[test]
    fn reads_what_automerge_repo_sends() {
        let id = Uuid::new_v4();
        let url = sysops_core::sync::ids::url(id);
        let bytes = msg(&[("type", "sync"), ("senderId", "expert:x:1"), ("documentId", &url[10..])], None, Some(b"x"));
        let env = decode(&bytes).unwrap();
        assert_eq!(env.kind, Some("sync"));
        assert_eq!(env.sender, Some("expert:x:1"));
        assert_eq!(env.document.unwrap().uuid().unwrap(), id);
        assert_eq!(env.data, Some(&b"x"[..]));
        let raw = msg(&[("type", "request")], Some(id.as_bytes()), None);
        assert_eq!(decode(&raw).unwrap().document.unwrap().uuid().unwrap(), id);
    }

    #[test]
    fn refuses_what_is_not_a_message() {
        assert!(decode(b"").is_err());
        assert!(decode(&[0xa1]).is_err(), "truncated map");
        assert!(decode(&encode(&[("type", "sync")])[..5]).is_err(), "truncated text");
        let mut trailing = encode(&[("type", "sync")]);
        trailing.push(0);
        assert!(decode(&trailing).is_err());
        assert_eq!(
            decode(&msg(&[("type", "sync"), ("documentId", "not-base58!")], None, None))
                .unwrap()
                .document
                .unwrap()
                .uuid(),
            Err(WireError::BadDocumentId)
        );
        assert!(inspect_sync(b"\x42garbage").is_err());
    }

    #[test]
    fn answers_are_valid_messages() {
        let b = doc_unavailable("server", "expert:x:1", "abc");
        let env = decode(&b).unwrap();
        assert_eq!((env.kind, env.sender), (Some("doc-unavailable"), Some("server")));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(5_000))]
        /// Arbitrary bytes never panic the decoders.
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode(&bytes).map(|e| e.document.map(|d| d.uuid()));
            let _ = inspect_sync(&bytes);
        }

        /// Valid envelopes with arbitrary field values decode to what was encoded.
        #[test]
        fn encoded_envelopes_round_trip(kind in "[a-z-]{1,20}", sender in "\\PC{0,40}", data in proptest::collection::vec(any::<u8>(), 0..64)) {
            let bytes = msg(&[("type", &kind), ("senderId", &sender)], None, Some(&data));
            let env = decode(&bytes).unwrap();
            prop_assert_eq!(env.kind, Some(kind.as_str()));
            prop_assert_eq!(env.sender, Some(sender.as_str()));
            prop_assert_eq!(env.data, Some(&data[..]));
        }

        /// Mutating a valid message never panics, and a sync message's data is checked.
        #[test]
        fn mutated_messages_never_panic(flip in 0usize..200, to in any::<u8>()) {
            let mut bytes = msg(&[("type", "sync"), ("senderId", "expert:a:b"), ("documentId", "4NMNnkMhL8jXrdJ9jamS58PAVdXu")], None, Some(&[0x42, 1, 2, 3]));
            let i = flip % bytes.len();
            bytes[i] = to;
            if let Ok(env) = decode(&bytes)
                && let Some(d) = env.data {
                    let _ = inspect_sync(d);
                }
        }
    }
}
