//! The FCM HTTP v1 stand-in: Google's OAuth2 token endpoint and `messages:send`, on loopback,
//! so the production sender (gcp_auth + reqwest) runs unchanged against it.

mod errors;
mod oauth;
mod send;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use hyper::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Request, StatusCode};
use rand::Rng;
use serde::Deserialize;
use serde_json::json;

pub use oauth::{CLOUD_PLATFORM_SCOPE, FCM_SCOPE};

use crate::control::{control, ok, parse_body};
use crate::http::{Handler, Reply, Resp, ServerTask, serve};
use crate::record::{DEFAULT_TIMEOUT_DELAY, Decision, Detail, Provider, Received, Recorder, control_methods};

/// Path of the stand-in's OAuth2 token endpoint.
pub const TOKEN_PATH: &str = "/token";

/// How to start an [`FcmStandin`].
#[derive(Debug, Clone)]
pub struct FcmConfig {
    /// Address to listen on; port 0 picks a free one.
    pub bind: SocketAddr,
    /// The Firebase project messages must be sent to.
    pub project_id: String,
    /// How long the `timeout` fault holds an answer back.
    pub timeout_delay: Duration,
}

impl Default for FcmConfig {
    fn default() -> Self {
        FcmConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            project_id: "sysops-standin".to_owned(),
            timeout_delay: DEFAULT_TIMEOUT_DELAY,
        }
    }
}

struct State {
    project_id: String,
    token_uri: String,
    account: oauth::ServiceAccount,
    tokens: oauth::Tokens,
    unregistered: Mutex<HashSet<String>>,
    recorder: Recorder,
}

/// A running FCM HTTP v1 stand-in; dropping it stops the server.
pub struct FcmStandin {
    addr: SocketAddr,
    state: Arc<State>,
    recorder: Recorder,
    _server: ServerTask,
}

impl FcmStandin {
    /// Generates a service-account key and starts serving on the current tokio runtime.
    pub async fn start(config: FcmConfig) -> std::io::Result<Self> {
        let project = config.project_id.clone();
        let account = tokio::task::spawn_blocking(move || oauth::ServiceAccount::generate(&project))
            .await
            .map_err(std::io::Error::other)??;
        // Bind first: the token URI written into the key must carry the real port.
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let recorder = Recorder::new(config.timeout_delay);
        let state = Arc::new(State {
            project_id: config.project_id,
            token_uri: format!("http://{addr}{TOKEN_PATH}"),
            account,
            tokens: oauth::Tokens::default(),
            unregistered: Mutex::new(HashSet::new()),
            recorder: recorder.clone(),
        });
        let server = serve(listener, state.clone());
        Ok(FcmStandin { addr, state, recorder, _server: server })
    }

    /// Base URL to configure as the FCM endpoint, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The OAuth2 token endpoint written as `token_uri` into the key file.
    pub fn token_uri(&self) -> &str {
        &self.state.token_uri
    }

    /// The project id messages must be sent to.
    pub fn project_id(&self) -> &str {
        &self.state.project_id
    }

    /// The service account's `client_email` (the JWT `iss` the token endpoint expects).
    pub fn client_email(&self) -> &str {
        &self.state.account.client_email
    }

    /// The service-account JSON key file, with a PKCS#8 PEM private key and `token_uri`
    /// pointing at this stand-in.
    pub fn service_account_json(&self) -> String {
        let key = self.state.account.key_file(&self.state.project_id, &self.state.token_uri);
        serde_json::to_string_pretty(&key).unwrap_or_default()
    }

    /// Writes [`Self::service_account_json`] to `path`.
    pub fn write_service_account(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.service_account_json())
    }

    /// From now on, sends to this registration token fail with 404 `UNREGISTERED`.
    pub fn unregister_token(&self, token: &str) {
        self.state.unregistered().insert(token.to_owned());
    }

    control_methods!();
}

impl State {
    fn unregistered(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.unregistered.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn token_request(&self, req: &Request<Bytes>) -> Resp {
        if crate::http::media_type(req) != "application/x-www-form-urlencoded" {
            return crate::http::json(
                StatusCode::BAD_REQUEST,
                &json!({
                    "error": "invalid_request",
                    "error_description": "Bad Request: expected application/x-www-form-urlencoded",
                }),
            );
        }
        let form: Vec<(String, String)> = url::form_urlencoded::parse(req.body()).into_owned().collect();
        oauth::token_endpoint(&self.account, &self.token_uri, &self.tokens, &form)
    }

    fn unauthenticated(message: &str) -> Resp {
        let mut resp = errors::fcm_error(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", message, vec![]);
        resp.headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"https://accounts.google.com/\""));
        resp
    }

