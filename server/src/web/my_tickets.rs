//! The customer's tickets: raise one, the list with live status, one ticket's page with
//! its timeline, cancelling while it is not done.

use super::chrome::Chrome;
use super::customer::{TicketRow, recent_tickets};
use super::error::{WebError, WebResult};
use super::form::{FieldErrors, see_other};
use super::live::{Live, Watch};
use super::session::{self, Viewer};
use super::tickets::{self, Audience, CoverGroup, Entry, RaiseForm};
use crate::auth::Role;
use crate::customers;
use crate::db::entity::ticket;
use crate::state::AppState;
use crate::tickets::{Actor, Op, TicketError};
use actix_web::web::{self, Form};
use actix_web::{HttpRequest, HttpResponse, Responder, get, post};
use askama::Template;
use askama_web::WebTemplate;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use std::sync::Arc;
use uuid::Uuid;

const CUSTOMER: &[Role] = &[Role::Customer];

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(live).service(raise_form).service(raise_post).service(one).service(cancel);
}

#[derive(Template, WebTemplate)]
#[template(path = "web/tickets.html")]
struct ListPage {
    chrome: Chrome,
    tickets: Vec<TicketRow>,
    can_raise: bool,
}

/// `GET /my/tickets`: every ticket of the customer, newest first (the latest 100).
#[get("/my/tickets")]
pub async fn list(viewer: Viewer, state: web::Data<AppState>) -> WebResult<ListPage> {
    viewer.require(CUSTOMER, "the customer's pages")?;
    let tickets = recent_tickets(&state, viewer.caller.user_id, 100, "/my/tickets").await?;
    let can_raise =
        customers::has_active_subscription(&state.db, viewer.caller.user_id).await.map_err(|e| viewer.error(e))?;
    Ok(ListPage { chrome: viewer.chrome, tickets, can_raise })
}

/// `GET /my/live`: server-sent events with the status of the customer's tickets.
#[get("/my/live")]
pub async fn live(viewer: Viewer, state: web::Data<AppState>, live: web::Data<Arc<Live>>) -> WebResult<HttpResponse> {
    viewer.require(CUSTOMER, "the customer's pages")?;
    let me = viewer.caller.user_id;
    let current = ticket::Entity::find()
        .filter(ticket::Column::CustomerId.eq(me))
        .order_by_desc(ticket::Column::Id)
        .limit(100)
        .all(&state.db.read)
        .await
        .map_err(anyhow::Error::from)?;
    live.stream(Watch::Customer(me), current).await.map_err(|e| WebError::Internal(e.into()))
}

/// The raise form.
#[derive(Template, WebTemplate)]
#[template(path = "web/ticket_form.html")]
pub struct RaisePage {
    /// Layout.
    pub chrome: Chrome,
    /// Where the form goes.
    pub action: String,
    /// Where "Cancel" goes.
    pub back: String,
    /// For whom (an agent's form names the customer).
    pub for_whom: Option<String>,
    /// The covered products and their kinds of problem.
    pub groups: Vec<CoverGroup>,
    /// What was typed.
    pub form: RaiseForm,
    /// What is wrong with it.
    pub errors: FieldErrors,
}

/// `GET /my/tickets/new`.
#[get("/my/tickets/new")]
pub async fn raise_form(req: HttpRequest, viewer: Viewer, state: web::Data<AppState>) -> WebResult<HttpResponse> {
    viewer.require(CUSTOMER, "raising tickets")?;
    let subs = customers::subscriptions(&state.db, viewer.caller.user_id).await.map_err(|e| viewer.error(e))?;
    let groups = tickets::covers(&subs);
    let page = RaisePage {
        chrome: viewer.chrome,
        action: "/my/tickets/new".into(),
        back: "/my/tickets".into(),
        for_whom: None,
        form: RaiseForm::fresh(&groups),
        groups,
        errors: FieldErrors::default(),
    };
    Ok(page.respond_to(&req).map_into_boxed_body())
}

/// `POST /my/tickets/new`.
#[post("/my/tickets/new")]
pub async fn raise_post(
    req: HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    form: Form<RaiseForm>,
) -> WebResult<HttpResponse> {
    viewer.require(CUSTOMER, "raising tickets")?;
    let f = form.into_inner();
    match tickets::raise(&state, viewer.caller, None, "/my/tickets/new", &f).await? {
        Ok(id) => {
            session::flash(&viewer.session, "Your ticket is raised. We tell you here, and by message, as it moves.");
            Ok(see_other(&format!("/my/tickets/{id}")))
        }
        Err(errors) => {
            let subs = customers::subscriptions(&state.db, viewer.caller.user_id).await.map_err(|e| viewer.error(e))?;
            let page = RaisePage {
                chrome: viewer.chrome,
                action: "/my/tickets/new".into(),
                back: "/my/tickets".into(),
                for_whom: None,
                groups: tickets::covers(&subs),
                form: f,
                errors,
            };
            Ok(page.respond_to(&req).map_into_boxed_body())
        }
    }
}

