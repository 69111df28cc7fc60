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
use crate::db::entity::{assignment, ticket, ticket_event, user};
use crate::state::AppState;
use crate::tickets::{Actor, Op, TicketError};
use actix_web::web::{self, Form};
use actix_web::{HttpRequest, HttpResponse, Responder, get, post};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use std::collections::BTreeSet;
use std::sync::Arc;
use sysops_core::assignment::{Cost, Request, failures};
use sysops_core::category::Category;
use sysops_core::geo::GeoPoint;
use sysops_core::ids::ExpertId;
use uuid::Uuid;

/// Who uses the console (the API's customer finders).
const CONSOLE: &[Role] = customers::FINDERS;
/// Who may open a ticket's staff page: every staff role that reads tickets.
const STAFF: &[Role] = &[Role::Agent, Role::Admin, Role::Manager];
/// Who may cancel a ticket (the API's rule, less the customer).
const CANCELLERS: &[Role] = &[Role::Agent, Role::Admin];
/// Who may add a dispatcher note (the API's rule).
const NOTERS: &[Role] = &[Role::Agent, Role::Admin, Role::Manager];
/// Who may assign a ticket by hand (the API's rule).
const ASSIGNERS: &[Role] = crate::tickets::ops::ASSIGNERS;

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(raise_form)
        .service(raise_post)
        .service(one)
        .service(live)
        .service(note)
        .service(cancel)
        .service(assign);
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

/// What staff see beside the timeline; `assignable`: the viewer may assign it by hand.
async fn staff_view(state: &AppState, t: &ticket::Model, assignable: bool) -> WebResult<StaffView> {
    let assignable = assignable && matches!(t.status.as_str(), "created" | "assigned" | "accepted" | "unassignable");
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
    let (candidates, candidates_more) = if assignable { candidates(state, t).await? } else { (Vec::new(), 0) };
    Ok(StaffView {
        customer: names.get(&t.customer_id).cloned().unwrap_or_else(|| "(erased customer)".to_owned()),
        customer_href: format!("/console/customers/{}", t.customer_id),
        unassignable,
        assignment,
        expert: t.assigned_expert_id.map(|e| names.get(&e).cloned().unwrap_or_else(|| "(removed expert)".to_owned())),
        candidates,
        candidates_more,
    })
}

/// How many candidates the assign form lists (the best first).
const CANDIDATES_SHOWN: usize = 25;

/// One skilled expert as a candidate for a ticket, as the assign form shows them.
pub struct Candidate {
    /// The expert's id.
    pub id: String,
    /// Their name.
    pub name: String,
    /// `fits`, `soft` (fails only what a person may override: distance, service area)
    /// or `hard` (may not be given it: off duty, at capacity, passed on it).
    pub verdict: &'static str,
    /// Why, in short phrases: distance and load when they fit, else each failure.
    pub why: Vec<String>,
}

impl Candidate {
    /// The words of the verdict.
    pub fn verdict_words(&self) -> &'static str {
        match self.verdict {
            "fits" => "Fits",
            "soft" => "May be overridden",
            _ => "Cannot take it",
        }
    }

    /// The option's text in the expert list.
    pub fn option_label(&self) -> String {
        match (self.verdict, self.why.first()) {
            ("fits", Some(km)) => format!("{} (fits, {km})", self.name),
            ("fits", None) => format!("{} (fits)", self.name),
            ("soft", _) => format!("{} (override needed)", self.name),
            _ => format!("{} (cannot take it)", self.name),
        }
    }
}

/// The dispatcher's request for ticket `t` as a person would reassign it: the current
/// expert is withdrawn first, so they count as having passed on it.
fn request_parts(t: &ticket::Model) -> Option<(Category, GeoPoint, BTreeSet<ExpertId>)> {
    let category: Category = t.category.parse().ok()?;
    let location = GeoPoint::new(t.lat, t.lon).ok()?;
    let mut exclude: BTreeSet<ExpertId> =
        crate::repo::tickets::excluded(t).into_iter().map(ExpertId::from_uuid).collect();
    exclude.extend(t.assigned_expert_id.map(ExpertId::from_uuid));
    Some((category, location, exclude))
}

/// Whether expert `c` could be given ticket `req` by hand, and why (the constraints
/// the dispatch service checks, from `sysops_core::assignment::failures`).
fn judge(c: &sysops_core::assignment::Candidate, req: &Request<'_>) -> (&'static str, Vec<String>, f64) {
    let distance = c.location.distance_km(&req.location);
    let failed = failures(c, req, distance);
    if failed.is_empty() {
        let cost = Cost::of(c, req, distance);
        let why = vec![format!("{distance:.1} km away"), format!("{} of {} tickets", c.active_tickets, c.capacity)];
        return ("fits", why, cost.total());
    }
    let verdict = if failed.iter().all(|(r, _)| r.is_soft()) { "soft" } else { "hard" };
    (verdict, failed.into_iter().map(|(_, why)| why).collect(), f64::INFINITY)
}

