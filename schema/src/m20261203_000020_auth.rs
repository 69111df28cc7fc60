//! Hardening of sign-in: failed sign-ins counted in the database (so the limit holds on
//! every node), refresh-token families (rotation with reuse detection, sign-out), and
//! single-use password-reset links.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
}

#[derive(DeriveIden)]
enum SignInFailures {
    Table,
    Id,
    Scope,
    Key,
    AtMs,
}

#[derive(DeriveIden)]
enum AuthSessions {
    Table,
    Id,
    UserId,
    CurrentJti,
    CreatedAt,
    LastUsedAt,
    ExpiresAtMs,
    RevokedAt,
    RevokedReason,
}

#[derive(DeriveIden)]
enum PasswordResets {
    Table,
    Id,
    UserId,
    TokenHash,
    CreatedAtMs,
    ExpiresAtMs,
    UsedAtMs,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(SignInFailures::Table)
                .col(pk_uuid(SignInFailures::Id))
                .col(string(SignInFailures::Scope))
                .col(string(SignInFailures::Key))
                .col(big_integer(SignInFailures::AtMs))
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_sign_in_failures_key")
                .table(SignInFailures::Table)
                .col(SignInFailures::Scope)
                .col(SignInFailures::Key)
                .col(SignInFailures::AtMs)
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_sign_in_failures_at")
                .table(SignInFailures::Table)
                .col(SignInFailures::AtMs)
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuthSessions::Table)
                .col(pk_uuid(AuthSessions::Id))
                .col(uuid(AuthSessions::UserId))
                .col(uuid(AuthSessions::CurrentJti))
                .col(timestamp_with_time_zone(AuthSessions::CreatedAt))
                .col(timestamp_with_time_zone(AuthSessions::LastUsedAt))
                .col(big_integer(AuthSessions::ExpiresAtMs))
                .col(timestamp_with_time_zone_null(AuthSessions::RevokedAt))
                .col(string_null(AuthSessions::RevokedReason))
                .foreign_key(
                    ForeignKey::create()
                        .from(AuthSessions::Table, AuthSessions::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create().name("ix_auth_sessions_user").table(AuthSessions::Table).col(AuthSessions::UserId).take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(PasswordResets::Table)
                .col(pk_uuid(PasswordResets::Id))
                .col(uuid(PasswordResets::UserId))
                .col(string_uniq(PasswordResets::TokenHash))
                .col(big_integer(PasswordResets::CreatedAtMs))
                .col(big_integer(PasswordResets::ExpiresAtMs))
                .col(big_integer_null(PasswordResets::UsedAtMs))
                .foreign_key(
                    ForeignKey::create()
                        .from(PasswordResets::Table, PasswordResets::UserId)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_password_resets_user")
                .table(PasswordResets::Table)
                .col(PasswordResets::UserId)
                .take(),
        )
        .await?;
        Ok(())
    }
}
