//! The `report_ticket_facts` table: the reports' derived facts of one ticket (ADR 16).
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "report_ticket_facts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub ticket_id: Uuid,
    pub created_us: i64,
    pub ended_us: Option<i64>,
    pub category: String,
    pub area: String,
    pub channel: String,
    pub status: String,
    pub expert_id: Option<Uuid>,
    pub events: i32,
    #[sea_orm(column_type = "Text")]
    pub facts: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
