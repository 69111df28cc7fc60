//! Layered configuration: built-in defaults, then an optional TOML file, then `SYSOPS_*`
//! environment variables, then command-line flags. Secrets are wrapped so they never
//! print.

use figment::Figment;
use figment::providers::{Format, Serialized, Toml};
use figment::value::{Dict, Value};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Every setting the server reads.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct Settings {
    /// Directory of the embedded SQLite database (and other local state).
    pub data_dir: PathBuf,
    /// `postgres://…` selects PostgreSQL; unset means SQLite in `data_dir`.
    pub database_url: Option<String>,
    /// Listen address; port 0 picks a free port.
    pub bind: String,
    /// Base of links in e-mails (survey links); defaults to `http://{bind}`.
    pub public_url: Option<String>,
    /// JWT signing secret; when unset, one is generated once and kept in the database,
    /// so tokens survive restarts and work on every node.
    #[serde(skip_serializing)]
    pub jwt_secret: Option<SecretString>,
    /// Key of the web's session cookies (any secret of at least 32 characters), the same
    /// on every node; when unset, one is generated once and kept in the database.
    #[serde(skip_serializing)]
    pub session_key: Option<SecretString>,
    /// Lifetime of access tokens, seconds.
    pub access_token_ttl_secs: u64,
    /// Lifetime of refresh tokens, seconds.
    pub refresh_token_ttl_secs: u64,
    /// Ticket submissions admitted at once (queued or being written); beyond this the
    /// server answers 503 with `Retry-After` instead of freezing.
    pub intake_max_inflight: usize,
    /// How long a submission may wait for admission before it is shed, milliseconds.
    pub intake_admission_wait_ms: u64,
    /// Most tickets written in one transaction (group commit).
    pub intake_batch_max: usize,
    /// Connections in the read pool (SQLite) or the whole pool (PostgreSQL).
    pub db_pool_size: u32,
    /// `json` (default) or `pretty` logs.
    pub log_format: String,
    /// Seed demo data and show undeliverable messages on `/dev/outbox`.
    pub demo: bool,
    /// Largest JSON body accepted, bytes.
    pub max_body_bytes: usize,
    /// Firebase project for push (FCM HTTP v1).
    pub fcm_project_id: Option<String>,
    /// Path of the FCM service-account JSON key.
    pub fcm_credentials: Option<PathBuf>,
    /// FCM API base URL (a stand-in in tests).
    pub fcm_base_url: String,
    /// Twilio account SID.
    pub twilio_account_sid: Option<String>,
    /// Twilio auth token.
    #[serde(skip_serializing)]
    pub twilio_auth_token: Option<SecretString>,
    /// Sender number for SMS.
    pub twilio_from: Option<String>,
    /// Twilio API base URL (a stand-in in tests).
    pub twilio_base_url: String,
    /// `smtp://host:port` (credentials in the URL when needed).
    #[serde(skip_serializing)]
    pub smtp_url: Option<SecretString>,
    /// Sender address of e-mails.
    pub mail_from: String,
    /// This node's name (claims in the shared outbox); default: stored in `data_dir`.
    pub node_id: Option<String>,
    /// Directory of edited message templates (`en.toml`, `es.toml`, …).
    pub templates_dir: Option<PathBuf>,
    /// Provider request timeout, milliseconds.
    pub provider_timeout_ms: u64,
    /// Outbox messages claimed at once.
    pub outbox_batch: u64,
    /// Outbox sends in flight at once.
    pub outbox_concurrency: usize,
    /// How long an outbox claim lasts, milliseconds.
    pub outbox_lease_ms: i64,
    /// Attempts before a message is dead-lettered.
    pub outbox_max_attempts: i32,
    /// First retry delay, milliseconds (doubles per attempt).
    pub outbox_base_delay_ms: i64,
    /// Longest retry delay, milliseconds.
    pub outbox_max_delay_ms: i64,
    /// How often workers and jobs look for due work, milliseconds.
    pub poll_ms: u64,
    /// An assigned expert who has not accepted after this many seconds is passed over.
    pub accept_timeout_secs: i64,
    /// One survey reminder after this many seconds without an answer.
    pub survey_reminder_after_secs: i64,
    /// The survey link expires, and the ticket closes with "no survey", after this.
    pub survey_expire_after_secs: i64,
    /// SLA: from creation to assignment, seconds.
    pub sla_assign_secs: i64,
    /// SLA: from assignment to acceptance, seconds.
    pub sla_accept_secs: i64,
    /// SLA: from acceptance to completion, seconds.
    pub sla_complete_secs: i64,
    /// Threads that hash passwords (0: one per core). Each holds argon2's 19 MiB.
    pub password_hash_threads: usize,
    /// How long a sign-in may wait for a hashing thread before it gets 503, milliseconds.
    pub password_hash_wait_ms: u64,
    /// The window over which failed sign-ins are counted, seconds.
    pub sign_in_window_secs: u64,
    /// Failed sign-ins allowed per account within the window (then 429 until it passes).
    pub sign_in_max_failures_per_account: u64,
    /// Failed sign-ins allowed per client address within the window.
    pub sign_in_max_failures_per_address: u64,
    /// Addresses of reverse proxies whose `X-Forwarded-For` is believed (comma-separated
    /// IPs); empty: the peer address is the client.
    pub trusted_proxies: Option<String>,
    /// JWT signing keys, `kid:secret` pairs separated by commas (secrets of at least 32
    /// bytes); the first signs, the others still verify (rotation).
    #[serde(skip_serializing)]
    pub jwt_keys: Option<SecretString>,
    /// File of JWT signing keys (owner-only, 0600); default `jwt-keys.toml` in `data_dir`,
    /// created on first start when no keys are configured.
    pub jwt_key_file: Option<PathBuf>,
    /// How long a user's status (exists, enabled, role) is cached per node, seconds.
    pub auth_cache_secs: u64,
    /// Bearer token required to read `/metrics`; unset: `/metrics` is open.
    #[serde(skip_serializing)]
    pub metrics_token: Option<SecretString>,
    /// Lifetime of a password-reset link, seconds.
    pub password_reset_ttl_secs: u64,
    /// Most new documents (KB drafts) one sync connection may create.
    pub sync_max_new_documents: usize,
    /// Requests for documents the expert may not see before a sync connection is closed.
    pub sync_max_unavailable: usize,
    /// Most sync documents a node keeps in memory when nobody is syncing them (ADR 17).
    pub sync_cache_documents: usize,
    /// Seconds after which a document nobody is syncing leaves memory (ADR 17).
    pub sync_idle_close_secs: u64,
    /// Most sync registry entries (who may see which document) a node keeps in memory;
    /// the rest are read from the database when asked for (ADR 17).
    pub sync_cache_entries: usize,
    /// Stripe secret key (`sk_…`); unset: billing charges nothing (in `--demo`, an
    /// in-process stand-in).
    #[serde(skip_serializing)]
    pub stripe_secret_key: Option<SecretString>,
    /// Secret Stripe signs webhooks with (`whsec_…`); unset: webhooks are refused.
    #[serde(skip_serializing)]
    pub stripe_webhook_secret: Option<SecretString>,
    /// Stripe API base URL (a stand-in in tests).
    pub stripe_base_url: String,
    /// Tax per country in basis points, `FR=2000,DE=1900,*=0` (`*`: everyone else).
    pub billing_tax_rates: String,
    /// Rounding of tax and proration: `half_up` (default) or `half_even`.
    pub billing_rounding: String,
    /// Test only: `sysops-server bill --until` may bill future dates (a controllable
    /// clock). Refused unless `demo` or `test_mode` is also set.
    pub billing_test_clock: bool,
    /// Test only: a file holding an RFC 3339 instant billing takes for "now" (the test
    /// clock, ADR 15). Refused unless `demo` or `test_mode` is also set; never in production.
    pub billing_clock_file: Option<PathBuf>,
    /// Test only: `crash_after_charge` kills the process (SIGKILL) right after a charge
    /// succeeds at the processor, before it is recorded. Refused unless `test_mode`.
    pub billing_test_fault: Option<String>,
    /// How often each node's billing job looks for due invoices, milliseconds.
    pub billing_poll_ms: u64,
    /// How long a node's claim on an invoice holds (a crashed node's invoice is charged
    /// by another after this), milliseconds.
    pub billing_lease_ms: u64,
    /// Invoices a node claims at a time (more: fewer transactions; fewer: nodes share a
    /// small run more evenly).
    pub billing_claim_batch: u64,
    /// Marks a server started by a test harness (allows test-only settings).
    pub test_mode: bool,
    /// HTTPS: the certificate chain (PEM, leaf first). With `tls_key_file`, the server
    /// speaks only TLS on `bind` (rustls); without both, plain HTTP (behind a proxy).
    pub tls_cert_file: Option<PathBuf>,
    /// HTTPS: the certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub tls_key_file: Option<PathBuf>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("data"),
            database_url: None,
            bind: "127.0.0.1:8080".to_owned(),
            public_url: None,
            jwt_secret: None,
            session_key: None,
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_secs: 30 * 24 * 3600,
            intake_max_inflight: 2048,
            intake_admission_wait_ms: 2_000,
            intake_batch_max: 256,
            db_pool_size: 8,
            log_format: "json".to_owned(),
            demo: false,
            max_body_bytes: 256 * 1024,
            fcm_project_id: None,
            fcm_credentials: None,
            fcm_base_url: "https://fcm.googleapis.com".to_owned(),
            twilio_account_sid: None,
            twilio_auth_token: None,
            twilio_from: None,
            twilio_base_url: "https://api.twilio.com".to_owned(),
            smtp_url: None,
            mail_from: "Sysops Squad <no-reply@sysops.example>".to_owned(),
            node_id: None,
            templates_dir: None,
            provider_timeout_ms: 10_000,
            outbox_batch: 32,
            outbox_concurrency: 16,
            outbox_lease_ms: 60_000,
            outbox_max_attempts: 8,
            outbox_base_delay_ms: 2_000,
            outbox_max_delay_ms: 600_000,
            poll_ms: 500,
            accept_timeout_secs: 15 * 60,
            survey_reminder_after_secs: 3 * 24 * 3600,
            survey_expire_after_secs: 7 * 24 * 3600,
            sla_assign_secs: 5 * 60,
            sla_accept_secs: 30 * 60,
            sla_complete_secs: 4 * 3600,
            password_hash_threads: 0,
            password_hash_wait_ms: 2_000,
            sign_in_window_secs: 15 * 60,
            sign_in_max_failures_per_account: 10,
            sign_in_max_failures_per_address: 100,
            trusted_proxies: None,
            jwt_keys: None,
            jwt_key_file: None,
            auth_cache_secs: 5,
            metrics_token: None,
            password_reset_ttl_secs: 30 * 60,
            sync_max_new_documents: 5_000,
            sync_max_unavailable: 1_000,
            sync_cache_documents: 1_000,
            sync_idle_close_secs: 60,
            sync_cache_entries: crate::sync::acl::CACHED_ENTRIES,
            stripe_secret_key: None,
            stripe_webhook_secret: None,
            stripe_base_url: crate::billing::stripe::DEFAULT_BASE_URL.to_owned(),
            billing_tax_rates: String::new(),
            billing_rounding: "half_up".to_owned(),
            billing_test_clock: false,
            billing_clock_file: None,
            billing_test_fault: None,
            billing_poll_ms: 60_000,
            billing_lease_ms: 120_000,
            billing_claim_batch: 512,
            test_mode: false,
            tls_cert_file: None,
            tls_key_file: None,
        }
    }
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Serialize)]
pub struct Overrides {
    /// `--data-dir`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_dir: Option<PathBuf>,
    /// `--bind`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<String>,
    /// `--demo`.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub demo: bool,
}

