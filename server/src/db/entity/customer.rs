//! The `customers` table.
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub phone: String,
    pub notify_by: String,
    #[sea_orm(column_type = "Text")]
    pub address: String,
    pub lat: f64,
    pub lon: f64,
    pub created_at: DateTimeUtc,
    pub locale: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
