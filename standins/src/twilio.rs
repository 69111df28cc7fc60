//! The Twilio Messages stand-in: `POST /2010-04-01/Accounts/{sid}/Messages.json` with basic
//! auth and a form body, answered with Twilio's message resource or error JSON.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use hyper::header::{AUTHORIZATION, HeaderValue, WWW_AUTHENTICATE};
use hyper::{Method, Request, StatusCode};
use rand::Rng;
use serde_json::{Value, json};

use crate::control::control;
use crate::http::{Handler, Refusal, Reply, Resp, ServerTask, refuse, serve};
use crate::record::{DEFAULT_TIMEOUT_DELAY, Decision, Detail, Provider, Received, Recorder, control_methods};

/// Twilio's API version, the first path segment.
const API_VERSION: &str = "2010-04-01";
/// Longest body Twilio accepts, in characters.
const MAX_BODY_CHARS: usize = 1600;

/// How to start a [`TwilioStandin`].
#[derive(Debug, Clone)]
pub struct TwilioConfig {
    /// Address to listen on; port 0 picks a free one.
    pub bind: SocketAddr,
    /// The account SID (`AC` + 32 hex) requests must name and authenticate as.
    pub account_sid: String,
    /// The auth token (basic-auth password).
    pub auth_token: String,
    /// How long the `timeout` fault holds an answer back.
    pub timeout_delay: Duration,
}

impl Default for TwilioConfig {
    fn default() -> Self {
        TwilioConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            account_sid: format!("AC{}", "0".repeat(32)),
            auth_token: "standin-auth-token".to_owned(),
            timeout_delay: DEFAULT_TIMEOUT_DELAY,
        }
    }
}

struct State {
    account_sid: String,
    auth_token: String,
    recorder: Recorder,
}

/// A running Twilio Messages stand-in; dropping it stops the server.
pub struct TwilioStandin {
    addr: SocketAddr,
    account_sid: String,
    auth_token: String,
    recorder: Recorder,
    _server: ServerTask,
}

impl TwilioStandin {
    /// Starts serving on the current tokio runtime.
    pub async fn start(config: TwilioConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let recorder = Recorder::new(config.timeout_delay);
        let state = Arc::new(State {
            account_sid: config.account_sid.clone(),
            auth_token: config.auth_token.clone(),
            recorder: recorder.clone(),
        });
        Ok(TwilioStandin {
            addr,
            account_sid: config.account_sid,
            auth_token: config.auth_token,
            recorder,
            _server: serve(listener, state),
        })
    }

    /// Base URL to configure in place of `https://api.twilio.com`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The account SID it accepts.
    pub fn account_sid(&self) -> &str {
        &self.account_sid
    }

    /// The auth token it accepts.
    pub fn auth_token(&self) -> &str {
        &self.auth_token
    }

    control_methods!();
}

/// A Twilio error body: `{"code", "message", "more_info", "status"}`.
fn twilio_error(status: StatusCode, code: u32, message: &str) -> Resp {
    crate::http::json(
        status,
        &json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status.as_u16(),
        }),
    )
}