/// Settings that are text even when they look like numbers (a phone number such as
/// `+13125550000`, a numeric project id or token): taken from the environment verbatim.
const TEXT_KEYS: &[&str] = &[
    "data_dir",
    "database_url",
    "bind",
    "public_url",
    "jwt_secret",
    "session_key",
    "log_format",
    "fcm_project_id",
    "fcm_credentials",
    "fcm_base_url",
    "twilio_account_sid",
    "twilio_auth_token",
    "twilio_from",
    "twilio_base_url",
    "smtp_url",
    "mail_from",
    "node_id",
    "templates_dir",
    "trusted_proxies",
    "jwt_keys",
    "jwt_key_file",
    "metrics_token",
    "stripe_secret_key",
    "stripe_webhook_secret",
    "stripe_base_url",
    "billing_tax_rates",
    "billing_rounding",
    "billing_clock_file",
    "billing_test_fault",
    "tls_cert_file",
    "tls_key_file",
];

/// The `SYSOPS_*` variables as settings: text settings verbatim, the others parsed
/// (numbers, booleans).
fn env_values(vars: impl Iterator<Item = (String, String)>) -> Dict {
    let mut dict = Dict::new();
    for (k, v) in vars {
        let Some(key) = k.strip_prefix("SYSOPS_") else { continue };
        let key = key.to_ascii_lowercase();
        if key == "config" || key == "log" {
            continue;
        }
        let value = if TEXT_KEYS.contains(&key.as_str()) {
            Value::from(v)
        } else {
            v.trim().parse::<Value>().unwrap_or_else(|_| Value::from(v.clone()))
        };
        dict.insert(key, value);
    }
    dict
}

