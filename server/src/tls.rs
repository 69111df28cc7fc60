//! HTTPS without a proxy: when `tls_cert_file` and `tls_key_file` are set, the server's
//! one listener speaks TLS (rustls, the aws-lc-rs provider named explicitly because the
//! process has more than one compiled in). Read once at start: a bad file stops the
//! server with a message naming it.

use crate::config::Settings;
use anyhow::Context;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// The TLS configuration the settings ask for, or `None` for plain HTTP.
pub fn server_config(settings: &Settings) -> anyhow::Result<Option<rustls::ServerConfig>> {
    let (Some(cert), Some(key)) = (&settings.tls_cert_file, &settings.tls_key_file) else { return Ok(None) };
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("tls_cert_file {}: not a readable PEM certificate chain", cert.display()))?;
    anyhow::ensure!(!chain.is_empty(), "tls_cert_file {} holds no certificate", cert.display());
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("tls_key_file {}: not a readable PEM private key", key.display()))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .context("the TLS certificate and key do not make a usable pair")?;
    // HTTP/1.1 only: the WebSocket sync upgrade needs it, and actix serves no HTTP/2 here.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Some(config))
}
