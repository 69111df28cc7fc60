//! Backup and restore of a whole installation, while it serves: `sysops-server backup
//! --to FILE` and `sysops-server restore --from FILE`.
//!
//! A backup is one gzip'd tar file holding `manifest.json`, a consistent snapshot of the
//! database (SQLite: `VACUUM INTO`, which reads one transaction's view while the server
//! keeps writing; PostgreSQL: `pg_dump` in its custom format, one snapshot) and the
//! files the data directory keeps beside the database (signing keys and the like), so a
//! restored installation accepts the tokens it issued. Every ticket acknowledged before
//! the backup started is in it; the sync documents are rows of the same database.
//!
//! Restore refuses to overwrite a database that holds data unless `--force` (then the
//! old SQLite file is kept beside the new one), refuses a backup of the other backend,
//! and on SQLite refuses while a server is using the data directory.

use crate::config::Settings;
use anyhow::{Context, bail};
use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use sea_orm::{ConnectionTrait, Database, Statement};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The SQLite database file in the data directory.
pub const DB_FILE: &str = "sysops.db";
/// The lock a serving node holds on an SQLite data directory.
pub const LOCK_FILE: &str = "server.lock";
const MANIFEST: &str = "manifest.json";
const SQLITE_ENTRY: &str = "database/sysops.db";
const PG_ENTRY: &str = "database/postgres.dump";
const FILES_PREFIX: &str = "files/";
const FORMAT: u32 = 1;

/// What a backup file says about itself.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    /// Format of the file (1).
    pub format: u32,
    /// `sqlite` or `postgres`.
    pub backend: String,
    /// When the snapshot was taken.
    pub created_at: DateTime<Utc>,
    /// The server version that wrote it.
    pub server_version: String,
    /// Tickets in the snapshot.
    pub tickets: i64,
    /// Files of the data directory included (relative paths).
    pub files: Vec<String>,
}

/// Takes the data directory's serving lock (SQLite: one server per database file). The
/// lock lasts as long as the returned file is open; the kernel drops it if the process
/// dies.
pub fn lock_data_dir(data_dir: &Path) -> anyhow::Result<File> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let path = data_dir.join(LOCK_FILE);
    let file = File::options().create(true).truncate(false).write(true).open(&path)?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "another sysops-server is serving the data directory {} (it holds {}); stop it first",
            data_dir.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
    }
}

fn backend(settings: &Settings) -> &'static str {
    if settings.uses_postgres() { "postgres" } else { "sqlite" }
}

/// A PostgreSQL client program (`pg_dump`, `pg_restore`): the newest installed server
/// version's, else whatever is on the PATH.
fn pg_tool(name: &str) -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| d.filter_map(Result::ok).map(|e| e.path().join("bin").join(name)).filter(|p| p.exists()).collect())
        .unwrap_or_default();
    versions.sort();
    versions.pop().unwrap_or_else(|| PathBuf::from(name))
}

fn run(cmd: &mut Command, what: &str) -> anyhow::Result<()> {
    let out = cmd.output().with_context(|| format!("cannot run {what} (is it installed?)"))?;
    if !out.status.success() {
        bail!("{what} failed: {}", String::from_utf8_lossy(&out.stderr).trim());
    }
    Ok(())
}

/// Files of the data directory that a backup carries: everything but the database
/// itself (snapshotted properly instead), the node's identity, the lock and logs.
fn extra_files(data_dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, PathBuf)>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let rel = path.strip_prefix(base).unwrap_or(&path).to_string_lossy().replace('\\', "/");
            let skip = rel.starts_with(DB_FILE)
                || matches!(rel.as_str(), "node-id" | LOCK_FILE)
                || rel.ends_with(".log")
                || rel.contains(".before-restore-");
            if skip {
                continue;
            }
            let kind = entry.file_type()?;
            if kind.is_dir() {
                walk(base, &path, out)?;
            } else if kind.is_file() {
                out.push((rel, path));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    if data_dir.exists() {
        walk(data_dir, data_dir, &mut out)?;
    }
    out.sort();
    Ok(out)
}

async fn count_tickets(url: &str) -> anyhow::Result<i64> {
    let db = Database::connect(url).await?;
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), "SELECT COUNT(*) AS n FROM tickets"))
        .await?
        .context("no count")?;
    let n: i64 = row.try_get("", "n")?;
    db.close().await?;
    Ok(n)
}

