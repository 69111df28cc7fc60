//! Tickets in the call-center console: raise one for a caller (a double click raises
//! one ticket: the form carries a one-time key), a ticket's page with everything staff
//! see (who the expert is and why, why nobody fits), dispatcher notes and cancelling.
//! Everything goes through the ticket service, with the API's role rules.

use super::error::{WebError, WebResult};
use super::form::{FieldErrors, see_other};
use super::live::{Live, Watch};
use super::my_tickets::{CancelForm, RaisePage, StaffView, TicketPage, Typed};
use super::session::{self, Viewer};
use super::tickets::{self, Audience, RaiseForm};
use crate::auth::Role;
use crate::customers;
use crate::db::entity::{assignment, ticket_event, user};
use crate::state::AppState;
use crate::tickets::{Actor, Op, TicketError};
use actix_web::web::{self, Form};
use actix_web::{HttpRequest, HttpResponse, Responder, get, post};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use std::sync::Arc;
use uuid::Uuid;

/// Who uses the console (the API's customer finders).
const CONSOLE: &[Role] = customers::FINDERS;
/// Who may cancel a ticket (the API's rule, less the customer).
const CANCELLERS: &[Role] = &[Role::Agent, Role::Admin];
/// Who may add a dispatcher note (the API's rule).
const NOTERS: &[Role] = &[Role::Agent, Role::Admin, Role::Manager];

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(raise_form).service(raise_post).service(one).service(live).service(note).service(cancel);
}

fn parse_id(viewer: &Viewer, raw: &str) -> WebResult<Uuid> {
    raw.parse::<Uuid>().map_err(|_| WebError::not_found(&viewer.chrome))
}

