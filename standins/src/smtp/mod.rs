//! The SMTP stand-in: a plain SMTP server on loopback (no TLS) that records each accepted
//! message, plus a small HTTP port for the control API.

mod message;
mod session;
mod wire;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::control::ControlOnly;
use crate::http::{ServerTask, serve};
use crate::record::{DEFAULT_TIMEOUT_DELAY, Recorder, control_methods};

/// How to start an [`SmtpStandin`].
#[derive(Debug, Clone)]
pub struct SmtpConfig {
    /// SMTP address to listen on; port 0 picks a free one.
    pub bind: SocketAddr,
    /// Address of the HTTP control API; port 0 picks a free one.
    pub control_bind: SocketAddr,
    /// Name used in the greeting and EHLO reply.
    pub hostname: String,
    /// When set, `AUTH PLAIN LOGIN` is advertised and required before `MAIL`.
    pub credentials: Option<(String, String)>,
    /// Largest message accepted, in bytes (advertised with `SIZE`).
    pub max_size: usize,
    /// How long the `timeout` fault holds the reply to DATA back.
    pub timeout_delay: Duration,
}

impl Default for SmtpConfig {
    fn default() -> Self {
        SmtpConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            control_bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            hostname: "smtp.standin.localhost".to_owned(),
            credentials: None,
            max_size: 10 * 1024 * 1024,
            timeout_delay: DEFAULT_TIMEOUT_DELAY,
        }
    }
}

/// A running SMTP stand-in; dropping it stops both ports.
pub struct SmtpStandin {
    addr: SocketAddr,
    control_addr: SocketAddr,
    recorder: Recorder,
    _smtp: ServerTask,
    _control: ServerTask,
}

impl SmtpStandin {
    /// Starts the SMTP server and its control port on the current tokio runtime.
    pub async fn start(config: SmtpConfig) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let control_listener = TcpListener::bind(config.control_bind).await?;
        let control_addr = control_listener.local_addr()?;
        let recorder = Recorder::new(config.timeout_delay);
        let settings = Arc::new(session::Settings {
            hostname: config.hostname,
            credentials: config.credentials,
            max_size: config.max_size,
            recorder: recorder.clone(),
        });
        let smtp = tokio::spawn(async move {
            // Sessions live in this set, so aborting the accept loop ends them too.
            let mut sessions = JoinSet::new();
            loop {
                let (stream, peer) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        tracing::warn!(error = %e, "smtp accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                while sessions.try_join_next().is_some() {}
                let settings = settings.clone();
                sessions.spawn(async move {
                    if let Err(e) = session::run(stream, settings).await {
                        tracing::debug!(%peer, error = %e, "smtp session ended");
                    }
                });
            }
        });
        let control = serve(control_listener, Arc::new(ControlOnly(recorder.clone())));
        Ok(SmtpStandin { addr, control_addr, recorder, _smtp: ServerTask::new(smtp), _control: control })
    }

    /// `smtp://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// The SMTP socket address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Base URL of the HTTP control API, e.g. `http://127.0.0.1:40124`.
    pub fn control_url(&self) -> String {
        format!("http://{}", self.control_addr)
    }

    /// The control API's socket address.
    pub fn control_addr(&self) -> SocketAddr {
        self.control_addr
    }

    control_methods!();
}
