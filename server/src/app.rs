//! Building and running the server: `Application::build` binds its own listener (port 0
//! picks a free one), wires the state and background tasks; `run_until_stopped` serves
//! until SIGINT/SIGTERM, then drains in-flight work and closes the database.

use crate::api;
use crate::auth::Auth;
use crate::config::Settings;
use crate::db::Db;
use crate::dispatch::Dispatcher;
use crate::idempotency::InFlight;
use crate::metrics::{self, Metrics};
use crate::notify::Notifier;
use crate::notify::providers::Providers;
use crate::notify::templates::Templates;
use crate::notify::worker::{Worker, WorkerConfig};
use crate::state::AppState;
use crate::tickets::intake::{Intake, Writer};
use crate::tickets::survey::SurveyKeys;
use crate::tickets::{Rules, Tickets};
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing_actix_web::TracingLogger;

/// A built, not yet running, server.
pub struct Application {
    port: u16,
    sync: Arc<crate::sync::SyncHub>,
    sync_rt: tokio::runtime::Runtime,
    server: actix_web::dev::Server,
    writer: tokio::task::JoinHandle<()>,
    background: Vec<tokio::task::JoinHandle<()>>,
    shutdown: CancellationToken,
    db: Db,
    /// SQLite: the data directory's serving lock, held until the server stops.
    _lock: Option<std::fs::File>,
    /// `--demo` without a Stripe key: the in-process Stripe stand-in.
    _stripe: Option<sysops_standins::StripeStandin>,
}

