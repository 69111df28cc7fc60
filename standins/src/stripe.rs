//! The Stripe stand-in: the part of Stripe's API billing uses (customers, SetupIntents,
//! payment methods, PaymentIntents confirmed off-session, refunds), keeping state like
//! the real service. Form-encoded requests with a bearer secret key; Stripe's error JSON;
//! idempotent replay of a POST with the same `Idempotency-Key` (`Idempotent-Replayed:
//! true`), and an `idempotency_error` for the same key with other parameters; the
//! documented test cards ([`cards`]); signed webhook deliveries (`Stripe-Signature`,
//! HMAC-SHA256) with retries; a card-entry page at `/standin/setup/{seti}` standing in
//! for Stripe.js, so card numbers never pass through the server under test.
//!
//! Faults (`POST /_standin/faults`): `fail_5xx` answers 500 before doing anything (not
//! saved under the key: safe to retry); `lose_response` does the work, saves the answer
//! under the key, then closes the connection unanswered (the caller cannot know the
//! outcome; a retry with the same key gets the saved answer).
//!
//! Control API: `GET /_standin/charges`, `GET /_standin/refunds`, `GET /_standin/events`,
//! `GET|POST /_standin/faults`, `POST /_standin/webhook` (`{"url", "secret"}`),
//! `POST /_standin/resend` (`{"id": "evt_…"}`, delivered again as is, freshly signed),
//! `GET /_standin/stats`, `POST /_standin/reset`.

pub mod cards;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use aws_lc_rs::hmac;
use bytes::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, LOCATION};
use hyper::{Method, Request, Response, StatusCode};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::control::{bad_request, ok, parse_body};
use crate::http::{Handler, Reply, Resp, ServerTask, serve};
use cards::Behaviour;

/// How to start a [`StripeStandin`].
#[derive(Debug, Clone)]
pub struct StripeConfig {
    /// Address to listen on; port 0 picks a free one.
    pub bind: SocketAddr,
    /// The secret key requests must carry (`sk_test_…`).
    pub secret_key: String,
    /// Secret webhook deliveries are signed with (`whsec_…`).
    pub webhook_secret: String,
    /// Where events are delivered (none: kept, not sent).
    pub webhook_url: Option<String>,
}

impl Default for StripeConfig {
    fn default() -> Self {
        StripeConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            secret_key: "sk_test_standin".to_owned(),
            webhook_secret: "whsec_standin".to_owned(),
            webhook_url: None,
        }
    }
}

/// Fault rates, each in `[0, 1]`; setting them reseeds the dice.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StripeFaults {
    /// Answer 500 before doing anything.
    pub fail_5xx: f64,
    /// Do the work, then close the connection without answering.
    pub lose_response: f64,
    /// Seed of the dice.
    pub seed: u64,
}

/// A successful charge, as the stand-in recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Charge {
    /// `pi_…`.
    pub payment_intent: String,
    /// Minor units.
    pub amount: i64,
    /// Lower-case ISO code.
    pub currency: String,
    /// `cus_…`.
    pub customer: String,
    /// `metadata[invoice_id]`.
    pub invoice_id: Option<String>,
    /// The key it was made with.
    pub idempotency_key: Option<String>,
}

/// A refund, as recorded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundRecord {
    /// `re_…`.
    pub id: String,
    /// `pi_…`.
    pub payment_intent: String,
    /// Minor units.
    pub amount: i64,
}

struct Saved {
    fingerprint: String,
    status: StatusCode,
    body: Value,
}

struct Store {
    seq: u64,
    customers: HashMap<String, Value>,
    setup_intents: HashMap<String, Value>,
    payment_methods: HashMap<String, (Value, Behaviour)>,
    payment_intents: HashMap<String, Value>,
    idempotency: HashMap<String, Saved>,
    charges: Vec<Charge>,
    refunds: Vec<RefundRecord>,
    events: Vec<Value>,
    faults: StripeFaults,
    rng: StdRng,
    webhook: Option<(String, String)>,
    requests: u64,
    replays: u64,
}

