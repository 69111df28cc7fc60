//! What every stand-in shares: the record of accepted messages and the seeded fault dice.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

/// How long the `timeout` fault holds an answer back unless told otherwise.
pub const DEFAULT_TIMEOUT_DELAY: Duration = Duration::from_secs(30);

/// Which outside service a stand-in plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// Firebase Cloud Messaging, HTTP v1 API.
    Fcm,
    /// Twilio Programmable Messaging (SMS).
    Twilio,
    /// An SMTP relay.
    Smtp,
}

/// One header field of a received email, unfolded, with RFC 2047 encoded words decoded.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// Field name as sent (compare case-insensitively).
    pub name: String,
    /// Field value, unfolded and trimmed.
    pub value: String,
}

/// What the provider-specific part of a recorded message holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Detail {
    /// An FCM `messages:send` request.
    Fcm {
        /// Project named in the request path.
        project: String,
        /// The `message` object exactly as sent.
        message: serde_json::Value,
    },
    /// A Twilio `Messages.json` request.
    Twilio {
        /// Account SID from the request path.
        account_sid: String,
        /// The `SM…` SID the stand-in answered with.
        sid: String,
        /// Every form field, in the order sent (names may repeat, e.g. `MediaUrl`).
        form: Vec<(String, String)>,
    },
    /// An email accepted over SMTP.
    Smtp {
        /// Envelope sender (`MAIL FROM`), empty for the null sender `<>`.
        mail_from: String,
        /// Envelope recipients (`RCPT TO`), in order.
        rcpt_to: Vec<String>,
        /// Parsed header fields of the message.
        headers: Vec<Header>,
        /// The message after dot-unstuffing (non-UTF-8 bytes replaced by U+FFFD).
        data: String,
    },
}

/// One message a stand-in accepted (and, for the `timeout` fault, answered late or never).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Received {
    /// Which stand-in took it.
    pub provider: Provider,
    /// When the stand-in accepted it.
    pub at: DateTime<Utc>,
    /// FCM: the token, `/topics/NAME` or the condition; Twilio: `To`; SMTP: the envelope
    /// recipients joined with `", "`.
    pub recipient: String,
    /// A stable id the sender put in the message, for spotting duplicates: FCM
    /// `data.message_id` else `android.collapse_key`; Twilio the `message_id` query
    /// parameter of `StatusCallback`; SMTP the `Message-ID` header.
    pub dedupe_id: Option<String>,
    /// True when the `timeout` fault held the answer back (the sender saw no outcome).
    pub delayed: bool,
    /// The provider-specific content.
    pub detail: Detail,
}

impl Received {
    /// First SMTP header with this name (case-insensitive); `None` for other providers.
    pub fn header(&self, name: &str) -> Option<&str> {
        match &self.detail {
            Detail::Smtp { headers, .. } => {
                headers.iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.value.as_str())
            }
            _ => None,
        }
    }

    /// First Twilio form field with this name; `None` for other providers.
    pub fn form_field(&self, name: &str) -> Option<&str> {
        match &self.detail {
            Detail::Twilio { form, .. } => form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()),
            _ => None,
        }
    }

    /// The FCM `message` object; `None` for other providers.
    pub fn fcm_message(&self) -> Option<&serde_json::Value> {
        match &self.detail {
            Detail::Fcm { message, .. } => Some(message),
            _ => None,
        }
    }
}

/// Fault rates, each a probability in `[0, 1]`, drawn per delivery attempt from a seeded RNG.
///
/// One draw `u` in `[0, 1)` per attempt: `u < fail_5xx` fails it, else
/// `u < fail_5xx + timeout` times it out, else `u < fail_5xx + timeout + drop` drops it.
/// Setting faults reseeds the RNG, so the same settings and requests give the same outcomes.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Faults {
    /// Answer with a transient server error (HTTP 503 or 500, SMTP 451) without recording.
    pub fail_5xx: f64,
    /// Record the message, then hold the answer back for the configured delay.
    pub timeout: f64,
    /// Close the connection without an answer and without recording.
    pub drop: f64,
    /// Seed of the fault RNG.
    pub seed: u64,
}

impl Faults {
    /// No faults at all.
    pub const NONE: Faults = Faults { fail_5xx: 0.0, timeout: 0.0, drop: 0.0, seed: 0 };

    /// Checks that every rate is a finite number in `[0, 1]` and that they sum to at most 1.
    pub fn validate(&self) -> Result<(), String> {
        for (name, rate) in [("fail_5xx", self.fail_5xx), ("timeout", self.timeout), ("drop", self.drop)] {
            if !rate.is_finite() || !(0.0..=1.0).contains(&rate) {
                return Err(format!("{name} must be a number in [0, 1], got {rate}"));
            }
        }
        let sum = self.fail_5xx + self.timeout + self.drop;
        if sum > 1.0 + 1e-9 {
            return Err(format!("fault rates must sum to at most 1, got {sum}"));
        }
        Ok(())
    }
}

/// What the fault dice decided for one delivery attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Accept, record and answer normally.
    Deliver,
    /// Refuse with a transient error; `unavailable` picks 503 over 500.
    Fail { unavailable: bool },
    /// Record, then answer only after this delay.
    Timeout(Duration),
    /// Close the connection without an answer.
    Drop,
}

