//! Ticket intake and reads. Reads are scoped by role: a customer sees their own tickets,
//! an expert the tickets assigned to them, staff every ticket; anything else is 404.

use super::extract::ApiJson;
use super::idempotency::{self, IdempotencyKey};
use super::problem::{ApiError, ApiResult};
use super::views::{Location, Page, TicketEventView, TicketView};
use crate::auth::{Caller, Role};
use crate::db::entity::{ticket, ticket_event};
use crate::repo::tickets as rows;
use crate::state::AppState;
use crate::tickets::{Created, Keyed, Submitted, TicketRequest, disclose};
use actix_web::web::Query;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use sysops_core::ticket::TicketStatus;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// A new problem ticket.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTicketBody {
    /// The subscription it is raised under (its plan must cover the category).
    pub subscription_id: Uuid,
    /// The kind of product (`television`, `laptop`, …).
    pub category: String,
    /// A short summary, 3 to 200 characters.
    pub title: String,
    /// What is wrong, up to 5,000 characters.
    pub description: String,
    /// Where the work is; defaults to the customer's address.
    pub location: Option<Location>,
    /// The address of the work, when it is not the customer's address.
    pub address: Option<String>,
    /// Required when an agent raises the ticket on a customer's behalf.
    pub customer_id: Option<Uuid>,
}

/// The stored answer of a created ticket for `role`: 201 and its view.
fn created_answer_as(role: Role, c: &Created) -> (u16, String) {
    let view = TicketView::new(&c.ticket, c.assignment.as_ref()).disclosed(role, c.expert_first_name.clone());
    (201, serde_json::to_string(&view).unwrap_or_default())
}

/// The stored answer of a ticket a customer raised.
fn created_answer_customer(c: &Created) -> (u16, String) {
    created_answer_as(Role::Customer, c)
}

/// The stored answer of a ticket an agent raised.
fn created_answer_agent(c: &Created) -> (u16, String) {
    created_answer_as(Role::Agent, c)
}

/// Raises a ticket and assigns the best-fit expert in the same transaction.
#[utoipa::path(tag = "tickets", request_body = NewTicketBody,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe: the same key returns the same ticket")),
    responses((status = 201, body = TicketView), (status = 409, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem),
        (status = 503, body = super::problem::Problem, description = "Shedding load; retry after Retry-After seconds")),
    security(("bearer" = [])))]
#[post("/api/v1/tickets")]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    key: IdempotencyKey,
    body: ApiJson<NewTicketBody>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Customer, Role::Agent], "raising tickets")?;
    let b = body.value;
    let request = TicketRequest {
        subscription_id: b.subscription_id,
        category: b.category,
        title: b.title,
        description: b.description,
        location: b.location.map(|l| (l.lat, l.lon)),
        address: b.address,
        customer_id: b.customer_id,
    };
    let keyed = key.0.map(|key| Keyed {
        scope: caller.user_id.to_string(),
        key,
        fingerprint: idempotency::fingerprint(&req, &body.raw),
        answer: if caller.role == Role::Customer { created_answer_customer } else { created_answer_agent },
    });
    match state.tickets.submit(caller, request, keyed).await? {
        Submitted::Replayed(r) => Ok(idempotency::replay(&r)),
        Submitted::Created(c) => {
            let (_, body) = created_answer_as(caller.role, &c);
            Ok(HttpResponse::Created().content_type("application/json").body(body))
        }
    }
}

/// A ticket's view with its current assignment, as `caller` may see it.
pub async fn view(c: &impl ConnectionTrait, caller: &Caller, t: &ticket::Model) -> ApiResult<TicketView> {
    let a = rows::current_assignment(c, t.id).await?;
    let names = disclose::first_names(c, a.iter().map(|a| a.expert_id).collect()).await?;
    let name = a.as_ref().and_then(|a| names.get(&a.expert_id).cloned());
    Ok(TicketView::new(t, a.as_ref()).disclosed(caller.role, name))
}

