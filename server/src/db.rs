//! The database: one connection for writes and a pool for reads on SQLite (WAL, one
//! writer, durable commits), or one shared pool on PostgreSQL; the entities; and the
//! settings kept in the database (the JWT signing key).

pub mod entity;

use crate::config::Settings;
use anyhow::Context;
use sea_orm::sqlx::postgres::PgPoolOptions;
use sea_orm::sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sea_orm::{
    DatabaseBackend, DatabaseConnection, DatabaseTransaction, DbErr, EntityTrait, SqlErr, SqliteTransactionMode,
    SqlxPostgresConnector, SqlxSqliteConnector, Statement, TransactionOptions, TransactionTrait,
};
use std::time::Duration;
use sysops_schema::{Migrator, MigratorTrait};

/// The server's database handles.
#[derive(Clone)]
pub struct Db {
    /// For reads (several connections).
    pub read: DatabaseConnection,
    /// For writes: on SQLite a single connection, so writers queue here instead of
    /// failing with SQLITE_BUSY; on PostgreSQL the same pool as `read`.
    pub write: DatabaseConnection,
}

impl Db {
    /// Connects as `settings` say, creating the SQLite file (and its directory) if needed.
    pub async fn connect(settings: &Settings) -> anyhow::Result<Self> {
        if settings.uses_postgres() {
            let url = settings.database_url.as_deref().unwrap_or_default();
            let pool = PgPoolOptions::new()
                .max_connections(settings.db_pool_size.max(2))
                .acquire_timeout(Duration::from_secs(10))
                .connect(url)
                .await
                .with_context(|| "cannot connect to PostgreSQL (SYSOPS_DATABASE_URL)")?;
            let db = SqlxPostgresConnector::from_sqlx_postgres_pool(pool);
            return Ok(Self { read: db.clone(), write: db });
        }
        if let Some(url) = settings.database_url.as_deref() {
            anyhow::bail!("unsupported SYSOPS_DATABASE_URL {url:?}: use postgres://… or leave it unset for SQLite");
        }
        std::fs::create_dir_all(&settings.data_dir)
            .with_context(|| format!("cannot create the data directory {}", settings.data_dir.display()))?;
        let path = settings.data_dir.join("sysops.db");
        let opts = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // FULL: a commit is on disk before we answer; group commit amortises the fsync.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
            .pragma("temp_store", "memory")
            .pragma("cache_size", "-32000");
        let write_pool = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(Duration::from_secs(30))
            .connect_with(opts.clone())
            .await
            .with_context(|| format!("cannot open the SQLite database {}", path.display()))?;
        let read_pool = SqlitePoolOptions::new()
            .max_connections(settings.db_pool_size.max(1))
            .acquire_timeout(Duration::from_secs(10))
            // A smaller page cache per reader (8 MB, the writer keeps 32 MB): the
            // operating system caches the file once for all of them.
            .connect_with(opts.read_only(true).pragma("cache_size", "-8000"))
            .await?;
        Ok(Self {
            read: SqlxSqliteConnector::from_sqlx_sqlite_pool(read_pool),
            write: SqlxSqliteConnector::from_sqlx_sqlite_pool(write_pool),
        })
    }

    /// Which database this is.
    pub fn backend(&self) -> DatabaseBackend {
        self.write.get_database_backend()
    }

    /// Applies every pending migration.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        Migrator::up(&self.write, None).await.context("migration failed")
    }

    /// Starts a write transaction (IMMEDIATE on SQLite, so it never fails half-way on a
    /// lock upgrade).
    pub async fn begin_write(&self) -> Result<DatabaseTransaction, DbErr> {
        self.write
            .begin_with_options(TransactionOptions {
                sqlite_transaction_mode: Some(SqliteTransactionMode::Immediate),
                ..Default::default()
            })
            .await
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend() {
            DatabaseBackend::Postgres => "postgres",
            _ => "sqlite",
        }
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> bool {
        self.read.ping().await.is_ok()
    }

    /// Closes the pools (flushes the WAL on SQLite).
    pub async fn close(self) {
        let _ = self.read.close().await;
        let _ = self.write.close().await;
    }
}

/// Whether `e` means the database is unreachable for a moment (a restart, a failover, a
/// connection cut by an administrator, the pool exhausted) rather than that the request
/// was wrong: the caller should retry, and clients get 503 with `Retry-After`, not 500.
pub fn is_unavailable(e: &DbErr) -> bool {
    use sea_orm::RuntimeErr;
    use sea_orm::sqlx::Error as Sqlx;
    let sqlx = match e {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => return true,
        DbErr::Exec(RuntimeErr::SqlxError(x)) | DbErr::Query(RuntimeErr::SqlxError(x)) => x,
        _ => return false,
    };
    match sqlx.as_ref() {
        Sqlx::Io(_) | Sqlx::PoolTimedOut | Sqlx::PoolClosed | Sqlx::WorkerCrashed => true,
        // SQLSTATE class 08 (connection exception) and 57P (operator intervention:
        // admin shutdown, crash shutdown, cannot connect now).
        Sqlx::Database(d) => d.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")),
        _ => false,
    }
}

