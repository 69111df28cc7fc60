//! Who is calling and how they prove it: the credential check shared by every front end
//! ([`sign_in()`]), password hashing on a bounded pool, and JWT access and refresh tokens
//! signed with keys that outlive the process.

pub mod accounts;
pub mod hashing;
pub mod keys;
pub mod passwords;
pub mod reset;
pub mod sessions;
pub mod sign_in;
pub mod status;
pub mod throttle;
pub mod tokens;

pub use sign_in::{SignInError, SignedIn, sign_in};
pub use tokens::{Auth, TokenPair};

use crate::error::ServiceError;
use hashing::{HashError, Hasher};
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use std::sync::OnceLock;
use uuid::Uuid;

/// What a user may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Holds support plans and raises tickets.
    Customer,
    /// Fixes things in the field.
    Expert,
    /// Call-center staff, raising tickets for customers.
    Agent,
    /// Maintains experts, plans and users.
    Admin,
    /// Watches operations and receives reports and alerts.
    Manager,
}

impl Role {
    /// The wire and storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::Expert => "expert",
            Self::Agent => "agent",
            Self::Admin => "admin",
            Self::Manager => "manager",
        }
    }

    /// Staff who may see every ticket.
    pub fn is_staff(self) -> bool {
        matches!(self, Self::Agent | Self::Admin | Self::Manager)
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "customer" => Ok(Self::Customer),
            "expert" => Ok(Self::Expert),
            "agent" => Ok(Self::Agent),
            "admin" => Ok(Self::Admin),
            "manager" => Ok(Self::Manager),
            _ => Err(format!("unknown role {s:?}")),
        }
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caller {
    /// Their user id.
    pub user_id: Uuid,
    /// Their role.
    pub role: Role,
}

impl Caller {
    /// Refuses (403) unless the caller has one of `roles`.
    pub fn require(&self, roles: &[Role], action: &str) -> Result<(), ServiceError> {
        if roles.contains(&self.role) {
            Ok(())
        } else {
            Err(ServiceError::Forbidden(format!(
                "{action} is not allowed for the {} role (allowed: {})",
                self.role.as_str(),
                roles.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(", ")
            )))
        }
    }
}

static POOL: OnceLock<Hasher> = OnceLock::new();

/// Sizes the process's password-hashing pool (first call wins; later ones, e.g. from
/// tests that build several applications, keep the first pool).
pub fn configure_hashing(threads: usize, wait: std::time::Duration) {
    let _ = POOL.get_or_init(|| Hasher::start(threads, wait));
}

/// The password-hashing pool (one per process: it stands for the cores).
pub fn hasher() -> &'static Hasher {
    POOL.get_or_init(|| Hasher::start(Hasher::default_threads(), std::time::Duration::from_secs(2)))
}

impl From<HashError> for ServiceError {
    fn from(e: HashError) -> Self {
        match e {
            HashError::Busy { retry_after_secs } => ServiceError::Overloaded {
                detail: "the server is busy checking passwords; retry shortly".to_owned(),
                retry_after_secs,
            },
            HashError::Failed(m) => ServiceError::Internal(anyhow::anyhow!(m)),
        }
    }
}

/// Hashes a password with argon2id on the calling thread (CLI and start-up only).
pub fn hash_password_blocking(password: &str) -> anyhow::Result<String> {
    hashing::hash_with(&mut Vec::new(), password).map_err(|e| anyhow::anyhow!("hashing failed: {e}"))
}

/// Checks a password against a stored hash on the calling thread (tests and CLI only).
pub fn verify_password_blocking(password: &str, hash: &str) -> bool {
    hashing::verify_with(&mut Vec::new(), password, hash)
}

/// Hashes a new password on the pool; 503 when the pool stays saturated.
pub async fn hash_password(password: String) -> Result<String, ServiceError> {
    Ok(hasher().hash(password).await?)
}

/// The client's address: the peer, or, when the peer is one of the configured
/// `trusted_proxies`, the nearest address in `X-Forwarded-For` that is not a proxy.
pub fn client_addr(req: &actix_web::HttpRequest, settings: &crate::config::Settings) -> Option<std::net::IpAddr> {
    use std::net::IpAddr;
    let peer = req.peer_addr()?.ip();
    let trusted: Vec<IpAddr> =
        settings.trusted_proxies.as_deref().unwrap_or("").split(',').filter_map(|s| s.trim().parse().ok()).collect();
    if !trusted.contains(&peer) {
        return Some(peer);
    }
    let forwarded: Vec<IpAddr> = req
        .headers()
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse().ok())
        .collect();
    Some(forwarded.into_iter().rev().find(|a| !trusted.contains(a)).unwrap_or(peer))
}

/// Every minute until `stop`: forgets sign-in failures older than the window, and
/// refresh-token families and reset links that expired a day ago.
pub fn spawn_housekeeping(
    db: crate::db::Db,
    limits: throttle::Limits,
    stop: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = stop.cancelled() => return,
                () = tokio::time::sleep(std::time::Duration::from_secs(60)) => {}
            }
            let r = async {
                throttle::prune(&db, limits).await?;
                reset::prune(&db).await?;
                sessions::prune(&db, 24 * 3600 * 1000).await
            };
            if let Err(e) = r.await {
                tracing::warn!(error = %e, "auth housekeeping failed; retrying in a minute");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn the_client_is_the_peer_unless_the_peer_is_a_trusted_proxy() {
        let settings = |trusted: Option<&str>| crate::config::Settings {
            trusted_proxies: trusted.map(str::to_owned),
            ..Default::default()
        };
        let req = TestRequest::default()
            .peer_addr("10.0.0.5:4000".parse().unwrap())
            .insert_header(("x-forwarded-for", "1.2.3.4, 203.0.113.9"))
            .to_http_request();
        // Untrusted peer: its X-Forwarded-For is ignored (anyone can send one).
        assert_eq!(client_addr(&req, &settings(None)), Some("10.0.0.5".parse().unwrap()));
        // Trusted proxy: the nearest address it was given.
        assert_eq!(client_addr(&req, &settings(Some("10.0.0.5"))), Some("203.0.113.9".parse().unwrap()));
        // A chain of trusted proxies is skipped.
        assert_eq!(client_addr(&req, &settings(Some("10.0.0.5, 203.0.113.9"))), Some("1.2.3.4".parse().unwrap()));
    }
}