impl Settings {
    /// Loads defaults ← `file` (if given) ← `SYSOPS_*` ← `overrides`.
    pub fn load(file: Option<&Path>, overrides: Overrides) -> anyhow::Result<Self> {
        let mut fig = Figment::from(Serialized::defaults(Settings::default()));
        if let Some(f) = file {
            anyhow::ensure!(f.exists(), "configuration file {} does not exist", f.display());
            fig = fig.merge(Toml::file(f));
        }
        fig = fig.merge(Serialized::defaults(env_values(std::env::vars()))).merge(Serialized::defaults(overrides));
        let s: Settings = fig.extract()?;
        anyhow::ensure!(s.intake_max_inflight > 0, "intake_max_inflight must be positive");
        anyhow::ensure!(s.intake_batch_max > 0, "intake_batch_max must be positive");
        anyhow::ensure!(
            s.tls_cert_file.is_some() == s.tls_key_file.is_some(),
            "tls_cert_file and tls_key_file go together (HTTPS needs both)"
        );
        anyhow::ensure!(
            !s.billing_test_clock || s.demo || s.test_mode,
            "billing_test_clock is for tests only: it needs --demo or test_mode"
        );
        anyhow::ensure!(
            s.billing_clock_file.is_none() || s.demo || s.test_mode,
            "billing_clock_file is for tests only: it needs --demo or test_mode"
        );
        anyhow::ensure!(
            s.billing_test_fault.is_none() || s.test_mode,
            "billing_test_fault is for tests only: it needs test_mode"
        );
        anyhow::ensure!(s.billing_poll_ms > 0, "billing_poll_ms must be positive");
        Ok(s)
    }

