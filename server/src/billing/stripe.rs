//! A thin client for the part of Stripe's API billing uses: customers, SetupIntents (the
//! card is entered on the processor's page, never here), PaymentIntents confirmed
//! off-session, refunds. Form-encoded requests, `Idempotency-Key` on every POST, and the
//! processor's errors sorted into what the caller can act on.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::time::Duration;

/// Stripe's API address.
pub const DEFAULT_BASE_URL: &str = "https://api.stripe.com";

/// What went wrong talking to the processor.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    /// The card was refused; charging again with the same card will not help now.
    #[error("card declined ({code}): {message}")]
    Declined {
        /// `card_declined`, `insufficient_funds`, … (the decline code when given).
        code: String,
        /// The processor's message.
        message: String,
        /// The PaymentIntent it created, if any.
        payment_intent: Option<String>,
    },
    /// The request was wrong (a bug or a configuration problem): not retried.
    #[error("the processor refused the request ({status}, {kind}): {message}")]
    Invalid {
        /// HTTP status.
        status: u16,
        /// Stripe's error type.
        kind: String,
        /// The processor's message.
        message: String,
    },
    /// The outcome is unknown (timeout, connection lost, 5xx, 429): retry with the
    /// same idempotency key, never a new one.
    #[error("the processor's answer is unknown: {0}")]
    Unknown(String),
}

impl StripeError {
    /// Whether retrying with the same key may succeed.
    pub fn is_unknown(&self) -> bool {
        matches!(self, Self::Unknown(_))
    }
}

/// A processor customer.
#[derive(Debug, Clone, Deserialize)]
pub struct Customer {
    /// `cus_…`.
    pub id: String,
}

/// A SetupIntent: how a card gets on file without passing through our server.
#[derive(Debug, Clone, Deserialize)]
pub struct SetupIntent {
    /// `seti_…`.
    pub id: String,
    /// Given to the processor's page to confirm it.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// `requires_payment_method`, `succeeded`, …
    pub status: String,
    /// The saved card, once succeeded.
    #[serde(default)]
    pub payment_method: Option<String>,
    /// Its customer.
    #[serde(default)]
    pub customer: Option<String>,
}

/// The card details the processor shares (never the number).
#[derive(Debug, Clone, Deserialize)]
pub struct Card {
    /// `visa`, `mastercard`, …
    pub brand: String,
    /// Last four digits.
    pub last4: String,
    /// Expiry month.
    pub exp_month: i32,
    /// Expiry year.
    pub exp_year: i32,
    /// Issuing country.
    #[serde(default)]
    pub country: Option<String>,
}

/// A saved payment method.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentMethod {
    /// `pm_…`.
    pub id: String,
    /// The card.
    pub card: Option<Card>,
}

/// A PaymentIntent.
#[derive(Debug, Clone, Deserialize)]
pub struct PaymentIntent {
    /// `pi_…`.
    pub id: String,
    /// `succeeded`, `requires_payment_method`, …
    pub status: String,
    /// Minor units.
    pub amount: i64,
}

/// A refund.
#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    /// `re_…`.
    pub id: String,
    /// Minor units.
    pub amount: i64,
    /// `succeeded`, `pending`, `failed`.
    pub status: String,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    #[serde(rename = "type", default)]
    kind: String,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    decline_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    payment_intent: Option<serde_json::Value>,
}

/// What a charge is.
#[derive(Debug, Clone)]
pub struct ChargeRequest<'a> {
    /// Minor units.
    pub amount: i64,
    /// ISO 4217, any case (sent lower-case).
    pub currency: &'a str,
    /// `cus_…`.
    pub customer: &'a str,
    /// `pm_…`.
    pub payment_method: &'a str,
    /// Our invoice id (metadata, and the receipt description).
    pub invoice_id: &'a str,
    /// Shown on the customer's statement list at the processor.
    pub description: &'a str,
}

/// The client. Cheap to clone.
#[derive(Clone)]
pub struct Stripe {
    http: reqwest::Client,
    base: String,
    key: SecretString,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe").field("base", &self.base).finish_non_exhaustive()
    }
}

