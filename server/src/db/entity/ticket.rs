//! The `tickets` table.
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "tickets")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub customer_id: Uuid,
    pub subscription_id: Uuid,
    pub category: String,
    pub title: String,
    #[sea_orm(column_type = "Text")]
    pub description: String,
    #[sea_orm(column_type = "Text")]
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub status: String,
    pub assigned_expert_id: Option<Uuid>,
    pub excluded_experts: Json,
    pub completed_by: Option<Uuid>,
    #[sea_orm(column_type = "Text", nullable)]
    pub resolution: Option<String>,
    pub completed_at: Option<DateTimeUtc>,
    pub close_reason: Option<String>,
    #[sea_orm(column_type = "Text", nullable)]
    pub unassignable_reason: Option<String>,
    pub created_by: Uuid,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub assigned_at_ms: Option<i64>,
    pub accepted_at_ms: Option<i64>,
    pub version: i32,
    #[sea_orm(column_type = "Text")]
    pub expert_notes: String,
    #[sea_orm(column_type = "Text")]
    pub dispatcher_notes: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
