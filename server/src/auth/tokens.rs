//! JWT access and refresh tokens.

use super::keys::{Key, KeyRing};
use super::sessions::Session;
use super::status::StatusCache;
use super::{Caller, Role, hash_password_blocking};
use crate::db::Db;
use crate::error::ServiceError;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    sub: Uuid,
    role: Role,
    typ: String,
    iat: u64,
    exp: u64,
    jti: Uuid,
    /// The refresh-token family (refresh tokens issued since families exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    fam: Option<Uuid>,
}

/// What a valid refresh token says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshToken {
    /// Whose it is.
    pub caller: Caller,
    /// Its family, or `None` for a token issued before families existed.
    pub family: Option<Uuid>,
    /// Its id.
    pub jti: Uuid,
}

fn refresh_of(c: Claims) -> RefreshToken {
    RefreshToken { caller: Caller { user_id: c.sub, role: c.role }, family: c.fam, jti: c.jti }
}

/// Issued tokens, as returned by login and refresh.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TokenPair {
    /// Short-lived token for `Authorization: Bearer`.
    pub access_token: String,
    /// Long-lived token for POST /auth/refresh.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The user's role.
    pub role: Role,
    /// The user's id.
    pub user_id: Uuid,
}

/// Token signing and verification, and the per-node cache of who may still sign in.
pub struct Auth {
    signer: (String, EncodingKey),
    verifiers: Vec<(String, DecodingKey)>,
    access_ttl: u64,
    refresh_ttl: u64,
    dummy_hash: String,
    /// Users' current status (exists, enabled, role), cached briefly.
    pub users: StatusCache,
}

