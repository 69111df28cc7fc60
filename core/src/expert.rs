//! Experts: skills, where they work, where they are, and whether they can take a job.

use crate::category::CategorySet;
use crate::geo::{GeoPoint, ServiceArea};
use crate::ids::ExpertId;
use crate::text::{Email, Locale, Name, Phone};

/// An expert's availability as the dispatcher sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Availability {
    /// On duty with no active ticket.
    Free,
    /// On duty, working on at least one ticket.
    OnJob,
    /// Off duty: never assigned.
    Off,
}

impl Availability {
    /// Derives the availability from the duty flag and the active ticket count.
    pub fn derive(on_duty: bool, active_tickets: u32) -> Self {
        match (on_duty, active_tickets) {
            (false, _) => Self::Off,
            (true, 0) => Self::Free,
            (true, _) => Self::OnJob,
        }
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::OnJob => "on_job",
            Self::Off => "off",
        }
    }
}

/// An expert's profile as the administrator maintains it.
#[derive(Debug, Clone, PartialEq)]
pub struct Expert {
    /// Id (also their user id).
    pub id: ExpertId,
    /// Full name.
    pub name: Name,
    /// Login.
    pub email: Email,
    /// Phone for SMS.
    pub phone: Phone,
    /// Categories they can fix.
    pub skills: CategorySet,
    /// Where they take jobs.
    pub service_area: ServiceArea,
    /// Their language (messages to them use it).
    pub locale: Locale,
    /// Last known position.
    pub location: GeoPoint,
    /// On duty?
    pub on_duty: bool,
    /// How many tickets they may hold at once.
    pub capacity: u32,
}

/// The default number of tickets an expert may hold at once.
pub const DEFAULT_CAPACITY: u32 = 3;

/// Largest capacity accepted.
pub const MAX_CAPACITY: u32 = 20;

impl Expert {
    /// Whether this expert is a candidate at all for a job at `at` needing `skill`.
    pub fn serves(&self, skill: crate::category::Category, at: &GeoPoint) -> bool {
        self.skills.contains(skill) && self.service_area.contains(at)
    }
}
