//! Refresh-token families (RFC 6819 §5.2.2.3, OAuth 2.1 §4.3.1): each sign-in starts a
//! family whose one valid refresh token is the latest issued. Using it swaps it for a
//! new one; presenting an older one means it leaked (or a client replayed it), so the
//! whole family is revoked and the event logged. Sign-out revokes a family, "sign out
//! everywhere" every family of the user.

use crate::db::Db;
use crate::db::entity::auth_session as s;
use chrono::Utc;
use sea_orm::sea_query::{Expr, OnConflict};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

/// The current refresh token of a family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Session {
    /// The family (one sign-in).
    pub family: Uuid,
    /// The id (`jti`) of the one refresh token of the family that is valid now.
    pub jti: Uuid,
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// It was the current one: here is its successor.
    Rotated(Session),
    /// It had already been used: the family is now revoked.
    Reused,
    /// The family was signed out (or revoked after a reuse) earlier.
    Revoked,
}

/// Why a family was revoked.
pub mod reason {
    /// The user signed out of this session.
    pub const LOGOUT: &str = "logout";
    /// The user signed out everywhere.
    pub const LOGOUT_ALL: &str = "logout_all";
    /// An old refresh token of the family was presented again.
    pub const REUSE: &str = "reuse";
    /// The account was disabled, closed or its password reset.
    pub const ACCOUNT: &str = "account";
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

/// Starts a family for a fresh sign-in.
pub async fn start(db: &Db, user_id: Uuid, ttl_secs: u64) -> Result<Session, sea_orm::DbErr> {
    let now = Utc::now();
    let session = Session { family: Uuid::now_v7(), jti: Uuid::new_v4() };
    s::Entity::insert(s::ActiveModel {
        id: Set(session.family),
        user_id: Set(user_id),
        current_jti: Set(session.jti),
        created_at: Set(now),
        last_used_at: Set(now),
        expires_at_ms: Set(now.timestamp_millis() + ttl_secs as i64 * 1000),
        revoked_at: Set(None),
        revoked_reason: Set(None),
    })
    .exec_without_returning(&db.write)
    .await?;
    Ok(session)
}

/// Adopts a refresh token issued before families existed (no `fam` claim): its `jti`
/// becomes the family, so it too can be used once.
pub async fn adopt_legacy(db: &Db, user_id: Uuid, jti: Uuid, ttl_secs: u64) -> Result<Session, sea_orm::DbErr> {
    let now = Utc::now();
    s::Entity::insert(s::ActiveModel {
        id: Set(jti),
        user_id: Set(user_id),
        current_jti: Set(jti),
        created_at: Set(now),
        last_used_at: Set(now),
        expires_at_ms: Set(now.timestamp_millis() + ttl_secs as i64 * 1000),
        revoked_at: Set(None),
        revoked_reason: Set(None),
    })
    .on_conflict(OnConflict::column(s::Column::Id).do_nothing().to_owned())
    .exec_without_returning(&db.write)
    .await?;
    Ok(Session { family: jti, jti })
}

/// Presents refresh token `presented` of `family`; `ttl_secs` is the successor's life.
pub async fn rotate(db: &Db, presented: Session, ttl_secs: u64) -> Result<Rotation, sea_orm::DbErr> {
    let next = Session { family: presented.family, jti: Uuid::new_v4() };
    let now = Utc::now();
    // One conditional update: of two concurrent uses of the same token, one wins.
    let done = s::Entity::update_many()
        .col_expr(s::Column::CurrentJti, Expr::value(next.jti))
        .col_expr(s::Column::LastUsedAt, Expr::value(now))
        .col_expr(s::Column::ExpiresAtMs, Expr::value(now.timestamp_millis() + ttl_secs as i64 * 1000))
        .filter(s::Column::Id.eq(presented.family))
        .filter(s::Column::CurrentJti.eq(presented.jti))
        .filter(s::Column::RevokedAt.is_null())
        .exec(&db.write)
        .await?;
    if done.rows_affected == 1 {
        return Ok(Rotation::Rotated(next));
    }
    let row = s::Entity::find_by_id(presented.family).one(&db.write).await?;
    match row {
        Some(r) if r.revoked_at.is_none() => {
            revoke(db, presented.family, reason::REUSE).await?;
            tracing::warn!(
                user_id = %r.user_id,
                family = %presented.family,
                "a refresh token was used twice: its whole family is revoked (leaked or replayed token)"
            );
            Ok(Rotation::Reused)
        }
        _ => Ok(Rotation::Revoked),
    }
}

/// Revokes one family; false when it was unknown or already revoked.
pub async fn revoke(db: &Db, family: Uuid, why: &str) -> Result<bool, sea_orm::DbErr> {
    let r = s::Entity::update_many()
        .col_expr(s::Column::RevokedAt, Expr::value(Utc::now()))
        .col_expr(s::Column::RevokedReason, Expr::value(why))
        .filter(s::Column::Id.eq(family))
        .filter(s::Column::RevokedAt.is_null())
        .exec(&db.write)
        .await?;
    Ok(r.rows_affected > 0)
}

/// Revokes every family of a user; returns how many were still live.
pub async fn revoke_all(db: &impl sea_orm::ConnectionTrait, user_id: Uuid, why: &str) -> Result<u64, sea_orm::DbErr> {
    let r = s::Entity::update_many()
        .col_expr(s::Column::RevokedAt, Expr::value(Utc::now()))
        .col_expr(s::Column::RevokedReason, Expr::value(why))
        .filter(s::Column::UserId.eq(user_id))
        .filter(s::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(r.rows_affected)
}

/// Deletes families that expired (or were revoked) more than `grace_ms` ago.
pub async fn prune(db: &Db, grace_ms: i64) -> Result<(), sea_orm::DbErr> {
    s::Entity::delete_many().filter(s::Column::ExpiresAtMs.lt(now_ms() - grace_ms)).exec(&db.write).await?;
    Ok(())
}