const ISSUER: &str = "sysops-squad";

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Auth {
    /// Signs with the ring's first key, verifies with all of them; user status is cached
    /// for `cache_ttl`.
    pub fn new(ring: &KeyRing, access_ttl: u64, refresh_ttl: u64, cache_ttl: Duration) -> anyhow::Result<Self> {
        let signer = ring.signer();
        Ok(Self {
            signer: (signer.kid.clone(), EncodingKey::from_secret(&signer.secret)),
            verifiers: ring.keys.iter().map(|k| (k.kid.clone(), DecodingKey::from_secret(&k.secret))).collect(),
            access_ttl,
            refresh_ttl,
            dummy_hash: hash_password_blocking("not a real password, only for timing")?,
            users: StatusCache::new(cache_ttl),
        })
    }

    /// One key from `secret` (at least 32 bytes), kid `secret` (tests).
    pub fn with_secret(secret: &[u8], access_ttl: u64, refresh_ttl: u64) -> anyhow::Result<Self> {
        let ring = KeyRing { keys: vec![Key { kid: "secret".to_owned(), secret: secret.to_vec() }] };
        anyhow::ensure!(secret.len() >= 32, "the JWT secret must be at least 32 bytes");
        Self::new(&ring, access_ttl, refresh_ttl, Duration::from_secs(5))
    }

    fn sign(
        &self,
        user_id: Uuid,
        role: Role,
        typ: &str,
        ttl: u64,
        session: Option<Session>,
    ) -> Result<String, ServiceError> {
        let iat = now_secs();
        let claims = Claims {
            iss: ISSUER.to_owned(),
            sub: user_id,
            role,
            typ: typ.to_owned(),
            iat,
            exp: iat + ttl,
            jti: session.map_or_else(Uuid::new_v4, |s| s.jti),
            fam: session.map(|s| s.family),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWT".to_owned());
        header.kid = Some(self.signer.0.clone());
        jsonwebtoken::encode(&header, &claims, &self.signer.1).map_err(|e| ServiceError::Internal(e.into()))
    }

    /// Seconds a refresh token lives.
    pub fn refresh_ttl(&self) -> u64 {
        self.refresh_ttl
    }

    /// A fresh access token, and `session`'s refresh token, for the user.
    pub fn issue(&self, user_id: Uuid, role: Role, session: Session) -> Result<TokenPair, ServiceError> {
        Ok(TokenPair {
            access_token: self.sign(user_id, role, "access", self.access_ttl, None)?,
            refresh_token: self.sign(user_id, role, "refresh", self.refresh_ttl, Some(session))?,
            token_type: "Bearer",
            expires_in: self.access_ttl,
            role,
            user_id,
        })
    }

    /// An access token valid for a given number of seconds (for tests of expiry).
    pub fn issue_access_with_ttl(&self, user_id: Uuid, role: Role, ttl: u64) -> Result<String, ServiceError> {
        self.sign(user_id, role, "access", ttl, None)
    }

    fn verify(&self, token: &str, typ: &str) -> Result<Claims, ServiceError> {
        self.verify_with(token, typ, true)
    }

    fn verify_with(&self, token: &str, typ: &str, check_expiry: bool) -> Result<Claims, ServiceError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.validate_exp = check_expiry;
        v.leeway = 5;
        v.set_required_spec_claims(&["exp", "sub", "iss"]);
        v.set_issuer(&[ISSUER]);
        let invalid = || ServiceError::Unauthorized(format!("the {typ} token is invalid"));
        let kid = jsonwebtoken::decode_header(token).map_err(|_| invalid())?.kid;
        // A token names its key; one from before key ids is tried with each key.
        let mut candidates =
            self.verifiers.iter().filter(|(k, _)| kid.as_deref().is_none_or(|kid| kid == k)).peekable();
        let data = loop {
            let Some((_, key)) = candidates.next() else { return Err(invalid()) };
            match jsonwebtoken::decode::<Claims>(token, key, &v) {
                Ok(data) => break data,
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind;
                    match e.kind() {
                        ErrorKind::InvalidSignature if candidates.peek().is_some() => continue,
                        ErrorKind::ExpiredSignature => {
                            return Err(ServiceError::Unauthorized(format!(
                                "the {typ} token has expired; obtain a new one"
                            )));
                        }
                        _ => return Err(invalid()),
                    }
                }
            }
        };
        if data.claims.typ != typ {
            return Err(ServiceError::Unauthorized(format!(
                "a {} token was sent where a {typ} token is needed",
                data.claims.typ
            )));
        }
        Ok(data.claims)
    }

    /// The caller an access token names, if they still exist, are enabled and still
    /// have the role the token says.
    pub async fn authenticate(&self, db: &Db, token: &str) -> Result<Caller, ServiceError> {
        let caller = self.verify_access(token)?;
        match self.users.get(db, caller.user_id).await? {
            Some(s) if s.active && s.role == caller.role => Ok(caller),
            Some(s) if s.active => Err(ServiceError::Unauthorized(
                "your role has changed since this token was issued; sign in again".to_owned(),
            )),
            _ => Err(ServiceError::Unauthorized("the account no longer exists or is disabled".to_owned())),
        }
    }

    /// The caller an access token names (signature and expiry only; see
    /// [`Auth::authenticate`]).
    pub fn verify_access(&self, token: &str) -> Result<Caller, ServiceError> {
        let c = self.verify(token, "access")?;
        Ok(Caller { user_id: c.sub, role: c.role })
    }

    /// What a refresh token says.
    pub fn verify_refresh(&self, token: &str) -> Result<RefreshToken, ServiceError> {
        Ok(refresh_of(self.verify(token, "refresh")?))
    }

    /// What a refresh token says, even when it has expired (to sign it out).
    pub fn verify_refresh_for_logout(&self, token: &str) -> Result<RefreshToken, ServiceError> {
        Ok(refresh_of(self.verify_with(token, "refresh", false)?))
    }

    /// A hash to verify against when the user does not exist, so a wrong e-mail takes
    /// as long as a wrong password.
    pub fn dummy_hash(&self) -> &str {
        &self.dummy_hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{hash_password_blocking, verify_password_blocking};

    fn auth() -> Auth {
        Auth::with_secret(&[7u8; 32], 60, 3600).unwrap()
    }

    #[test]
    fn tokens_round_trip_and_keep_their_type() {
        let a = auth();
        let id = Uuid::now_v7();
        let session = Session { family: Uuid::now_v7(), jti: Uuid::new_v4() };
        let pair = a.issue(id, Role::Expert, session).unwrap();
        assert_eq!(a.verify_access(&pair.access_token).unwrap(), Caller { user_id: id, role: Role::Expert });
        assert!(a.verify_access(&pair.refresh_token).is_err());
        let r = a.verify_refresh(&pair.refresh_token).unwrap();
        assert_eq!((r.caller.user_id, r.family, r.jti), (id, Some(session.family), session.jti));
    }

    #[test]
    fn tampered_and_foreign_tokens_are_refused() {
        let a = auth();
        let pair =
            a.issue(Uuid::now_v7(), Role::Customer, Session { family: Uuid::now_v7(), jti: Uuid::new_v4() }).unwrap();
        let other = Auth::with_secret(&[8u8; 32], 60, 3600).unwrap();
        assert!(other.verify_access(&pair.access_token).is_err());
        let mut t = pair.access_token.clone();
        t.pop();
        assert!(a.verify_access(&t).is_err());
    }

    #[test]
    fn a_new_key_signs_and_the_old_one_still_verifies() {
        let key = |kid: &str, b: u8| Key { kid: kid.to_owned(), secret: vec![b; 32] };
        let before = Auth::new(&KeyRing { keys: vec![key("old", 1)] }, 60, 3600, Duration::from_secs(1)).unwrap();
        let after =
            Auth::new(&KeyRing { keys: vec![key("new", 2), key("old", 1)] }, 60, 3600, Duration::from_secs(1)).unwrap();
        let id = Uuid::now_v7();
        let old_token = before.issue_access_with_ttl(id, Role::Agent, 60).unwrap();
        let new_token = after.issue_access_with_ttl(id, Role::Agent, 60).unwrap();
        assert_eq!(jsonwebtoken::decode_header(&new_token).unwrap().kid.as_deref(), Some("new"));
        assert!(after.verify_access(&old_token).is_ok());
        assert!(after.verify_access(&new_token).is_ok());
        assert!(before.verify_access(&new_token).is_err(), "an unknown kid is refused");
        // A token from before key ids (no kid) is tried with every key.
        let claims = serde_json::json!({"iss": ISSUER, "sub": id, "role": "agent", "typ": "access",
            "iat": now_secs(), "exp": now_secs() + 60, "jti": Uuid::new_v4()});
        let legacy = jsonwebtoken::encode(&Header::default(), &claims, &EncodingKey::from_secret(&[1; 32])).unwrap();
        assert!(after.verify_access(&legacy).is_ok());
    }

    #[test]
    fn passwords_verify() {
        let h = hash_password_blocking("correct horse").unwrap();
        assert!(verify_password_blocking("correct horse", &h));
        assert!(!verify_password_blocking("wrong horse", &h));
        assert!(!verify_password_blocking("x", "not a hash"));
    }
}
