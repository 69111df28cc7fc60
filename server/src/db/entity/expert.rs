//! The `experts` table.
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "experts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    pub phone: String,
    pub skills: Json,
    pub area_lat: f64,
    pub area_lon: f64,
    pub area_radius_km: f64,
    pub locale: String,
    pub lat: f64,
    pub lon: f64,
    pub on_duty: bool,
    pub capacity: i32,
    pub last_assigned_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
