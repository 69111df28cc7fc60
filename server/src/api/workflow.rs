//! The expert's side of a ticket (accept, decline, complete) and cancellation.

use super::extract::{ApiJson, MaybeJson};
use super::problem::ApiResult;
use super::views::TicketView;
use crate::auth::{Caller, Role};
use crate::state::AppState;
use crate::tickets::{Actor, Op};
use actix_web::{HttpResponse, post, web};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::ToSchema;
use uuid::Uuid;

async fn respond(state: &AppState, caller: &Caller, row: crate::db::entity::ticket::Model) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(super::tickets::view(&state.db.write, caller, &row).await?))
}

/// The assigned expert accepts the ticket.
#[utoipa::path(tag = "workflow", responses((status = 200, body = TicketView), (status = 404, body = super::problem::Problem),
    (status = 409, body = super::problem::Problem)), security(("bearer" = [])))]
#[post("/api/v1/tickets/{id}/accept")]
pub async fn accept(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Expert], "accepting tickets")?;
    let row = state.tickets.run(Actor::User(caller), id.into_inner(), Op::Accept).await?;
    respond(&state, &caller, row).await
}

/// Why an expert declines.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeclineBody {
    /// Optional reason.
    pub reason: Option<String>,
}

/// The assigned expert declines; the ticket goes to the next best expert (never back to
/// one who declined), or becomes unassignable and the managers are alerted.
#[utoipa::path(tag = "workflow", request_body = DeclineBody, responses((status = 200, body = TicketView),
    (status = 404, body = super::problem::Problem), (status = 409, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/tickets/{id}/decline")]
pub async fn decline(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: MaybeJson<DeclineBody>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Expert], "declining tickets")?;
    let reason = body.0.and_then(|b| b.reason);
    let row = state.tickets.run(Actor::User(caller), id.into_inner(), Op::Decline { reason }).await?;
    respond(&state, &caller, row).await
}

/// The work done.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteBody {
    /// What was wrong and what fixed it.
    pub resolution: String,
    /// When the work was finished, if not now (RFC 3339).
    pub completed_at: Option<DateTime<Utc>>,
}

/// The assigned expert completes the ticket; the customer is e-mailed a survey link.
#[utoipa::path(tag = "workflow", request_body = CompleteBody, responses((status = 200, body = TicketView),
    (status = 404, body = super::problem::Problem), (status = 409, body = super::problem::Problem),
    (status = 422, body = super::problem::Problem)), security(("bearer" = [])))]
#[post("/api/v1/tickets/{id}/complete")]
pub async fn complete(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: ApiJson<CompleteBody>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Expert], "completing tickets")?;
    let b = body.value;
    let op = Op::Complete { resolution: b.resolution, completed_at: b.completed_at };
    let row = state.tickets.run(Actor::User(caller), id.into_inner(), op).await?;
    respond(&state, &caller, row).await
}

/// Why a ticket is cancelled.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    /// Optional reason.
    pub reason: Option<String>,
}

/// Cancels an open ticket (its customer, an agent or an admin).
#[utoipa::path(tag = "workflow", request_body = CancelBody, responses((status = 200, body = TicketView),
    (status = 404, body = super::problem::Problem), (status = 409, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/tickets/{id}/cancel")]
pub async fn cancel(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: MaybeJson<CancelBody>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Customer, Role::Agent, Role::Admin], "cancelling tickets")?;
    let reason = body.0.and_then(|b| b.reason);
    let row = state.tickets.run(Actor::User(caller), id.into_inner(), Op::Cancel { reason }).await?;
    respond(&state, &caller, row).await
}

/// A dispatcher's note.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// The note (up to 2,000 characters); appended to the ticket's dispatcher notes, which
    /// the assigned expert's device receives.
    pub text: String,
}

/// Adds a dispatcher's note to a ticket (agents, admins, managers).
#[utoipa::path(tag = "workflow", request_body = NoteBody, responses((status = 200, body = TicketView),
    (status = 404, body = super::problem::Problem), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/tickets/{id}/notes")]
pub async fn note(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: ApiJson<NoteBody>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Agent, Role::Admin, Role::Manager], "adding dispatcher notes")?;
    let text = sysops_core::text::Comment::parse(&body.value.text).map_err(|e| e.under("text"))?;
    if text.as_str().is_empty() {
        return Err(super::problem::ApiError::field("text", "must not be empty"));
    }
    let row = state.tickets.run(Actor::User(caller), id.into_inner(), Op::Note { text: text.into_inner() }).await?;
    respond(&state, &caller, row).await
}

/// A person's reassignment.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignBody {
    /// The expert to give the ticket to; omitted: the next best expert (never one who
    /// already passed on it). A named expert may be outside their service area or
    /// beyond the usual distance (the reasons say so); one who is not skilled, off duty,
    /// at capacity or passed on the ticket is refused with 409.
    pub expert_id: Option<Uuid>,
    /// Why (up to 2,000 characters); recorded in the audit trail and told to the former
    /// expert.
    pub reason: String,
}

/// Gives an open ticket (created, assigned, accepted or unassignable) to a named expert
/// or the next best one (agents, admins, managers). The former expert (push), the new
/// expert (push and SMS) and the customer (their channel) are told. Work the former
/// expert completes offline afterwards still stands.
#[utoipa::path(tag = "workflow", request_body = AssignBody, responses((status = 200, body = TicketView),
    (status = 403, body = super::problem::Problem), (status = 404, body = super::problem::Problem),
    (status = 409, body = super::problem::Problem, description = "The expert fails a hard constraint, nobody else can take it, or the ticket is no longer open"),
    (status = 422, body = super::problem::Problem)), security(("bearer" = [])))]
#[post("/api/v1/tickets/{id}/assign")]
pub async fn assign(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: ApiJson<AssignBody>,
) -> ApiResult<HttpResponse> {
    caller.require(crate::tickets::ops::ASSIGNERS, "assigning tickets")?;
    let b = body.value;
    let op = Op::Assign { expert: b.expert_id, reason: b.reason };
    let row = state.tickets.run(Actor::User(caller), id.into_inner(), op).await?;
    respond(&state, &caller, row).await
}

/// When the expert set off or arrived.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProgressBody {
    /// When, if not now (RFC 3339; the device's time when reported late).
    pub at: Option<DateTime<Utc>>,
}

/// The assigned expert (who accepted) sets off: the customer is told once, by their
/// channel, with an estimated arrival from the distance. Repeating it changes nothing.
#[utoipa::path(tag = "workflow", request_body = ProgressBody, responses((status = 200, body = TicketView),
    (status = 404, body = super::problem::Problem), (status = 409, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/tickets/{id}/en-route")]
pub async fn en_route(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: MaybeJson<ProgressBody>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Expert], "reporting progress")?;
    let at = body.0.and_then(|b| b.at);
    let row = state.tickets.run(Actor::User(caller), id.into_inner(), Op::EnRoute { at }).await?;
    respond(&state, &caller, row).await
}

/// The assigned expert arrives: the customer is told once, by their channel.
/// Repeating it changes nothing.
#[utoipa::path(tag = "workflow", request_body = ProgressBody, responses((status = 200, body = TicketView),
    (status = 404, body = super::problem::Problem), (status = 409, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/tickets/{id}/arrived")]
pub async fn arrived(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: MaybeJson<ProgressBody>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Expert], "reporting progress")?;
    let at = body.0.and_then(|b| b.at);
    let row = state.tickets.run(Actor::User(caller), id.into_inner(), Op::Arrived { at }).await?;
    respond(&state, &caller, row).await
}
