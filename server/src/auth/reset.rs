//! Password reset by e-mail: a single-use link that expires after
//! `password_reset_ttl_secs` (30 minutes by default), sent through the outbox. Only a
//! hash of the link's token is stored. Asking says nothing about whether the address has
//! an account. Using the link sets the new password, signs every session out and clears
//! the account's failed sign-ins; a newer link supersedes an older one.

use super::{passwords, sessions, status, throttle};
use crate::db::entity::{customer, expert, password_reset as r, user};
use crate::notify::contacts::Mail;
use crate::state::AppState;
use base64::Engine;
use chrono::Utc;
use rand::RngCore;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use sha2::{Digest, Sha256};
use sysops_core::FieldError;
use uuid::Uuid;

/// Why a reset was refused.
#[derive(Debug, thiserror::Error)]
pub enum ResetError {
    /// Unknown, used, superseded or expired link.
    #[error("this reset link has expired or was already used; ask for a new one")]
    LinkInvalid,
    /// The new password is not acceptable (the field is placed by the caller).
    #[error("{}", .0.message)]
    WeakPassword(FieldError),
    /// The hashing pool is saturated.
    #[error("the server is busy; retry in {retry_after_secs} seconds")]
    Busy {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// Something broke on our side.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for ResetError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Internal(e.into())
    }
}

/// Links asked for one account within an hour, beyond which no more are sent.
const MAX_PER_HOUR: u64 = 5;

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Sends a reset link to `email` if it names an enabled account; otherwise does nothing
/// (the caller answers the same either way).
pub async fn request(state: &AppState, email: &str) -> Result<(), ResetError> {
    let email = email.trim().to_lowercase();
    let Some(u) = user::Entity::find().filter(user::Column::Email.eq(email.as_str())).one(&state.db.read).await? else {
        return Ok(());
    };
    if u.disabled {
        return Ok(());
    }
    let now = Utc::now().timestamp_millis();
    let recent = r::Entity::find()
        .filter(r::Column::UserId.eq(u.id))
        .filter(r::Column::CreatedAtMs.gt(now - 3_600_000))
        .count(&state.db.read)
        .await?;
    if recent >= MAX_PER_HOUR {
        tracing::info!(user_id = %u.id, "password reset not sent: too many asked for within the hour");
        return Ok(());
    }
    let locale = match customer::Entity::find_by_id(u.id).one(&state.db.read).await? {
        Some(c) => c.locale,
        None => {
            expert::Entity::find_by_id(u.id).one(&state.db.read).await?.map_or_else(|| "en".to_owned(), |e| e.locale)
        }
    };
    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    let ttl = state.settings.password_reset_ttl_secs.max(1);
    let txn = state.db.begin_write().await?;
    // A newer link supersedes older ones.
    r::Entity::update_many()
        .col_expr(r::Column::UsedAtMs, Expr::value(now))
        .filter(r::Column::UserId.eq(u.id))
        .filter(r::Column::UsedAtMs.is_null())
        .exec(&txn)
        .await?;
    r::Entity::insert(r::ActiveModel {
        id: Set(Uuid::now_v7()),
        user_id: Set(u.id),
        token_hash: Set(token_hash(&token)),
        created_at_ms: Set(now),
        expires_at_ms: Set(now + ttl as i64 * 1000),
        used_at_ms: Set(None),
    })
    .exec_without_returning(&txn)
    .await?;
    let mut mail = Mail::new(&state.notifier, Utc::now());
    let ctx = serde_json::json!({
        "user": {"name": u.name},
        "reset_url": format!("{}/reset-password?token={token}", state.public_base),
        "reset_minutes": ttl.div_ceil(60),
    });
    mail.account_email(u.id, &u.email, "password_reset", &locale, &ctx);
    mail.write(&txn).await?;
    txn.commit().await?;
    state.notifier.kick();
    Ok(())
}

/// Sets a new password with a reset link's token; returns the user's id.
pub async fn confirm(state: &AppState, token: &str, new_password: &str) -> Result<Uuid, ResetError> {
    let now = Utc::now().timestamp_millis();
    let row = r::Entity::find()
        .filter(r::Column::TokenHash.eq(token_hash(token.trim())))
        .one(&state.db.write)
        .await?
        .filter(|row| row.used_at_ms.is_none() && row.expires_at_ms > now)
        .ok_or(ResetError::LinkInvalid)?;
    let u = user::Entity::find_by_id(row.user_id)
        .one(&state.db.write)
        .await?
        .filter(|u| !u.disabled)
        .ok_or(ResetError::LinkInvalid)?;
    let password = passwords::parse(new_password, &[&u.email, &u.name]).map_err(ResetError::WeakPassword)?;
    let hash = super::hasher().hash(password.expose().to_owned()).await.map_err(|e| match e {
        super::hashing::HashError::Busy { retry_after_secs } => ResetError::Busy { retry_after_secs },
        super::hashing::HashError::Failed(m) => ResetError::Internal(anyhow::anyhow!(m)),
    })?;
    let txn = state.db.begin_write().await?;
    // Single use, even when two requests race with the same link.
    let used = r::Entity::update_many()
        .col_expr(r::Column::UsedAtMs, Expr::value(now))
        .filter(r::Column::Id.eq(row.id))
        .filter(r::Column::UsedAtMs.is_null())
        .exec(&txn)
        .await?;
    if used.rows_affected != 1 {
        return Err(ResetError::LinkInvalid);
    }
    user::Entity::update_many()
        .col_expr(user::Column::PasswordHash, Expr::value(hash))
        .filter(user::Column::Id.eq(u.id))
        .exec(&txn)
        .await?;
    sessions::revoke_all(&txn, u.id, sessions::reason::ACCOUNT).await?;
    txn.commit().await?;
    status::changed(&state.db, &state.auth.users, u.id).await;
    throttle::clear_account(&state.db, &throttle::Subject::new(&u.email, None)).await?;
    tracing::info!(user_id = %u.id, "password reset with an e-mailed link; every session signed out");
    Ok(u.id)
}

/// Deletes links that expired a day ago.
pub async fn prune(db: &crate::db::Db) -> Result<(), sea_orm::DbErr> {
    let old = Utc::now().timestamp_millis() - 24 * 3_600_000;
    r::Entity::delete_many().filter(r::Column::ExpiresAtMs.lt(old)).exec(&db.write).await?;
    Ok(())
}
