//! The documents experts' devices hold, as automerge documents with a versioned shape,
//! and the rules that turn an expert's offline edits into ticket events.
//!
//! Each document has exactly one writing side (the server, or one expert), so
//! authorization is per document. Scalar fields are scalar strings; only prose (notes,
//! resolutions, article bodies) is collaborative text. Readers accept either, because a
//! JavaScript client that assigns a plain string creates text.
//!
//! - [`ids`]: document ids derived from what they describe, so every server node agrees;
//! - [`docs`]: typed readers and writers of each document shape;
//! - [`project`]: what an expert's work document asks of the ticket, applied once.

pub mod docs;
pub mod fields;
pub mod ids;
pub mod project;
