//! `sysops-standins`: runs the FCM, Twilio, SMTP and Stripe stand-ins on loopback for tests that
//! drive the real server binary, prints where they listen, and waits for SIGTERM/SIGINT.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use sysops_standins::{
    DEFAULT_TIMEOUT_DELAY, FcmConfig, FcmStandin, SmtpConfig, SmtpStandin, StripeConfig, StripeStandin, TwilioConfig,
    TwilioStandin,
};

/// Local stand-ins for FCM HTTP v1, Twilio Messages and an SMTP relay.
///
/// Prints one line per service on stdout (`fcm http://127.0.0.1:P`, `twilio
/// http://127.0.0.1:P`, `smtp smtp://127.0.0.1:P control http://127.0.0.1:Q`) once all
/// are listening, then runs until SIGTERM or SIGINT.
#[derive(Parser, Debug)]
#[command(name = "sysops-standins", version)]
struct Args {
    /// Port of the FCM stand-in (token endpoint and messages:send); 0 picks one.
    #[arg(long, default_value_t = 0)]
    fcm_port: u16,
    /// Firebase project id the FCM stand-in accepts.
    #[arg(long, default_value = "sysops-standin")]
    fcm_project: String,
    /// Write the FCM service-account JSON key (token_uri pointing here) to this path.
    #[arg(long)]
    fcm_credentials: Option<PathBuf>,
    /// Port of the Twilio stand-in; 0 picks one.
    #[arg(long, default_value_t = 0)]
    twilio_port: u16,
    /// Account SID the Twilio stand-in accepts.
    #[arg(long, default_value_t = TwilioConfig::default().account_sid)]
    twilio_account_sid: String,
    /// Auth token the Twilio stand-in accepts.
    #[arg(long, default_value_t = TwilioConfig::default().auth_token)]
    twilio_auth_token: String,
    /// SMTP port; 0 picks one.
    #[arg(long, default_value_t = 0)]
    smtp_port: u16,
    /// Port of the SMTP stand-in's HTTP control API; 0 picks one.
    #[arg(long, default_value_t = 0)]
    smtp_control_port: u16,
    /// Require SMTP AUTH with this user name (needs --smtp-password).
    #[arg(long, requires = "smtp_password")]
    smtp_username: Option<String>,
    /// Password for --smtp-username.
    #[arg(long, requires = "smtp_username")]
    smtp_password: Option<String>,
    /// Port of the Stripe stand-in; 0 picks one.
    #[arg(long, default_value_t = 0)]
    stripe_port: u16,
    /// Secret key the Stripe stand-in accepts.
    #[arg(long, default_value_t = StripeConfig::default().secret_key)]
    stripe_secret_key: String,
    /// Secret the Stripe stand-in signs webhooks with.
    #[arg(long, default_value_t = StripeConfig::default().webhook_secret)]
    stripe_webhook_secret: String,
    /// Where the Stripe stand-in delivers events.
    #[arg(long)]
    stripe_webhook_url: Option<String>,
    /// How long the `timeout` fault holds answers back, in milliseconds.
    #[arg(long, default_value_t = u64::try_from(DEFAULT_TIMEOUT_DELAY.as_millis()).unwrap_or(30_000))]
    timeout_delay_ms: u64,
}

fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    let timeout_delay = Duration::from_millis(args.timeout_delay_ms);

    let fcm =
        FcmStandin::start(FcmConfig { bind: loopback(args.fcm_port), project_id: args.fcm_project, timeout_delay })
            .await
            .context("starting the FCM stand-in")?;
    let twilio = TwilioStandin::start(TwilioConfig {
        bind: loopback(args.twilio_port),
        account_sid: args.twilio_account_sid,
        auth_token: args.twilio_auth_token,
        timeout_delay,
    })
    .await
    .context("starting the Twilio stand-in")?;
    let smtp = SmtpStandin::start(SmtpConfig {
        bind: loopback(args.smtp_port),
        control_bind: loopback(args.smtp_control_port),
        credentials: args.smtp_username.zip(args.smtp_password),
        timeout_delay,
        ..SmtpConfig::default()
    })
    .await
    .context("starting the SMTP stand-in")?;

    let stripe = StripeStandin::start(StripeConfig {
        bind: loopback(args.stripe_port),
        secret_key: args.stripe_secret_key,
        webhook_secret: args.stripe_webhook_secret,
        webhook_url: args.stripe_webhook_url,
    })
    .await
    .context("starting the Stripe stand-in")?;

    if let Some(path) = &args.fcm_credentials {
        fcm.write_service_account(path)
            .with_context(|| format!("writing the FCM credentials to {}", path.display()))?;
    }
    println!("fcm {}", fcm.url());
    println!("twilio {}", twilio.url());
    println!("smtp {} control {}", smtp.url(), smtp.control_url());
    println!("stripe {}", stripe.url());

    shutdown_signal().await?;
    tracing::info!("stopping");
    Ok(())
}

#[cfg(unix)]
async fn shutdown_signal() -> anyhow::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    Ok(())
}

#[cfg(not(unix))]
async fn shutdown_signal() -> anyhow::Result<()> {
    tokio::signal::ctrl_c().await?;
    Ok(())
}
