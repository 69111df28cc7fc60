//! Billing: the processor's customer and card on file per customer (processor ids and
//! display details only, never a card number), invoices (one per subscription and
//! period, claimed by one node at a time like the outbox), every payment attempt, the
//! append-only ledger of money movements, processor webhook events seen (replays are
//! refused), and each subscription's billing calendar and dunning state.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Customers {
    Table,
    UserId,
}

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    Id,
    BillingInterval,
    BillingAnchor,
    NextPeriodIndex,
    BillingFailures,
    FirstFailureAt,
    CancelAtPeriodEnd,
}

#[derive(DeriveIden)]
enum BillingAccounts {
    Table,
    CustomerId,
    ProcessorCustomerId,
    PaymentMethodId,
    CardBrand,
    CardLast4,
    CardExpMonth,
    CardExpYear,
    Country,
    CreditBalance,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Invoices {
    Table,
    Id,
    CustomerId,
    SubscriptionId,
    PeriodIndex,
    PeriodStart,
    PeriodEnd,
    Currency,
    Lines,
    Subtotal,
    TaxBasisPoints,
    Tax,
    Total,
    CreditCarried,
    AmountRefunded,
    Status,
    Attempts,
    NextAttemptAtMs,
    ClaimedBy,
    ClaimedUntilMs,
    PaymentIntentId,
    LastError,
    IssuedAt,
    PaidAt,
    VoidedAt,
}

#[derive(DeriveIden)]
enum PaymentAttempts {
    Table,
    Id,
    InvoiceId,
    Attempt,
    At,
    Outcome,
    DeclineCode,
    Message,
    PaymentIntentId,
}

#[derive(DeriveIden)]
enum LedgerEntries {
    Table,
    Id,
    InvoiceId,
    CustomerId,
    Kind,
    Amount,
    Currency,
    DedupeKey,
    ProcessorRef,
    Reason,
    ActorId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum ProcessorEvents {
    Table,
    Id,
    Kind,
    ReceivedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        let add = |c: ColumnDef| Table::alter().table(Subscriptions::Table).add_column(c).take();
        m.alter_table(add(string(Subscriptions::BillingInterval).default("monthly").take())).await?;
        m.alter_table(add(date_null(Subscriptions::BillingAnchor).take())).await?;
        m.alter_table(add(integer(Subscriptions::NextPeriodIndex).default(0).take())).await?;
        m.alter_table(add(small_integer(Subscriptions::BillingFailures).default(0).take())).await?;
        m.alter_table(add(timestamp_with_time_zone_null(Subscriptions::FirstFailureAt).take())).await?;
        m.alter_table(add(boolean(Subscriptions::CancelAtPeriodEnd).default(false).take())).await?;

        m.create_table(
            Table::create()
                .table(BillingAccounts::Table)
                .col(pk_uuid(BillingAccounts::CustomerId))
                .col(string_uniq(BillingAccounts::ProcessorCustomerId))
                .col(string_null(BillingAccounts::PaymentMethodId))
                .col(string_null(BillingAccounts::CardBrand))
                .col(string_null(BillingAccounts::CardLast4))
                .col(small_integer_null(BillingAccounts::CardExpMonth))
                .col(integer_null(BillingAccounts::CardExpYear))
                .col(string_null(BillingAccounts::Country))
                .col(big_integer(BillingAccounts::CreditBalance).default(0))
                .col(timestamp_with_time_zone(BillingAccounts::CreatedAt))
                .col(timestamp_with_time_zone(BillingAccounts::UpdatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(BillingAccounts::Table, BillingAccounts::CustomerId)
                        .to(Customers::Table, Customers::UserId)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Invoices::Table)
                .col(pk_uuid(Invoices::Id))
                .col(uuid(Invoices::CustomerId))
                .col(uuid(Invoices::SubscriptionId))
                .col(integer(Invoices::PeriodIndex))
                .col(date(Invoices::PeriodStart))
                .col(date(Invoices::PeriodEnd))
                .col(string(Invoices::Currency))
                .col(json(Invoices::Lines))
                .col(big_integer(Invoices::Subtotal))
                .col(integer(Invoices::TaxBasisPoints))
                .col(big_integer(Invoices::Tax))
                .col(big_integer(Invoices::Total))
                .col(big_integer(Invoices::CreditCarried).default(0))
                .col(big_integer(Invoices::AmountRefunded).default(0))
                .col(string(Invoices::Status))
                .col(integer(Invoices::Attempts).default(0))
                .col(big_integer_null(Invoices::NextAttemptAtMs))
                .col(string_null(Invoices::ClaimedBy))
                .col(big_integer_null(Invoices::ClaimedUntilMs))
                .col(string_null(Invoices::PaymentIntentId))
                .col(text_null(Invoices::LastError))
                .col(timestamp_with_time_zone(Invoices::IssuedAt))
                .col(timestamp_with_time_zone_null(Invoices::PaidAt))
                .col(timestamp_with_time_zone_null(Invoices::VoidedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(Invoices::Table, Invoices::SubscriptionId)
                        .to(Subscriptions::Table, Subscriptions::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_invoices_subscription_period")
                .table(Invoices::Table)
                .col(Invoices::SubscriptionId)
                .col(Invoices::PeriodIndex)
                .unique()
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_invoices_due")
                .table(Invoices::Table)
                .col(Invoices::Status)
                .col(Invoices::NextAttemptAtMs)
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_invoices_customer")
                .table(Invoices::Table)
                .col(Invoices::CustomerId)
                .col(Invoices::Id)
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PaymentAttempts::Table)
                .col(pk_uuid(PaymentAttempts::Id))
                .col(uuid(PaymentAttempts::InvoiceId))
                .col(integer(PaymentAttempts::Attempt))
                .col(timestamp_with_time_zone(PaymentAttempts::At))
                .col(string(PaymentAttempts::Outcome))
                .col(string_null(PaymentAttempts::DeclineCode))
                .col(text_null(PaymentAttempts::Message))
                .col(string_null(PaymentAttempts::PaymentIntentId))
                .foreign_key(
                    ForeignKey::create()
                        .from(PaymentAttempts::Table, PaymentAttempts::InvoiceId)
                        .to(Invoices::Table, Invoices::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_payment_attempts_invoice_attempt")
                .table(PaymentAttempts::Table)
                .col(PaymentAttempts::InvoiceId)
                .col(PaymentAttempts::Attempt)
                .unique()
                .take(),
        )
        .await?;

        // Append-only: the server never updates or deletes a row. `dedupe_key` makes
        // recording a movement idempotent (`charge:<invoice>`, `refund:<processor id>`).
        m.create_table(
            Table::create()
                .table(LedgerEntries::Table)
                .col(pk_uuid(LedgerEntries::Id))
                .col(uuid(LedgerEntries::InvoiceId))
                .col(uuid(LedgerEntries::CustomerId))
                .col(string(LedgerEntries::Kind))
                .col(big_integer(LedgerEntries::Amount))
                .col(string(LedgerEntries::Currency))
                .col(string_uniq(LedgerEntries::DedupeKey))
                .col(string_null(LedgerEntries::ProcessorRef))
                .col(text_null(LedgerEntries::Reason))
                .col(uuid_null(LedgerEntries::ActorId))
                .col(timestamp_with_time_zone(LedgerEntries::CreatedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(LedgerEntries::Table, LedgerEntries::InvoiceId)
                        .to(Invoices::Table, Invoices::Id)
                        .on_delete(ForeignKeyAction::Restrict),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_ledger_entries_invoice")
                .table(LedgerEntries::Table)
                .col(LedgerEntries::InvoiceId)
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ProcessorEvents::Table)
                .col(string(ProcessorEvents::Id).primary_key())
                .col(string(ProcessorEvents::Kind))
                .col(timestamp_with_time_zone(ProcessorEvents::ReceivedAt))
                .take(),
        )
        .await?;
        Ok(())
    }
}
