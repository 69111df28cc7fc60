//! JWT signing keys, kept out of the database: from configuration (`SYSOPS_JWT_KEYS`,
//! `SYSOPS_JWT_SECRET`) or a key file readable by its owner only (`jwt-keys.toml` in the
//! data directory, made on first start). Several keys, each with a `kid`: the first
//! signs, every one verifies, so a new key can take over while tokens signed with the
//! old one run out. A secret that an older version stored in the database keeps
//! verifying: on SQLite it moves into the key file; on PostgreSQL, where several nodes
//! must share one key and no key is configured, it stays the shared key (with a warning
//! at start; see ADR 12).

use crate::config::Settings;
use crate::db::Db;
use crate::db::entity::server_setting;
use anyhow::Context;
use rand::RngCore;
use sea_orm::EntityTrait;
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The database setting where older versions kept the signing secret.
pub const LEGACY_SETTING: &str = "jwt_secret";
const RETIRE_SETTING: &str = "jwt_secret_retire_at_ms";
/// `kid` of the configured single `SYSOPS_JWT_SECRET`.
pub const SECRET_KID: &str = "secret";
/// `kid` of the secret still read from the database.
pub const DATABASE_KID: &str = "db";

/// One signing key.
#[derive(Clone)]
pub struct Key {
    /// Its id, carried in each token's header.
    pub kid: String,
    /// The HMAC secret.
    pub secret: Vec<u8>,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Key({}, ***)", self.kid)
    }
}

/// The keys in force: the first signs.
#[derive(Debug, Clone)]
pub struct KeyRing {
    /// Newest first.
    pub keys: Vec<Key>,
}

impl KeyRing {
    /// The signing key.
    pub fn signer(&self) -> &Key {
        &self.keys[0]
    }

    /// The secret other signed links (survey links) are derived from: the oldest key,
    /// so rotating in a new signing key does not break links already sent.
    pub fn link_secret(&self) -> &[u8] {
        &self.keys[self.keys.len() - 1].secret
    }

    fn check(keys: Vec<Key>) -> anyhow::Result<Self> {
        anyhow::ensure!(!keys.is_empty(), "no JWT signing key");
        for k in &keys {
            anyhow::ensure!(
                k.secret.len() >= 32,
                "the JWT signing key {:?} is shorter than 32 bytes; use at least 32 random bytes",
                k.kid
            );
            anyhow::ensure!(!k.kid.is_empty() && k.kid.len() <= 64, "a JWT key id must be 1 to 64 characters");
        }
        Ok(Self { keys })
    }
}

/// `kid:secret,kid:secret` as configured.
pub fn parse_configured(list: &str) -> anyhow::Result<Vec<Key>> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (kid, secret) =
                pair.split_once(':').with_context(|| "SYSOPS_JWT_KEYS must be kid:secret pairs separated by commas")?;
            Ok(Key { kid: kid.trim().to_owned(), secret: secret.trim().as_bytes().to_vec() })
        })
        .collect()
}

/// The key file's contents.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct KeyFile {
    /// Newest first.
    pub keys: Vec<KeyEntry>,
}

/// One key in the file.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyEntry {
    /// Its id.
    pub kid: String,
    /// The secret, as text (its bytes are the HMAC key).
    pub secret: String,
    /// When it was made (RFC 3339).
    pub created_at: chrono::DateTime<chrono::Utc>,
}

impl KeyFile {
    /// Reads `path`, refusing a file that others may read.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        check_private(path)?;
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("{} is not a valid key file", path.display()))
    }

    /// Writes `path` atomically, readable by its owner only.
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let text = format!(
            "# JWT signing keys of this server: the first signs, every one verifies.\n# Keep this file private (chmod 600); rotate with `sysops-server rotate-jwt-key`.\n{}",
            toml::to_string(self)?
        );
        let tmp = path.with_extension("toml.new");
        let _ = std::fs::remove_file(&tmp);
        {
            use std::io::Write;
            let mut f = private_create(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
        }
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
    }

    fn ring(&self) -> Vec<Key> {
        self.keys.iter().map(|e| Key { kid: e.kid.clone(), secret: e.secret.as_bytes().to_vec() }).collect()
    }
}

#[cfg(unix)]
fn private_create(path: &Path) -> anyhow::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))
}

