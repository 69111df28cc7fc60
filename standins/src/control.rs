//! The JSON control API under `/_standin/`, so tests in any language can read the record and
//! set faults over HTTP.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, Request, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::http::{Handler, Refusal, Reply, Resp, refuse};
use crate::record::{Faults, Recorder};

/// Body of `POST /_standin/faults`: the [`Faults`] fields plus an optional timeout delay.
#[derive(Deserialize)]
#[serde(default, deny_unknown_fields)]
struct FaultsBody {
    fail_5xx: f64,
    timeout: f64,
    drop: f64,
    seed: u64,
    timeout_delay_ms: Option<u64>,
}

impl Default for FaultsBody {
    fn default() -> Self {
        FaultsBody { fail_5xx: 0.0, timeout: 0.0, drop: 0.0, seed: 0, timeout_delay_ms: None }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Switch {
    enabled: bool,
}

/// Parses a JSON request body, or explains in a 400 why not.
pub(crate) fn parse_body<T: for<'de> Deserialize<'de>>(req: &Request<Bytes>) -> Result<T, Refusal> {
    serde_json::from_slice(req.body()).map_err(|e| refuse(bad_request(&e.to_string())))
}

/// A 400 with `{"error": message}`.
pub(crate) fn bad_request(message: &str) -> Resp {
    crate::http::json(StatusCode::BAD_REQUEST, &json!({ "error": message }))
}

/// A 200 with `{"ok": true}`.
pub(crate) fn ok() -> Resp {
    crate::http::json(StatusCode::OK, &json!({ "ok": true }))
}

fn settings(recorder: &Recorder) -> serde_json::Value {
    let f = recorder.faults();
    json!({
        "fail_5xx": f.fail_5xx,
        "timeout": f.timeout,
        "drop": f.drop,
        "seed": f.seed,
        "timeout_delay_ms": u64::try_from(recorder.timeout_delay().as_millis()).unwrap_or(u64::MAX),
        "fail_permanently": recorder.permanent(),
    })
}

/// Answers a `/_standin/…` request, or returns `None` when the path is not a control route.
pub(crate) fn control(recorder: &Recorder, req: &Request<Bytes>) -> Option<Resp> {
    let path = req.uri().path().strip_prefix("/_standin/")?;
    let resp = match (req.method(), path) {
        (&Method::GET, "received") => {
            crate::http::json(StatusCode::OK, &serde_json::to_value(recorder.received()).unwrap_or_default())
        }
        (&Method::GET, "faults") => crate::http::json(StatusCode::OK, &settings(recorder)),
        (&Method::POST, "faults") => match parse_body::<FaultsBody>(req) {
            Err(resp) => *resp,
            Ok(body) => {
                let faults =
                    Faults { fail_5xx: body.fail_5xx, timeout: body.timeout, drop: body.drop, seed: body.seed };
                match faults.validate() {
                    Err(e) => bad_request(&e),
                    Ok(()) => {
                        recorder.set_faults(faults);
                        if let Some(ms) = body.timeout_delay_ms {
                            recorder.set_timeout_delay(Duration::from_millis(ms));
                        }
                        crate::http::json(StatusCode::OK, &settings(recorder))
                    }
                }
            }
        },
        (&Method::POST, "fail_permanently") => match parse_body::<Switch>(req) {
            Err(resp) => *resp,
            Ok(switch) => {
                recorder.fail_permanently(switch.enabled);
                ok()
            }
        },
        (&Method::POST, "clear") => {
            recorder.clear();
            ok()
        }
        (&Method::POST, "reset") => {
            recorder.reset();
            ok()
        }
        _ => crate::http::json(StatusCode::NOT_FOUND, &json!({ "error": "unknown control route" })),
    };
    Some(resp)
}

/// A server that only speaks the control API (the SMTP stand-in's HTTP port).
pub(crate) struct ControlOnly(pub(crate) Recorder);

impl Handler for ControlOnly {
    async fn handle(self: Arc<Self>, req: Request<Bytes>) -> Reply {
        Reply::Now(
            control(&self.0, &req)
                .unwrap_or_else(|| crate::http::json(StatusCode::NOT_FOUND, &json!({ "error": "not found" }))),
        )
    }
}
