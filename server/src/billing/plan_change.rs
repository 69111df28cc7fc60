//! Changing plan mid-period: the new plan applies at once; the unused days of the old
//! plan are credited and the remaining days of the new plan charged, both on the next
//! invoice (as Stripe does by default), by `core::billing::prorate`.

use super::service::{Billing, BillingError, stmt};
use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ConnectionTrait, DatabaseBackend, FromQueryResult};
use std::str::FromStr;
use sysops_core::billing::{Interval, InvoiceLine, Schedule, period_price, prorate};
use uuid::Uuid;

/// A plan change made.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct PlanChange {
    /// The subscription.
    pub subscription_id: Uuid,
    /// The plan before.
    pub old_plan_id: Uuid,
    /// The plan now.
    pub plan_id: Uuid,
    /// Credit for the old plan's unused days (negative minor units; 0 when nothing was
    /// billed yet for this period).
    pub credit_cents: i64,
    /// The new plan's remaining days (minor units).
    pub charge_cents: i64,
    /// ISO 4217.
    pub currency: String,
    /// The proration lines go on the invoice of the period starting this day.
    pub next_invoice_on: NaiveDate,
}

#[derive(Debug, FromQueryResult)]
struct Row {
    customer_id: Uuid,
    plan_id: Uuid,
    status: String,
    started_at: DateTime<Utc>,
    billing_interval: String,
    billing_anchor: Option<NaiveDate>,
    next_period_index: i32,
    pending_lines: Option<String>,
    plan_name: String,
    monthly_price_cents: i64,
    currency: String,
}

#[derive(Debug, FromQueryResult)]
struct NewPlan {
    name: String,
    monthly_price_cents: i64,
    currency: String,
    active: bool,
}

impl Billing {
    /// Moves `customer`'s `subscription` to `plan` today (the billing clock's), with
    /// proration when the current period is already billed.
    pub async fn change_plan(
        &self,
        customer: Uuid,
        subscription: Uuid,
        plan: Uuid,
    ) -> Result<PlanChange, BillingError> {
        let b = self.db.backend();
        let lock = if b == DatabaseBackend::Postgres { " FOR UPDATE OF s" } else { "" };
        let txn = self.db.begin_write().await?;
        let row = Row::find_by_statement(stmt(
            b,
            &format!(
                "SELECT s.customer_id, s.plan_id, s.status, s.started_at, s.billing_interval, s.billing_anchor, \
                 s.next_period_index, s.pending_lines, p.name AS plan_name, p.monthly_price_cents, p.currency \
                 FROM subscriptions s JOIN plans p ON p.id = s.plan_id WHERE s.id = $1{lock}"
            ),
            vec![subscription.into()],
        ))
        .one(&txn)
        .await?
        .filter(|r| r.customer_id == customer)
        .ok_or_else(|| BillingError::NotFound("subscription not found".into()))?;
        match row.status.as_str() {
            "cancelled" => return Err(BillingError::Refused("the subscription is cancelled; subscribe again".into())),
            "suspended" => {
                return Err(BillingError::Refused(
                    "the subscription is suspended for an unpaid invoice: update the card first".into(),
                ));
            }
            _ => {}
        }
        if row.plan_id == plan {
            return Err(BillingError::Invalid { field: "plan_id".into(), message: "already on this plan".into() });
        }
        let new = NewPlan::find_by_statement(stmt(
            b,
            "SELECT name, monthly_price_cents, currency, active FROM plans WHERE id = $1",
            vec![plan.into()],
        ))
        .one(&txn)
        .await?
        .filter(|p| p.active)
        .ok_or_else(|| BillingError::Invalid {
            field: "plan_id".into(),
            message: "no such plan in the catalogue".into(),
        })?;
        if new.currency != row.currency {
            return Err(BillingError::Invalid {
                field: "plan_id".into(),
                message: format!("that plan is priced in {}, this subscription in {}", new.currency, row.currency),
            });
        }
        let interval = Interval::from_str(&row.billing_interval).unwrap_or(Interval::Monthly);
        let schedule = Schedule::new(row.billing_anchor.unwrap_or_else(|| row.started_at.date_naive()), interval);
        let today = self.clock.today();
        let current = schedule.period_containing(today);
        let billed = current.as_ref().is_some_and(|p| i64::from(p.index) < i64::from(row.next_period_index));
        let proration = current.as_ref().filter(|_| billed).and_then(|p| {
            prorate(
                p,
                today,
                (&row.plan_name, period_price(row.monthly_price_cents, interval)),
                (&new.name, period_price(new.monthly_price_cents, interval)),
                self.tax.rounding(),
            )
        });
        let mut pending: Vec<InvoiceLine> =
            row.pending_lines.as_deref().and_then(|t| serde_json::from_str(t).ok()).unwrap_or_default();
        let (credit, charge) = match &proration {
            Some(p) => {
                pending.push(p.credit.clone());
                pending.push(p.charge.clone());
                (p.credit.amount, p.charge.amount)
            }
            None => (0, 0),
        };
        let pending = if pending.is_empty() { None } else { serde_json::to_string(&pending).ok() };
        txn.execute_raw(stmt(
            b,
            "UPDATE subscriptions SET plan_id = $1, pending_lines = $2 WHERE id = $3",
            vec![plan.into(), pending.into(), subscription.into()],
        ))
        .await?;
        txn.commit().await?;
        let next_invoice_on = match &current {
            Some(p) if billed => p.end,
            Some(p) => p.start,
            None => schedule.anchor(),
        };
        Ok(PlanChange {
            subscription_id: subscription,
            old_plan_id: row.plan_id,
            plan_id: plan,
            credit_cents: credit,
            charge_cents: charge,
            currency: row.currency,
            next_invoice_on,
        })
    }
}
