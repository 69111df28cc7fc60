//! Ticket pages shared by the customer portal and the call-center console: the raise
//! form (one choice of "which product and what kind of problem", so the category always
//! comes from the chosen plan), the ticket page with its timeline, and the live status
//! stream. Everything goes through the ticket service (`Tickets::submit`, `Tickets::run`).
//!
//! Customers see their own tickets only (another's is a 404) and never an expert's id,
//! score or the other candidates: the timeline names the expert by first name.

use super::chrome::Chrome;
use super::error::{WebError, WebResult};
use super::form::FieldErrors;
use crate::auth::Caller;
use crate::customers::SubscriptionDetail;
use crate::db::entity::{survey_invite, ticket, ticket_event, user};
use crate::state::AppState;
use crate::tickets::{Keyed, Submitted, TicketError, TicketRequest};
use rand::RngCore;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// Who a timeline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The ticket's customer: plain words, no internal notes, no scores.
    Customer,
    /// Call center, admins, managers: everything, with the assignment's reasons.
    Staff,
}

/// One line of a timeline.
#[derive(Debug, Clone)]
pub struct Entry {
    /// `3 Dec 2026, 14:05 UTC`.
    pub when: String,
    /// Machine-readable time (`datetime` attribute).
    pub iso: String,
    /// What happened.
    pub title: String,
    /// More words, if any.
    pub detail: String,
    /// The step's kind (its marker's colour).
    pub kind: String,
}

/// The first name of a full name.
pub fn first_name(name: &str) -> String {
    name.split_whitespace().next().unwrap_or("an expert").to_owned()
}

fn text_of(v: &serde_json::Value, key: &str) -> String {
    v.get(key).and_then(|x| x.as_str()).unwrap_or_default().to_owned()
}

/// The timeline of `t` for `audience`, oldest first.
pub async fn timeline(state: &AppState, t: &ticket::Model, audience: Audience) -> WebResult<Vec<Entry>> {
    let events = ticket_event::Entity::find()
        .filter(ticket_event::Column::TicketId.eq(t.id))
        .order_by_asc(ticket_event::Column::Id)
        .all(&state.db.read)
        .await
        .map_err(anyhow::Error::from)?;
    let mut ids: Vec<Uuid> = events
        .iter()
        .filter_map(|e| e.detail.get("expert_id").and_then(|v| v.as_str()).and_then(|s| s.parse().ok()))
        .collect();
    ids.extend(events.iter().filter_map(|e| e.actor_id));
    ids.sort_unstable();
    ids.dedup();
    let names: HashMap<Uuid, String> = if ids.is_empty() {
        HashMap::new()
    } else {
        user::Entity::find()
            .filter(user::Column::Id.is_in(ids))
            .all(&state.db.read)
            .await
            .map_err(anyhow::Error::from)?
            .into_iter()
            .map(|u| (u.id, u.name))
            .collect()
    };
    let staff = audience == Audience::Staff;
    let name_of = |id: Option<Uuid>| -> String {
        let full = id.and_then(|i| names.get(&i)).cloned().unwrap_or_default();
        if full.is_empty() {
            "an expert".to_owned()
        } else if staff {
            full
        } else {
            first_name(&full)
        }
    };
    let expert_in = |e: &ticket_event::Model| -> String {
        name_of(e.detail.get("expert_id").and_then(|v| v.as_str()).and_then(|s| s.parse().ok()).or(e.actor_id))
    };
    let mut out = Vec::new();
    for e in &events {
        let (title, detail) = match (e.kind.as_str(), staff) {
            ("created", _) => {
                let by = match e.actor_role.as_str() {
                    "customer" if !staff => "by you".to_owned(),
                    "customer" => "by the customer".to_owned(),
                    "agent" => format!(
                        "by our call center{}",
                        if staff { format!(" ({})", name_of(e.actor_id)) } else { String::new() }
                    ),
                    _ => String::new(),
                };
                ("Raised".to_owned(), by)
            }
            ("assigned", false) => (format!("Assigned to {}", expert_in(e)), String::new()),
            ("assigned", true) => {
                // The reasons end with the score itself; without them, the score alone.
                let reasons: Vec<&str> = e
                    .detail
                    .get("reasons")
                    .and_then(|r| r.as_array())
                    .map(|r| r.iter().filter_map(|x| x.as_str()).collect())
                    .unwrap_or_default();
                let detail = if reasons.is_empty() {
                    let score = e.detail.get("score").and_then(serde_json::Value::as_f64).unwrap_or_default();
                    format!("score {score:.2}")
                } else {
                    reasons.join("; ")
                };
                (format!("Assigned to {}", expert_in(e)), detail)
            }
            ("accepted", _) => (format!("Accepted by {}", name_of(e.actor_id)), String::new()),
            ("en_route", _) => (format!("{} is on the way", name_of(e.actor_id)), String::new()),
            ("arrived", _) => (format!("{} arrived", name_of(e.actor_id)), String::new()),
            ("declined", false) | ("accept_timeout", false) => {
                ("The expert could not come".to_owned(), "We are finding another expert for you.".to_owned())
            }
            ("declined", true) => (format!("Declined by {}", name_of(e.actor_id)), text_of(&e.detail, "reason")),
            ("accept_timeout", true) => (format!("{} did not accept in time", expert_in(e)), String::new()),
            ("assignee_gone", false) => {
                ("The expert could not come".to_owned(), "We are finding another expert for you.".to_owned())
            }
            ("assignee_gone", true) => {
                (format!("{} was deactivated", expert_in(e)), "The ticket went to the next expert.".to_owned())
            }
            ("unassignable", false) => (
                "Waiting for a free expert".to_owned(),
                "No expert near you is free right now; our dispatchers are on it.".to_owned(),
            ),
            ("unassignable", true) => ("No expert fits".to_owned(), text_of(&e.detail, "reason")),
            ("completed", _) => ("Completed".to_owned(), text_of(&e.detail, "resolution")),
            ("cancelled", _) => {
                let who = match e.actor_role.as_str() {
                    "customer" if !staff => "by you",
                    "customer" => "by the customer",
                    "system" => "",
                    _ => "by Sysops Squad",
                };
                (format!("Cancelled {who}").trim_end().to_owned(), text_of(&e.detail, "reason"))
            }
            ("survey_received", _) => (
                "Survey answered".to_owned(),
                if staff {
                    format!("rating {}", e.detail.get("rating").and_then(serde_json::Value::as_i64).unwrap_or_default())
                } else {
                    "Thank you for your feedback.".to_owned()
                },
            ),
            ("closed", _) => ("Closed".to_owned(), String::new()),
            ("note_added", true) => (format!("Note from {}", name_of(e.actor_id)), text_of(&e.detail, "text")),
            ("sla_breached", true) => ("Service level missed".to_owned(), text_of(&e.detail, "sla")),
            ("survey_reminder_sent", true) => ("Survey reminder sent".to_owned(), String::new()),
            (other, true) => (other.replace('_', " "), String::new()),
            (_, false) => continue,
        };
        out.push(Entry {
            when: e.at.format("%-d %b %Y, %H:%M UTC").to_string(),
            iso: e.at.to_rfc3339(),
            title,
            detail,
            kind: e.kind.clone(),
        });
    }
    Ok(out)
}

