//! The operator's command line: `serve`, `migrate`, `create-admin`, `rotate-jwt-key`,
//! `backup`, `restore`, `bill`, `reports rebuild`.

use crate::app::Application;
use crate::auth::{Role, hash_password_blocking};
use crate::config::{Overrides, Settings};
use crate::db::Db;
use crate::db::entity::user;
use clap::{Parser, Subcommand};
use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter};
use std::path::PathBuf;

/// The Sysops Squad server.
#[derive(Debug, Parser)]
#[command(name = "sysops-server", version, about)]
pub struct Cli {
    /// A TOML configuration file (also SYSOPS_CONFIG); SYSOPS_* variables override it.
    #[arg(long, global = true, env = "SYSOPS_CONFIG")]
    pub config: Option<PathBuf>,
    /// Directory of the embedded SQLite database.
    #[arg(long, global = true)]
    pub data_dir: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs migrations, then serves HTTP until SIGINT or SIGTERM.
    Serve {
        /// Listen address (port 0 picks a free port).
        #[arg(long)]
        bind: Option<String>,
        /// Loads demo data once and prints its logins.
        #[arg(long)]
        demo: bool,
    },
    /// Applies pending migrations and exits.
    Migrate,
    /// Puts a new JWT signing key first in the key file (restart to use it); keys retired
    /// for longer than a refresh token lives are dropped.
    RotateJwtKey,
    /// Creates an administrator account (or resets its password).
    CreateAdmin {
        /// E-mail (the login).
        #[arg(long)]
        email: String,
        /// Password, 8 to 128 characters.
        #[arg(long)]
        password: String,
        /// Display name.
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
    /// Writes a consistent backup of the database and the data directory's keys to FILE,
    /// while the server keeps serving.
    Backup {
        /// Where to write the backup (a .tar.gz file).
        #[arg(long)]
        to: PathBuf,
    },
    /// Restores a backup written by `backup` into the configured database (stop the
    /// servers first).
    Restore {
        /// The backup file.
        #[arg(long)]
        from: PathBuf,
        /// Replace a database that already holds data (SQLite keeps the old file beside).
        #[arg(long)]
        force: bool,
    },
    /// Bills what is due: issues the invoices due on or before DATE (default: today) and
    /// charges them, each exactly once even while servers bill too (ADR 14).
    Bill {
        /// Last day to bill (YYYY-MM-DD); a future day only with the test clock.
        #[arg(long)]
        until: Option<chrono::NaiveDate>,
    },
    /// Reports' read model.
    Reports {
        /// What to do.
        #[command(subcommand)]
        command: ReportsCommand,
    },
}

/// `reports` subcommands.
#[derive(Debug, Subcommand)]
pub enum ReportsCommand {
    /// Empties the reports' read model and folds every ticket's events again (safe while
    /// servers run: their jobs carry on from the rebuild's start).
    Rebuild,
}

/// Runs the command line.
pub async fn run() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let (bind, demo) = match &cli.command {
        Command::Serve { bind, demo } => (bind.clone(), *demo),
        _ => (None, false),
    };
    let settings = Settings::load(cli.config.as_deref(), Overrides { data_dir: cli.data_dir.clone(), bind, demo })?;
    crate::telemetry::init(&settings.log_format);
    match cli.command {
        Command::Serve { .. } => {
            let app = Application::build(settings.clone()).await?;
            let host = settings.bind.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
            if settings.demo {
                crate::demo::print_logins();
                println!(
                    "demo mode: listening on loopback only; every message the server sends is shown at http://{host}:{}/dev/outbox",
                    app.port()
                );
            }
            println!("listening on {}://{host}:{}", settings.scheme(), app.port());
            app.run_until_stopped().await
        }
        Command::Backup { to } => {
            let m = crate::backup::backup(&settings, &to).await?;
            let size = std::fs::metadata(&to).map(|m| m.len()).unwrap_or(0);
            println!(
                "backup written to {} ({}, {} tickets, {} data-directory files, {:.1} MB)",
                to.display(),
                m.backend,
                m.tickets,
                m.files.len(),
                size as f64 / 1e6
            );
            Ok(())
        }
        Command::Restore { from, force } => {
            let m = crate::backup::restore(&settings, &from, force).await?;
            println!(
                "restored the {} backup of {} ({} tickets) into {}; migrations run when the server starts",
                m.backend,
                m.created_at.to_rfc3339(),
                m.tickets,
                if settings.uses_postgres() {
                    "the configured PostgreSQL database".to_owned()
                } else {
                    settings.data_dir.display().to_string()
                }
            );
            Ok(())
        }
        Command::Reports { command: ReportsCommand::Rebuild } => {
            let db = Db::connect(&settings).await?;
            db.migrate().await?;
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template("{msg} {wide_bar} {pos}/{len} tickets ({per_sec}, {eta} left)")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message("rebuilding reports");
            let started = std::time::Instant::now();
            let r = crate::reports::store::rebuild(&db, |done, total| {
                bar.set_length(total);
                bar.set_position(done);
            })
            .await?;
            bar.finish_and_clear();
            println!(
                "reports rebuilt from the events: {} tickets folded, {} cube cells written, in {:.1} s",
                r.tickets,
                r.cells,
                started.elapsed().as_secs_f64()
            );
            db.close().await;
            Ok(())
        }
        Command::Bill { until } => {
            let db = Db::connect(&settings).await?;
            db.migrate().await?;
            let node = format!("bill-{}", uuid::Uuid::new_v4().simple());
            let billing = crate::billing::Billing::from_settings(db.clone(), &settings, node, settings.public_base())?;
            let today = billing.clock().today();
            let until = until.unwrap_or(today);
            // Billing a day ahead (test clock only) charges as of that day's end.
            let now = if until > today { crate::billing::service::end_of(until) } else { billing.now() };
            let started = std::time::Instant::now();
            let bar = indicatif::ProgressBar::new(0).with_style(
                indicatif::ProgressStyle::with_template(
                    "{msg} {wide_bar} {pos}/{len} invoices ({per_sec}, {eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar.set_message(format!("billing up to {until}"));
            let progress = |done, total| {
                if total > 0 {
                    bar.set_length(total);
                }
                bar.set_position(done);
            };
            let s = match billing.run_with_total(until, now, &progress).await {
                Ok(s) => s,
                Err(e) => {
                    bar.abandon();
                    db.close().await;
                    anyhow::bail!("billing failed: {e}");
                }
            };
            bar.finish_and_clear();
            println!(
                "billed up to {until}: {} invoices issued, {} paid, {} declined, {} suspended, {} unknown (retried later \
                 with the same key), {} subscriptions cancelled, in {:.1} s",
                s.issued,
                s.paid,
                s.declined,
                s.suspended,
                s.unknown,
                s.cancelled,
                started.elapsed().as_secs_f64()
            );
            db.close().await;
            Ok(())
        }
        Command::Migrate => {
            let db = Db::connect(&settings).await?;
            db.migrate().await?;
            println!("migrations applied ({})", db.backend_name());
            db.close().await;
            Ok(())
        }
        Command::RotateJwtKey => {
            anyhow::ensure!(
                settings.jwt_keys.is_none() && settings.jwt_secret.is_none(),
                "JWT keys are configured (SYSOPS_JWT_KEYS / SYSOPS_JWT_SECRET): rotate them there"
            );
            let path = crate::auth::keys::key_file_path(&settings);
            let retire = settings.refresh_token_ttl_secs + settings.access_token_ttl_secs;
            let (kid, dropped) = crate::auth::keys::rotate(&path, retire)?;
            println!("new signing key {kid} in {}; restart every node that reads this file", path.display());
            if !dropped.is_empty() {
                println!("dropped retired keys: {}", dropped.join(", "));
            }
            Ok(())
        }
        Command::CreateAdmin { email, password, name } => {
            let email =
                sysops_core::text::Email::parse(&email).map_err(|e| anyhow::anyhow!("--email {}", e.message))?;
            let password = crate::auth::passwords::parse(&password, &[email.as_str(), name.as_str()])
                .map_err(|e| anyhow::anyhow!("--password {}", e.message))?;
            let name = sysops_core::text::Name::parse(&name).map_err(|e| anyhow::anyhow!("--name {}", e.message))?;
            let db = Db::connect(&settings).await?;
            db.migrate().await?;
            let hash = hash_password_blocking(password.expose())?;
            let existing = user::Entity::find().filter(user::Column::Email.eq(email.as_str())).one(&db.write).await?;
            match existing {
                Some(u) if u.role != Role::Admin.as_str() => {
                    anyhow::bail!("{email} already belongs to a {} account", u.role)
                }
                Some(u) => {
                    let mut am: user::ActiveModel = u.into();
                    am.password_hash = Set(hash);
                    sea_orm::ActiveModelTrait::update(am, &db.write).await?;
                    println!("administrator {email} already existed: password reset");
                }
                None => {
                    user::Entity::insert(user::ActiveModel {
                        id: Set(uuid::Uuid::now_v7()),
                        email: Set(email.to_string()),
                        password_hash: Set(hash),
                        role: Set(Role::Admin.as_str().to_owned()),
                        name: Set(name.to_string()),
                        created_at: Set(chrono::Utc::now()),
                        disabled: Set(false),
                    })
                    .exec_without_returning(&db.write)
                    .await?;
                    println!("administrator {email} created");
                }
            }
            db.close().await;
            Ok(())
        }
    }
}