fn sqlite_url(path: &Path, mode: &str) -> String {
    format!("sqlite://{}?mode={mode}", path.display())
}

/// Writes a backup of the configured installation to `to`; returns its manifest.
pub async fn backup(settings: &Settings, to: &Path) -> anyhow::Result<Manifest> {
    let work = tempfile::Builder::new()
        .prefix(".sysops-backup-")
        .tempdir_in(to.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new(".")))
        .context("cannot create a working directory beside the backup file")?;
    let (entry, snapshot, tickets) = match &settings.database_url {
        Some(url) if settings.uses_postgres() => {
            let tickets = count_tickets(url).await?;
            let dump = work.path().join("postgres.dump");
            run(
                Command::new(pg_tool("pg_dump"))
                    .args(["--format=custom", "--no-owner", "--no-privileges", "--file"])
                    .arg(&dump)
                    .arg(url),
                "pg_dump",
            )?;
            (PG_ENTRY, dump, tickets)
        }
        _ => {
            let db_path = settings.data_dir.join(DB_FILE);
            if !db_path.exists() {
                bail!("there is no database at {} to back up", db_path.display());
            }
            let copy = work.path().join("sysops.db");
            let db = Database::connect(sqlite_url(&db_path, "ro")).await?;
            // A read transaction's consistent view, written compactly to a new file,
            // while the server keeps writing.
            db.execute_raw(Statement::from_sql_and_values(
                db.get_database_backend(),
                "VACUUM INTO $1",
                [copy.to_string_lossy().into_owned().into()],
            ))
            .await
            .context("VACUUM INTO failed")?;
            db.close().await?;
            let tickets = count_tickets(&sqlite_url(&copy, "ro")).await?;
            (SQLITE_ENTRY, copy, tickets)
        }
    };
    let files = extra_files(&settings.data_dir)?;
    let manifest = Manifest {
        format: FORMAT,
        backend: backend(settings).to_owned(),
        created_at: Utc::now(),
        server_version: env!("CARGO_PKG_VERSION").to_owned(),
        tickets,
        files: files.iter().map(|(rel, _)| rel.clone()).collect(),
    };
    let partial = work.path().join("backup.tar.gz");
    {
        let mut tar = tar::Builder::new(GzEncoder::new(File::create(&partial)?, Compression::default()));
        let json = serde_json::to_vec_pretty(&manifest)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(json.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(u64::try_from(manifest.created_at.timestamp()).unwrap_or(0));
        header.set_cksum();
        tar.append_data(&mut header, MANIFEST, json.as_slice())?;
        tar.append_path_with_name(&snapshot, entry)?;
        for (rel, path) in &files {
            tar.append_path_with_name(path, format!("{FILES_PREFIX}{rel}"))?;
        }
        let gz = tar.into_inner()?;
        let file = gz.finish()?;
        file.sync_all()?;
    }
    // The backup appears whole or not at all.
    std::fs::rename(&partial, to).with_context(|| format!("cannot write {}", to.display()))?;
    set_private(to)?;
    Ok(manifest)
}

#[cfg(unix)]
fn set_private(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    Ok(())
}

#[cfg(not(unix))]
fn set_private(_: &Path) -> anyhow::Result<()> {
    Ok(())
}

/// A backup file, unpacked into a working directory.
struct Unpacked {
    manifest: Manifest,
    database: PathBuf,
    files: Vec<(String, PathBuf)>,
    _dir: tempfile::TempDir,
}

