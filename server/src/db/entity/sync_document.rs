//! The `sync_documents` table.
#![allow(missing_docs)]

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_documents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub doc_id: Uuid,
    pub kind: String,
    pub owner_id: Option<Uuid>,
    pub reader_id: Option<Uuid>,
    pub ticket_id: Option<Uuid>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
