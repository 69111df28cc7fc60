//! Device sync: the automerge-repo endpoint, the documents devices hold, who may see and
//! write each, and the two directions of projection between documents and the database.
//! The protocol and document shapes are described in `docs/sync-protocol.md`.

pub mod acl;
pub mod bridge;
pub mod hub;
pub mod pgnotify;
pub mod projection;
pub mod reconcile;
pub mod storage;
pub mod wire;

pub use hub::{SyncHandle, SyncHub};