struct State {
    received: Vec<Received>,
    faults: Faults,
    rng: StdRng,
    permanent: bool,
    timeout_delay: Duration,
}

/// The shared, cloneable record and fault settings of one stand-in.
#[derive(Clone)]
pub(crate) struct Recorder {
    state: Arc<Mutex<State>>,
}

impl Recorder {
    pub(crate) fn new(timeout_delay: Duration) -> Self {
        Recorder {
            state: Arc::new(Mutex::new(State {
                received: Vec::new(),
                faults: Faults::NONE,
                rng: StdRng::seed_from_u64(0),
                permanent: false,
                timeout_delay,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding this lock cannot leave the state half-written in a way
        // that matters to a test double, so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    pub(crate) fn received_count(&self) -> usize {
        self.lock().received.len()
    }

    pub(crate) fn record(&self, received: Received) {
        tracing::info!(provider = ?received.provider, recipient = %received.recipient, "recorded");
        self.lock().received.push(received);
    }

    pub(crate) fn set_faults(&self, faults: Faults) {
        if let Err(e) = faults.validate() {
            panic!("invalid stand-in faults: {e}");
        }
        let mut state = self.lock();
        state.faults = faults;
        state.rng = StdRng::seed_from_u64(faults.seed);
    }

    pub(crate) fn faults(&self) -> Faults {
        self.lock().faults
    }

    pub(crate) fn set_timeout_delay(&self, delay: Duration) {
        self.lock().timeout_delay = delay;
    }

    pub(crate) fn timeout_delay(&self) -> Duration {
        self.lock().timeout_delay
    }

    pub(crate) fn fail_permanently(&self, on: bool) {
        self.lock().permanent = on;
    }

    pub(crate) fn permanent(&self) -> bool {
        self.lock().permanent
    }

    pub(crate) fn clear(&self) {
        self.lock().received.clear();
    }

    /// Forgets the record, the faults and the permanent-failure switch.
    pub(crate) fn reset(&self) {
        let mut state = self.lock();
        state.received.clear();
        state.faults = Faults::NONE;
        state.rng = StdRng::seed_from_u64(0);
        state.permanent = false;
    }

    /// Rolls the fault dice for one delivery attempt.
    pub(crate) fn decide(&self) -> Decision {
        let mut state = self.lock();
        let f = state.faults;
        if f.fail_5xx == 0.0 && f.timeout == 0.0 && f.drop == 0.0 {
            return Decision::Deliver;
        }
        let u: f64 = state.rng.random();
        if u < f.fail_5xx {
            Decision::Fail { unavailable: state.rng.random_bool(0.5) }
        } else if u < f.fail_5xx + f.timeout {
            Decision::Timeout(state.timeout_delay)
        } else if u < f.fail_5xx + f.timeout + f.drop {
            Decision::Drop
        } else {
            Decision::Deliver
        }
    }
}

/// Writes the record-and-fault methods every stand-in exposes, delegating to `self.recorder`.
macro_rules! control_methods {
    () => {
        /// Every message accepted so far, oldest first (including those answered late by the
        /// `timeout` fault).
        pub fn received(&self) -> Vec<$crate::Received> {
            self.recorder.received()
        }

        /// How many requests were recorded (cheap: for polling).
        pub fn received_count(&self) -> usize {
            self.recorder.received_count()
        }

        /// Sets the fault rates and reseeds the fault RNG.
        ///
        /// # Panics
        /// If a rate is outside `[0, 1]` or the rates sum to more than 1.
        pub fn set_faults(&self, faults: $crate::Faults) {
            self.recorder.set_faults(faults)
        }

        /// The fault rates in force.
        pub fn faults(&self) -> $crate::Faults {
            self.recorder.faults()
        }

        /// How long the `timeout` fault holds an answer back (default 30 s).
        pub fn set_timeout_delay(&self, delay: std::time::Duration) {
            self.recorder.set_timeout_delay(delay)
        }

        /// When on, every valid delivery is refused with this provider's definite failure.
        pub fn fail_permanently(&self, on: bool) {
            self.recorder.fail_permanently(on)
        }

        /// Forgets every recorded message (faults and other settings stay).
        pub fn clear(&self) {
            self.recorder.clear()
        }
    };
}
pub(crate) use control_methods;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_decisions() {
        let roll = |seed| {
            let r = Recorder::new(Duration::from_secs(1));
            r.set_faults(Faults { fail_5xx: 0.3, timeout: 0.2, drop: 0.2, seed });
            (0..50).map(|_| r.decide()).collect::<Vec<_>>()
        };
        assert_eq!(roll(7), roll(7));
        assert_ne!(roll(7), roll(8));
        assert!(roll(7).contains(&Decision::Drop));
        assert!(roll(7).contains(&Decision::Deliver));
    }

    #[test]
    fn rates_are_checked() {
        assert!(Faults::NONE.validate().is_ok());
        let bad = Faults { fail_5xx: 0.7, timeout: 0.7, ..Faults::NONE };
        assert!(bad.validate().is_err());
        let nan = Faults { drop: f64::NAN, ..Faults::NONE };
        assert!(nan.validate().is_err());
    }
}
