//! The foundation: users and roles, customers, plans and subscriptions, experts,
//! tickets with their assignments and audit trail, idempotency keys, the knowledge base
//! with full-text search, surveys, devices, manager alerts and server settings.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DatabaseBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum ServerSettings {
    Table,
    Key,
    Value,
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    PasswordHash,
    Role,
    Name,
    CreatedAt,
    Disabled,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    UserId,
    Phone,
    NotifyBy,
    Address,
    Lat,
    Lon,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Plans {
    Table,
    Id,
    Name,
    Categories,
    MonthlyPriceCents,
    Currency,
    Active,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Subscriptions {
    Table,
    Id,
    CustomerId,
    PlanId,
    Product,
    Status,
    StartedAt,
    CancelledAt,
}

#[derive(DeriveIden)]
enum Experts {
    Table,
    UserId,
    Phone,
    Skills,
    AreaLat,
    AreaLon,
    AreaRadiusKm,
    Locale,
    Lat,
    Lon,
    OnDuty,
    Capacity,
    LastAssignedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Tickets {
    Table,
    Id,
    CustomerId,
    SubscriptionId,
    Category,
    Title,
    Description,
    Address,
    Lat,
    Lon,
    Status,
    AssignedExpertId,
    ExcludedExperts,
    CompletedBy,
    Resolution,
    CompletedAt,
    CloseReason,
    UnassignableReason,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    AssignedAtMs,
    AcceptedAtMs,
    Version,
}

#[derive(DeriveIden)]
enum Assignments {
    Table,
    Id,
    TicketId,
    ExpertId,
    Score,
    Reasons,
    RunnersUp,
    AssignedAt,
    EndedAt,
    EndReason,
}

#[derive(DeriveIden)]
enum TicketEvents {
    Table,
    Id,
    TicketId,
    Kind,
    ActorId,
    ActorRole,
    At,
    Detail,
}

#[derive(DeriveIden)]
enum IdempotencyKeys {
    Table,
    Scope,
    Key,
    RequestHash,
    StatusCode,
    ResponseBody,
    CreatedAt,
}

#[derive(DeriveIden)]
enum KbArticles {
    Table,
    Id,
    Title,
    Body,
    Tags,
    Status,
    AuthorId,
    SourceTicketId,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Surveys {
    Table,
    Id,
    TicketId,
    Rating,
    Comment,
    SubmittedAt,
}

#[derive(DeriveIden)]
enum Devices {
    Table,
    Id,
    ExpertId,
    Platform,
    PushToken,
    CreatedAt,
    LastSeenAt,
}

#[derive(DeriveIden)]
enum Alerts {
    Table,
    Id,
    Kind,
    TicketId,
    Message,
    CreatedAt,
    AcknowledgedAt,
}

fn fk(
    from_table: impl IntoIden,
    from_col: impl IntoIden,
    to_table: impl IntoIden,
    to_col: impl IntoIden,
) -> ForeignKeyCreateStatement {
    ForeignKey::create().from(from_table, from_col).to(to_table, to_col).on_delete(ForeignKeyAction::Restrict).take()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(ServerSettings::Table)
                .col(string(ServerSettings::Key).primary_key())
                .col(text(ServerSettings::Value))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(pk_uuid(Users::Id))
                .col(string_uniq(Users::Email))
                .col(string(Users::PasswordHash))
                .col(string(Users::Role))
                .col(string(Users::Name))
                .col(timestamp_with_time_zone(Users::CreatedAt))
                .col(boolean(Users::Disabled).default(false))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Customers::Table)
                .col(pk_uuid(Customers::UserId))
                .col(string(Customers::Phone))
                .col(string(Customers::NotifyBy))
                .col(text(Customers::Address))
                .col(double(Customers::Lat))
                .col(double(Customers::Lon))
                .col(timestamp_with_time_zone(Customers::CreatedAt))
                .foreign_key(&mut fk(Customers::Table, Customers::UserId, Users::Table, Users::Id))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Plans::Table)
                .col(pk_uuid(Plans::Id))
                .col(string(Plans::Name))
                .col(json(Plans::Categories))
                .col(big_integer(Plans::MonthlyPriceCents))
                .col(string(Plans::Currency))
                .col(boolean(Plans::Active).default(true))
                .col(timestamp_with_time_zone(Plans::CreatedAt))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Subscriptions::Table)
                .col(pk_uuid(Subscriptions::Id))
                .col(uuid(Subscriptions::CustomerId))
                .col(uuid(Subscriptions::PlanId))
                .col(string(Subscriptions::Product))
                .col(string(Subscriptions::Status))
                .col(timestamp_with_time_zone(Subscriptions::StartedAt))
                .col(timestamp_with_time_zone_null(Subscriptions::CancelledAt))
                .foreign_key(&mut fk(
                    Subscriptions::Table,
                    Subscriptions::CustomerId,
                    Customers::Table,
                    Customers::UserId,
                ))
                .foreign_key(&mut fk(Subscriptions::Table, Subscriptions::PlanId, Plans::Table, Plans::Id))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ux_subscriptions_customer_product")
                .table(Subscriptions::Table)
                .col(Subscriptions::CustomerId)
                .col(Subscriptions::Product)
                .unique()
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Experts::Table)
                .col(pk_uuid(Experts::UserId))
                .col(string(Experts::Phone))
                .col(json(Experts::Skills))
                .col(double(Experts::AreaLat))
                .col(double(Experts::AreaLon))
                .col(double(Experts::AreaRadiusKm))
                .col(string(Experts::Locale))
                .col(double(Experts::Lat))
                .col(double(Experts::Lon))
                .col(boolean(Experts::OnDuty))
                .col(integer(Experts::Capacity))
                .col(timestamp_with_time_zone_null(Experts::LastAssignedAt))
                .col(timestamp_with_time_zone(Experts::UpdatedAt))
                .foreign_key(&mut fk(Experts::Table, Experts::UserId, Users::Table, Users::Id))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Tickets::Table)
                .col(pk_uuid(Tickets::Id))
                .col(uuid(Tickets::CustomerId))
                .col(uuid(Tickets::SubscriptionId))
                .col(string(Tickets::Category))
                .col(string(Tickets::Title))
                .col(text(Tickets::Description))
                .col(text(Tickets::Address))
                .col(double(Tickets::Lat))
                .col(double(Tickets::Lon))
                .col(string(Tickets::Status))
                .col(uuid_null(Tickets::AssignedExpertId))
                .col(json(Tickets::ExcludedExperts))
                .col(uuid_null(Tickets::CompletedBy))
                .col(text_null(Tickets::Resolution))
                .col(timestamp_with_time_zone_null(Tickets::CompletedAt))
                .col(string_null(Tickets::CloseReason))
                .col(text_null(Tickets::UnassignableReason))
                .col(uuid(Tickets::CreatedBy))
                .col(timestamp_with_time_zone(Tickets::CreatedAt))
                .col(timestamp_with_time_zone(Tickets::UpdatedAt))
                .col(big_integer_null(Tickets::AssignedAtMs))
                .col(big_integer_null(Tickets::AcceptedAtMs))
                .col(integer(Tickets::Version).default(0))
                .foreign_key(&mut fk(Tickets::Table, Tickets::CustomerId, Customers::Table, Customers::UserId))
                .foreign_key(&mut fk(Tickets::Table, Tickets::SubscriptionId, Subscriptions::Table, Subscriptions::Id))
                .take(),
        )
        .await?;
        for (name, cols) in [
            ("ix_tickets_customer", vec![Tickets::CustomerId, Tickets::Id]),
            ("ix_tickets_expert_status", vec![Tickets::AssignedExpertId, Tickets::Status]),
            ("ix_tickets_status", vec![Tickets::Status, Tickets::Id]),
        ] {
            let mut idx = Index::create().name(name).table(Tickets::Table).take();
            for c in cols {
                idx.col(c);
            }
            m.create_index(idx).await?;
        }

        m.create_table(
            Table::create()
                .table(Assignments::Table)
                .col(pk_uuid(Assignments::Id))
                .col(uuid(Assignments::TicketId))
                .col(uuid(Assignments::ExpertId))
                .col(double(Assignments::Score))
                .col(json(Assignments::Reasons))
                .col(json(Assignments::RunnersUp))
                .col(timestamp_with_time_zone(Assignments::AssignedAt))
                .col(timestamp_with_time_zone_null(Assignments::EndedAt))
                .col(string_null(Assignments::EndReason))
                .foreign_key(&mut fk(Assignments::Table, Assignments::TicketId, Tickets::Table, Tickets::Id))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_assignments_ticket").table(Assignments::Table).col(Assignments::TicketId).take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(TicketEvents::Table)
                .col(pk_uuid(TicketEvents::Id))
                .col(uuid(TicketEvents::TicketId))
                .col(string(TicketEvents::Kind))
                .col(uuid_null(TicketEvents::ActorId))
                .col(string(TicketEvents::ActorRole))
                .col(timestamp_with_time_zone(TicketEvents::At))
                .col(json(TicketEvents::Detail))
                .foreign_key(&mut fk(TicketEvents::Table, TicketEvents::TicketId, Tickets::Table, Tickets::Id))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_ticket_events_ticket")
                .table(TicketEvents::Table)
                .col(TicketEvents::TicketId)
                .col(TicketEvents::Id)
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(IdempotencyKeys::Table)
                .col(string(IdempotencyKeys::Scope))
                .col(string(IdempotencyKeys::Key))
                .col(string(IdempotencyKeys::RequestHash))
                .col(integer(IdempotencyKeys::StatusCode))
                .col(text(IdempotencyKeys::ResponseBody))
                .col(timestamp_with_time_zone(IdempotencyKeys::CreatedAt))
                .primary_key(Index::create().col(IdempotencyKeys::Scope).col(IdempotencyKeys::Key))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(KbArticles::Table)
                .col(pk_uuid(KbArticles::Id))
                .col(string(KbArticles::Title))
                .col(text(KbArticles::Body))
                .col(json(KbArticles::Tags))
                .col(string(KbArticles::Status))
                .col(uuid_null(KbArticles::AuthorId))
                .col(uuid_null(KbArticles::SourceTicketId))
                .col(timestamp_with_time_zone(KbArticles::CreatedAt))
                .col(timestamp_with_time_zone(KbArticles::UpdatedAt))
                .take(),
        )
        .await?;
        let db = m.get_connection();
        match m.get_database_backend() {
            DatabaseBackend::Sqlite => {
                for sql in [
                    "CREATE VIRTUAL TABLE kb_fts USING fts5(article_id UNINDEXED, title, body, tags, tokenize = 'porter unicode61')",
                    "CREATE TRIGGER kb_articles_ai AFTER INSERT ON kb_articles BEGIN \
                       INSERT INTO kb_fts(article_id, title, body, tags) VALUES (new.id, new.title, new.body, new.tags); END",
                    "CREATE TRIGGER kb_articles_ad AFTER DELETE ON kb_articles BEGIN \
                       DELETE FROM kb_fts WHERE article_id = old.id; END",
                    "CREATE TRIGGER kb_articles_au AFTER UPDATE ON kb_articles BEGIN \
                       DELETE FROM kb_fts WHERE article_id = old.id; \
                       INSERT INTO kb_fts(article_id, title, body, tags) VALUES (new.id, new.title, new.body, new.tags); END",
                ] {
                    db.execute_unprepared(sql).await?;
                }
            }
            DatabaseBackend::Postgres => {
                db.execute_unprepared(
                    "ALTER TABLE kb_articles ADD COLUMN search tsvector GENERATED ALWAYS AS (\
                       setweight(to_tsvector('english', title), 'A') || \
                       setweight(to_tsvector('english', tags::text), 'A') || \
                       setweight(to_tsvector('english', body), 'B')) STORED",
                )
                .await?;
                db.execute_unprepared("CREATE INDEX ix_kb_articles_search ON kb_articles USING GIN (search)").await?;
            }
            other => {
                return Err(DbErr::Migration(format!("unsupported database backend {other:?}")));
            }
        }

        m.create_table(
            Table::create()
                .table(Surveys::Table)
                .col(pk_uuid(Surveys::Id))
                .col(uuid_uniq(Surveys::TicketId))
                .col(integer(Surveys::Rating))
                .col(text(Surveys::Comment))
                .col(timestamp_with_time_zone(Surveys::SubmittedAt))
                .foreign_key(&mut fk(Surveys::Table, Surveys::TicketId, Tickets::Table, Tickets::Id))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Devices::Table)
                .col(pk_uuid(Devices::Id))
                .col(uuid(Devices::ExpertId))
                .col(string(Devices::Platform))
                .col(string_uniq(Devices::PushToken))
                .col(timestamp_with_time_zone(Devices::CreatedAt))
                .col(timestamp_with_time_zone(Devices::LastSeenAt))
                .foreign_key(&mut fk(Devices::Table, Devices::ExpertId, Experts::Table, Experts::UserId))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Alerts::Table)
                .col(pk_uuid(Alerts::Id))
                .col(string(Alerts::Kind))
                .col(uuid_null(Alerts::TicketId))
                .col(text(Alerts::Message))
                .col(timestamp_with_time_zone(Alerts::CreatedAt))
                .col(timestamp_with_time_zone_null(Alerts::AcknowledgedAt))
                .take(),
        )
        .await?;
        Ok(())
    }
}
