//! Billing, continued: a subscription's pending invoice lines (the proration of a plan
//! change, added to its next invoice, as Stripe does by default).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    PendingLines,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter().table(Subscriptions::Table).add_column(text_null(Subscriptions::PendingLines)).take(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Subscriptions::Table).drop_column(Subscriptions::PendingLines).take()).await
    }
}
