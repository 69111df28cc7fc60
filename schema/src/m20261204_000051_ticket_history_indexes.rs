//! Two lookups that scanned the whole `tickets` table, so their cost grew with history,
//! not activity (ADR 17):
//! - the tickets an expert completed, newest first: the sync reconciler lists an
//!   expert's recent completions in their root document on every change;
//! - a subscription's recent tickets: the reports' read model looks for repeats (the
//!   first-time-fix rate) on every refresh.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tickets {
    Table,
    CompletedBy,
    CompletedAt,
    SubscriptionId,
    CreatedAt,
}

const INDEX: &str = "ix_tickets_completed_by";
const BY_SUBSCRIPTION: &str = "ix_tickets_subscription";

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
        .await?;
        m.create_index(
            Index::create()
                .name(BY_SUBSCRIPTION)
                .table(Tickets::Table)
                .col(Tickets::SubscriptionId)
                .col(Tickets::CreatedAt)
                .if_not_exists()
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(BY_SUBSCRIPTION).table(Tickets::Table).to_owned()).await?;
        m.drop_index(Index::drop().name(INDEX).table(Tickets::Table).to_owned()).await
    }
}
