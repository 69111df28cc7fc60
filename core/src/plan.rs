//! Support plans and the subscriptions customers hold to them, one per product.

use crate::category::{Category, CategorySet};
use crate::error::FieldError;
use crate::ids::{CustomerId, PlanId, SubscriptionId};
use crate::money::Money;
use crate::text::{Name, Product};
use chrono::{DateTime, Utc};
use std::str::FromStr;

/// A support plan in the catalogue.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Id.
    pub id: PlanId,
    /// Marketing name.
    pub name: Name,
    /// Categories of product the plan covers.
    pub categories: CategorySet,
    /// Price per month.
    pub monthly_price: Money,
}

impl Plan {
    /// Whether a ticket of `category` may be raised under this plan.
    pub fn covers(&self, category: Category) -> bool {
        self.categories.contains(category)
    }
}

/// Where a subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Paid up; tickets may be raised.
    Active,
    /// Payment failed; tickets may still be raised during the grace period.
    PastDue,
    /// Ended by the customer or by billing; no new tickets.
    Cancelled,
    /// Every payment retry failed: no new tickets until the open invoice is paid.
    Suspended,
}

impl SubscriptionStatus {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::PastDue => "past_due",
            Self::Cancelled => "cancelled",
            Self::Suspended => "suspended",
        }
    }

    /// Whether tickets may be raised under it.
    pub fn allows_tickets(self) -> bool {
        matches!(self, Self::Active | Self::PastDue)
    }
}

impl FromStr for SubscriptionStatus {
    type Err = FieldError;
    fn from_str(s: &str) -> Result<Self, FieldError> {
        match s {
            "active" => Ok(Self::Active),
            "past_due" => Ok(Self::PastDue),
            "cancelled" => Ok(Self::Cancelled),
            "suspended" => Ok(Self::Suspended),
            _ => Err(FieldError::new("", format!("unknown subscription status {s:?}"))),
        }
    }
}

/// A customer's subscription to a plan for one product.
#[derive(Debug, Clone, PartialEq)]
pub struct Subscription {
    /// Id.
    pub id: SubscriptionId,
    /// Holder.
    pub customer_id: CustomerId,
    /// The plan.
    pub plan_id: PlanId,
    /// The product covered.
    pub product: Product,
    /// Status.
    pub status: SubscriptionStatus,
    /// When it began (billing anniversaries follow it).
    pub started_at: DateTime<Utc>,
}

/// Why a ticket cannot be raised under a subscription.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CoverageError {
    /// The subscription is not in good standing.
    #[error("the subscription is {0}; tickets need an active subscription")]
    Inactive(&'static str),
    /// The plan does not cover the category.
    #[error("the plan {plan} does not cover the category {category}; it covers {covered}")]
    NotCovered {
        /// Plan name.
        plan: String,
        /// Requested category.
        category: Category,
        /// What the plan does cover.
        covered: String,
    },
}

/// Checks that a ticket of `category` may be raised under `sub` of `plan`.
pub fn check_coverage(sub: &Subscription, plan: &Plan, category: Category) -> Result<(), CoverageError> {
    if !sub.status.allows_tickets() {
        return Err(CoverageError::Inactive(sub.status.as_str()));
    }
    if !plan.covers(category) {
        return Err(CoverageError::NotCovered {
            plan: plan.name.to_string(),
            category,
            covered: plan.categories.slugs().join(", "),
        });
    }
    Ok(())
}