#[cfg(not(unix))]
fn private_create(path: &Path) -> anyhow::Result<std::fs::File> {
    std::fs::OpenOptions::new().write(true).create_new(true).open(path).map_err(Into::into)
}

#[cfg(unix)]
fn check_private(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?.permissions().mode();
    anyhow::ensure!(
        mode & 0o077 == 0,
        "the JWT key file {} may be read by others (mode {:o}); run `chmod 600 {}`",
        path.display(),
        mode & 0o777,
        path.display()
    );
    Ok(())
}

#[cfg(not(unix))]
fn check_private(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// A fresh random key. Its `kid` is its creation time plus a random part: two keys made
/// in the same second (a rotation right after the first start) must not share one.
pub fn generate() -> KeyEntry {
    let mut b = [0u8; 32];
    rand::rng().fill_bytes(&mut b);
    let mut tag = [0u8; 3];
    rand::rng().fill_bytes(&mut tag);
    let now = chrono::Utc::now();
    KeyEntry {
        kid: format!("k{}-{}", now.format("%Y%m%d%H%M%S"), hex::encode(tag)),
        secret: hex::encode(b),
        created_at: now,
    }
}

/// Where the key file is.
pub fn key_file_path(settings: &Settings) -> PathBuf {
    settings.jwt_key_file.clone().unwrap_or_else(|| settings.data_dir.join("jwt-keys.toml"))
}

async fn legacy_secret(db: &Db) -> anyhow::Result<Option<String>> {
    Ok(server_setting::Entity::find_by_id(LEGACY_SETTING.to_owned()).one(&db.write).await?.map(|r| r.value))
}

async fn delete_setting(db: &Db, key: &str) -> anyhow::Result<()> {
    server_setting::Entity::delete_by_id(key.to_owned()).exec(&db.write).await?;
    Ok(())
}

/// The keys this server uses, making or migrating the key file when needed.
pub async fn load(settings: &Settings, db: &Db, refresh_ttl_secs: u64) -> anyhow::Result<KeyRing> {
    let mut keys = Vec::new();
    if let Some(list) = &settings.jwt_keys {
        keys.extend(parse_configured(list.expose_secret())?);
    }
    if let Some(s) = &settings.jwt_secret {
        keys.push(Key { kid: SECRET_KID.to_owned(), secret: s.expose_secret().as_bytes().to_vec() });
    }
    let legacy = legacy_secret(db).await?;
    let path = key_file_path(settings);
    if keys.is_empty() && (settings.jwt_key_file.is_some() || !settings.uses_postgres()) {
        let file = if path.exists() {
            KeyFile::read(&path)?
        } else {
            // First start, or the first start after an upgrade: the stored secret moves here.
            let first = match &legacy {
                Some(secret) => {
                    KeyEntry { kid: DATABASE_KID.to_owned(), secret: secret.clone(), created_at: chrono::Utc::now() }
                }
                None => generate(),
            };
            let file = KeyFile { keys: vec![first] };
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            file.write(&path)?;
            tracing::info!(path = %path.display(), "JWT signing keys written to a private key file");
            file
        };
        if legacy.is_some() && file.keys.iter().any(|k| Some(&k.secret) == legacy.as_ref()) {
            delete_setting(db, LEGACY_SETTING).await?;
            tracing::info!("the JWT secret stored in the database moved to the key file and was removed there");
        }
        keys.extend(file.ring());
    }
    match legacy {
        Some(secret) if keys.is_empty() => {
            tracing::warn!(
                "the JWT signing key is kept in the database, shared by every node; set SYSOPS_JWT_KEYS (or \
                 SYSOPS_JWT_KEY_FILE) to the same value on every node to keep it out of the database"
            );
            keys.push(Key { kid: DATABASE_KID.to_owned(), secret: secret.into_bytes() });
        }
        Some(secret) if !keys.iter().any(|k| k.secret == secret.as_bytes()) => {
            // Configured keys took over: the stored secret verifies until tokens signed
            // with it have expired, then it is deleted.
            if retire_due(db, refresh_ttl_secs).await? {
                delete_setting(db, LEGACY_SETTING).await?;
                delete_setting(db, RETIRE_SETTING).await?;
                tracing::info!("the JWT secret formerly stored in the database was retired and deleted");
            } else {
                keys.push(Key { kid: DATABASE_KID.to_owned(), secret: secret.into_bytes() });
            }
        }
        Some(_) => {}
        None if keys.is_empty() => {
            // PostgreSQL, nothing configured, nothing stored: one key for every node.
            tracing::warn!(
                "no JWT signing key is configured: one is generated and kept in the database, shared by every node; \
                 set SYSOPS_JWT_KEYS on every node to keep it out of the database"
            );
            let secret = crate::db::setting_or_init(db, LEGACY_SETTING, || generate().secret).await?;
            keys.push(Key { kid: DATABASE_KID.to_owned(), secret: secret.into_bytes() });
        }
        None => {}
    }
    KeyRing::check(keys)
}

/// Whether the stored secret has verified long enough (sets the deadline on first call).
async fn retire_due(db: &Db, refresh_ttl_secs: u64) -> anyhow::Result<bool> {
    let now = chrono::Utc::now().timestamp_millis();
    let deadline = now + refresh_ttl_secs as i64 * 1000;
    let at = crate::db::setting_or_init(db, RETIRE_SETTING, || deadline.to_string()).await?;
    Ok(at.parse::<i64>().is_ok_and(|at| at <= now))
}

/// `rotate-jwt-key`: a new signing key goes first; keys retired longer than tokens live
/// (`retire_after_secs`) are dropped. Returns the new key's id and the dropped ids.
pub fn rotate(path: &Path, retire_after_secs: u64) -> anyhow::Result<(String, Vec<String>)> {
    let mut file = if path.exists() { KeyFile::read(path)? } else { KeyFile::default() };
    let new = generate();
    let kid = new.kid.clone();
    file.keys.insert(0, new);
    let now = chrono::Utc::now();
    let mut dropped = Vec::new();
    // A key is retired when the next newer one was made.
    let mut keep = vec![file.keys[0].clone()];
    for pair in file.keys.windows(2) {
        let retired_at = pair[0].created_at;
        if (now - retired_at).num_seconds() > retire_after_secs as i64 {
            dropped.push(pair[1].kid.clone());
        } else {
            keep.push(pair[1].clone());
        }
    }
    file.keys = keep;
    file.write(path)?;
    Ok((kid, dropped))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configured_keys_parse_and_short_ones_are_refused() {
        let keys =
            parse_configured("new:0123456789abcdef0123456789abcdef, old:fedcba9876543210fedcba9876543210").unwrap();
        assert_eq!(keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(), ["new", "old"]);
        assert!(KeyRing::check(keys).is_ok());
        assert!(KeyRing::check(parse_configured("k:short").unwrap()).is_err());
        assert!(parse_configured("no-colon").is_err());
    }

    #[cfg(unix)]
    #[test]
    fn the_key_file_is_private_and_a_readable_one_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("jwt-keys.toml");
        let (kid, dropped) = rotate(&path, 3600).unwrap();
        assert!(dropped.is_empty());
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        assert_eq!(KeyFile::read(&path).unwrap().keys[0].kid, kid);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = KeyFile::read(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }

    #[test]
    fn two_keys_made_in_the_same_second_have_different_kids() {
        // A rotation right after the first start once signed with the old kid.
        // A hundred keys span at most two seconds, so most share their time part.
        let kids: std::collections::HashSet<String> = (0..100).map(|_| generate().kid).collect();
        assert_eq!(kids.len(), 100);
    }

    #[test]
    fn rotation_keeps_recent_keys_and_drops_long_retired_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.toml");
        let old = |kid: &str, days: i64| KeyEntry {
            kid: kid.to_owned(),
            secret: "x".repeat(40),
            created_at: chrono::Utc::now() - chrono::Duration::days(days),
        };
        // "mid" took over from "ancient" 40 days ago; "recent" took over from "mid" 2 days ago.
        KeyFile { keys: vec![old("recent", 2), old("mid", 40), old("ancient", 90)] }.write(&path).unwrap();
        let (_, dropped) = rotate(&path, 30 * 24 * 3600).unwrap();
        assert_eq!(dropped, ["ancient"]);
        let kids: Vec<String> = KeyFile::read(&path).unwrap().keys.into_iter().map(|k| k.kid).collect();
        assert_eq!(&kids[1..], ["recent", "mid"]);
    }
}
