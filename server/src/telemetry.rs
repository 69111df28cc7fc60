//! Structured logs: JSON lines by default (one per event, with the request id from the
//! request span), human-readable with `log_format = "pretty"`.

pub mod requests;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

/// Installs the global subscriber once; later calls are no-ops (tests start many apps).
pub fn init(format: &str) {
    let filter = EnvFilter::try_from_env("SYSOPS_LOG")
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,actix_server=warn,samod=warn"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if format == "pretty" {
        builder.with_span_events(FmtSpan::NONE).try_init()
    } else {
        builder.json().with_current_span(true).with_span_list(false).try_init()
    };
}