/// Whether `e` is a unique-constraint violation.
pub fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_)))
}

/// Reads a stored setting, creating it with `make()` if absent (safe when several
/// nodes race: the first writer wins and everyone reads its value).
pub async fn setting_or_init(db: &Db, key: &str, make: impl FnOnce() -> String) -> anyhow::Result<String> {
    use entity::server_setting as s;
    use sea_orm::{ActiveValue::Set, sea_query::OnConflict};
    if let Some(row) = s::Entity::find_by_id(key.to_owned()).one(&db.write).await? {
        return Ok(row.value);
    }
    let row = s::ActiveModel { key: Set(key.to_owned()), value: Set(make()) };
    s::Entity::insert(row)
        .on_conflict(OnConflict::column(s::Column::Key).do_nothing().to_owned())
        .exec_without_returning(&db.write)
        .await?;
    let row = s::Entity::find_by_id(key.to_owned()).one(&db.write).await?.context("setting vanished")?;
    Ok(row.value)
}

/// A raw statement written with PostgreSQL's numbered placeholders (`$1`, `$2`, …).
/// On SQLite the placeholders become anonymous `?` with the values in the order they
/// appear (a number used twice binds its value twice): sqlx looks up every numbered
/// parameter's name to bind it, and SQLite finds a name by walking the statement's list
/// of names, so binding `n` numbered parameters costs `n²` (4% of the billing run's CPU
/// with 800-parameter inserts). Anonymous ones have no names to walk.
pub fn statement(backend: DatabaseBackend, sql: &str, values: Vec<sea_orm::Value>) -> Statement {
    if backend == DatabaseBackend::Sqlite
        && let Some((sql, values)) = anonymous_placeholders(sql, &values)
    {
        return Statement::from_sql_and_values(backend, sql, values);
    }
    Statement::from_sql_and_values(backend, sql, values)
}

/// `$N` outside quoted strings and identifiers → `?`, with the values reordered; `None`
/// when there is nothing to change or a number has no value (left to the database to
/// report).
fn anonymous_placeholders(sql: &str, values: &[sea_orm::Value]) -> Option<(String, Vec<sea_orm::Value>)> {
    if !sql.contains('$') {
        return None;
    }
    let mut out = String::with_capacity(sql.len());
    let mut ordered = Vec::with_capacity(values.len());
    let mut quote: Option<char> = None;
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '$' && chars.peek().is_some_and(|(_, d)| d.is_ascii_digit()) => {
                let mut n = 0usize;
                while let Some((_, d)) = chars.peek().copied().filter(|(_, d)| d.is_ascii_digit()) {
                    n = n.checked_mul(10)?.checked_add(d.to_digit(10)? as usize)?;
                    chars.next();
                }
                ordered.push(values.get(n.checked_sub(1)?)?.clone());
                out.push('?');
            }
            None => out.push(c),
        }
    }
    Some((out, ordered))
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::Value;

    #[test]
    fn numbered_placeholders_become_anonymous_in_order() {
        let v = |s: &str| Value::from(s.to_owned());
        let (sql, values) = anonymous_placeholders(
            "SELECT $2, '$1 stays', \"a$1\", $1, $2, $10",
            &(1..=10).map(|i| v(&i.to_string())).collect::<Vec<_>>(),
        )
        .unwrap();
        assert_eq!(sql, "SELECT ?, '$1 stays', \"a$1\", ?, ?, ?");
        assert_eq!(values, vec![v("2"), v("1"), v("2"), v("10")]);
        // A number with no value is left for the database to refuse.
        assert_eq!(anonymous_placeholders("SELECT $3", &[v("1")]), None);
        assert_eq!(anonymous_placeholders("SELECT ?", &[v("1")]), None);
        // PostgreSQL keeps its own placeholders.
        let s = statement(DatabaseBackend::Postgres, "SELECT $1", vec![v("x")]);
        assert_eq!(s.sql, "SELECT $1");
        let s = statement(DatabaseBackend::Sqlite, "SELECT $1, $1", vec![v("x")]);
        assert_eq!(s.sql, "SELECT ?, ?");
        assert_eq!(s.values.map(|x| x.0.len()), Some(2));
    }
}