fn unpack(from: &Path, near: &Path) -> anyhow::Result<Unpacked> {
    let file = File::open(from).with_context(|| format!("cannot open {}", from.display()))?;
    std::fs::create_dir_all(near)?;
    let dir = tempfile::Builder::new().prefix(".sysops-restore-").tempdir_in(near)?;
    let mut archive = tar::Archive::new(GzDecoder::new(file));
    let (mut manifest, mut database, mut files) = (None, None, Vec::new());
    for entry in archive.entries().with_context(|| format!("{} is not a sysops backup", from.display()))? {
        let mut entry = entry?;
        let name = entry.path()?.to_string_lossy().into_owned();
        if name.split('/').any(|p| p == ".." || p.is_empty()) || name.starts_with('/') {
            bail!("{} holds an unsafe path {name:?}; refusing it", from.display());
        }
        if name == MANIFEST {
            let mut raw = Vec::new();
            entry.read_to_end(&mut raw)?;
            manifest = Some(serde_json::from_slice::<Manifest>(&raw).context("the manifest is damaged")?);
        } else if name == SQLITE_ENTRY || name == PG_ENTRY {
            let path = dir.path().join(if name == SQLITE_ENTRY { "sysops.db" } else { "postgres.dump" });
            entry.unpack(&path)?;
            database = Some(path);
        } else if let Some(rel) = name.strip_prefix(FILES_PREFIX) {
            let path = dir.path().join("files").join(rel);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)?;
            }
            entry.unpack(&path)?;
            files.push((rel.to_owned(), path));
        }
    }
    let manifest = manifest.with_context(|| format!("{} has no manifest: not a sysops backup", from.display()))?;
    if manifest.format != FORMAT {
        bail!("backup format {} is not one this server reads ({FORMAT})", manifest.format);
    }
    let database = database.with_context(|| format!("{} holds no database", from.display()))?;
    Ok(Unpacked { manifest, database, files, _dir: dir })
}

/// Restores the backup `from` into the configured installation; returns its manifest.
pub async fn restore(settings: &Settings, from: &Path, force: bool) -> anyhow::Result<Manifest> {
    let data_dir = &settings.data_dir;
    let u = unpack(from, data_dir)?;
    let target = backend(settings);
    if u.manifest.backend != target {
        bail!(
            "this is a {} backup and the configured database is {target}; restore it into a {} installation",
            u.manifest.backend,
            u.manifest.backend
        );
    }
    match &settings.database_url {
        Some(url) if settings.uses_postgres() => {
            let db = Database::connect(url).await?;
            let row = db
                .query_one_raw(Statement::from_string(
                    db.get_database_backend(),
                    "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = 'public'",
                ))
                .await?
                .context("no count")?;
            let tables: i64 = row.try_get("", "n")?;
            db.close().await?;
            if tables > 0 && !force {
                bail!("the database already holds {tables} tables; pass --force to replace its contents");
            }
            run(
                Command::new(pg_tool("pg_restore"))
                    .args(["--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction"])
                    .args(["--exit-on-error", "--dbname"])
                    .arg(url)
                    .arg(&u.database),
                "pg_restore",
            )?;
        }
        _ => {
            let _lock = lock_data_dir(data_dir)?;
            let integrity = {
                let db = Database::connect(sqlite_url(&u.database, "ro")).await?;
                let row = db
                    .query_one_raw(Statement::from_string(db.get_database_backend(), "PRAGMA integrity_check"))
                    .await?
                    .context("no integrity answer")?;
                let v: String = row.try_get_by_index(0)?;
                db.close().await?;
                v
            };
            if integrity != "ok" {
                bail!("the backup's database is damaged: {integrity}");
            }
            let live = data_dir.join(DB_FILE);
            if live.exists() {
                if !force {
                    bail!("{} already holds a database; pass --force to replace it", data_dir.display());
                }
                let kept = data_dir.join(format!("{DB_FILE}.before-restore-{}", Utc::now().format("%Y%m%dT%H%M%S")));
                std::fs::rename(&live, &kept)?;
                eprintln!("the replaced database is kept as {}", kept.display());
            }
            for suffix in ["-wal", "-shm"] {
                let _ = std::fs::remove_file(data_dir.join(format!("{DB_FILE}{suffix}")));
            }
            let staged = data_dir.join(format!("{DB_FILE}.restoring"));
            std::fs::copy(&u.database, &staged)?;
            File::open(&staged)?.sync_all()?;
            std::fs::rename(&staged, &live)?;
        }
    }
    for (rel, path) in &u.files {
        let dest = data_dir.join(rel);
        if dest.exists() && !force {
            eprintln!("kept the existing {} (pass --force to replace it)", dest.display());
            continue;
        }
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::copy(path, &dest)?;
    }
    if let Ok(d) = File::open(data_dir) {
        let _ = d.sync_all();
    }
    std::io::stderr().flush()?;
    Ok(u.manifest)
}
