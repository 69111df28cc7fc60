//! The one credential check behind every way of signing in (the API's login, the web
//! portal's sign-in form): the password is checked on the hashing pool, and an unknown
//! e-mail costs the same as a wrong password.

use super::Role;
use super::hashing::HashError;
use super::throttle::{self, Limits, Subject};
use crate::db::entity::user;
use crate::error::ServiceError;
use crate::state::AppState;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use std::net::IpAddr;
use uuid::Uuid;

/// Who signed in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIn {
    /// Their user id.
    pub user_id: Uuid,
    /// Their role.
    pub role: Role,
    /// Their display name.
    pub name: String,
    /// Their e-mail (normalised).
    pub email: String,
}

/// Why a sign-in was refused.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown e-mail, wrong password or a disabled account (indistinguishable on purpose).
    #[error("wrong e-mail or password")]
    WrongCredentials,
    /// Too many failed attempts for this account or from this address; try again later.
    #[error("too many failed sign-ins; try again in {retry_after_secs} seconds")]
    RateLimited {
        /// Seconds until an attempt is allowed again.
        retry_after_secs: u64,
    },
    /// The server is busy checking other passwords; retry shortly.
    #[error("the server is busy checking passwords; retry in {retry_after_secs} seconds")]
    Busy {
        /// Seconds a client should wait.
        retry_after_secs: u64,
    },
    /// Something broke on our side.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for SignInError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Internal(e.into())
    }
}

impl From<HashError> for SignInError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy { retry_after_secs } => Self::Busy { retry_after_secs },
            HashError::Failed(m) => Self::Internal(anyhow::anyhow!(m)),
        }
    }
}

impl From<SignInError> for ServiceError {
    fn from(e: SignInError) -> Self {
        match e {
            SignInError::WrongCredentials => ServiceError::Unauthorized(e.to_string()),
            SignInError::RateLimited { retry_after_secs } => {
                ServiceError::RateLimited { detail: e.to_string(), retry_after_secs }
            }
            SignInError::Busy { retry_after_secs } => {
                ServiceError::Overloaded { detail: e.to_string(), retry_after_secs }
            }
            SignInError::Internal(e) => ServiceError::internal(e),
        }
    }
}

/// Checks an e-mail and password. `client` is the caller's address (see
/// [`super::client_addr`]), used to limit failed attempts per address.
pub async fn sign_in(
    state: &AppState,
    email: &str,
    password: &str,
    client: Option<IpAddr>,
) -> Result<SignedIn, SignInError> {
    let email = email.trim().to_lowercase();
    let subject = Subject::new(&email, client);
    let wait = std::time::Duration::from_millis(state.settings.password_hash_wait_ms);
    let Some(_turn) = throttle::turn(&subject, wait).await else {
        return Err(SignInError::Busy { retry_after_secs: wait.as_secs().max(1) });
    };
    if let Err(retry_after_secs) = throttle::check(&state.db, Limits::from_settings(&state.settings), &subject).await? {
        tracing::info!(retry_after_secs, "sign-in refused: too many failures for the account or address");
        return Err(SignInError::RateLimited { retry_after_secs });
    }
    // Longer than any password we accept: refuse without hashing megabytes.
    let ok = if password.len() > sysops_core::text::Password::MAX * 4 {
        None
    } else {
        let row = user::Entity::find().filter(user::Column::Email.eq(email.as_str())).one(&state.db.read).await?;
        let hash = row.as_ref().map_or_else(|| state.auth.dummy_hash().to_owned(), |u| u.password_hash.clone());
        let ok = super::hasher().verify(password.to_owned(), hash).await?;
        row.filter(|u| ok && !u.disabled)
    };
    let Some(u) = ok else {
        throttle::record_failure(&state.db, &subject).await?;
        return Err(SignInError::WrongCredentials);
    };
    let role: Role = u.role.parse().map_err(|e: String| anyhow::anyhow!(e))?;
    throttle::clear_account(&state.db, &subject).await?;
    Ok(SignedIn { user_id: u.id, role, name: u.name, email })
}
