//! The `subscriptions` table.
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "subscriptions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub customer_id: Uuid,
    pub plan_id: Uuid,
    pub product: String,
    pub status: String,
    pub started_at: DateTimeUtc,
    pub cancelled_at: Option<DateTimeUtc>,
    /// `monthly` or `annual` (migration 30).
    pub billing_interval: String,
    /// Cancellation takes effect at the end of the paid period.
    pub cancel_at_period_end: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