    /// The base of links in messages.
    pub fn public_base(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("{}://{}", self.scheme(), self.bind))
            .trim_end_matches('/')
            .to_owned()
    }

    /// `https` when the server terminates TLS itself, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls_cert_file.is_some() { "https" } else { "http" }
    }

    /// This node's stable name: configured, or generated once and kept in `data_dir`.
    pub fn node_name(&self) -> anyhow::Result<String> {
        if let Some(n) = &self.node_id {
            return Ok(n.clone());
        }
        std::fs::create_dir_all(&self.data_dir)?;
        let path = self.data_dir.join("node-id");
        if let Ok(n) = std::fs::read_to_string(&path)
            && !n.trim().is_empty()
        {
            return Ok(n.trim().to_owned());
        }
        let n = format!("node-{}", uuid::Uuid::new_v4().simple());
        std::fs::write(&path, &n)?;
        Ok(n)
    }

    /// Whether PostgreSQL is selected.
    pub fn uses_postgres(&self) -> bool {
        self.database_url.as_deref().is_some_and(|u| u.starts_with("postgres://") || u.starts_with("postgresql://"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn command_line_wins_over_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sysops.toml");
        std::fs::write(&file, "bind = \"0.0.0.0:9\"\nintake_batch_max = 7\n").unwrap();
        let s =
            Settings::load(Some(&file), Overrides { bind: Some("127.0.0.1:0".into()), ..Default::default() }).unwrap();
        assert_eq!(s.bind, "127.0.0.1:0");
        assert_eq!(s.intake_batch_max, 7);
        assert!(Settings::load(Some(&dir.path().join("missing.toml")), Overrides::default()).is_err());
    }

    #[test]
    fn environment_text_stays_text_and_numbers_become_numbers() {
        let vars = [
            ("SYSOPS_TWILIO_FROM", "+13125550000"),
            ("SYSOPS_FCM_PROJECT_ID", "123456"),
            ("SYSOPS_INTAKE_BATCH_MAX", "64"),
            ("SYSOPS_DEMO", "true"),
            ("OTHER", "ignored"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let s: Settings = Figment::from(Serialized::defaults(Settings::default()))
            .merge(Serialized::defaults(env_values(vars.into_iter())))
            .extract()
            .unwrap();
        assert_eq!(s.twilio_from.as_deref(), Some("+13125550000"));
        assert_eq!(s.fcm_project_id.as_deref(), Some("123456"));
        assert_eq!(s.intake_batch_max, 64);
        assert!(s.demo);
    }

    #[test]
    fn secrets_do_not_print() {
        let s = Settings {
            jwt_secret: Some(SecretString::from("hunter2")),
            jwt_keys: Some(SecretString::from("k1:hunter3")),
            metrics_token: Some(SecretString::from("hunter4")),
            ..Default::default()
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("hunter2") && !shown.contains("hunter3") && !shown.contains("hunter4"));
    }
}
