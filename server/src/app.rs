//! Building and running the server: `Application::build` binds its own listener (port 0
//! picks a free one), wires the state and background tasks; `run_until_stopped` serves
//! until SIGINT/SIGTERM, then drains in-flight work and closes the database.

use crate::api;
use crate::auth::Auth;
use crate::config::Settings;
use crate::db::{Db, setting_or_init};
use crate::dispatch::Dispatcher;
use crate::idempotency::InFlight;
use crate::metrics::{self, Metrics};
use crate::state::AppState;
use crate::tickets::intake::Intake;
use actix_web::middleware::{ErrorHandlers, from_fn};
use actix_web::{App, HttpServer, web};
use rand::RngCore;
use secrecy::ExposeSecret;
use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;
use tracing_actix_web::TracingLogger;

/// A built, not yet running, server.
pub struct Application {
    port: u16,
    server: actix_web::dev::Server,
    writer: tokio::task::JoinHandle<()>,
    db: Db,
}

impl Application {
    /// Connects, migrates, loads the dispatcher and binds the listener.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let db = Db::connect(&settings).await?;
        db.migrate().await?;
        let secret = match &settings.jwt_secret {
            Some(s) => s.expose_secret().as_bytes().to_vec(),
            None => setting_or_init(&db, "jwt_secret", || {
                let mut b = [0u8; 32];
                rand::rng().fill_bytes(&mut b);
                hex::encode(b)
            })
            .await?
            .into_bytes(),
        };
        let auth = Auth::new(
            &secret,
            settings.access_token_ttl_secs,
            settings.refresh_token_ttl_secs,
        )?;
        if settings.demo {
            crate::demo::seed(&db).await?;
        }
        let dispatcher = Arc::new(Dispatcher::load(&db).await?);
        let metrics = Arc::new(Metrics::new()?);
        let (intake, writer) = Intake::start(
            db.clone(),
            dispatcher.clone(),
            metrics.clone(),
            settings.intake_max_inflight,
            settings.intake_batch_max,
            Duration::from_millis(settings.intake_admission_wait_ms),
        );
        let listener = TcpListener::bind(&settings.bind)?;
        let port = listener.local_addr()?.port();
        tracing::info!(
            port,
            database = db.backend_name(),
            experts = dispatcher.pool.lock().await.len(),
            "server built"
        );
        let max_body = settings.max_body_bytes;
        let state = web::Data::new(AppState {
            settings,
            db: db.clone(),
            auth,
            metrics,
            dispatcher,
            intake,
            inflight: Arc::new(InFlight::default()),
        });
        let server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(max_body))
                .wrap(ErrorHandlers::new().default_handler(api::ensure_problem))
                .wrap(from_fn(metrics::track))
                .wrap(TracingLogger::default())
                .configure(api::routes)
                .default_service(web::to(api::not_found))
        })
        .listen(listener)?
        .shutdown_timeout(10)
        .run();
        Ok(Self {
            port,
            server,
            writer,
            db,
        })
    }

    /// The bound port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until a shutdown signal, then lets in-flight requests finish, lets the
    /// intake writer drain, and closes the database.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.server.await?;
        // The server has stopped and dropped its state: the intake queue's senders are
        // gone, so the writer finishes what is queued and ends.
        if tokio::time::timeout(Duration::from_secs(15), self.writer)
            .await
            .is_err()
        {
            tracing::warn!("intake writer did not finish in time");
        }
        self.db.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}