/// Whether a ticket in `status` can still be cancelled.
pub fn cancellable(status: &str) -> bool {
    !matches!(status, "completed" | "closed" | "cancelled")
}

/// The survey link waiting for this ticket's customer, if any (completed, invitation
/// unused and unexpired).
pub async fn survey_link(state: &AppState, t: &ticket::Model) -> WebResult<Option<String>> {
    if t.status != "completed" {
        return Ok(None);
    }
    let inv = survey_invite::Entity::find_by_id(t.id).one(&state.db.read).await.map_err(anyhow::Error::from)?;
    Ok(inv
        .filter(|i| i.used_at.is_none() && i.expires_at_ms > chrono::Utc::now().timestamp_millis())
        .map(|i| format!("/survey/{}", crate::tickets::survey::token_for(&state.tickets.surveys, &i))))
}

/// One choice of the raise form: a covered product and one category of its plan.
#[derive(Debug, Clone)]
pub struct Cover {
    /// `subscription:category`.
    pub value: String,
    /// `Television`.
    pub label: String,
}

/// The choices of one covered product.
#[derive(Debug, Clone)]
pub struct CoverGroup {
    /// `Living-room TV (Home and Office)`.
    pub label: String,
    /// Its categories.
    pub options: Vec<Cover>,
}

/// The choices for a customer's active subscriptions.
pub fn covers(subs: &[SubscriptionDetail]) -> Vec<CoverGroup> {
    subs.iter()
        .filter(|s| s.subscription.status == "active")
        .map(|s| CoverGroup {
            label: format!("{} ({})", s.subscription.product, s.plan_name),
            options: s
                .categories
                .iter()
                .map(|c| Cover { value: format!("{}:{c}", s.subscription.id), label: super::chrome::category(c) })
                .collect(),
        })
        .collect()
}

/// The raise form's fields.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct RaiseForm {
    /// `subscription:category`.
    pub cover: String,
    /// Short summary.
    pub title: String,
    /// What is wrong.
    pub description: String,
    /// The form's one-time key: a double click or a resend raises one ticket.
    pub key: String,
}

impl RaiseForm {
    /// An empty form with a fresh key (the only choice pre-selected).
    pub fn fresh(groups: &[CoverGroup]) -> Self {
        let only: Vec<&Cover> = groups.iter().flat_map(|g| &g.options).collect();
        let cover = if only.len() == 1 { only[0].value.clone() } else { String::new() };
        Self { cover, key: new_key(), ..Default::default() }
    }
}

