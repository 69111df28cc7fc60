//! Typed identifiers: UUIDv7 (time-ordered, so keyset pagination follows creation order),
//! one type per entity so a ticket id can never be passed where an expert id belongs.

use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A fresh, time-ordered id.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
            /// Wraps an existing UUID (from storage or the wire).
            pub const fn from_uuid(id: uuid::Uuid) -> Self {
                Self(id)
            }
            /// The UUID inside.
            pub const fn as_uuid(&self) -> uuid::Uuid {
                self.0
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for uuid::Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s).map(Self)
            }
        }
    )*};
}

id_type!(
    /// A user account (every role has one).
    UserId,
    /// A customer; the same UUID as the customer's user account.
    CustomerId,
    /// An expert; the same UUID as the expert's user account.
    ExpertId,
    /// A support plan in the catalogue.
    PlanId,
    /// A customer's subscription to a plan for one product.
    SubscriptionId,
    /// A problem ticket.
    TicketId,
    /// A knowledge-base article.
    ArticleId,
    /// A completed survey.
    SurveyId,
    /// An invoice for one billing period of one subscription.
    InvoiceId,
);

impl From<CustomerId> for UserId {
    fn from(id: CustomerId) -> Self {
        Self(id.0)
    }
}

impl From<ExpertId> for UserId {
    fn from(id: ExpertId) -> Self {
        Self(id.0)
    }
}
