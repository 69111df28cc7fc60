//! Customers: who they are, where they are, and how they want to hear from us.

use crate::error::FieldError;
use crate::geo::GeoPoint;
use crate::ids::CustomerId;
use crate::text::{Address, Email, Name, Phone};
use std::str::FromStr;

pub mod search;

/// How a customer wants to be told that an expert is on the way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NotifyBy {
    /// A text message to their phone.
    Sms,
    /// An e-mail.
    Email,
}

impl NotifyBy {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            NotifyBy::Sms => "sms",
            NotifyBy::Email => "email",
        }
    }
}

impl FromStr for NotifyBy {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        match s {
            "sms" => Ok(Self::Sms),
            "email" => Ok(Self::Email),
            _ => Err(FieldError::new("", "must be \"sms\" or \"email\"")),
        }
    }
}

/// A registered customer.
#[derive(Debug, Clone, PartialEq)]
pub struct Customer {
    /// The customer's id (also their user id).
    pub id: CustomerId,
    /// Full name.
    pub name: Name,
    /// Login and e-mail address.
    pub email: Email,
    /// Phone for SMS.
    pub phone: Phone,
    /// Preferred channel.
    pub notify_by: NotifyBy,
    /// Where they live; the default place of their tickets.
    pub address: Address,
    /// The address's location.
    pub location: GeoPoint,
}