impl Store {
    fn new(webhook: Option<(String, String)>) -> Self {
        Store {
            seq: 0,
            customers: HashMap::new(),
            setup_intents: HashMap::new(),
            payment_methods: HashMap::new(),
            payment_intents: HashMap::new(),
            idempotency: HashMap::new(),
            charges: Vec::new(),
            refunds: Vec::new(),
            events: Vec::new(),
            faults: StripeFaults::default(),
            rng: StdRng::seed_from_u64(0),
            webhook,
            requests: 0,
            replays: 0,
        }
    }

    fn id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}_{:016x}{:08x}", rand::rng().random::<u64>(), self.seq)
    }
}

struct State {
    secret_key: String,
    webhook_secret: String,
    store: Mutex<Store>,
    outbox: mpsc::UnboundedSender<Value>,
}

/// A running Stripe stand-in; dropping it stops the server and its webhook sender.
pub struct StripeStandin {
    addr: SocketAddr,
    state: Arc<State>,
    _server: ServerTask,
    _sender: ServerTask,
}

type Form = Vec<(String, String)>;

fn field<'a>(form: &'a Form, name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
}

fn stripe_error(status: StatusCode, kind: &str, message: &str, extra: Value) -> (StatusCode, Value) {
    let mut e = json!({ "type": kind, "message": message });
    if let (Some(e), Value::Object(x)) = (e.as_object_mut(), extra) {
        e.extend(x);
    }
    (status, json!({ "error": e }))
}

fn invalid(message: &str, param: &str) -> (StatusCode, Value) {
    stripe_error(StatusCode::BAD_REQUEST, "invalid_request_error", message, json!({ "param": param }))
}

fn missing(param: &str) -> (StatusCode, Value) {
    invalid(&format!("Missing required param: {param}."), param)
}