impl Stripe {
    /// A client for `base` (no trailing slash needed) with secret key `key`.
    pub fn new(base: &str, key: SecretString, timeout: Duration) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder().timeout(timeout).connect_timeout(timeout).build()?;
        Ok(Self { http, base: base.trim_end_matches('/').to_owned(), key })
    }

    /// The API base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Creates the processor's customer for ours (key: our customer id, so a retry does
    /// not create two).
    pub async fn create_customer(&self, our_id: &str, email: &str, name: &str) -> Result<Customer, StripeError> {
        let form =
            vec![("email", email.to_owned()), ("name", name.to_owned()), ("metadata[customer_id]", our_id.to_owned())];
        self.post("/v1/customers", &format!("customer-{our_id}"), &form).await
    }

    /// A SetupIntent to save a card for off-session charges. `key` makes retries safe.
    pub async fn create_setup_intent(&self, customer: &str, key: &str) -> Result<SetupIntent, StripeError> {
        let form = vec![
            ("customer", customer.to_owned()),
            ("payment_method_types[]", "card".to_owned()),
            ("usage", "off_session".to_owned()),
        ];
        self.post("/v1/setup_intents", key, &form).await
    }

    /// Reads a SetupIntent.
    pub async fn setup_intent(&self, id: &str) -> Result<SetupIntent, StripeError> {
        self.get(&format!("/v1/setup_intents/{id}")).await
    }

    /// Reads a saved payment method (brand, last four digits, expiry).
    pub async fn payment_method(&self, id: &str) -> Result<PaymentMethod, StripeError> {
        self.get(&format!("/v1/payment_methods/{id}")).await
    }

    /// Charges a saved card off-session, confirmed at once. `key` is the idempotency
    /// key: the invoice id for its first attempt (see ADR 14).
    pub async fn charge(&self, c: &ChargeRequest<'_>, key: &str) -> Result<PaymentIntent, StripeError> {
        let form = vec![
            ("amount", c.amount.to_string()),
            ("currency", c.currency.to_ascii_lowercase()),
            ("customer", c.customer.to_owned()),
            ("payment_method", c.payment_method.to_owned()),
            ("confirm", "true".to_owned()),
            ("off_session", "true".to_owned()),
            ("description", c.description.to_owned()),
            ("metadata[invoice_id]", c.invoice_id.to_owned()),
        ];
        let pi: PaymentIntent = self.post("/v1/payment_intents", key, &form).await?;
        if pi.status == "succeeded" {
            Ok(pi)
        } else {
            Err(StripeError::Declined {
                code: format!("status_{}", pi.status),
                message: format!("the payment is {}", pi.status),
                payment_intent: Some(pi.id),
            })
        }
    }

    /// Refunds `amount` minor units of a PaymentIntent. `key` is our refund's id.
    pub async fn refund(
        &self,
        payment_intent: &str,
        amount: i64,
        reason: &str,
        key: &str,
    ) -> Result<Refund, StripeError> {
        let form = vec![
            ("payment_intent", payment_intent.to_owned()),
            ("amount", amount.to_string()),
            ("reason", "requested_by_customer".to_owned()),
            ("metadata[reason]", reason.to_owned()),
        ];
        self.post("/v1/refunds", key, &form).await
    }

    async fn post<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        key: &str,
        form: &[(&str, String)],
    ) -> Result<T, StripeError> {
        let req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(self.key.expose_secret())
            .header("Idempotency-Key", key)
            .form(form);
        Self::answer(req.send().await).await
    }

    async fn get<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<T, StripeError> {
        let req = self.http.get(format!("{}{path}", self.base)).bearer_auth(self.key.expose_secret());
        Self::answer(req.send().await).await
    }

    async fn answer<T: for<'de> Deserialize<'de>>(
        sent: Result<reqwest::Response, reqwest::Error>,
    ) -> Result<T, StripeError> {
        let resp = sent.map_err(|e| StripeError::Unknown(e.to_string()))?;
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| StripeError::Unknown(format!("reading the answer: {e}")))?;
        if status.is_success() {
            return serde_json::from_slice(&body)
                .map_err(|e| StripeError::Unknown(format!("unreadable answer ({e}); treated as unknown")));
        }
        if status.is_server_error() || status.as_u16() == 429 || status.as_u16() == 409 {
            // 409: the same key is being processed right now; its outcome is not known yet.
            return Err(StripeError::Unknown(format!("{status}: {}", String::from_utf8_lossy(&body))));
        }
        let e = serde_json::from_slice::<ErrorBody>(&body).map(|b| b.error).unwrap_or(ErrorDetail {
            kind: "unknown".into(),
            code: None,
            decline_code: None,
            message: Some(String::from_utf8_lossy(&body).into_owned()),
            payment_intent: None,
        });
        let message = e.message.unwrap_or_default();
        if e.kind == "card_error" {
            return Err(StripeError::Declined {
                code: e.decline_code.or(e.code).unwrap_or_else(|| "card_declined".into()),
                message,
                payment_intent: e.payment_intent.and_then(|p| p.get("id").and_then(|i| i.as_str()).map(str::to_owned)),
            });
        }
        Err(StripeError::Invalid { status: status.as_u16(), kind: e.kind, message })
    }
}