/// E.164: `+`, a non-zero digit, 7 to 15 digits in all; channel prefixes such as
/// `whatsapp:` are allowed in front.
fn valid_phone(number: &str) -> bool {
    let number = number.split_once(':').map_or(number, |(_, n)| n);
    number.strip_prefix('+').is_some_and(|digits| {
        (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0')
    })
}

/// A `From`: a phone number, a 5–6 digit short code, or an alphanumeric sender id.
fn valid_sender(from: &str) -> bool {
    let short_code = (5..=6).contains(&from.len()) && from.bytes().all(|b| b.is_ascii_digit());
    let alphanumeric = (1..=11).contains(&from.len())
        && from.bytes().any(|b| b.is_ascii_alphabetic())
        && from.bytes().all(|b| b.is_ascii_alphanumeric() || b == b' ' || b == b'-' || b == b'_');
    valid_phone(from) || short_code || alphanumeric
}

fn segments(body: &str) -> usize {
    let (single, multi) = if body.is_ascii() { (160, 153) } else { (70, 67) };
    let len = body.chars().count();
    if len <= single { 1 } else { len.div_ceil(multi) }
}

impl State {
    fn authenticated(&self, req: &Request<Bytes>) -> Result<(), Refusal> {
        let credentials = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b64| STANDARD.decode(b64.trim()).ok())
            .and_then(|raw| String::from_utf8(raw).ok());
        let ok = credentials.as_deref().and_then(|c| c.split_once(':'))
            == Some((self.account_sid.as_str(), self.auth_token.as_str()));
        if ok {
            return Ok(());
        }
        let message =
            if credentials.is_none() { "Authentication Error - No credentials provided" } else { "Authenticate" };
        let mut resp = twilio_error(StatusCode::UNAUTHORIZED, 20003, message);
        resp.headers_mut().insert(WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"Twilio API\""));
        Err(refuse(resp))
    }

    fn create_message(&self, account: &str, req: &Request<Bytes>) -> Reply {
        if let Err(resp) = self.authenticated(req) {
            return Reply::Now(*resp);
        }
        if account != self.account_sid {
            return Reply::Now(not_found(req.uri().path()));
        }
        // Like Twilio, read parameters only from a form body; anything else carries none.
        let form: Vec<(String, String)> = if crate::http::media_type(req) == "application/x-www-form-urlencoded" {
            url::form_urlencoded::parse(req.body()).into_owned().collect()
        } else {
            Vec::new()
        };
        let field =
            |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
        let bad = |code, message: String| Reply::Now(twilio_error(StatusCode::BAD_REQUEST, code, &message));
        let Some(to) = field("To") else {
            return bad(21604, "A 'To' phone number is required.".to_owned());
        };
        if !valid_phone(to) {
            return bad(21211, format!("Invalid 'To' Phone Number: {to}"));
        }
        let from = field("From");
        let service = field("MessagingServiceSid");
        match (from, service) {
            (None, None) => return bad(21603, "A 'From' phone number is required.".to_owned()),
            (Some(from), _) if !valid_sender(from) => {
                return bad(21212, format!("Invalid From Number (caller ID): {from}"));
            }
            (Some(from), _) if from == to => {
                return bad(21266, "'To' and 'From' number cannot be the same".to_owned());
            }
            _ => {}
        }
        let body = field("Body").unwrap_or_default();
        if body.is_empty() && field("MediaUrl").is_none() && field("ContentSid").is_none() {
            return bad(21602, "Message body is required.".to_owned());
        }
        if body.chars().count() > MAX_BODY_CHARS {
            return bad(21617, "The concatenated message body exceeds the 1600 character limit.".to_owned());
        }
        if self.recorder.permanent() {
            return bad(21211, format!("Invalid 'To' Phone Number: {to}"));
        }
        let delay = match self.recorder.decide() {
            Decision::Fail { unavailable: true } => {
                return Reply::Now(twilio_error(StatusCode::SERVICE_UNAVAILABLE, 20503, "Service Unavailable"));
            }
            Decision::Fail { unavailable: false } => {
                return Reply::Now(twilio_error(StatusCode::INTERNAL_SERVER_ERROR, 20500, "Internal Server Error"));
            }
            Decision::Drop => return Reply::Drop,
            Decision::Timeout(delay) => Some(delay),
            Decision::Deliver => None,
        };
        let sid = format!("SM{:032x}", rand::rng().random::<u128>());
        let dedupe_id = field("StatusCallback")
            .and_then(|cb| url::Url::parse(cb).ok())
            .and_then(|cb| cb.query_pairs().find(|(k, _)| k == "message_id").map(|(_, v)| v.into_owned()));
        let now = chrono::Utc::now();
        let date = now.format("%a, %d %b %Y %H:%M:%S %z").to_string();
        let uri = format!("/{API_VERSION}/Accounts/{account}/Messages/{sid}.json");
        let resource = json!({
            "account_sid": account,
            "api_version": API_VERSION,
            "body": body,
            "date_created": date,
            "date_sent": Value::Null,
            "date_updated": date,
            "direction": "outbound-api",
            "error_code": Value::Null,
            "error_message": Value::Null,
            "from": from,
            "messaging_service_sid": service,
            "num_media": if field("MediaUrl").is_some() { "1" } else { "0" },
            "num_segments": segments(body).to_string(),
            "price": Value::Null,
            "price_unit": "USD",
            "sid": sid,
            "status": if service.is_some() && from.is_none() { "accepted" } else { "queued" },
            "subresource_uris": {
                "media": format!("/{API_VERSION}/Accounts/{account}/Messages/{sid}/Media.json"),
            },
            "to": to,
            "uri": uri,
        });
        self.recorder.record(Received {
            provider: Provider::Twilio,
            at: now,
            recipient: to.to_owned(),
            dedupe_id,
            delayed: delay.is_some(),
            detail: Detail::Twilio { account_sid: account.to_owned(), sid, form: form.clone() },
        });
        let resp = crate::http::json(StatusCode::CREATED, &resource);
        match delay {
            Some(delay) => Reply::After(delay, resp),
            None => Reply::Now(resp),
        }
    }
}

fn not_found(path: &str) -> Resp {
    twilio_error(StatusCode::NOT_FOUND, 20404, &format!("The requested resource {path} was not found"))
}

impl Handler for State {
    async fn handle(self: Arc<Self>, req: Request<Bytes>) -> Reply {
        if let Some(resp) = control(&self.recorder, &req) {
            return Reply::Now(resp);
        }
        let path = req.uri().path().to_owned();
        let account = path
            .strip_prefix(&format!("/{API_VERSION}/Accounts/"))
            .and_then(|rest| rest.strip_suffix("/Messages.json"))
            .filter(|a| !a.is_empty() && !a.contains('/'));
        match account {
            Some(account) if req.method() == Method::POST => self.create_message(account, &req),
            Some(_) => Reply::Now(twilio_error(StatusCode::METHOD_NOT_ALLOWED, 20004, "Method not allowed")),
            None => Reply::Now(not_found(&path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers() {
        assert!(valid_phone("+14155552671"));
        assert!(valid_phone("whatsapp:+447700900123"));
        assert!(!valid_phone("4155552671"));
        assert!(!valid_phone("+1 415 555"));
        assert!(!valid_phone("+0123456789"));
        assert!(valid_sender("SysopsSquad"));
        assert!(valid_sender("12345"));
        assert!(!valid_sender("not a sender at all"));
    }

    #[test]
    fn segment_counts() {
        assert_eq!(segments("hi"), 1);
        assert_eq!(segments(&"a".repeat(161)), 2);
        assert_eq!(segments(&"é".repeat(71)), 2);
    }
}
