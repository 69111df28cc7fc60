//! The expert's device: an offline store on SQLite (the synced automerge documents,
//! tables projected from them for fast reads, a full-text index of the knowledge base)
//! and the sync engine around it (a samod repository dialing the server, the projection
//! of documents into the tables, and every action an expert takes, all offline).
//!
//! Built only with the `device` feature: the server does not need it.

pub mod api;
mod engine;
pub mod location;
mod project;
pub mod schema;
mod storage;
pub mod store;

pub use api::{DeviceConfig, DeviceError, DeviceListener, KeyStore};
pub use engine::{Device, sync_backoff};
pub use store::Store;
