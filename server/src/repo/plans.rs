//! Plans and subscriptions: stored rows as the domain's `Plan` and `Subscription`.

use crate::db::entity::{plan, subscription};
use anyhow::Context;
use sysops_core::category::CategorySet;
use sysops_core::money::{Currency, Money};
use sysops_core::plan::{Plan, Subscription};
use sysops_core::text::{Name, Product};

/// The categories column.
pub fn categories(p: &plan::Model) -> Vec<String> {
    serde_json::from_value(p.categories.clone()).unwrap_or_default()
}

/// A stored plan.
pub fn plan(p: &plan::Model) -> anyhow::Result<Plan> {
    let cats: Vec<String> = serde_json::from_value(p.categories.clone()).context("plan categories")?;
    let currency = Currency::parse(&p.currency).map_err(|e| anyhow::anyhow!("plan {}: {e}", p.id))?;
    Ok(Plan {
        id: p.id.into(),
        name: Name::parse(&p.name).map_err(|e| anyhow::anyhow!("plan {}: {e}", p.id))?,
        categories: cats.iter().filter_map(|c| c.parse().ok()).collect::<CategorySet>(),
        monthly_price: Money::new(p.monthly_price_cents, currency),
    })
}

/// A stored subscription.
pub fn subscription(s: &subscription::Model) -> anyhow::Result<Subscription> {
    Ok(Subscription {
        id: s.id.into(),
        customer_id: s.customer_id.into(),
        plan_id: s.plan_id.into(),
        product: Product::parse(&s.product).map_err(|e| anyhow::anyhow!("subscription {}: {e}", s.id))?,
        status: s.status.parse().map_err(|e| anyhow::anyhow!("subscription {}: {e}", s.id))?,
        started_at: s.started_at,
    })
}
