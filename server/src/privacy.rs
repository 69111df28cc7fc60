//! A customer's personal data (GDPR articles 15, 17 and 20): everything we hold about
//! them as one JSON document, and erasure. Erasure keeps the tickets, anonymised, so
//! reports still count them: the account and profile lose every identifying field, the
//! tickets lose their free text and exact place (kept to about a kilometre), messages
//! about them lose their text, and the account is closed (sign-in refused, every token
//! stops working on every node). A customer closes their own account this way; an
//! administrator erases on request. Erasure waits until no ticket of theirs is open.

use crate::auth::{Caller, sessions, status};
use crate::db::entity::{
    alert, auth_session, customer, idempotency_key, outbox_message, password_reset, subscription, survey, ticket,
    ticket_event, user,
};
use crate::state::AppState;
use chrono::Utc;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use serde_json::{Value, json};
use uuid::Uuid;

/// What replaces erased free text.
pub const ERASED: &str = "[erased]";

/// Ticket statuses during which erasure waits (someone may be on the way).
const OPEN: [&str; 4] = ["created", "assigned", "accepted", "unassignable"];

/// Why an export or erasure was refused.
#[derive(Debug, thiserror::Error)]
pub enum PrivacyError {
    /// No such customer.
    #[error("customer not found")]
    NotFound,
    /// Tickets are still open.
    #[error("{0} ticket(s) are still open; cancel them or wait until they are completed, then try again")]
    OpenTickets(usize),
    /// Something broke on our side.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sea_orm::DbErr> for PrivacyError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Internal(e.into())
    }
}

