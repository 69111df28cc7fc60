//! The device side of sync: a samod [`samod::Dialer`] that connects to the
//! server's `/api/v1/sync` WebSocket with the expert's access token, so a samod
//! repository on a device (or in a test) syncs with the server, reconnecting with
//! backoff whenever the network comes back.

use futures::{SinkExt, StreamExt};
use samod::{DialError, Dialer, Transport};
use std::sync::{Arc, Mutex};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// TLS for a device: Mozilla's root certificates bundled in the library (webpki-roots), so
/// `https://` works with no platform set-up (no Android platform verifier to initialise,
/// no system store to read), plus `extra_ca_pem`, one or more PEM certificates of a
/// private deployment's own CA, trusted besides them. The one configuration the device's
/// HTTP client and its sync socket share.
pub fn tls_config(extra_ca_pem: Option<&str>) -> Result<Arc<rustls::ClientConfig>, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if let Some(pem) = extra_ca_pem.filter(|p| !p.trim().is_empty()) {
        let mut added = 0;
        for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
            let cert = cert.map_err(|e| format!("the extra CA is not readable PEM: {e}"))?;
            roots.add(cert).map_err(|e| format!("the extra CA is not a usable CA certificate: {e}"))?;
            added += 1;
        }
        if added == 0 {
            return Err("the extra CA holds no certificate (expected PEM: -----BEGIN CERTIFICATE-----)".into());
        }
    }
    // The provider is named, not taken from the process: a library must not depend on
    // (or set) the process-wide default, and more than one may be compiled in.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// A network failure of the sync socket.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct SocketError(pub String);

/// What crossed the socket, for the sync benchmark and diagnostics.
#[derive(Debug, Default)]
pub struct Traffic {
    /// Messages sent.
    pub sent_messages: std::sync::atomic::AtomicU64,
    /// Bytes sent.
    pub sent_bytes: std::sync::atomic::AtomicU64,
    /// Messages received.
    pub received_messages: std::sync::atomic::AtomicU64,
    /// Bytes received.
    pub received_bytes: std::sync::atomic::AtomicU64,
}

/// Dials `ws(s)://…/api/v1/sync` with a bearer token that can be replaced (after a
/// refresh) without rebuilding the repository.
pub struct WsDialer {
    url: url::Url,
    token: Arc<Mutex<String>>,
    traffic: Arc<Traffic>,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl WsDialer {
    /// A dialer for the server at `base` (`http://host:port` or `https://…`).
    pub fn new(base: &str, token: Arc<Mutex<String>>) -> Result<Self, url::ParseError> {
        let mut url = url::Url::parse(base)?.join("/api/v1/sync")?;
        let scheme = if url.scheme() == "https" { "wss" } else { "ws" };
        let _ = url.set_scheme(scheme);
        Ok(Self { url, token, traffic: Arc::default(), tls: None })
    }

    /// Uses `tls` for `wss://` (see [`tls_config`]); without it, tokio-tungstenite's own
    /// (webpki roots).
    pub fn with_tls(mut self, tls: Arc<rustls::ClientConfig>) -> Self {
        self.tls = Some(tls);
        self
    }

    /// Counts traffic into `traffic`.
    pub fn with_traffic(mut self, traffic: Arc<Traffic>) -> Self {
        self.traffic = traffic;
        self
    }
}

impl Dialer for WsDialer {
    type Error = SocketError;

    fn url(&self) -> url::Url {
        self.url.clone()
    }

    fn connect(&self) -> futures::future::BoxFuture<'static, Result<Transport, DialError<SocketError>>> {
        let url = self.url.clone();
        let token = self.token.lock().map(|t| t.clone()).unwrap_or_default();
        let (rx, tx) = (self.traffic.clone(), self.traffic.clone());
        let connector = self.tls.clone().map(tokio_tungstenite::Connector::Rustls);
        Box::pin(async move {
            let mut req = url
                .as_str()
                .into_client_request()
                .map_err(|e| DialError::PermanentFailure(SocketError(e.to_string())))?;
            let auth = format!("Bearer {token}").parse().map_err(|_| {
                DialError::PermanentFailure(SocketError("the token is not a valid header value".into()))
            })?;
            req.headers_mut().insert("authorization", auth);
            let (ws, _) = tokio_tungstenite::connect_async_tls_with_config(req, None, false, connector).await.map_err(
                |e| match e {
                    tokio_tungstenite::tungstenite::Error::Http(r) if r.status() == 401 || r.status() == 403 => {
                        DialError::PermanentFailure(SocketError(format!("refused: HTTP {}", r.status())))
                    }
                    other => DialError::transient(SocketError(other.to_string())),
                },
            )?;
            let (sink, stream) = ws.split();
            let incoming = stream.filter_map(move |m| {
                let rx = rx.clone();
                async move {
                    match m {
                        Ok(Message::Binary(b)) => {
                            use std::sync::atomic::Ordering::Relaxed;
                            rx.received_messages.fetch_add(1, Relaxed);
                            rx.received_bytes.fetch_add(b.len() as u64, Relaxed);
                            Some(Ok(b.to_vec()))
                        }
                        Ok(Message::Close(_)) => None,
                        Ok(_) => None,
                        Err(e) => Some(Err(SocketError(e.to_string()))),
                    }
                }
            });
            let outgoing = sink.sink_map_err(|e| SocketError(e.to_string())).with(move |b: Vec<u8>| {
                use std::sync::atomic::Ordering::Relaxed;
                tx.sent_messages.fetch_add(1, Relaxed);
                tx.sent_bytes.fetch_add(b.len() as u64, Relaxed);
                async move { Ok::<_, SocketError>(Message::Binary(b.into())) }
            });
            Ok(Transport::new(Box::pin(incoming), Box::pin(outgoing)))
        })
    }
}

#[cfg(test)]
mod tls_tests {
    use super::tls_config;

    #[test]
    fn bundled_roots_need_no_platform_and_a_bad_extra_ca_is_a_clear_error() {
        let plain = tls_config(None).unwrap();
        assert!(plain.alpn_protocols.is_empty());
        assert!(tls_config(Some("  ")).is_ok(), "blank means none");
        let e = tls_config(Some("not a certificate")).unwrap_err();
        assert!(e.contains("no certificate"), "{e}");
        let garbled = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(tls_config(Some(garbled)).is_err());
    }
}
