//! The typed contexts of ticket messages. Templates (`templates/messages/*.toml`) read
//! these fields; a field left `None` is absent, and a template that names an absent
//! field fails loudly in tests (strict rendering) instead of sending a blank.

use crate::db::entity::ticket;
use serde::Serialize;
use sysops_core::category::Category;
use uuid::Uuid;

/// What every ticket message may say about the ticket.
#[derive(Debug, Clone, Serialize)]
pub struct TicketFacts {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// The category's label ("Television").
    pub category_label: String,
    /// Where the work is.
    pub address: String,
    /// What is wrong.
    pub description: String,
}

/// A person named in a message.
#[derive(Debug, Clone, Serialize)]
pub struct Named {
    /// Their name.
    pub name: String,
}

/// A manager alert's text.
#[derive(Debug, Clone, Serialize)]
pub struct AlertText {
    /// What kind of alert ("ticket unassignable").
    pub kind_label: String,
    /// The alert.
    pub message: String,
}

/// The context of one ticket message.
#[derive(Debug, Clone, Serialize)]
pub struct TicketMessage {
    /// The ticket.
    pub ticket: TicketFacts,
    /// The expert (in messages to customers; messages to experts get their own name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expert: Option<Named>,
    /// Minutes until the expert arrives.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub eta_minutes: Option<i64>,
    /// The survey link.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survey_url: Option<String>,
    /// Days the survey link stays valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub survey_days: Option<i64>,
    /// Why (a withdrawn ticket).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// A manager alert.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertText>,
}

impl TicketMessage {
    /// A message about `t`, saying nothing else yet.
    pub fn about(t: &ticket::Model) -> Self {
        let category_label =
            t.category.parse::<Category>().map_or_else(|_| t.category.clone(), |c| c.label().to_owned());
        Self {
            ticket: TicketFacts {
                id: t.id,
                title: t.title.clone(),
                category_label,
                address: t.address.clone(),
                description: t.description.clone(),
            },
            expert: None,
            eta_minutes: None,
            survey_url: None,
            survey_days: None,
            reason: None,
            alert: None,
        }
    }

    /// With the reason a ticket was withdrawn.
    pub fn because(mut self, reason: &str) -> Self {
        self.reason = Some(reason.to_owned());
        self
    }

    /// With a manager alert.
    pub fn alert(mut self, kind_label: impl Into<String>, message: impl Into<String>) -> Self {
        self.alert = Some(AlertText { kind_label: kind_label.into(), message: message.into() });
        self
    }

    /// Naming the expert (for the customer).
    pub fn expert(mut self, name: &str) -> Self {
        self.expert = Some(Named { name: name.to_owned() });
        self
    }
}
