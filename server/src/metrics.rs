//! Prometheus metrics: HTTP traffic by route, ticket intake and load shedding, and the
//! process itself (memory, CPU, file descriptors).

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::web;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder,
};

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    /// Requests by route pattern, method and status.
    pub http_requests: IntCounterVec,
    /// Latency by route pattern and method.
    pub http_latency: HistogramVec,
    /// Tickets written.
    pub tickets_created: IntCounter,
    /// Ticket submissions refused with 503 to shed load.
    pub intake_shed: IntCounter,
    /// Submissions admitted and not yet answered.
    pub intake_inflight: IntGauge,
    /// Tickets per group-commit batch.
    pub intake_batch_size: HistogramVec,
}

impl Metrics {
    /// Registers everything in a fresh registry.
    pub fn new() -> anyhow::Result<Self> {
        let registry = Registry::new_custom(Some("sysops".to_owned()), None)?;
        let http_requests = IntCounterVec::new(
            Opts::new("http_requests_total", "HTTP requests by route, method and status"),
            &["route", "method", "status"],
        )?;
        let http_latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency")
                .buckets(prometheus::exponential_buckets(0.0005, 2.0, 16)?),
            &["route", "method"],
        )?;
        let tickets_created = IntCounter::new("tickets_created_total", "Tickets written")?;
        let intake_shed = IntCounter::new("intake_shed_total", "Ticket submissions refused with 503 to shed load")?;
        let intake_inflight = IntGauge::new("intake_inflight", "Ticket submissions admitted and not yet answered")?;
        let intake_batch_size = HistogramVec::new(
            HistogramOpts::new("intake_batch_size", "Tickets per group-commit transaction")
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
            &[],
        )?;
        registry.register(Box::new(http_requests.clone()))?;
        registry.register(Box::new(http_latency.clone()))?;
        registry.register(Box::new(tickets_created.clone()))?;
        registry.register(Box::new(intake_shed.clone()))?;
        registry.register(Box::new(intake_inflight.clone()))?;
        registry.register(Box::new(intake_batch_size.clone()))?;
        registry.register(Box::new(prometheus::process_collector::ProcessCollector::for_self()))?;
        Ok(Self {
            registry,
            http_requests,
            http_latency,
            tickets_created,
            intake_shed,
            intake_inflight,
            intake_batch_size,
        })
    }

    /// Registers another collector (background jobs add their own).
    pub fn register(&self, c: Box<dyn prometheus::core::Collector>) -> anyhow::Result<()> {
        self.registry.register(c).map_err(Into::into)
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Middleware recording every request's route, status and latency (the metrics are
/// registered as `web::Data<Metrics>` app data).
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let start = std::time::Instant::now();
    let metrics = req.app_data::<web::Data<Metrics>>().cloned();
    let method = crate::telemetry::requests::method_label(req.method());
    let res = next.call(req).await?;
    if let Some(m) = metrics {
        let route = res.request().match_pattern().unwrap_or_else(|| "unmatched".to_owned());
        let status = res.status().as_u16().to_string();
        m.http_requests.with_label_values(&[&route, method, &status]).inc();
        m.http_latency.with_label_values(&[&route, method]).observe(start.elapsed().as_secs_f64());
    }
    Ok(res)
}
