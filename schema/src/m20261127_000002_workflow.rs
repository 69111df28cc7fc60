//! The workflow: the transactional outbox of notifications, survey invitations, the
//! customer's locale for messages, and de-duplicated manager alerts.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum OutboxMessages {
    Table,
    Id,
    Channel,
    Recipient,
    RecipientUserId,
    Template,
    Subject,
    Body,
    Payload,
    TicketId,
    Status,
    Attempts,
    NextAttemptAtMs,
    ClaimedBy,
    ClaimedUntilMs,
    LastError,
    ProviderRef,
    CreatedAt,
    SentAt,
}

#[derive(DeriveIden)]
enum SurveyInvites {
    Table,
    TicketId,
    Nonce,
    CreatedAtMs,
    ExpiresAtMs,
    ReminderSentAtMs,
    UsedAt,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    Locale,
}

#[derive(DeriveIden)]
enum Alerts {
    Table,
    DedupeKey,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(OutboxMessages::Table)
                .col(pk_uuid(OutboxMessages::Id))
                .col(string(OutboxMessages::Channel))
                .col(string(OutboxMessages::Recipient))
                .col(uuid_null(OutboxMessages::RecipientUserId))
                .col(string(OutboxMessages::Template))
                .col(text_null(OutboxMessages::Subject))
                .col(text(OutboxMessages::Body))
                .col(json(OutboxMessages::Payload))
                .col(uuid_null(OutboxMessages::TicketId))
                .col(string(OutboxMessages::Status))
                .col(integer(OutboxMessages::Attempts).default(0))
                .col(big_integer(OutboxMessages::NextAttemptAtMs))
                .col(string_null(OutboxMessages::ClaimedBy))
                .col(big_integer_null(OutboxMessages::ClaimedUntilMs))
                .col(text_null(OutboxMessages::LastError))
                .col(string_null(OutboxMessages::ProviderRef))
                .col(timestamp_with_time_zone(OutboxMessages::CreatedAt))
                .col(timestamp_with_time_zone_null(OutboxMessages::SentAt))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_outbox_due")
                .table(OutboxMessages::Table)
                .col(OutboxMessages::Status)
                .col(OutboxMessages::NextAttemptAtMs)
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_outbox_ticket").table(OutboxMessages::Table).col(OutboxMessages::TicketId).take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(SurveyInvites::Table)
                .col(pk_uuid(SurveyInvites::TicketId))
                .col(string(SurveyInvites::Nonce))
                .col(big_integer(SurveyInvites::CreatedAtMs))
                .col(big_integer(SurveyInvites::ExpiresAtMs))
                .col(big_integer_null(SurveyInvites::ReminderSentAtMs))
                .col(timestamp_with_time_zone_null(SurveyInvites::UsedAt))
                .take(),
        )
        .await?;

        m.alter_table(
            Table::alter().table(Customers::Table).add_column(string(Customers::Locale).default("en-US")).take(),
        )
        .await?;
        m.alter_table(Table::alter().table(Alerts::Table).add_column(string_null(Alerts::DedupeKey)).take()).await?;
        m.create_index(
            Index::create().name("ux_alerts_dedupe").table(Alerts::Table).col(Alerts::DedupeKey).unique().take(),
        )
        .await?;
        Ok(())
    }
}