/// The skilled experts in the dispatcher's pool for ticket `t`, judged, fitting first
/// (cheapest first), then those a person may override, then those who cannot take it;
/// the first [`CANDIDATES_SHOWN`] with the number left off.
async fn candidates(state: &AppState, t: &ticket::Model) -> WebResult<(Vec<Candidate>, usize)> {
    let Some((category, location, exclude)) = request_parts(t) else { return Ok((Vec::new(), 0)) };
    let now = chrono::Utc::now();
    let req = Request { category, location, exclude: &exclude, now };
    let mut judged: Vec<(Uuid, &'static str, Vec<String>, f64)> = {
        let pool = state.dispatcher.pool();
        pool.candidates()
            .filter(|c| c.skills.contains(category) && Some(c.id.as_uuid()) != t.assigned_expert_id)
            .map(|c| {
                let (verdict, why, total) = judge(c, &req);
                (c.id.as_uuid(), verdict, why, total)
            })
            .collect()
    };
    let rank = |v: &str| match v {
        "fits" => 0,
        "soft" => 1,
        _ => 2,
    };
    judged.sort_by(|a, b| rank(a.1).cmp(&rank(b.1)).then(a.3.total_cmp(&b.3)).then(a.0.cmp(&b.0)));
    let more = judged.len().saturating_sub(CANDIDATES_SHOWN);
    judged.truncate(CANDIDATES_SHOWN);
    let names: std::collections::HashMap<Uuid, String> = user::Entity::find()
        .filter(user::Column::Id.is_in(judged.iter().map(|j| j.0).collect::<Vec<_>>()))
        .filter(user::Column::Disabled.eq(false))
        .all(&state.db.read)
        .await
        .map_err(anyhow::Error::from)?
        .into_iter()
        .map(|u| (u.id, u.name))
        .collect();
    let out = judged
        .into_iter()
        .filter_map(|(id, verdict, why, _)| {
            names.get(&id).map(|name| Candidate { id: id.to_string(), name: name.clone(), verdict, why })
        })
        .collect();
    Ok((out, more))
}

/// The assign form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AssignForm {
    /// The expert's id; empty: the next best.
    pub expert: String,
    /// Why.
    pub reason: String,
    /// Ticked: assign even though the expert fails a soft constraint.
    #[serde(rename = "override")]
    pub override_soft: String,
}

/// What the form's choice of expert comes to before the service is asked.
enum Choice {
    /// Ask the service (the next best, or a named expert who fits or whose soft
    /// failures were knowingly overridden).
    Go(Option<Uuid>),
    /// A message at the expert field.
    Refuse(String),
    /// A warning with the box to tick.
    Warn(String),
}

/// Checks the chosen expert against the pool: a hard failure is refused with why, a
/// soft one is a warning until the override box is ticked. The service checks again
/// under its lock (the pool may change in between).
async fn check_choice(state: &AppState, id: Uuid, f: &AssignForm) -> WebResult<Choice> {
    let expert = match f.expert.trim() {
        "" => return Ok(Choice::Go(None)),
        raw => match raw.parse::<Uuid>() {
            Ok(e) => e,
            Err(_) => return Ok(Choice::Refuse("Choose an expert from the list.".to_owned())),
        },
    };
    let Some(t) = tickets::load(state, id).await? else { return Ok(Choice::Go(Some(expert))) };
    let Some((category, location, exclude)) = request_parts(&t) else { return Ok(Choice::Go(Some(expert))) };
    if t.assigned_expert_id == Some(expert) {
        return Ok(Choice::Refuse("The ticket is already assigned to this expert.".to_owned()));
    }
    let req = Request { category, location, exclude: &exclude, now: chrono::Utc::now() };
    let judged = state.dispatcher.pool().get(ExpertId::from_uuid(expert)).map(|c| judge(c, &req));
    let name = user::Entity::find_by_id(expert)
        .one(&state.db.read)
        .await
        .map_err(anyhow::Error::from)?
        .map_or_else(|| "This expert".to_owned(), |u| u.name);
    Ok(match judged {
        None => Choice::Refuse(format!("{name} is not available to the dispatcher; choose another expert.")),
        Some(("hard", why, _)) => Choice::Refuse(format!(
            "{name} cannot take this ticket: {}. Only distance and the service area may be overridden; choose another expert or the next best.",
            why.join("; ")
        )),
        Some(("soft", why, _)) if f.override_soft.is_empty() => Choice::Warn(format!(
            "{name} fails a constraint you may override: {}. Tick the box below to assign them anyway.",
            why.join("; ")
        )),
        Some(_) => Choice::Go(Some(expert)),
    })
}