fn no_such(kind: &str, id: &str, param: &str) -> (StatusCode, Value) {
    stripe_error(
        StatusCode::NOT_FOUND,
        "invalid_request_error",
        &format!("No such {kind}: '{id}'"),
        json!({ "code": "resource_missing", "param": param }),
    )
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The `Stripe-Signature` header for `payload` signed with `secret` at `t`.
pub fn sign(secret: &str, t: i64, payload: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(t.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(payload);
    let tag = ctx.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={t},v1={hex}")
}

impl StripeStandin {
    /// Starts serving on the current tokio runtime.
    pub async fn start(config: StripeConfig) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(config.bind).await?;
        let addr = listener.local_addr()?;
        let (tx, rx) = mpsc::unbounded_channel();
        let state = Arc::new(State {
            secret_key: config.secret_key,
            webhook_secret: config.webhook_secret.clone(),
            store: Mutex::new(Store::new(config.webhook_url.map(|u| (u, config.webhook_secret)))),
            outbox: tx,
        });
        let sender = ServerTask::new(tokio::spawn(deliver(state.clone(), rx)));
        Ok(StripeStandin { addr, state: state.clone(), _server: serve(listener, state), _sender: sender })
    }

    /// Base URL to configure in place of `https://api.stripe.com`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The secret key it accepts.
    pub fn secret_key(&self) -> &str {
        &self.state.secret_key
    }

    /// The webhook signing secret.
    pub fn webhook_secret(&self) -> &str {
        &self.state.webhook_secret
    }

    /// Successful charges so far.
    pub fn charges(&self) -> Vec<Charge> {
        self.state.lock().charges.clone()
    }

    /// Refunds so far.
    pub fn refunds(&self) -> Vec<RefundRecord> {
        self.state.lock().refunds.clone()
    }

    /// Events so far (delivered or not).
    pub fn events(&self) -> Vec<Value> {
        self.state.lock().events.clone()
    }

    /// Sets the fault rates.
    pub fn set_faults(&self, faults: StripeFaults) {
        let mut s = self.state.lock();
        s.rng = StdRng::seed_from_u64(faults.seed);
        s.faults = faults;
    }

    /// Delivers events to `url` from now on.
    pub fn set_webhook(&self, url: &str) {
        self.state.lock().webhook = Some((url.to_owned(), self.state.webhook_secret.clone()));
    }
}

impl State {
    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, s: &mut Store, kind: &str, object: Value) {
        let event = json!({
            "id": s.id("evt"),
            "object": "event",
            "api_version": "2024-06-20",
            "created": now(),
            "livemode": false,
            "type": kind,
            "data": { "object": object },
        });
        s.events.push(event.clone());
        let _ = self.outbox.send(event);
    }

    fn authenticated(&self, req: &Request<Bytes>) -> bool {
        req.headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|k| k.trim() == self.secret_key)
    }

    /// Executes one API call on the store; the answer is what Stripe would send.
    fn execute(&self, s: &mut Store, method: &Method, path: &str, form: &Form) -> (StatusCode, Value) {
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        match (method, parts.as_slice()) {
            (&Method::POST, ["v1", "customers"]) => {
                let id = s.id("cus");
                let metadata = metadata(form);
                let c = json!({
                    "id": id, "object": "customer", "created": now(), "livemode": false,
                    "email": field(form, "email"), "name": field(form, "name"), "metadata": metadata,
                });
                s.customers.insert(id, c.clone());
                (StatusCode::OK, c)
            }
            (&Method::GET, ["v1", "customers", id]) => match s.customers.get(*id) {
                Some(c) => (StatusCode::OK, c.clone()),
                None => no_such("customer", id, "id"),
            },
            (&Method::POST, ["v1", "setup_intents"]) => {
                let customer = field(form, "customer");
                if let Some(c) = customer
                    && !s.customers.contains_key(c)
                {
                    return no_such("customer", c, "customer");
                }
                let id = s.id("seti");
                let secret = format!("{id}_secret_{:016x}", rand::rng().random::<u64>());
                let si = json!({
                    "id": id, "object": "setup_intent", "created": now(), "livemode": false,
                    "client_secret": secret, "customer": customer, "payment_method": null,
                    "payment_method_types": ["card"], "status": "requires_payment_method",
                    "usage": field(form, "usage").unwrap_or("off_session"), "last_setup_error": null,
                });
                s.setup_intents.insert(id, si.clone());
                (StatusCode::OK, si)
            }
            (&Method::GET, ["v1", "setup_intents", id]) => match s.setup_intents.get(*id) {
                Some(si) => (StatusCode::OK, si.clone()),
                None => no_such("setup_intent", id, "intent"),
            },
            (&Method::POST, ["v1", "setup_intents", id, "confirm"]) => self.confirm_setup(s, id, form),
            (&Method::GET, ["v1", "payment_methods", id]) => match s.payment_methods.get(*id) {
                Some((pm, _)) => (StatusCode::OK, pm.clone()),
                None => match cards::find(id) {
                    Some(card) => (StatusCode::OK, payment_method_json(id, card, None)),
                    None => no_such("PaymentMethod", id, "payment_method"),
                },
            },
            (&Method::POST, ["v1", "payment_intents"]) => self.create_payment_intent(s, form),
            (&Method::GET, ["v1", "payment_intents", id]) => match s.payment_intents.get(*id) {
                Some(pi) => (StatusCode::OK, pi.clone()),
                None => no_such("payment_intent", id, "intent"),
            },
            (&Method::POST, ["v1", "refunds"]) => self.create_refund(s, form),
            _ => stripe_error(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                &format!("Unrecognized request URL ({method}: {path})."),
                json!({}),
            ),
        }
    }

    fn confirm_setup(&self, s: &mut Store, id: &str, form: &Form) -> (StatusCode, Value) {
        let Some(mut si) = s.setup_intents.get(id).cloned() else {
            return no_such("setup_intent", id, "intent");
        };
        if si["status"] == "succeeded" {
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                "You cannot confirm this SetupIntent because it has already succeeded.",
                json!({ "code": "setup_intent_unexpected_state" }),
            );
        }
        let source = field(form, "payment_method").or_else(|| field(form, "payment_method_data[card][number]"));
        let Some(source) = source else { return missing("payment_method") };
        let Some(card) = cards::find(source) else {
            return stripe_error(
                StatusCode::PAYMENT_REQUIRED,
                "card_error",
                "Your card number is incorrect.",
                json!({ "code": "incorrect_number" }),
            );
        };
        if let Some((code, decline, message)) = card.behaviour.refusal(false) {
            si["last_setup_error"] =
                json!({ "code": code, "decline_code": decline, "message": message, "type": "card_error" });
            s.setup_intents.insert(id.to_owned(), si.clone());
            self.emit(s, "setup_intent.setup_failed", si.clone());
            return stripe_error(
                StatusCode::PAYMENT_REQUIRED,
                "card_error",
                message,
                json!({ "code": code, "decline_code": decline, "setup_intent": si }),
            );
        }
        let pm_id = s.id("pm");
        let customer = si["customer"].as_str().map(str::to_owned);
        let pm = payment_method_json(&pm_id, card, customer.as_deref());
        s.payment_methods.insert(pm_id.clone(), (pm, card.behaviour));
        si["status"] = json!("succeeded");
        si["payment_method"] = json!(pm_id);
        si["last_setup_error"] = Value::Null;
        s.setup_intents.insert(id.to_owned(), si.clone());
        self.emit(s, "setup_intent.succeeded", si.clone());
        (StatusCode::OK, si)
    }

    fn create_payment_intent(&self, s: &mut Store, form: &Form) -> (StatusCode, Value) {
        let Some(amount) = field(form, "amount") else { return missing("amount") };
        let Ok(amount) = amount.parse::<i64>() else { return invalid("Invalid integer: amount", "amount") };
        if amount < 1 {
            return invalid("This value must be greater than or equal to 1.", "amount");
        }
        let Some(currency) = field(form, "currency") else { return missing("currency") };
        let customer = field(form, "customer").map(str::to_owned);
        if let Some(c) = &customer
            && !s.customers.contains_key(c)
        {
            return no_such("customer", c, "customer");
        }
        let Some(pm) = field(form, "payment_method") else { return missing("payment_method") };
        let behaviour = match s.payment_methods.get(pm) {
            Some((stored, b)) => {
                if stored["customer"].as_str() != customer.as_deref() {
                    return invalid(
                        "The provided PaymentMethod belongs to another customer or none; attach it first.",
                        "payment_method",
                    );
                }
                *b
            }
            None => match cards::find(pm) {
                Some(c) => c.behaviour,
                None => return no_such("PaymentMethod", pm, "payment_method"),
            },
        };
        let id = s.id("pi");
        let mut pi = json!({
            "id": id, "object": "payment_intent", "created": now(), "livemode": false,
            "amount": amount, "amount_received": 0, "currency": currency.to_ascii_lowercase(),
            "customer": customer, "payment_method": pm, "description": field(form, "description"),
            "metadata": metadata(form), "status": "requires_confirmation", "last_payment_error": null,
        });
        if field(form, "confirm") != Some("true") {
            s.payment_intents.insert(id, pi.clone());
            return (StatusCode::OK, pi);
        }
        if let Some((code, decline, message)) = behaviour.refusal(true) {
            pi["status"] = json!("requires_payment_method");
            pi["last_payment_error"] =
                json!({ "code": code, "decline_code": decline, "message": message, "type": "card_error" });
            s.payment_intents.insert(id, pi.clone());
            self.emit(s, "payment_intent.payment_failed", pi.clone());
            return stripe_error(
                StatusCode::PAYMENT_REQUIRED,
                "card_error",
                message,
                json!({ "code": code, "decline_code": decline, "payment_intent": pi }),
            );
        }
        pi["status"] = json!("succeeded");
        pi["amount_received"] = json!(amount);
        s.payment_intents.insert(id.clone(), pi.clone());
        s.charges.push(Charge {
            payment_intent: id,
            amount,
            currency: currency.to_ascii_lowercase(),
            customer: customer.unwrap_or_default(),
            invoice_id: field(form, "metadata[invoice_id]").map(str::to_owned),
            idempotency_key: None,
        });
        self.emit(s, "payment_intent.succeeded", pi.clone());
        (StatusCode::OK, pi)
    }

    fn create_refund(&self, s: &mut Store, form: &Form) -> (StatusCode, Value) {
        let Some(pi_id) = field(form, "payment_intent") else { return missing("payment_intent") };
        let Some(pi) = s.payment_intents.get(pi_id).cloned() else {
            return no_such("payment_intent", pi_id, "payment_intent");
        };
        if pi["status"] != "succeeded" {
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("This PaymentIntent ({pi_id}) does not have a successful charge to refund."),
                json!({ "code": "charge_not_refundable" }),
            );
        }
        let received = pi["amount_received"].as_i64().unwrap_or(0);
        let done: i64 = s.refunds.iter().filter(|r| r.payment_intent == pi_id).map(|r| r.amount).sum();
        let amount = match field(form, "amount").map(str::parse::<i64>) {
            None => received - done,
            Some(Ok(a)) if a >= 1 => a,
            Some(_) => return invalid("Invalid positive integer", "amount"),
        };
        if amount > received - done {
            return stripe_error(
                StatusCode::BAD_REQUEST,
                "invalid_request_error",
                &format!("Refund amount ({amount}) is greater than unrefunded amount on charge ({}).", received - done),
                json!({ "code": "amount_too_large", "param": "amount" }),
            );
        }
        let id = s.id("re");
        let re = json!({
            "id": id, "object": "refund", "created": now(), "amount": amount,
            "currency": pi["currency"], "payment_intent": pi_id, "status": "succeeded",
            "reason": field(form, "reason"), "metadata": metadata(form),
        });
        s.refunds.push(RefundRecord { id, payment_intent: pi_id.to_owned(), amount });
        self.emit(s, "charge.refunded", json!({ "object": "charge", "payment_intent": pi_id, "amount_refunded": done + amount, "refunds": { "data": [re.clone()] } }));
        (StatusCode::OK, re)
    }

    fn api(&self, req: &Request<Bytes>) -> Reply {
        if !self.authenticated(req) {
            return Reply::Now(respond(stripe_error(
                StatusCode::UNAUTHORIZED,
                "invalid_request_error",
                "Invalid API Key provided. Use your secret key (sk_test_…) as a bearer token.",
                json!({}),
            )));
        }
        let form: Form = if req.method() == Method::POST {
            url::form_urlencoded::parse(req.body()).into_owned().collect()
        } else {
            url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect()
        };
        let path = req.uri().path().to_owned();
        let key = req.headers().get("idempotency-key").and_then(|v| v.to_str().ok()).map(str::to_owned);
        let mut s = self.lock();
        s.requests += 1;
        if req.method() != Method::POST {
            return Reply::Now(respond(self.execute(&mut s, req.method(), &path, &form)));
        }
        let f = s.faults;
        let roll: f64 = if f.fail_5xx + f.lose_response > 0.0 { s.rng.random() } else { 1.0 };
        if roll < f.fail_5xx {
            return Reply::Now(respond(stripe_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "api_error",
                "An unknown error occurred (stand-in fault).",
                json!({}),
            )));
        }
        let lose = roll < f.fail_5xx + f.lose_response;
        let mut sorted = form.clone();
        sorted.sort();
        let fingerprint =
            format!("{path}?{}", url::form_urlencoded::Serializer::new(String::new()).extend_pairs(sorted).finish());
        if let Some(k) = &key
            && let Some(saved) = s.idempotency.get(k)
        {
            if saved.fingerprint != fingerprint {
                return Reply::Now(respond(stripe_error(
                    StatusCode::BAD_REQUEST,
                    "idempotency_error",
                    &format!(
                        "Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '{k}' if you meant to execute a different request."
                    ),
                    json!({}),
                )));
            }
            let mut resp = respond((saved.status, saved.body.clone()));
            resp.headers_mut().insert("idempotent-replayed", HeaderValue::from_static("true"));
            s.replays += 1;
            return if lose { Reply::Drop } else { Reply::Now(resp) };
        }
        let charges_before = s.charges.len();
        let (status, body) = self.execute(&mut s, req.method(), &path, &form);
        if s.charges.len() > charges_before
            && let Some(c) = s.charges.last_mut()
        {
            c.idempotency_key = key.clone();
        }
        if let Some(k) = key
            && status != StatusCode::BAD_REQUEST
        {
            s.idempotency.insert(k, Saved { fingerprint, status, body: body.clone() });
        }
        if lose { Reply::Drop } else { Reply::Now(respond((status, body))) }
    }

    fn control(&self, req: &Request<Bytes>) -> Option<Resp> {
        let path = req.uri().path().strip_prefix("/_standin/")?;
        let mut s = self.lock();
        let j = |v: Value| crate::http::json(StatusCode::OK, &v);
        Some(match (req.method(), path) {
            (&Method::GET, "charges") => j(serde_json::to_value(&s.charges).unwrap_or_default()),
            (&Method::GET, "refunds") => j(serde_json::to_value(&s.refunds).unwrap_or_default()),
            (&Method::GET, "events") => j(Value::Array(s.events.clone())),
            (&Method::GET, "stats") => {
                j(json!({ "requests": s.requests, "replays": s.replays, "charges": s.charges.len() }))
            }
            (&Method::GET, "faults") => j(serde_json::to_value(s.faults).unwrap_or_default()),
            (&Method::POST, "faults") => match parse_body::<StripeFaults>(req) {
                Err(resp) => *resp,
                Ok(f) if ![f.fail_5xx, f.lose_response].iter().all(|r| (0.0..=1.0).contains(r)) => {
                    bad_request("rates must be numbers in [0, 1]")
                }
                Ok(f) => {
                    s.rng = StdRng::seed_from_u64(f.seed);
                    s.faults = f;
                    ok()
                }
            },
            (&Method::POST, "webhook") => {
                #[derive(Deserialize)]
                struct Hook {
                    url: String,
                    secret: Option<String>,
                }
                match parse_body::<Hook>(req) {
                    Err(resp) => *resp,
                    Ok(h) => {
                        s.webhook = Some((h.url, h.secret.unwrap_or_else(|| self.webhook_secret.clone())));
                        ok()
                    }
                }
            }
            (&Method::POST, "resend") => {
                #[derive(Deserialize)]
                struct Resend {
                    id: String,
                }
                match parse_body::<Resend>(req) {
                    Err(resp) => *resp,
                    Ok(r) => match s.events.iter().find(|e| e["id"] == r.id.as_str()) {
                        Some(e) => {
                            let _ = self.outbox.send(e.clone());
                            ok()
                        }
                        None => crate::http::json(StatusCode::NOT_FOUND, &json!({ "error": "no such event" })),
                    },
                }
            }
            (&Method::POST, "reset") => {
                let hook = s.webhook.take();
                *s = Store::new(hook);
                ok()
            }
            _ => crate::http::json(StatusCode::NOT_FOUND, &json!({ "error": "no such control route" })),
        })
    }

    /// The card-entry page (standing in for Stripe.js): the form posts here, never to
    /// the server under test.
    fn setup_page(&self, req: &Request<Bytes>, seti: &str) -> Resp {
        let query: Form =
            url::form_urlencoded::parse(req.uri().query().unwrap_or("").as_bytes()).into_owned().collect();
        let return_url = field(&query, "return_url").unwrap_or("").to_owned();
        if req.method() == Method::POST {
            let form: Form = url::form_urlencoded::parse(req.body()).into_owned().collect();
            let number = field(&form, "number").unwrap_or("").to_owned();
            let mut s = self.lock();
            let pm_form = vec![("payment_method".to_owned(), number)];
            let (status, body) = self.confirm_setup(&mut s, seti, &pm_form);
            if status == StatusCode::OK && !return_url.is_empty() {
                let sep = if return_url.contains('?') { '&' } else { '?' };
                let mut resp = html(StatusCode::SEE_OTHER, String::new());
                if let Ok(v) = HeaderValue::from_str(&format!("{return_url}{sep}setup_intent={seti}")) {
                    resp.headers_mut().insert(LOCATION, v);
                }
                return resp;
            }
            let message = body["error"]["message"].as_str().unwrap_or("saved").to_owned();
            return html(status, page(seti, &return_url, &message));
        }
        if !self.lock().setup_intents.contains_key(seti) {
            return html(StatusCode::NOT_FOUND, "<p>No such SetupIntent.</p>".to_owned());
        }
        html(StatusCode::OK, page(seti, &return_url, ""))
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn page(seti: &str, return_url: &str, message: &str) -> String {
    let q: String = url::form_urlencoded::Serializer::new(String::new()).append_pair("return_url", return_url).finish();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Card details (stand-in)</title></head>\
         <body><main><h1>Card details</h1><p role=\"status\">{}</p>\
         <form method=\"post\" action=\"/standin/setup/{}?{}\"><label>Card number <input name=\"number\" \
         inputmode=\"numeric\" autocomplete=\"cc-number\" required></label> <button>Save card</button></form></main></body></html>",
        escape(message),
        escape(seti),
        escape(&q)
    )
}

