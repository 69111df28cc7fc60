//! Notifications: templates, the transactional outbox, the provider clients and the
//! worker that delivers, plus who gets told what.

pub mod contacts;
pub mod outbox;
pub mod providers;
pub mod templates;
pub mod worker;

use std::str::FromStr;
use std::sync::Arc;
use tokio::sync::Notify;

/// How a message travels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Channel {
    /// FCM push to a device token.
    Push,
    /// Twilio SMS to a phone number.
    Sms,
    /// SMTP e-mail.
    Email,
}

impl Channel {
    /// Storage name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Push => "push",
            Self::Sms => "sms",
            Self::Email => "email",
        }
    }
}

impl FromStr for Channel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "push" => Ok(Self::Push),
            "sms" => Ok(Self::Sms),
            "email" => Ok(Self::Email),
            _ => Err(format!("unknown channel {s:?}")),
        }
    }
}

/// What writers need to queue messages.
pub struct Notifier {
    /// Message templates.
    pub templates: templates::Templates,
    /// Wakes this node's worker after a commit that queued messages.
    pub wake: Arc<Notify>,
    /// Base of links in messages.
    pub public_url: String,
}

impl Notifier {
    /// Renders a template; a broken edited template must not lose the message or roll
    /// back the state change that caused it, so it falls back to a plain text and says
    /// so loudly in the log.
    pub fn render(&self, template: &str, ch: Channel, locale: &str, ctx: &serde_json::Value) -> templates::Rendered {
        self.templates.render(template, ch, locale, ctx).unwrap_or_else(|e| {
            tracing::error!(template, channel = ch.as_str(), error = %format!("{e:#}"), "template failed; sending a fallback");
            templates::Rendered {
                subject: Some("Sysops Squad".to_owned()),
                body: format!(
                    "Sysops Squad: update on \"{}\" ({template}).",
                    ctx.pointer("/ticket/title").and_then(serde_json::Value::as_str).unwrap_or("your ticket")
                ),
            }
        })
    }

    /// Wake the worker (call after the transaction that queued messages commits).
    pub fn kick(&self) {
        self.wake.notify_one();
    }
}
