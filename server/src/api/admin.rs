//! Operations for staff: the outbox (dead letters and their retry), manager alerts, and
//! the demo-only dev outbox page.

use super::problem::{ApiError, ApiResult};
use super::views::Page;
use crate::auth::{Caller, Role};
use crate::db::entity::{alert, outbox_message};
use crate::notify::outbox;
use crate::state::AppState;
use actix_web::web::Query;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A queued, sent or dead message.
#[derive(Debug, Serialize, ToSchema)]
pub struct OutboxView {
    /// Id (also the stable id receivers de-duplicate by).
    pub id: Uuid,
    /// `push`, `sms` or `email`.
    pub channel: String,
    /// Token, phone or address.
    pub recipient: String,
    /// Template.
    pub template: String,
    /// Subject or title.
    pub subject: Option<String>,
    /// Text.
    pub body: String,
    /// The ticket it is about.
    pub ticket_id: Option<Uuid>,
    /// `pending`, `sending`, `sent` or `dead`.
    pub status: String,
    /// Attempts so far.
    pub attempts: i32,
    /// The last failure.
    pub last_error: Option<String>,
    /// The provider's reference once sent.
    pub provider_ref: Option<String>,
    /// The node that sent it (or holds the claim while sending).
    pub node: Option<String>,
    /// Queued.
    pub created_at: DateTime<Utc>,
    /// Sent.
    pub sent_at: Option<DateTime<Utc>>,
}

impl From<outbox_message::Model> for OutboxView {
    fn from(m: outbox_message::Model) -> Self {
        Self {
            id: m.id,
            channel: m.channel,
            recipient: m.recipient,
            template: m.template,
            subject: m.subject,
            body: m.body,
            ticket_id: m.ticket_id,
            status: m.status,
            attempts: m.attempts,
            last_error: m.last_error,
            provider_ref: m.provider_ref,
            node: m.claimed_by,
            created_at: m.created_at,
            sent_at: m.sent_at,
        }
    }
}

/// Outbox filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct OutboxQuery {
    /// Only this status (`dead` for dead letters).
    pub status: Option<String>,
    /// Only messages about this ticket.
    pub ticket_id: Option<Uuid>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Lists outbox messages, newest first (admins).
#[utoipa::path(tag = "admin", params(OutboxQuery), responses((status = 200, body = Page<OutboxView>)), security(("bearer" = [])))]
#[get("/api/v1/admin/outbox")]
pub async fn list_outbox(state: web::Data<AppState>, caller: Caller, q: Query<OutboxQuery>) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Admin], "reading the outbox")?;
    let (limit, cursor) = super::tickets::page_params(q.limit, q.cursor.as_deref())?;
    let mut query = outbox_message::Entity::find();
    if let Some(s) = &q.status {
        if !["pending", "sending", "sent", "dead"].contains(&s.as_str()) {
            return Err(ApiError::field("status", "must be pending, sending, sent or dead"));
        }
        query = query.filter(outbox_message::Column::Status.eq(s.clone()));
    }
    if let Some(t) = q.ticket_id {
        query = query.filter(outbox_message::Column::TicketId.eq(t));
    }
    if let Some(c) = cursor {
        query = query.filter(outbox_message::Column::Id.lt(c));
    }
    let rows = query.order_by_desc(outbox_message::Column::Id).limit(limit + 1).all(&state.db.read).await?;
    let more = rows.len() as u64 > limit;
    let items: Vec<OutboxView> = rows.into_iter().take(limit as usize).map(OutboxView::from).collect();
    let next_cursor = if more { items.last().map(|m| m.id.to_string()) } else { None };
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}

/// Puts a dead message back in the queue (admins).
#[utoipa::path(tag = "admin", responses((status = 200, body = OutboxView), (status = 404, body = super::problem::Problem),
    (status = 409, body = super::problem::Problem)), security(("bearer" = [])))]
#[post("/api/v1/admin/outbox/{id}/retry")]
pub async fn retry(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Admin], "retrying messages")?;
    let id = id.into_inner();
    let Some(m) = outbox::retry_dead(&state.db, id).await? else {
        return match outbox_message::Entity::find_by_id(id).one(&state.db.read).await? {
            None => Err(ApiError::not_found("message")),
            Some(m) => {
                Err(ApiError::Conflict(format!("the message is {}; only dead messages can be retried", m.status)))
            }
        };
    };
    state.notifier.kick();
    Ok(HttpResponse::Ok().json(OutboxView::from(m)))
}

