//! The reports' read model (ADR 16): one row of derived facts per ticket, an additive
//! cube of counts and duration histograms by UTC hour × category × area × channel ×
//! expert, and the catch-up cursor of the job that keeps them current. Plus the indexes
//! the job needs on the tables it reads (events by time, repeat tickets).

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReportTicketFacts {
    Table,
    TicketId,
    CreatedUs,
    EndedUs,
    Category,
    Area,
    Channel,
    Status,
    ExpertId,
    Events,
    Facts,
}

#[derive(DeriveIden)]
enum ReportCube {
    Table,
    Hour,
    Category,
    Area,
    Channel,
    Expert,
    Metric,
    Label,
    N,
    Total,
}

#[derive(DeriveIden)]
enum ReportState {
    Table,
    Name,
    Value,
}

#[derive(DeriveIden)]
enum TicketEvents {
    Table,
    At,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    SubscriptionId,
    Category,
    CompletedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ReportTicketFacts::Table)
                .col(pk_uuid(ReportTicketFacts::TicketId))
                .col(big_integer(ReportTicketFacts::CreatedUs))
                .col(big_integer_null(ReportTicketFacts::EndedUs))
                .col(string(ReportTicketFacts::Category))
                .col(string(ReportTicketFacts::Area))
                .col(string(ReportTicketFacts::Channel))
                .col(string(ReportTicketFacts::Status))
                .col(uuid_null(ReportTicketFacts::ExpertId))
                .col(integer(ReportTicketFacts::Events))
                .col(text(ReportTicketFacts::Facts))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_report_facts_created")
                .table(ReportTicketFacts::Table)
                .col(ReportTicketFacts::CreatedUs)
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_report_facts_ended")
                .table(ReportTicketFacts::Table)
                .col(ReportTicketFacts::EndedUs)
                .col(ReportTicketFacts::CreatedUs)
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ReportCube::Table)
                .col(big_integer(ReportCube::Hour))
                .col(string(ReportCube::Category))
                .col(string(ReportCube::Area))
                .col(string(ReportCube::Channel))
                .col(string(ReportCube::Expert))
                .col(string(ReportCube::Metric))
                .col(string(ReportCube::Label))
                .col(big_integer(ReportCube::N))
                .col(big_integer(ReportCube::Total))
                .primary_key(
                    Index::create()
                        .col(ReportCube::Hour)
                        .col(ReportCube::Category)
                        .col(ReportCube::Area)
                        .col(ReportCube::Channel)
                        .col(ReportCube::Expert)
                        .col(ReportCube::Metric)
                        .col(ReportCube::Label),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_report_cube_expert")
                .table(ReportCube::Table)
                .col(ReportCube::Expert)
                .col(ReportCube::Hour)
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ReportState::Table)
                .col(string(ReportState::Name).primary_key())
                .col(big_integer(ReportState::Value))
                .take(),
        )
        .await?;
        m.exec_stmt(
            Query::insert()
                .into_table(ReportState::Table)
                .columns([ReportState::Name, ReportState::Value])
                .values_panic(["cursor_us".into(), i64::MIN.into()])
                .values_panic(["lock".into(), 0i64.into()])
                .take(),
        )
        .await?;

        m.create_index(
            Index::create().name("ix_ticket_events_at").table(TicketEvents::Table).col(TicketEvents::At).take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_tickets_subscription_category")
                .table(Tickets::Table)
                .col(Tickets::SubscriptionId)
                .col(Tickets::Category)
                .col(Tickets::CompletedAt)
                .take(),
        )
        .await?;
        Ok(())
    }
}