/// `GET /console/customers/{id}/tickets/new`: the raise form for a caller.
#[get("/console/customers/{id}/tickets/new")]
pub async fn raise_form(
    req: HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> WebResult<HttpResponse> {
    viewer.require(CONSOLE, "the call-center console")?;
    let id = parse_id(&viewer, &id)?;
    let detail = customers::detail(&state.db, id).await.map_err(|e| viewer.error(e))?;
    let groups = tickets::covers(&detail.subscriptions);
    let page = RaisePage {
        action: format!("/console/customers/{id}/tickets/new"),
        back: format!("/console/customers/{id}"),
        for_whom: Some(detail.customer.name),
        form: RaiseForm::fresh(&groups),
        groups,
        errors: FieldErrors::default(),
        chrome: viewer.chrome,
    };
    Ok(page.respond_to(&req).map_into_boxed_body())
}

/// `POST /console/customers/{id}/tickets/new`.
#[post("/console/customers/{id}/tickets/new")]
pub async fn raise_post(
    req: HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: Form<RaiseForm>,
) -> WebResult<HttpResponse> {
    viewer.require(CONSOLE, "the call-center console")?;
    let id = parse_id(&viewer, &id)?;
    let detail = customers::detail(&state.db, id).await.map_err(|e| viewer.error(e))?;
    let f = form.into_inner();
    let action = format!("/console/customers/{id}/tickets/new");
    match tickets::raise(&state, viewer.caller, Some(id), &action, &f).await? {
        Ok(ticket) => {
            session::flash(&viewer.session, format!("The ticket for {} is raised.", detail.customer.name));
            Ok(see_other(&format!("/console/tickets/{ticket}")))
        }
        Err(errors) => {
            let page = RaisePage {
                back: format!("/console/customers/{id}"),
                action,
                for_whom: Some(detail.customer.name),
                groups: tickets::covers(&detail.subscriptions),
                form: f,
                errors,
                chrome: viewer.chrome,
            };
            Ok(page.respond_to(&req).map_into_boxed_body())
        }
    }
}

/// What staff see beside the timeline.
async fn staff_view(state: &AppState, t: &crate::db::entity::ticket::Model) -> WebResult<StaffView> {
    let db = &state.db.read;
    let people: Vec<Uuid> = [Some(t.customer_id), t.assigned_expert_id].into_iter().flatten().collect();
    let names: std::collections::HashMap<Uuid, String> = user::Entity::find()
        .filter(user::Column::Id.is_in(people))
        .all(db)
        .await
        .map_err(anyhow::Error::from)?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    let current = match t.assigned_expert_id {
        Some(_) => assignment::Entity::find()
            .filter(assignment::Column::TicketId.eq(t.id))
            .filter(assignment::Column::EndedAt.is_null())
            .order_by_desc(assignment::Column::Id)
            .one(db)
            .await
            .map_err(anyhow::Error::from)?,
        None => None,
    };
    let assignment = current
        .map(|a| {
            let reasons: Vec<String> =
                a.reasons.as_array().into_iter().flatten().filter_map(|r| r.as_str().map(str::to_owned)).collect();
            if reasons.is_empty() { vec![format!("Fit score {:.2}", a.score)] } else { reasons }
        })
        .unwrap_or_default();
    let unassignable = if t.status == "unassignable" {
        let last = ticket_event::Entity::find()
            .filter(ticket_event::Column::TicketId.eq(t.id))
            .filter(ticket_event::Column::Kind.eq("unassignable"))
            .order_by_desc(ticket_event::Column::Id)
            .one(db)
            .await
            .map_err(anyhow::Error::from)?;
        Some(why_unassignable(t.unassignable_reason.as_deref(), last.as_ref().map(|e| &e.detail)))
    } else {
        None
    };
    Ok(StaffView {
        customer: names.get(&t.customer_id).cloned().unwrap_or_else(|| "(erased customer)".to_owned()),
        customer_href: format!("/console/customers/{}", t.customer_id),
        unassignable,
        assignment,
        expert: t.assigned_expert_id.map(|e| names.get(&e).cloned().unwrap_or_else(|| "(removed expert)".to_owned())),
        assign_href: None,
    })
}

/// The reason nobody fits, with the count of experts ruled out for each cause.
pub fn why_unassignable(reason: Option<&str>, event: Option<&serde_json::Value>) -> Vec<String> {
    let mut out = Vec::new();
    let detail = event.and_then(|d| d.get("detail"));
    let reason = reason
        .map(str::to_owned)
        .or_else(|| event.and_then(|d| d.get("reason")).and_then(|r| r.as_str()).map(str::to_owned))
        .unwrap_or_else(|| "No expert fits this ticket.".to_owned());
    out.push(super::form::sentence(&reason));
    if let Some(d) = detail {
        let n = |k: &str| d.get(k).and_then(serde_json::Value::as_u64).unwrap_or(0);
        if n("skilled") == 0 {
            return out;
        }
        out.push(format!("Experts with the skill: {}", n("skilled")));
        for (key, words) in [
            ("outside_area", "outside their service area"),
            ("off_duty", "off duty"),
            ("at_capacity", "already at their ticket limit"),
            ("excluded", "passed on this ticket before"),
        ] {
            if n(key) > 0 {
                out.push(format!("Ruled out as {words}: {}", n(key)));
            }
        }
    }
    out
}

/// `GET /console/tickets/{id}`: the staff view of a ticket.
#[get("/console/tickets/{id}")]
pub async fn one(viewer: Viewer, state: web::Data<AppState>, id: web::Path<String>) -> WebResult<TicketPage> {
    viewer.require(CONSOLE, "the call-center console")?;
    let id = parse_id(&viewer, &id)?;
    staff_page(viewer, &state, id).await
}

async fn staff_page(viewer: Viewer, state: &AppState, id: Uuid) -> WebResult<TicketPage> {
    let Some(t) = tickets::load(state, id).await? else { return Err(WebError::not_found(&viewer.chrome)) };
    let timeline = tickets::timeline(state, &t, Audience::Staff).await?;
    let staff = staff_view(state, &t).await?;
    let can_cancel = viewer.caller.require(CANCELLERS, "cancelling").is_ok() && tickets::cancellable(&t.status);
    Ok(TicketPage {
        status: super::customer::status_words(&t.status),
        raised: t.created_at.format("%-d %b %Y, %H:%M UTC").to_string(),
        timeline,
        base: format!("/console/tickets/{id}"),
        back: (staff.customer_href.clone(), staff.customer.clone()),
        survey: None,
        cancellable: can_cancel,
        staff: Some(staff),
        live: format!("/console/tickets/{id}/live"),
        typed: Typed::default(),
        chrome: viewer.chrome,
        t,
    })
}

/// `GET /console/tickets/{id}/live`: server-sent events with the ticket's status.
#[get("/console/tickets/{id}/live")]
pub async fn live(
    viewer: Viewer,
    state: web::Data<AppState>,
    live: web::Data<Arc<Live>>,
    id: web::Path<String>,
) -> WebResult<HttpResponse> {
    viewer.require(CONSOLE, "the call-center console")?;
    let id = parse_id(&viewer, &id)?;
    let Some(t) = tickets::load(&state, id).await? else { return Err(WebError::not_found(&viewer.chrome)) };
    Ok(live.stream(Watch::Ticket(id), vec![t]))
}

/// The note form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct NoteForm {
    /// The note.
    pub text: String,
}