impl Application {
    /// Connects, migrates, loads the dispatcher, starts the background tasks and binds
    /// the listener.
    pub async fn build(mut settings: Settings) -> anyhow::Result<Self> {
        // Read first: a bad certificate stops the start before anything runs.
        let tls = crate::tls::server_config(&settings)?;
        let lock =
            if settings.uses_postgres() { None } else { Some(crate::backup::lock_data_dir(&settings.data_dir)?) };
        let db = Db::connect(&settings).await?;
        db.migrate().await?;
        let keys = crate::auth::keys::load(&settings, &db, settings.refresh_token_ttl_secs).await?;
        let hash_threads = match settings.password_hash_threads {
            0 => crate::auth::hashing::Hasher::default_threads(),
            n => n,
        };
        crate::auth::passwords::warm();
        crate::auth::configure_hashing(hash_threads, Duration::from_millis(settings.password_hash_wait_ms));
        let auth = Auth::new(
            &keys,
            settings.access_token_ttl_secs,
            settings.refresh_token_ttl_secs,
            Duration::from_secs(settings.auth_cache_secs),
        )?;
        if settings.demo {
            ensure_loopback(&settings.bind)?;
            crate::demo::seed(&db).await?;
        }
        let listener = TcpListener::bind(&settings.bind)?;
        let port = listener.local_addr()?.port();
        let public_base = match &settings.public_url {
            Some(u) => u.trim_end_matches('/').to_owned(),
            None => {
                let host = settings.bind.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h);
                let host = if host == "0.0.0.0" { "127.0.0.1" } else { host };
                format!("{}://{host}:{port}", settings.scheme())
            }
        };
        let dispatcher = Arc::new(Dispatcher::load(&db).await?);
        if let (true, Some(url)) = (settings.uses_postgres(), settings.database_url.clone()) {
            tokio::spawn(crate::dispatch::peers::run(dispatcher.clone(), db.clone(), url));
        }
        let metrics = Arc::new(Metrics::new()?);
        let notifier = Arc::new(Notifier {
            templates: Templates::load(settings.templates_dir.as_deref())?,
            wake: Arc::new(tokio::sync::Notify::new()),
            public_url: public_base.clone(),
        });
        // Device sync runs its repository on a runtime of its own.
        let sync_rt =
            tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("sync").enable_all().build()?;
        let (sync_handle, intents) = crate::sync::SyncHandle::channel();
        let node = settings.node_name()?;
        let (sync, sync_inputs) = crate::sync::SyncHub::start(
            db.clone(),
            node.clone(),
            sync_rt.handle().clone(),
            sync_handle.clone(),
            intents,
            (settings.sync_max_new_documents, settings.sync_max_unavailable),
            crate::sync::hub::Cache {
                documents: settings.sync_cache_documents,
                idle: Duration::from_secs(settings.sync_idle_close_secs),
                entries: settings.sync_cache_entries,
            },
        )
        .await?;
        for c in sync.collectors() {
            metrics.register(c)?;
        }
        sync_rt.spawn(crate::sync::reconcile::run(sync.clone(), sync_inputs.intents));
        if let (true, Some(url)) = (settings.uses_postgres(), settings.database_url.clone()) {
            sync_rt.spawn(crate::sync::pgnotify::run(sync.clone(), url));
        }
        let (intake, writer) = Intake::start(
            Writer {
                db: db.clone(),
                dispatcher: dispatcher.clone(),
                notifier: notifier.clone(),
                metrics: metrics.clone(),
                batch_max: settings.intake_batch_max,
                sync: sync_handle.clone(),
            },
            settings.intake_max_inflight,
            Duration::from_millis(settings.intake_admission_wait_ms),
        );
        let shutdown = CancellationToken::new();
        let providers = Arc::new(Providers::from_settings(&settings, &public_base)?);
        let worker = Worker::new(
            db.clone(),
            providers,
            node.clone(),
            notifier.wake.clone(),
            WorkerConfig {
                batch: settings.outbox_batch,
                concurrency: settings.outbox_concurrency,
                lease_ms: settings.outbox_lease_ms,
                max_attempts: settings.outbox_max_attempts,
                base_delay_ms: settings.outbox_base_delay_ms,
                max_delay_ms: settings.outbox_max_delay_ms,
                poll_ms: settings.poll_ms,
            },
            &metrics,
        )?;
        let mut background = vec![
            worker.spawn(shutdown.clone()),
            crate::auth::spawn_housekeeping(
                db.clone(),
                crate::auth::throttle::Limits::from_settings(&settings),
                shutdown.clone(),
            ),
        ];
        // Billing (ADR 14, 15): a job on every node; in --demo with no key, the Stripe
        // stand-in runs in-process on loopback.
        let stripe_standin = crate::billing::job::demo_standin(&mut settings, &public_base).await?;
        let billing =
            Arc::new(crate::billing::Billing::from_settings(db.clone(), &settings, node.clone(), public_base.clone())?);
        background.push(crate::billing::job::spawn(
            billing.clone(),
            Duration::from_millis(settings.billing_poll_ms),
            Arc::new(tokio::sync::Notify::new()),
            notifier.wake.clone(),
            shutdown.clone(),
        ));
        let experts = dispatcher.pool().len();
        tracing::info!(port, node, database = db.backend_name(), experts, "server built");
        let max_body = settings.max_body_bytes;
        let inflight = Arc::new(InFlight::default());
        let tickets = Arc::new(Tickets::new(
            db.clone(),
            dispatcher.clone(),
            notifier.clone(),
            sync_handle.clone(),
            SurveyKeys::derive(keys.link_secret()),
            Rules::from_settings(&settings),
            intake,
            inflight.clone(),
        ));
        background.push(crate::tickets::jobs::spawn(tickets.clone(), shutdown.clone()));
        // Reports' read model: its own task, never inside intake's transactions (ADR 16).
        background.push(crate::reports::store::spawn(db.clone(), Duration::from_millis(500), shutdown.clone()));
        sync_rt.spawn(crate::sync::projection::run(tickets.clone(), sync.clone(), sync_inputs.synced));
        let metrics_data = web::Data::from(metrics.clone());
        let sessions = crate::web::session::Sessions::load(&settings, &db).await?;
        let live = crate::web::live::Live::new(db.clone(), shutdown.clone());
        let state = web::Data::new(AppState {
            settings,
            db: db.clone(),
            auth,
            metrics,
            tickets,
            dispatcher,
            inflight,
            notifier,
            public_base,
            sync: sync.clone(),
            billing,
        });
        if let (true, Some(url)) = (state.settings.uses_postgres(), state.settings.database_url.clone()) {
            // Ends with the process (it holds only a listening connection).
            tokio::spawn(crate::auth::status::run_listener(state.clone(), url));
        }
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(metrics_data.clone())
                .app_data(web::PayloadConfig::new(max_body))
                .wrap(from_fn(api::edge::head_as_get))
                .wrap(ErrorHandlers::new().default_handler(api::ensure_problem))
                .wrap(from_fn(api::edge::security_headers))
                .wrap(from_fn(metrics::track))
                .wrap(TracingLogger::<crate::telemetry::requests::RequestSpans>::new())
                .wrap(from_fn(api::refuse_upgrades))
                .configure(api::routes)
                .configure(|c| crate::web::configure(c, &sessions, &live))
                .default_service(web::to(api::not_found))
        });
        let server = match tls {
            Some(tls) => server.listen_rustls_0_23(listener, tls)?,
            None => server.listen(listener)?,
        };
        let server = server
            // Small frames (a sync message relayed to another device) go out at once instead
            // of waiting for the peer's delayed ACK (Nagle).
            .tcp_nodelay(true)
            .shutdown_timeout(10)
            // Signals are ours (see `run_until_stopped`): sync sessions must close before
            // actix waits for connections to end.
            .disable_signals()
            .run();
        Ok(Self { port, sync, sync_rt, server, writer, background, shutdown, db, _lock: lock, _stripe: stripe_standin })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until a shutdown signal, then lets in-flight requests finish, lets the
    /// intake writer drain and the outbox worker finish its sends, and closes the
    /// database.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let mut server = self.server;
        tokio::select! {
            r = &mut server => r?,
            () = stop_signal() => {
                tracing::info!("shutting down");
                self.sync.closing.cancel();
                self.shutdown.cancel();
                // The server future must be polled for the stop command to be carried out.
                let (_, r) = tokio::join!(handle.stop(true), server);
                r?;
            }
        }
        self.sync.closing.cancel();
        self.shutdown.cancel();
        for task in self.background {
            if tokio::time::timeout(Duration::from_secs(15), task).await.is_err() {
                tracing::warn!("a background task did not finish in time");
            }
        }
        // The server and the jobs have dropped the state: the intake queue's senders are
        // gone, so the writer finishes what is queued and ends.
        if tokio::time::timeout(Duration::from_secs(15), self.writer).await.is_err() {
            tracing::warn!("intake writer did not finish in time");
        }
        if tokio::time::timeout(Duration::from_secs(15), self.sync.stop()).await.is_err() {
            tracing::warn!("the sync repository did not stop in time");
        }
        self.sync_rt.shutdown_background();
        self.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Demo mode prints logins and shows every message (addresses, survey links) on
/// `/dev/outbox`: it is for a laptop, so it listens on loopback only.
fn ensure_loopback(bind: &str) -> anyhow::Result<()> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<std::net::SocketAddr> = bind.to_socket_addrs().map(Iterator::collect).unwrap_or_default();
    anyhow::ensure!(
        !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback()),
        "--demo listens on loopback only (it shows demo logins and every outgoing message on /dev/outbox), but \
         --bind is {bind:?}; use --bind 127.0.0.1:PORT, or run without --demo"
    );
    Ok(())
}

/// SIGINT or SIGTERM.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (signal(SignalKind::terminate()), signal(SignalKind::interrupt())) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
