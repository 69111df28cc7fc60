//! The `report_rollup` table: the cube without the expert, summed per slice and UTC
//! hour, day or month, its cells packed in one row (ADR 25).
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "report_rollup")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub slice: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub grain: i16,
    #[sea_orm(primary_key, auto_increment = false)]
    pub period: i64,
    pub created: i64,
    pub completed: i64,
    pub cancelled: i64,
    #[sea_orm(column_type = "Text")]
    pub hourly: String,
    #[sea_orm(column_type = "Text")]
    pub cells: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