/// `POST /console/tickets/{id}/notes`. A note that cannot be taken is shown at its
/// field, with what was typed.
#[post("/console/tickets/{id}/notes")]
pub async fn note(
    req: HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: Form<NoteForm>,
) -> WebResult<HttpResponse> {
    viewer.require(NOTERS, "adding dispatcher notes")?;
    let id = parse_id(&viewer, &id)?;
    let typed = form.into_inner().text;
    let problem = match sysops_core::text::Comment::parse(&typed) {
        Err(e) => Some(e.message),
        Ok(t) if t.as_str().is_empty() => Some("Write the note first.".to_owned()),
        Ok(t) => match state.tickets.run(Actor::User(viewer.caller), id, Op::Note { text: t.into_inner() }).await {
            Ok(_) => {
                session::flash(&viewer.session, "The note is added; the expert's device receives it.");
                return Ok(see_other(&format!("/console/tickets/{id}")));
            }
            Err(e) => Some(tickets::action_message(&viewer.chrome, e)?),
        },
    };
    // Show the page again with the message at the note field and the text kept.
    let mut page = staff_page(viewer, &state, id).await?;
    page.typed.note = typed;
    page.typed.note_error = problem.map(|p| super::form::sentence(&p));
    Ok(page.respond_to(&req).map_into_boxed_body())
}

/// `POST /console/tickets/{id}/cancel`.
#[post("/console/tickets/{id}/cancel")]
pub async fn cancel(
    req: HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: Form<CancelForm>,
) -> WebResult<HttpResponse> {
    viewer.require(CANCELLERS, "cancelling tickets")?;
    let id = parse_id(&viewer, &id)?;
    let typed = form.into_inner().reason;
    let reason = Some(typed.trim().to_owned()).filter(|r| !r.is_empty());
    match state.tickets.run(Actor::User(viewer.caller), id, Op::Cancel { reason }).await {
        Ok(_) => session::flash(&viewer.session, "The ticket is cancelled; the customer and the expert are told."),
        Err(TicketError::Invalid(v)) => {
            let mut page = staff_page(viewer, &state, id).await?;
            page.typed.reason_error = v.0.first().map(|f| super::form::sentence(&f.message));
            page.typed.reason = typed;
            return Ok(page.respond_to(&req).map_into_boxed_body());
        }
        Err(e) => {
            let m = tickets::action_message(&viewer.chrome, e)?;
            session::flash(&viewer.session, format!("The ticket could not be cancelled: {m}."));
        }
    }
    Ok(see_other(&format!("/console/tickets/{id}")))
}