/// A random form key.
pub fn new_key() -> String {
    let mut b = [0u8; 16];
    rand::rng().fill_bytes(&mut b);
    hex::encode(b)
}

/// The answer stored with a ticket raised from a page: its id.
fn page_answer(c: &crate::tickets::Created) -> (u16, String) {
    (201, c.ticket.id.to_string())
}

/// Raises the ticket of `f` for `customer` (as `by`); the new (or replayed) ticket's id,
/// or the form's field errors. Field names are the form's (`cover`, `title`, …).
pub async fn raise(
    state: &AppState,
    by: Caller,
    customer: Option<Uuid>,
    path: &str,
    f: &RaiseForm,
) -> Result<Result<Uuid, FieldErrors>, WebError> {
    let mut errors = FieldErrors::default();
    let (sub, category) = match f.cover.split_once(':') {
        Some((s, c)) => match s.parse::<Uuid>() {
            Ok(s) => (s, c.to_owned()),
            Err(_) => {
                errors.add("cover", "choose the product and the kind of problem");
                (Uuid::nil(), String::new())
            }
        },
        None => {
            errors.add("cover", "choose the product and the kind of problem");
            (Uuid::nil(), String::new())
        }
    };
    if f.key.len() < 16 || f.key.len() > 64 {
        errors.add("", "This form is out of date; it was reloaded. Please check it and send it again.");
    }
    if errors.any() {
        // The other fields are checked too (by the same rules the service applies), so
        // every message shows at once.
        if let Err(e) = sysops_core::text::Title::parse(&f.title) {
            errors.add("title", e.message);
        }
        if let Err(e) = sysops_core::text::Description::parse(&f.description) {
            errors.add("description", e.message);
        }
        return Ok(Err(errors));
    }
    let body = serde_json::json!([f.cover, f.title, f.description, customer]).to_string();
    let fingerprint = crate::idempotency::fingerprint("POST", path, body.as_bytes());
    let request = TicketRequest {
        subscription_id: sub,
        category,
        title: f.title.clone(),
        description: f.description.clone(),
        location: None,
        address: None,
        customer_id: customer,
    };
    // A double click: the second request waits for the first's answer and gives it.
    for _ in 0..50 {
        let keyed = Keyed {
            scope: format!("web:{}", by.user_id),
            key: f.key.clone(),
            fingerprint: fingerprint.clone(),
            answer: page_answer,
        };
        let outcome = state.tickets.submit(by, request.clone(), Some(keyed)).await;
        return match outcome {
            Ok(Submitted::Created(c)) => Ok(Ok(c.ticket.id)),
            Ok(Submitted::Replayed(r)) => r
                .body
                .parse::<Uuid>()
                .map(Ok)
                .map_err(|_| WebError::Internal(anyhow::anyhow!("a stored page answer is not a ticket id"))),
            Err(TicketError::InFlight(_)) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(TicketError::Invalid(v)) => {
                for e in v.0 {
                    let field = match e.field.as_str() {
                        "subscription_id" | "category" => "cover",
                        "customer_id" => "",
                        other => other,
                    };
                    errors.add(field, e.message);
                }
                Ok(Err(errors))
            }
            Err(TicketError::KeyReused(_)) => {
                errors
                    .add("", "This form was already sent with other details. Open a new form to raise another ticket.");
                Ok(Err(errors))
            }
            Err(TicketError::Overloaded { detail, .. }) => {
                errors.add("", format!("{detail}. Nothing was raised; please send the form again in a moment"));
                Ok(Err(errors))
            }
            Err(TicketError::Refused(m) | TicketError::NotFound(m)) => {
                errors.add("cover", m);
                Ok(Err(errors))
            }
            Err(e) => Err(WebError::Internal(anyhow::anyhow!(e))),
        };
    }
    errors.add("", "This form is still being processed. Look at your tickets before sending it again.");
    Ok(Err(errors))
}

/// A ticket error of a lifecycle action (cancel, note) as a message for the page, or
/// the page that replaces it (404, 500).
pub fn action_message(chrome: &Chrome, e: TicketError) -> Result<String, WebError> {
    match e {
        TicketError::NotFound(_) => Err(WebError::not_found(chrome)),
        TicketError::Storage(_) | TicketError::Internal(_) => Err(WebError::Internal(anyhow::anyhow!(e))),
        TicketError::Invalid(v) => {
            Ok(v.0.into_iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; "))
        }
        other => Ok(other.detail()),
    }
}

/// Reads one ticket by id (any customer's; callers check visibility).
pub async fn load(state: &AppState, id: Uuid) -> WebResult<Option<ticket::Model>> {
    ticket::Entity::find_by_id(id).one(&state.db.read).await.map_err(|e| WebError::Internal(e.into()))
}