/// `POST /console/tickets/{id}/assign`: gives the ticket to a named expert or the next
/// best. An expert who fails a hard constraint is refused with why; one who fails only
/// a soft one (distance, service area) needs the override box ticked. Refusals are
/// shown at their field with what was chosen and typed.
#[post("/console/tickets/{id}/assign")]
pub async fn assign(
    req: HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: Form<AssignForm>,
) -> WebResult<HttpResponse> {
    viewer.require(ASSIGNERS, "assigning tickets")?;
    let id = parse_id(&viewer, &id)?;
    let f = form.into_inner();
    let (mut to_error, mut reason_error, mut soft) = (None, None, None);
    if f.reason.trim().is_empty() {
        reason_error = Some("Say why the ticket is being assigned by hand.".to_owned());
    }
    match check_choice(&state, id, &f).await? {
        Choice::Refuse(m) => to_error = Some(m),
        Choice::Warn(m) => soft = Some(m),
        Choice::Go(expert) if reason_error.is_none() => {
            let op = Op::Assign { expert, reason: f.reason.clone() };
            match state.tickets.run(Actor::User(viewer.caller), id, op).await {
                Ok(t) => {
                    let who = match t.assigned_expert_id {
                        Some(e) => user::Entity::find_by_id(e)
                            .one(&state.db.read)
                            .await
                            .map_err(anyhow::Error::from)?
                            .map_or_else(|| "the expert".to_owned(), |u| u.name),
                        None => "the expert".to_owned(),
                    };
                    session::flash(
                        &viewer.session,
                        format!("The ticket is assigned to {who}; the experts and the customer are told."),
                    );
                    return Ok(see_other(&format!("/console/tickets/{id}")));
                }
                Err(TicketError::Invalid(v)) => {
                    for e in v.0 {
                        let m = super::form::sentence(&e.message);
                        if e.field == "reason" { reason_error = Some(m) } else { to_error = Some(m) }
                    }
                }
                Err(TicketError::NotFound(_)) => return Err(WebError::not_found(&viewer.chrome)),
                Err(e @ (TicketError::Storage(_) | TicketError::Internal(_))) => {
                    return Err(WebError::Internal(e.into()));
                }
                Err(e) => to_error = Some(super::form::sentence(&e.detail())),
            }
        }
        Choice::Go(_) => {}
    }
    let mut page = staff_page(viewer, &state, id).await?;
    page.typed.assign_to = f.expert;
    page.typed.assign_to_error = to_error;
    page.typed.assign_soft = soft;
    page.typed.assign_reason = f.reason;
    page.typed.assign_reason_error = reason_error;
    Ok(page.respond_to(&req).map_into_boxed_body())
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
    viewer.require(STAFF, "staff ticket pages")?;
    let id = parse_id(&viewer, &id)?;
    staff_page(viewer, &state, id).await
}

async fn staff_page(viewer: Viewer, state: &AppState, id: Uuid) -> WebResult<TicketPage> {
    let Some(t) = tickets::load(state, id).await? else { return Err(WebError::not_found(&viewer.chrome)) };
    let (timeline, last_event) = tickets::timeline(state, &t, Audience::Staff).await?;
    let progress = tickets::progress(state, std::slice::from_ref(&t)).await?;
    let may_assign = viewer.caller.require(ASSIGNERS, "assigning tickets").is_ok();
    let mut staff = staff_view(state, &t, may_assign).await?;
    // Managers do not use the console: no link to a customer page they may not open.
    if viewer.caller.require(CONSOLE, "the call-center console").is_err() {
        staff.customer_href.clear();
    }
    let can_cancel = viewer.caller.require(CANCELLERS, "cancelling").is_ok() && tickets::cancellable(&t.status);
    Ok(TicketPage {
        status: super::customer::label(&t.status, progress.get(&t.id).copied()),
        last_event: last_event.map(|e| e.to_string()).unwrap_or_default(),
        raised: t.created_at.format("%-d %b %Y, %H:%M UTC").to_string(),
        timeline,
        base: format!("/console/tickets/{id}"),
        back: if staff.customer_href.is_empty() {
            (super::chrome::start_page(viewer.caller.role).to_owned(), "Overview".to_owned())
        } else {
            (staff.customer_href.clone(), staff.customer.clone())
        },
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
    viewer.require(STAFF, "staff ticket pages")?;
    let id = parse_id(&viewer, &id)?;
    let Some(t) = tickets::load(&state, id).await? else { return Err(WebError::not_found(&viewer.chrome)) };
    live.stream(Watch::Ticket(id), vec![t]).await.map_err(|e| WebError::Internal(e.into()))
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