fn html(status: StatusCode, body: String) -> Resp {
    let mut resp = Response::new(http_body_util::Full::new(Bytes::from(body)));
    *resp.status_mut() = status;
    resp.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    resp
}

fn metadata(form: &Form) -> Value {
    let mut m = serde_json::Map::new();
    for (k, v) in form {
        if let Some(name) = k.strip_prefix("metadata[").and_then(|r| r.strip_suffix(']')) {
            m.insert(name.to_owned(), json!(v));
        }
    }
    Value::Object(m)
}

fn payment_method_json(id: &str, card: &cards::TestCard, customer: Option<&str>) -> Value {
    json!({
        "id": id, "object": "payment_method", "type": "card", "customer": customer, "livemode": false,
        "card": { "brand": card.brand, "last4": &card.number[12..], "exp_month": 12, "exp_year": 2034, "country": "US", "funding": "credit" },
    })
}

fn respond((status, body): (StatusCode, Value)) -> Resp {
    let mut resp = crate::http::json(status, &body);
    resp.headers_mut().insert("request-id", HeaderValue::from_static("req_standin"));
    resp
}

/// Sends events to the webhook URL, signed, with up to five tries and backoff.
async fn deliver(state: Arc<State>, mut rx: mpsc::UnboundedReceiver<Value>) {
    let http = reqwest::Client::builder().timeout(Duration::from_secs(10)).build().expect("http client");
    while let Some(event) = rx.recv().await {
        let Some((url, secret)) = state.lock().webhook.clone() else { continue };
        let body = event.to_string();
        let http = http.clone();
        // One task per event: a slow receiver does not hold the others back (like Stripe,
        // order is not guaranteed).
        tokio::spawn(async move {
            for attempt in 0..5u32 {
                let sig = sign(&secret, now(), body.as_bytes());
                let sent = http
                    .post(&url)
                    .header("content-type", "application/json; charset=utf-8")
                    .header("stripe-signature", sig)
                    .body(body.clone())
                    .send()
                    .await;
                if sent.as_ref().is_ok_and(|r| r.status().is_success()) {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(200 << attempt)).await;
            }
        });
    }
}

impl Handler for State {
    async fn handle(self: Arc<Self>, req: Request<Bytes>) -> Reply {
        if let Some(resp) = self.control(&req) {
            return Reply::Now(resp);
        }
        if let Some(seti) = req.uri().path().strip_prefix("/standin/setup/") {
            let seti = seti.to_owned();
            return Reply::Now(self.setup_page(&req, &seti));
        }
        self.api(&req)
    }
}