    fn send(&self, project: &str, req: &Request<Bytes>) -> Reply {
        const SEE: &str = "Expected OAuth 2 access token, login cookie or other valid \
            authentication credential. See \
            https://developers.google.com/identity/sign-in/web/devconsole-project.";
        let bearer =
            req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(|v| v.strip_prefix("Bearer "));
        let Some(bearer) = bearer else {
            return Reply::Now(Self::unauthenticated(&format!(
                "Request is missing required authentication credential. {SEE}"
            )));
        };
        if !self.tokens.valid(bearer.trim()) {
            return Reply::Now(Self::unauthenticated(&format!(
                "Request had invalid authentication credentials. {SEE}"
            )));
        }
        if project != self.project_id {
            return Reply::Now(errors::fcm_error(
                StatusCode::FORBIDDEN,
                "PERMISSION_DENIED",
                &format!(
                    "Permission 'cloudmessaging.messages.create' denied on resource \
                     '//cloudresourcemanager.googleapis.com/projects/{project}' (or it may not exist)."
                ),
                vec![],
            ));
        }
        let checked = match send::check(req.body()) {
            Ok(checked) => checked,
            Err(resp) => return Reply::Now(*resp),
        };
        if checked.validate_only {
            return Reply::Now(crate::http::json(
                StatusCode::OK,
                &json!({ "name": format!("projects/{project}/messages/fake_message_id") }),
            ));
        }
        let gone = checked.token.as_ref().is_some_and(|t| self.unregistered().contains(t));
        if gone || self.recorder.permanent() {
            return Reply::Now(errors::unregistered());
        }
        let delay = match self.recorder.decide() {
            Decision::Fail { unavailable } => return Reply::Now(errors::transient(unavailable)),
            Decision::Drop => return Reply::Drop,
            Decision::Timeout(delay) => Some(delay),
            Decision::Deliver => None,
        };
        self.recorder.record(Received {
            provider: Provider::Fcm,
            at: chrono::Utc::now(),
            recipient: checked.recipient,
            dedupe_id: checked.dedupe_id,
            delayed: delay.is_some(),
            detail: Detail::Fcm { project: project.to_owned(), message: checked.message },
        });
        let id = format!("0:{}%{:016x}", chrono::Utc::now().timestamp_micros(), rand::rng().random::<u64>());
        let resp = crate::http::json(StatusCode::OK, &json!({ "name": format!("projects/{project}/messages/{id}") }));
        match delay {
            Some(delay) => Reply::After(delay, resp),
            None => Reply::Now(resp),
        }
    }

    fn fcm_control(&self, req: &Request<Bytes>) -> Option<Resp> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Token {
            token: String,
        }
        match (req.method(), req.uri().path()) {
            (&Method::POST, "/_standin/unregister") => Some(match parse_body::<Token>(req) {
                Ok(t) => {
                    self.unregistered().insert(t.token);
                    ok()
                }
                Err(resp) => *resp,
            }),
            (&Method::POST, "/_standin/reset") => {
                self.unregistered().clear();
                control(&self.recorder, req)
            }
            _ => control(&self.recorder, req),
        }
    }
}

impl Handler for State {
    async fn handle(self: Arc<Self>, req: Request<Bytes>) -> Reply {
        if let Some(resp) = self.fcm_control(&req) {
            return Reply::Now(resp);
        }
        let path = req.uri().path().to_owned();
        if req.method() == Method::POST && path == TOKEN_PATH {
            return Reply::Now(self.token_request(&req));
        }
        let project = path
            .strip_prefix("/v1/projects/")
            .and_then(|rest| rest.strip_suffix("/messages:send"))
            .filter(|p| !p.is_empty() && !p.contains('/'));
        match project {
            Some(project) if req.method() == Method::POST => self.send(project, &req),
            _ => Reply::Now(errors::fcm_error(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "The requested URL was not found on this server.",
                vec![],
            )),
        }
    }
}
