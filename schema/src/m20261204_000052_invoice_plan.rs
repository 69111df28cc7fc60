//! An invoice remembers the plan it billed, so revenue stays with that plan after the
//! customer changes plan (the financial report read the subscription's current plan).
//! Existing invoices take their subscription's plan of today: the best there is.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Invoices {
    Table,
    PlanId,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Invoices::Table).add_column(uuid_null(Invoices::PlanId)).take()).await?;
        m.get_connection()
            .execute_unprepared(
                "UPDATE invoices SET plan_id = (SELECT s.plan_id FROM subscriptions s WHERE s.id = invoices.subscription_id)",
            )
            .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(Table::alter().table(Invoices::Table).drop_column(Invoices::PlanId).take()).await
    }
}
