//! The billing job: every node runs it. Each tick issues what is due up to today (the
//! billing clock's) and charges the invoices whose attempt is due, each claimed by one
//! node at a time (ADR 14, ADR 15); dunning retries and suspension follow from the
//! attempt times the recorded declines set.

use super::service::Billing;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Runs the job every `every` until `shutdown`; `wake` runs it at once (after the
/// outbox gains a message to send, `notify` is told).
pub fn spawn(
    billing: Arc<Billing>,
    every: Duration,
    wake: Arc<tokio::sync::Notify>,
    outbox: Arc<tokio::sync::Notify>,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(every) => {}
                () = wake.notified() => {}
            }
            // A tick runs to its end (each invoice's record is one transaction; a charge
            // cut off by shutdown would be retried with the same key anyway).
            match tick(&billing).await {
                Ok(s) if s != super::RunSummary::default() => {
                    tracing::info!(
                        issued = s.issued,
                        paid = s.paid,
                        declined = s.declined,
                        suspended = s.suspended,
                        unknown = s.unknown,
                        cancelled = s.cancelled,
                        "billing run"
                    );
                    outbox.notify_one();
                }
                Ok(_) => {}
                Err(e) => tracing::error!(error = %e, "billing run failed; retrying next tick"),
            }
        }
    })
}

/// One pass: bill everything due as of the billing clock's now.
pub async fn tick(billing: &Billing) -> Result<super::RunSummary, super::BillingError> {
    let now = billing.now();
    billing.run(now.date_naive(), now, &|_, _| {}).await
}

/// `--demo` with no Stripe key: starts the Stripe stand-in on loopback and points the
/// settings at it (its webhooks come back to this server). Otherwise nothing.
pub async fn demo_standin(
    settings: &mut crate::config::Settings,
    public_base: &str,
) -> anyhow::Result<Option<sysops_standins::StripeStandin>> {
    if !settings.demo || settings.stripe_secret_key.is_some() {
        return Ok(None);
    }
    let standin = sysops_standins::StripeStandin::start(sysops_standins::StripeConfig {
        webhook_url: Some(format!("{public_base}/api/v1/webhooks/stripe")),
        ..Default::default()
    })
    .await?;
    settings.stripe_base_url = standin.url();
    settings.stripe_secret_key = Some(secrecy::SecretString::from(standin.secret_key().to_owned()));
    settings.stripe_webhook_secret = Some(secrecy::SecretString::from(standin.webhook_secret().to_owned()));
    tracing::info!(url = %standin.url(), "demo: the Stripe stand-in runs in-process (test cards: 4242 4242 4242 4242)");
    Ok(Some(standin))
}
