//! Account standing: an administrator disables or re-enables a user. A disabled user's
//! access tokens stop working at once on every node (see [`super::status`]), their
//! refresh tokens are revoked, and an expert is taken off duty so no ticket goes to them.

use super::{Caller, Role, sessions, status};
use crate::db::entity::{expert, user};
use crate::state::AppState;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, EntityTrait};
use uuid::Uuid;

/// Why an account change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// No such user.
    #[error("user not found")]
    NotFound,
    /// The change would lock the caller out of their own account.
    #[error("{0}")]
    Refused(String),
    /// The password given to confirm does not match.
    #[error("the password is not correct")]
    WrongPassword,
    /// Something broke on our side.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for AccountError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Internal(e.into())
    }
}

/// Disables (or re-enables) `id`, as administrator `by`.
pub async fn set_disabled(state: &AppState, by: Caller, id: Uuid, disabled: bool) -> Result<user::Model, AccountError> {
    if disabled && by.user_id == id {
        return Err(AccountError::Refused("you cannot disable your own account".to_owned()));
    }
    let txn = state.db.begin_write().await?;
    let u = user::Entity::find_by_id(id).one(&txn).await?.ok_or(AccountError::NotFound)?;
    let was = u.disabled;
    let mut am: user::ActiveModel = u.into();
    am.disabled = Set(disabled);
    let u = am.update(&txn).await?;
    let mut expert_changed = false;
    if disabled && !was {
        sessions::revoke_all(&txn, id, sessions::reason::ACCOUNT).await?;
        if u.role == Role::Expert.as_str()
            && let Some(e) = expert::Entity::find_by_id(id).one(&txn).await?
        {
            let mut em: expert::ActiveModel = e.into();
            em.on_duty = Set(false);
            em.update(&txn).await?;
            expert_changed = true;
        }
    }
    txn.commit().await?;
    status::changed(&state.db, &state.auth.users, id).await;
    if expert_changed {
        state.dispatcher.refresh_expert(&state.db, id).await?;
        // Their open tickets go to the next expert (the jobs' sweep retries any left).
        let moved = crate::tickets::gone::pass_on(&state.tickets, crate::tickets::Actor::User(by), id).await?;
        tracing::info!(expert = %id, moved, "a deactivated expert's open tickets were passed on");
    }
    tracing::info!(user_id = %id, by = %by.user_id, disabled, "account standing changed");
    Ok(u)
}
