//! The tickets an expert completed, newest first, without a scan of every ticket: the
//! sync reconciler lists an expert's recent completions in their root document on every
//! change, and without this index each lookup read the whole `tickets` table (its cost
//! grew with history, not activity: ADR 17).

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tickets {
    Table,
    CompletedBy,
    CompletedAt,
}

const INDEX: &str = "ix_tickets_completed_by";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_index(
            Index::create()
                .name(INDEX)
                .table(Tickets::Table)
                .col(Tickets::CompletedBy)
                .col(Tickets::CompletedAt)
                .if_not_exists()
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(INDEX).table(Tickets::Table).to_owned()).await
    }
}
