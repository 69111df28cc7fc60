//! The HTTP/1.1 plumbing the HTTP stand-ins share: a hyper accept loop whose handlers can
//! answer now, answer late, or drop the connection without a word.

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// Largest request body a stand-in reads; FCM and Twilio bodies are far smaller.
const MAX_BODY: usize = 1 << 20;

/// A response with its whole body in memory.
pub(crate) type Resp = Response<Full<Bytes>>;

/// A refusal carried in an `Err`, boxed to keep `Result`s small.
pub(crate) type Refusal = Box<Resp>;

/// Boxes a response as a [`Refusal`].
pub(crate) fn refuse(resp: Resp) -> Refusal {
    Box::new(resp)
}

/// How a handler answers one request.
pub(crate) enum Reply {
    /// Answer at once.
    Now(Resp),
    /// Answer after a delay (the `timeout` fault).
    After(Duration, Resp),
    /// Close the connection without answering (the `drop` fault).
    Drop,
}

/// A request handler, shared by every connection of one server.
pub(crate) trait Handler: Send + Sync + 'static {
    /// Answers one request whose body has been read whole.
    fn handle(self: Arc<Self>, req: Request<Bytes>) -> impl Future<Output = Reply> + Send;
}

/// The error hyper sees when a handler drops the connection; hyper then closes it unanswered.
#[derive(Debug)]
struct Dropped;

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped on purpose by the stand-in")
    }
}

impl std::error::Error for Dropped {}

/// A running server; dropping it stops the accept loop and every open connection.
pub(crate) struct ServerTask(JoinHandle<()>);

impl ServerTask {
    /// Wraps a spawned task so that dropping the wrapper aborts it.
    pub(crate) fn new(task: JoinHandle<()>) -> Self {
        ServerTask(task)
    }
}

impl Drop for ServerTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Serves `handler` on `listener` on the current tokio runtime.
pub(crate) fn serve<H: Handler>(listener: TcpListener, handler: Arc<H>) -> ServerTask {
    let task = tokio::spawn(async move {
        // Connection tasks live in this set, so aborting the accept loop ends them too.
        let mut connections = JoinSet::new();
        loop {
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            // Like the real services: answer without waiting for Nagle's algorithm.
            let _ = stream.set_nodelay(true);
            while connections.try_join_next().is_some() {}
            let handler = handler.clone();
            connections.spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let handler = handler.clone();
                    async move { answer(handler, req).await }
                });
                let conn = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                if let Err(e) = conn.await {
                    tracing::debug!(%peer, error = %e, "connection ended");
                }
            });
        }
    });
    ServerTask(task)
}

async fn answer<H: Handler>(handler: Arc<H>, req: Request<Incoming>) -> Result<Resp, Dropped> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(_) => {
            return Ok(text(StatusCode::PAYLOAD_TOO_LARGE, "request body too large or unreadable"));
        }
    };
    match handler.handle(Request::from_parts(parts, body)).await {
        Reply::Now(resp) => Ok(resp),
        Reply::After(delay, resp) => {
            tokio::time::sleep(delay).await;
            Ok(resp)
        }
        Reply::Drop => Err(Dropped),
    }
}

/// A JSON response with `content-type: application/json; charset=UTF-8`.
pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json; charset=UTF-8"));
    resp
}

/// A plain-text response.
pub(crate) fn text(status: StatusCode, body: &'static str) -> Resp {
    let mut resp = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    resp
}

/// The media type of a request, lower-cased and without parameters.
pub(crate) fn media_type(req: &Request<Bytes>) -> String {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default()
}
