//! The ticketing rollup (ADR 25): the reports' cube summed per slice (everything, one
//! category, one area) at UTC hour, day and month grains, one row per slice and period
//! with its cells packed, so a year's report reads about a hundred rows. The read model
//! is emptied and its cursor reset: the job folds every ticket again (the rollup is
//! maintained as a difference, so it must start from nothing alongside the facts).
//! The backlog's index covers its filters. Plus an index on when tickets were raised: a rebuild folds them in that order, so
//! each batch touches few rollup rows.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ReportRollup {
    Table,
    Slice,
    Grain,
    Period,
    Created,
    Completed,
    Cancelled,
    Hourly,
    Cells,
}

#[derive(DeriveIden)]
enum ReportCube {
    Table,
}

#[derive(DeriveIden)]
enum ReportTicketFacts {
    Table,
    EndedUs,
    CreatedUs,
    Category,
    Area,
    ExpertId,
}

#[derive(DeriveIden)]
enum ReportState {
    Table,
    Name,
    Value,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    CreatedAt,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ReportRollup::Table)
                .col(string(ReportRollup::Slice))
                .col(small_integer(ReportRollup::Grain))
                .col(big_integer(ReportRollup::Period))
                .col(big_integer(ReportRollup::Created))
                .col(big_integer(ReportRollup::Completed))
                .col(big_integer(ReportRollup::Cancelled))
                // Before the cells: reading it does not read a long row's overflow pages.
                .col(text(ReportRollup::Hourly))
                .col(text(ReportRollup::Cells))
                .primary_key(
                    Index::create().col(ReportRollup::Slice).col(ReportRollup::Grain).col(ReportRollup::Period),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_tickets_created")
                .table(Tickets::Table)
                .col(Tickets::CreatedAt)
                .col(Tickets::Id)
                .if_not_exists()
                .take(),
        )
        .await?;
        // The backlog's lookup covers its filters: with a filter it read every open
        // ticket's whole row (its facts) to test the category.
        m.drop_index(Index::drop().name("ix_report_facts_ended").table(ReportTicketFacts::Table).to_owned()).await?;
        m.create_index(
            Index::create()
                .name("ix_report_facts_open")
                .table(ReportTicketFacts::Table)
                .col(ReportTicketFacts::EndedUs)
                .col(ReportTicketFacts::CreatedUs)
                .col(ReportTicketFacts::Category)
                .col(ReportTicketFacts::Area)
                .col(ReportTicketFacts::ExpertId)
                .take(),
        )
        .await?;
        m.exec_stmt(Query::delete().from_table(ReportCube::Table).take()).await?;
        m.exec_stmt(Query::delete().from_table(ReportTicketFacts::Table).take()).await?;
        m.exec_stmt(
            Query::update()
                .table(ReportState::Table)
                .value(ReportState::Value, i64::MIN)
                .and_where(Expr::col(ReportState::Name).eq("cursor_us"))
                .take(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(Index::drop().name("ix_report_facts_open").table(ReportTicketFacts::Table).to_owned()).await?;
        m.create_index(
            Index::create()
                .name("ix_report_facts_ended")
                .table(ReportTicketFacts::Table)
                .col(ReportTicketFacts::EndedUs)
                .col(ReportTicketFacts::CreatedUs)
                .take(),
        )
        .await?;
        m.drop_index(Index::drop().name("ix_tickets_created").table(Tickets::Table).to_owned()).await?;
        m.drop_table(Table::drop().table(ReportRollup::Table).to_owned()).await
    }
}