/// Everything held about customer `id`, as one JSON document.
pub async fn export(state: &AppState, id: Uuid) -> Result<Value, PrivacyError> {
    let db = &state.db.read;
    let u = user::Entity::find_by_id(id).one(db).await?.ok_or(PrivacyError::NotFound)?;
    let c = customer::Entity::find_by_id(id).one(db).await?.ok_or(PrivacyError::NotFound)?;
    let subs = subscription::Entity::find().filter(subscription::Column::CustomerId.eq(id)).all(db).await?;
    let tickets = ticket::Entity::find()
        .filter(ticket::Column::CustomerId.eq(id))
        .order_by_asc(ticket::Column::Id)
        .all(db)
        .await?;
    let ids: Vec<Uuid> = tickets.iter().map(|t| t.id).collect();
    let events = ticket_event::Entity::find()
        .filter(ticket_event::Column::TicketId.is_in(ids.clone()))
        .order_by_asc(ticket_event::Column::Id)
        .all(db)
        .await?;
    let surveys = survey::Entity::find().filter(survey::Column::TicketId.is_in(ids)).all(db).await?;
    let messages = outbox_message::Entity::find()
        .filter(outbox_message::Column::RecipientUserId.eq(id))
        .order_by_asc(outbox_message::Column::Id)
        .all(db)
        .await?;
    let signins = auth_session::Entity::find().filter(auth_session::Column::UserId.eq(id)).all(db).await?;
    Ok(json!({
        "exported_at": Utc::now(),
        "account": {"id": u.id, "email": u.email, "name": u.name, "role": u.role, "created_at": u.created_at,
                    "disabled": u.disabled},
        "profile": {"phone": c.phone, "notify_by": c.notify_by, "address": c.address,
                    "location": {"lat": c.lat, "lon": c.lon}, "locale": c.locale, "created_at": c.created_at},
        "subscriptions": subs.iter().map(|s| json!({"id": s.id, "plan_id": s.plan_id, "product": s.product,
            "status": s.status, "started_at": s.started_at, "cancelled_at": s.cancelled_at})).collect::<Vec<_>>(),
        "tickets": tickets.iter().map(|t| json!({
            "id": t.id, "subscription_id": t.subscription_id, "category": t.category, "title": t.title,
            "description": t.description, "address": t.address, "location": {"lat": t.lat, "lon": t.lon},
            "status": t.status, "resolution": t.resolution, "created_at": t.created_at, "updated_at": t.updated_at,
            "completed_at": t.completed_at, "close_reason": t.close_reason,
            "events": events.iter().filter(|e| e.ticket_id == t.id).map(|e| json!({
                "kind": e.kind, "at": e.at, "by": e.actor_role, "detail": e.detail})).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "surveys": surveys.iter().map(|s| json!({"ticket_id": s.ticket_id, "rating": s.rating,
            "comment": s.comment, "submitted_at": s.submitted_at})).collect::<Vec<_>>(),
        "messages": messages.iter().map(|m| json!({"id": m.id, "channel": m.channel, "to": m.recipient,
            "subject": m.subject, "body": m.body, "status": m.status, "created_at": m.created_at,
            "sent_at": m.sent_at})).collect::<Vec<_>>(),
        "sign_ins": signins.iter().map(|s| json!({"created_at": s.created_at, "last_used_at": s.last_used_at,
            "signed_out_at": s.revoked_at})).collect::<Vec<_>>(),
    }))
}

/// About a kilometre: where a ticket was, without the house.
fn coarse(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Erases customer `id`'s personal data and closes the account (see the module docs).
pub async fn erase(state: &AppState, id: Uuid, by: Caller) -> Result<(), PrivacyError> {
    let txn = state.db.begin_write().await?;
    let u = user::Entity::find_by_id(id).one(&txn).await?.ok_or(PrivacyError::NotFound)?;
    let c = customer::Entity::find_by_id(id).one(&txn).await?.ok_or(PrivacyError::NotFound)?;
    let tickets = ticket::Entity::find().filter(ticket::Column::CustomerId.eq(id)).all(&txn).await?;
    let open = tickets.iter().filter(|t| OPEN.contains(&t.status.as_str())).count();
    if open > 0 {
        return Err(PrivacyError::OpenTickets(open));
    }
    let now = Utc::now();
    let email = u.email.clone();
    let mut um: user::ActiveModel = u.into();
    um.email = Set(format!("erased-{}@erased.invalid", id.simple()));
    um.name = Set("Erased customer".to_owned());
    um.password_hash = Set("!erased".to_owned());
    um.disabled = Set(true);
    um.update(&txn).await?;
    let mut cm: customer::ActiveModel = c.into();
    cm.phone = Set(String::new());
    cm.address = Set(String::new());
    cm.lat = Set(0.0);
    cm.lon = Set(0.0);
    cm.update(&txn).await?;
    subscription::Entity::update_many()
        .col_expr(subscription::Column::Status, Expr::value("cancelled"))
        .col_expr(subscription::Column::CancelledAt, Expr::value(now))
        .filter(subscription::Column::CustomerId.eq(id))
        .filter(subscription::Column::CancelledAt.is_null())
        .exec(&txn)
        .await?;
    let ids: Vec<Uuid> = tickets.iter().map(|t| t.id).collect();
    for t in &tickets {
        let title = t.title.clone();
        let mut tm: ticket::ActiveModel = t.clone().into();
        tm.title = Set(ERASED.to_owned());
        tm.description = Set(ERASED.to_owned());
        tm.address = Set(String::new());
        tm.lat = Set(coarse(t.lat));
        tm.lon = Set(coarse(t.lon));
        tm.expert_notes = Set(String::new());
        tm.dispatcher_notes = Set(String::new());
        tm.update(&txn).await?;
        // Alerts quote the title.
        for a in alert::Entity::find().filter(alert::Column::TicketId.eq(t.id)).all(&txn).await? {
            let message = a.message.replace(&title, ERASED);
            let mut am: alert::ActiveModel = a.into();
            am.message = Set(message);
            am.update(&txn).await?;
        }
    }
    if !ids.is_empty() {
        erase_event_text(&txn, &ids).await?;
        survey::Entity::update_many()
            .col_expr(survey::Column::Comment, Expr::value(""))
            .filter(survey::Column::TicketId.is_in(ids.clone()))
            .exec(&txn)
            .await?;
        // Messages about the tickets quote their title and address, whoever they went to.
        outbox_message::Entity::update_many()
            .col_expr(outbox_message::Column::Body, Expr::value(ERASED))
            .col_expr(outbox_message::Column::Subject, Expr::value(Option::<String>::None))
            .filter(outbox_message::Column::TicketId.is_in(ids))
            .exec(&txn)
            .await?;
    }
    // Messages to them: nothing left to send, nowhere to send it.
    outbox_message::Entity::update_many()
        .col_expr(outbox_message::Column::Status, Expr::value("dead"))
        .col_expr(outbox_message::Column::LastError, Expr::value("recipient erased"))
        .filter(outbox_message::Column::RecipientUserId.eq(id))
        .filter(outbox_message::Column::Status.eq("pending"))
        .exec(&txn)
        .await?;
    outbox_message::Entity::update_many()
        .col_expr(outbox_message::Column::Recipient, Expr::value("erased"))
        .col_expr(outbox_message::Column::Body, Expr::value(ERASED))
        .col_expr(outbox_message::Column::Subject, Expr::value(Option::<String>::None))
        .filter(outbox_message::Column::RecipientUserId.eq(id))
        .exec(&txn)
        .await?;
    // Replays of their requests (registration answers hold the profile).
    idempotency_key::Entity::delete_many()
        .filter(
            sea_orm::Condition::any()
                .add(idempotency_key::Column::Scope.eq(id.to_string()))
                .add(idempotency_key::Column::ResponseBody.contains(id.to_string())),
        )
        .exec(&txn)
        .await?;
    password_reset::Entity::delete_many().filter(password_reset::Column::UserId.eq(id)).exec(&txn).await?;
    sessions::revoke_all(&txn, id, sessions::reason::ACCOUNT).await?;
    txn.commit().await?;
    // The tickets' sync documents are rewritten from the erased rows (their current state;
    // automerge keeps their history: ADR 13).
    for t in &tickets {
        state.sync.handle.ticket(t.id);
    }
    crate::auth::throttle::clear_account(&state.db, &crate::auth::throttle::Subject::new(&email, None)).await?;
    status::changed(&state.db, &state.auth.users, id).await;
    tracing::info!(customer = %id, by = %by.user_id, "customer's personal data erased; account closed");
    Ok(())
}

/// Free text in the tickets' history (what was asked, notes, reasons given) is erased;
/// kinds, times and the rest stay.
async fn erase_event_text(txn: &impl ConnectionTrait, tickets: &[Uuid]) -> Result<(), sea_orm::DbErr> {
    let events =
        ticket_event::Entity::find().filter(ticket_event::Column::TicketId.is_in(tickets.to_vec())).all(txn).await?;
    for e in events {
        let free_reason = ["note_added", "cancelled", "declined"].contains(&e.kind.as_str());
        let mut detail = e.detail.clone();
        let Some(obj) = detail.as_object_mut() else { continue };
        let mut changed = false;
        for key in ["title", "description", "address", "text", "reason"] {
            if (free_reason || !["text", "reason"].contains(&key)) && obj.get(key).is_some_and(Value::is_string) {
                obj.insert(key.to_owned(), json!(ERASED));
                changed = true;
            }
        }
        if !changed {
            continue;
        }
        let mut em: ticket_event::ActiveModel = e.into();
        em.detail = Set(detail);
        em.update(txn).await?;
    }
    Ok(())
}