/// A ticket's page (the customer's and the console's).
#[derive(Template, WebTemplate)]
#[template(path = "web/ticket.html")]
pub struct TicketPage {
    /// Layout.
    pub chrome: Chrome,
    /// The ticket.
    pub t: ticket::Model,
    /// The status in words.
    pub status: &'static str,
    /// Raised, in words.
    pub raised: String,
    /// What happened.
    pub timeline: Vec<Entry>,
    /// Where its forms post (`/my/tickets/{id}` or `/console/tickets/{id}`).
    pub base: String,
    /// Where "back" goes, and its words.
    pub back: (String, String),
    /// The survey link waiting for the customer.
    pub survey: Option<String>,
    /// Whether it can be cancelled.
    pub cancellable: bool,
    /// Staff view: notes, why unassignable, the customer.
    pub staff: Option<StaffView>,
    /// Where the page's live stream is.
    pub live: String,
    /// The id of the ticket's latest event (the live script refreshes on a newer one).
    pub last_event: String,
    /// What was typed into the page's small forms, and what is wrong with it.
    pub typed: Typed,
}

/// The text of a ticket page's forms (kept when it could not be taken).
#[derive(Debug, Default)]
pub struct Typed {
    /// The dispatcher note.
    pub note: String,
    /// Why the note was not taken.
    pub note_error: Option<String>,
    /// The cancellation reason.
    pub reason: String,
    /// Why the cancellation was not taken.
    pub reason_error: Option<String>,
    /// The expert chosen for assigning by hand (empty: the next best).
    pub assign_to: String,
    /// Why the chosen expert could not be given the ticket.
    pub assign_to_error: Option<String>,
    /// Why it is being assigned by hand.
    pub assign_reason: String,
    /// What is wrong with that reason.
    pub assign_reason_error: Option<String>,
    /// The chosen expert fails a soft constraint: the warning, shown with a box to tick
    /// to override it.
    pub assign_soft: Option<String>,
}

/// What only staff see on a ticket's page.
pub struct StaffView {
    /// The customer's name.
    pub customer: String,
    /// Link to the customer.
    pub customer_href: String,
    /// Why no expert fits (the reason, then the count ruled out for each cause).
    pub unassignable: Option<Vec<String>>,
    /// The current assignment's reasons.
    pub assignment: Vec<String>,
    /// The assigned expert's name.
    pub expert: Option<String>,
    /// The experts skilled in the ticket's category with whether and why each could
    /// take it, for assigning it by hand (fitting ones first, best first); empty when
    /// the ticket is not open.
    pub candidates: Vec<super::console_tickets::Candidate>,
    /// Skilled experts left off the list (it shows the nearest few).
    pub candidates_more: usize,
}

/// `GET /my/tickets/{id}`.
#[get("/my/tickets/{id}")]
pub async fn one(viewer: Viewer, state: web::Data<AppState>, id: web::Path<String>) -> WebResult<TicketPage> {
    viewer.require(CUSTOMER, "the customer's pages")?;
    let Ok(id) = id.parse::<Uuid>() else { return Err(WebError::not_found(&viewer.chrome)) };
    customer_page(viewer, &state, id).await
}

/// The customer's page of ticket `id`: a 404 unless it is theirs.
async fn customer_page(viewer: Viewer, state: &AppState, id: Uuid) -> WebResult<TicketPage> {
    let t = match tickets::load(state, id).await? {
        Some(t) if t.customer_id == viewer.caller.user_id => t,
        _ => return Err(WebError::not_found(&viewer.chrome)),
    };
    let (timeline, last_event) = tickets::timeline(state, &t, Audience::Customer).await?;
    let progress = tickets::progress(state, std::slice::from_ref(&t)).await?;
    let survey = tickets::survey_link(state, &t).await?;
    Ok(TicketPage {
        chrome: viewer.chrome,
        status: super::customer::label(&t.status, progress.get(&t.id).copied()),
        last_event: last_event.map(|e| e.to_string()).unwrap_or_default(),
        raised: t.created_at.format("%-d %b %Y, %H:%M UTC").to_string(),
        timeline,
        base: format!("/my/tickets/{id}"),
        back: ("/my/tickets".into(), "Your tickets".into()),
        survey,
        cancellable: tickets::cancellable(&t.status),
        staff: None,
        live: "/my/live".into(),
        typed: Typed::default(),
        t,
    })
}

/// The cancel form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct CancelForm {
    /// Why (optional).
    pub reason: String,
}

/// `POST /my/tickets/{id}/cancel`. A reason that cannot be taken is shown at its field
/// with what was typed; a ticket that can no longer be cancelled says so.
#[post("/my/tickets/{id}/cancel")]
pub async fn cancel(
    req: HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: Form<CancelForm>,
) -> WebResult<HttpResponse> {
    viewer.require(CUSTOMER, "the customer's pages")?;
    let Ok(id) = id.parse::<Uuid>() else { return Err(WebError::not_found(&viewer.chrome)) };
    let typed = form.into_inner().reason;
    let reason = Some(typed.trim().to_owned()).filter(|r| !r.is_empty());
    match state.tickets.run(Actor::User(viewer.caller), id, Op::Cancel { reason }).await {
        Ok(_) => session::flash(&viewer.session, "Your ticket is cancelled."),
        Err(TicketError::Invalid(v)) => {
            let mut page = customer_page(viewer, &state, id).await?;
            page.typed.reason_error = v.0.first().map(|f| super::form::sentence(&f.message));
            page.typed.reason = typed;
            return Ok(page.respond_to(&req).map_into_boxed_body());
        }
        Err(e) => {
            let m = tickets::action_message(&viewer.chrome, e)?;
            session::flash(&viewer.session, format!("The ticket could not be cancelled: {m}."));
        }
    }
    Ok(see_other(&format!("/my/tickets/{id}")))
}
