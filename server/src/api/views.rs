//! The JSON shapes of resources, defined beside the services that build them
//! (`crate::views`); re-exported here for the handlers.

pub use crate::views::*;