/// A manager alert.
#[derive(Debug, Serialize, ToSchema)]
pub struct AlertView {
    /// Id.
    pub id: Uuid,
    /// `unassignable`, `late_completion`, `sla_time_to_accept`, …
    pub kind: String,
    /// The ticket concerned.
    pub ticket_id: Option<Uuid>,
    /// What happened.
    pub message: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Recent alerts, newest first (managers and admins).
#[utoipa::path(tag = "admin", responses((status = 200, body = Page<AlertView>)), security(("bearer" = [])))]
#[get("/api/v1/alerts")]
pub async fn alerts(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Manager, Role::Admin], "reading alerts")?;
    let rows = alert::Entity::find().order_by_desc(alert::Column::Id).limit(200).all(&state.db.read).await?;
    let items = rows
        .into_iter()
        .map(|a| AlertView {
            id: a.id,
            kind: a.kind,
            ticket_id: a.ticket_id,
            message: a.message,
            created_at: a.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page { items, next_cursor: None }))
}

/// A device change that could not be applied.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConflictView {
    /// Id.
    pub id: Uuid,
    /// The document the change was made in.
    pub document: String,
    /// The ticket concerned.
    pub ticket_id: Option<Uuid>,
    /// The expert who made it.
    pub expert_id: Option<Uuid>,
    /// `completion_refused`, `accept_refused`, …
    pub kind: String,
    /// What happened.
    pub message: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Device changes that could not be applied, newest first (managers and admins).
#[utoipa::path(tag = "sync", responses((status = 200, body = Page<ConflictView>)), security(("bearer" = [])))]
#[get("/api/v1/sync/conflicts")]
pub async fn conflicts(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    use crate::db::entity::sync_conflict;
    caller.require(&[Role::Manager, Role::Admin], "reading sync conflicts")?;
    let rows =
        sync_conflict::Entity::find().order_by_desc(sync_conflict::Column::Id).limit(200).all(&state.db.read).await?;
    let items = rows
        .into_iter()
        .map(|c| ConflictView {
            id: c.id,
            document: sysops_core::sync::ids::url(c.doc_id),
            ticket_id: c.ticket_id,
            expert_id: c.expert_id,
            kind: c.kind,
            message: c.message,
            created_at: c.created_at,
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page { items, next_cursor: None }))
}

/// Every message that would have gone out, for a person trying the demo (demo mode only).
#[get("/dev/outbox")]
pub async fn dev_outbox(state: web::Data<AppState>, req: HttpRequest) -> ApiResult<HttpResponse> {
    // Only in demo mode, and only to this machine.
    if !state.settings.demo || !req.peer_addr().is_some_and(|a| a.ip().is_loopback()) {
        return Err(ApiError::not_found("page"));
    }
    let rows =
        outbox_message::Entity::find().order_by_desc(outbox_message::Column::Id).limit(300).all(&state.db.read).await?;
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let mut html = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"5\"><title>Dev outbox</title>\
         <style>body{font-family:system-ui,sans-serif;margin:1.5rem}table{border-collapse:collapse}td,th{border:1px solid #ccc;\
         padding:.3rem .5rem;vertical-align:top;text-align:left}pre{white-space:pre-wrap;margin:0;max-width:50rem}</style></head>\
         <body><h1>Dev outbox</h1><p>Every push, SMS and e-mail the server sent or would have sent (newest first; refreshes every 5 s).</p>\
         <table><tr><th>when</th><th>channel</th><th>to</th><th>status</th><th>message</th></tr>",
    );
    for m in rows {
        html.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><b>{}</b><pre>{}</pre></td></tr>",
            m.created_at.format("%H:%M:%S"),
            esc(&m.channel),
            esc(&m.recipient),
            esc(&m.status),
            esc(m.subject.as_deref().unwrap_or("")),
            esc(&m.body)
        ));
    }
    html.push_str("</table></body></html>");
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html))
}
