//! Billing, continued: a subscription's pending invoice lines (the proration of a plan
//! change, added to its next invoice, as Stripe does by default), and the claim order's
//! index (due invoices by attempt time then id, without sorting them all per claim).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    PendingLines,
}

#[derive(DeriveIden)]
enum Invoices {
    Table,
    Id,
    Status,
    NextAttemptAtMs,
}

const CLAIM_INDEX: &str = "idx_invoices_claim_order";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Subscriptions::Table).add_column(text_null(Subscriptions::PendingLines)).take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name(CLAIM_INDEX)
                .table(Invoices::Table)
                .col(Invoices::Status)
                .col(Invoices::NextAttemptAtMs)
                .col(Invoices::Id)
                .take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name(CLAIM_INDEX).table(Invoices::Table).to_owned()).await?;
        m.alter_table(Table::alter().table(Subscriptions::Table).drop_column(Subscriptions::PendingLines).take()).await
    }
}