/// The tickets `caller` may see.
pub fn scope(caller: &Caller) -> ApiResult<Condition> {
    Ok(match caller.role {
        Role::Customer => Condition::all().add(ticket::Column::CustomerId.eq(caller.user_id)),
        Role::Expert => Condition::any()
            .add(ticket::Column::AssignedExpertId.eq(caller.user_id))
            .add(ticket::Column::CompletedBy.eq(caller.user_id)),
        Role::Agent | Role::Admin | Role::Manager => Condition::all(),
    })
}

/// Loads a ticket the caller may see, or 404.
pub async fn visible(c: &impl ConnectionTrait, caller: &Caller, id: Uuid) -> ApiResult<ticket::Model> {
    ticket::Entity::find_by_id(id).filter(scope(caller)?).one(c).await?.ok_or_else(|| ApiError::not_found("ticket"))
}

/// One ticket.
#[utoipa::path(tag = "tickets", responses((status = 200, body = TicketView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/tickets/{id}")]
pub async fn get_one(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let t = visible(&state.db.read, &caller, id.into_inner()).await?;
    Ok(HttpResponse::Ok().json(view(&state.db.read, &caller, &t).await?))
}

/// List filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only tickets in this status.
    pub status: Option<String>,
    /// Page size, 1 to 200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<u64>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Parses `limit` and `cursor`.
pub fn page_params(limit: Option<u64>, cursor: Option<&str>) -> ApiResult<(u64, Option<Uuid>)> {
    let limit = limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 200"));
    }
    let cursor = match cursor {
        None | Some("") => None,
        Some(c) => Some(c.parse::<Uuid>().map_err(|_| ApiError::field("cursor", "not a cursor this server issued"))?),
    };
    Ok((limit, cursor))
}

/// Tickets the caller may see, newest first.
#[utoipa::path(tag = "tickets", params(ListQuery), responses((status = 200, body = Page<TicketView>)),
    security(("bearer" = [])))]
#[get("/api/v1/tickets")]
pub async fn list(state: web::Data<AppState>, caller: Caller, q: Query<ListQuery>) -> ApiResult<HttpResponse> {
    let (limit, cursor) = page_params(q.limit, q.cursor.as_deref())?;
    let mut query = ticket::Entity::find().filter(scope(&caller)?);
    if let Some(s) = q.status.as_deref() {
        let status: TicketStatus = s.parse().map_err(|e: sysops_core::FieldError| e.under("status"))?;
        query = query.filter(ticket::Column::Status.eq(status.as_str()));
    }
    if let Some(c) = cursor {
        query = query.filter(ticket::Column::Id.lt(c));
    }
    let db = &state.db.read;
    let rows = query.order_by_desc(ticket::Column::Id).limit(limit + 1).all(db).await?;
    let more = rows.len() as u64 > limit;
    let rows: Vec<ticket::Model> = rows.into_iter().take(limit as usize).collect();
    let assignments = rows::current_assignments(db, rows.iter().map(|t| t.id).collect()).await?;
    let next_cursor = if more { rows.last().map(|t| t.id.to_string()) } else { None };
    let names = disclose::first_names(db, assignments.values().map(|a| a.expert_id).collect()).await?;
    let items = rows
        .iter()
        .map(|t| {
            let a = assignments.get(&t.id);
            let name = a.and_then(|a| names.get(&a.expert_id).cloned());
            TicketView::new(t, a).disclosed(caller.role, name)
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}

/// A ticket's audit trail, oldest first.
#[utoipa::path(tag = "tickets", responses((status = 200, body = Page<TicketEventView>)), security(("bearer" = [])))]
#[get("/api/v1/tickets/{id}/events")]
pub async fn events(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let t = visible(&state.db.read, &caller, id.into_inner()).await?;
    let rows = ticket_event::Entity::find()
        .filter(ticket_event::Column::TicketId.eq(t.id))
        .order_by_asc(ticket_event::Column::Id)
        .all(&state.db.read)
        .await?;
    let items = rows
        .iter()
        .map(|e| {
            let mut v = TicketEventView::from(e);
            v.detail = disclose::event_detail(caller.role, &v.detail);
            v
        })
        .collect();
    Ok(HttpResponse::Ok().json(Page { items, next_cursor: None }))
}
