//! Device sync: automerge document storage (the chunks samod reads and writes), the
//! registry of documents and who may read and write each, what has been projected from
//! experts' documents, and the conflicts managers must see.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum SyncChunks {
    Table,
    K1,
    K2,
    K3,
    Data,
}

#[derive(DeriveIden)]
enum SyncDocuments {
    Table,
    DocId,
    Kind,
    OwnerId,
    ReaderId,
    TicketId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum SyncProjections {
    Table,
    DocId,
    State,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum SyncConflicts {
    Table,
    Id,
    DocId,
    TicketId,
    ExpertId,
    Kind,
    Message,
    DedupeKey,
    CreatedAt,
    ResolvedAt,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    ExpertNotes,
    DispatcherNotes,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SyncChunks::Table)
                .col(string(SyncChunks::K1))
                .col(string(SyncChunks::K2))
                .col(string(SyncChunks::K3))
                .col(blob(SyncChunks::Data))
                .primary_key(Index::create().col(SyncChunks::K1).col(SyncChunks::K2).col(SyncChunks::K3))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SyncDocuments::Table)
                .col(pk_uuid(SyncDocuments::DocId))
                .col(string(SyncDocuments::Kind))
                .col(uuid_null(SyncDocuments::OwnerId))
                .col(uuid_null(SyncDocuments::ReaderId))
                .col(uuid_null(SyncDocuments::TicketId))
                .col(timestamp_with_time_zone(SyncDocuments::CreatedAt))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_sync_documents_owner")
                .table(SyncDocuments::Table)
                .col(SyncDocuments::OwnerId)
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SyncProjections::Table)
                .col(pk_uuid(SyncProjections::DocId))
                .col(json(SyncProjections::State))
                .col(timestamp_with_time_zone(SyncProjections::UpdatedAt))
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(SyncConflicts::Table)
                .col(pk_uuid(SyncConflicts::Id))
                .col(uuid(SyncConflicts::DocId))
                .col(uuid_null(SyncConflicts::TicketId))
                .col(uuid_null(SyncConflicts::ExpertId))
                .col(string(SyncConflicts::Kind))
                .col(text(SyncConflicts::Message))
                .col(string_uniq(SyncConflicts::DedupeKey))
                .col(timestamp_with_time_zone(SyncConflicts::CreatedAt))
                .col(timestamp_with_time_zone_null(SyncConflicts::ResolvedAt))
                .take(),
        )
        .await?;
        m.alter_table(Table::alter().table(Tickets::Table).add_column(text(Tickets::ExpertNotes).default("")).take())
            .await?;
        m.alter_table(
            Table::alter().table(Tickets::Table).add_column(text(Tickets::DispatcherNotes).default("")).take(),
        )
        .await?;
        Ok(())
    }
}
