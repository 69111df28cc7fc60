//! The back office (admins): experts (add, skills, service area, availability), the
//! knowledge-base review queue, dead-lettered messages with retry, and sync conflicts.
//! Each action calls the service the API calls.

use super::chrome::Chrome;
use super::error::{WebError, WebResult};
use super::form::{FieldErrors, checked, see_other};
use super::register::{Opt, language_options, location_of};
use super::session::{self, Viewer};
use crate::api::experts::{self, ExpertPatch, NewExpert};
use crate::api::views::{AreaBody, ExpertView, Location};
use crate::auth::{Role, hash_password};
use crate::db::entity::{outbox_message, sync_conflict};
use crate::gazetteer::ATTRIBUTION;
use crate::kb::review::{self, Outcome, Waiting};
use crate::notify::outbox;
use crate::state::AppState;
use actix_web::web::{self, Form};
use actix_web::{HttpRequest, HttpResponse, Responder, get, post};
use askama::Template;
use askama_web::WebTemplate;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use sysops_core::category::Category;
use uuid::Uuid;

const ADMIN: &[Role] = &[Role::Admin];

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(overview)
        .service(experts_list)
        .service(expert_new)
        .service(expert_create)
        .service(expert_edit)
        .service(expert_save)
        .service(expert_standing)
        .service(kb_queue)
        .service(kb_publish)
        .service(kb_reject)
        .service(messages)
        .service(message_retry)
        .service(conflicts_page);
}

fn db_err(e: sea_orm::DbErr) -> WebError {
    WebError::Internal(e.into())
}

#[derive(Template, WebTemplate)]
#[template(path = "web/admin.html")]
struct OverviewPage {
    chrome: Chrome,
    experts: u64,
    in_review: u64,
    dead: u64,
    conflicts: u64,
}

/// `GET /admin`: what needs attention.
#[get("/admin")]
pub async fn overview(viewer: Viewer, state: web::Data<AppState>) -> WebResult<OverviewPage> {
    viewer.require(ADMIN, "the back office")?;
    let db = &state.db.read;
    let experts = crate::db::entity::expert::Entity::find().count(db).await.map_err(db_err)?;
    let in_review = crate::db::entity::kb_article::Entity::find()
        .filter(crate::db::entity::kb_article::Column::Status.eq("in_review"))
        .count(db)
        .await
        .map_err(db_err)?;
    let dead = outbox_message::Entity::find()
        .filter(outbox_message::Column::Status.eq("dead"))
        .count(db)
        .await
        .map_err(db_err)?;
    let conflicts = sync_conflict::Entity::find()
        .filter(sync_conflict::Column::ResolvedAt.is_null())
        .count(db)
        .await
        .map_err(db_err)?;
    Ok(OverviewPage { chrome: viewer.chrome, experts, in_review, dead, conflicts })
}

#[derive(Template, WebTemplate)]
#[template(path = "web/experts.html")]
struct ExpertsPage {
    chrome: Chrome,
    experts: Vec<ExpertView>,
    /// The deactivated ones among them.
    deactivated: std::collections::HashSet<uuid::Uuid>,
}

impl ExpertsPage {
    fn is_deactivated(&self, id: &uuid::Uuid) -> bool {
        self.deactivated.contains(id)
    }
}

/// `GET /admin/experts`.
#[get("/admin/experts")]
pub async fn experts_list(viewer: Viewer, state: web::Data<AppState>) -> WebResult<ExpertsPage> {
    viewer.require(ADMIN, "the back office")?;
    let experts = experts::all(&state).await.map_err(|e| viewer.error(e))?;
    let ids: Vec<uuid::Uuid> = experts.iter().map(|x| x.id).collect();
    let mut deactivated = std::collections::HashSet::new();
    for chunk in ids.chunks(500) {
        let gone: Vec<uuid::Uuid> = crate::db::entity::user::Entity::find()
            .select_only()
            .column(crate::db::entity::user::Column::Id)
            .filter(crate::db::entity::user::Column::Id.is_in(chunk.to_vec()))
            .filter(crate::db::entity::user::Column::Disabled.eq(true))
            .into_tuple()
            .all(&state.db.read)
            .await
            .map_err(db_err)?;
        deactivated.extend(gone);
    }
    Ok(ExpertsPage { chrome: viewer.chrome, experts, deactivated })
}

/// `POST /admin/experts/{id}/standing`: deactivates an expert (only once confirmed:
/// otherwise the confirmation page) or reactivates them, as `/admin/users/{id}/standing`
/// does for any account.
#[post("/admin/experts/{id}/standing")]
pub async fn expert_standing(
    viewer: Viewer,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: Form<super::staff::StandingForm>,
) -> WebResult<HttpResponse> {
    viewer.require(ADMIN, "the back office")?;
    let Ok(id) = id.parse::<uuid::Uuid>() else { return Err(WebError::not_found(&viewer.chrome)) };
    super::staff::change(&viewer, &state, id, &form.into_inner()).await
}

/// A skill box on the expert form.
pub struct Skill {
    /// Its slug.
    pub slug: &'static str,
    /// Its label.
    pub label: &'static str,
    /// Ticked.
    pub on: bool,
}

/// The expert form's fields. Skills arrive as one `skills` field per ticked box, so the
/// form is read from the raw pairs.
#[derive(Debug, Default, Clone)]
pub struct ExpertForm {
    name: String,
    email: String,
    password: String,
    phone: String,
    skills: Vec<String>,
    town: String,
    lat: String,
    lon: String,
    radius_km: String,
    locale: String,
    capacity: String,
    available: bool,
}

impl ExpertForm {
    fn parse(body: &[u8]) -> Self {
        let mut f = ExpertForm::default();
        let mut available = None;
        for (k, v) in url::form_urlencoded::parse(body) {
            let v = v.into_owned();
            match k.as_ref() {
                "name" => f.name = v,
                "email" => f.email = v,
                "password" => f.password = v,
                "phone" => f.phone = v,
                "skills" => f.skills.push(v),
                "town" => f.town = v,
                "lat" => f.lat = v,
                "lon" => f.lon = v,
                "radius_km" => f.radius_km = v,
                "locale" => f.locale = v,
                "capacity" => f.capacity = v,
                "available" => available = Some(v),
                _ => {}
            }
        }
        f.available = checked(&available);
        f
    }

    fn skill_boxes(&self) -> Vec<Skill> {
        Category::ALL
            .iter()
            .map(|c| Skill { slug: c.slug(), label: c.label(), on: self.skills.iter().any(|s| s == c.slug()) })
            .collect()
    }

    /// The radius and capacity as numbers (a word in a number field is a field error).
    fn numbers(&self, errors: &mut FieldErrors) -> (f64, Option<i64>) {
        let radius = match self.radius_km.trim().parse::<f64>() {
            Ok(r) => r,
            Err(_) => {
                errors.add("service_area", "enter the radius in kilometres, e.g. 25");
                0.0
            }
        };
        let capacity = match self.capacity.trim() {
            "" => None,
            c => match c.parse::<i64>() {
                Ok(n) => Some(n),
                Err(_) => {
                    errors.add("capacity", "enter a whole number of tickets, e.g. 3");
                    None
                }
            },
        };
        (radius, capacity)
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "web/expert_form.html")]
struct ExpertFormPage {
    chrome: Chrome,
    /// None when adding.
    id: Option<Uuid>,
    form: ExpertForm,
    skills: Vec<Skill>,
    errors: FieldErrors,
    attribution: &'static str,
    area_hint: String,
    languages: Vec<Opt>,
}

impl ExpertFormPage {
    fn action(&self) -> String {
        self.id.map_or_else(|| "/admin/experts/new".to_owned(), |id| format!("/admin/experts/{id}"))
    }
}

/// Errors of an expert's fields under the names the form uses.
fn expert_errors(
    e: crate::api::problem::ApiError,
    errors: &mut FieldErrors,
) -> Result<(), crate::api::problem::ApiError> {
    for (field, msg) in FieldErrors::from_api(e, "email")?.pairs() {
        let field = match field.as_str() {
            f if f.starts_with("service_area.center") => "town",
            f if f.starts_with("service_area") => "service_area",
            f if f.starts_with("location") => "town",
            f => f,
        };
        errors.add(field, msg);
    }
    Ok(())
}

/// `GET /admin/experts/new`.
#[get("/admin/experts/new")]
pub async fn expert_new(req: HttpRequest, viewer: Viewer) -> WebResult<HttpResponse> {
    viewer.require(ADMIN, "adding experts")?;
    let form = ExpertForm {
        radius_km: "25".to_owned(),
        capacity: "3".to_owned(),
        locale: "en-US".to_owned(),
        available: true,
        ..Default::default()
    };
    let page = ExpertFormPage {
        chrome: viewer.chrome,
        id: None,
        skills: form.skill_boxes(),
        form,
        errors: FieldErrors::default(),
        attribution: ATTRIBUTION,
        area_hint: "Where they are based: their service area is centred there.".to_owned(),
        languages: language_options("en-US"),
    };
    Ok(page.respond_to(&req).map_into_boxed_body())
}

/// `POST /admin/experts/new`.
#[post("/admin/experts/new")]
pub async fn expert_create(
    req: HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> WebResult<HttpResponse> {
    viewer.require(ADMIN, "adding experts")?;
    let f = ExpertForm::parse(&body);
    let mut errors = FieldErrors::default();
    let center = location_of(&f.lat, &f.lon, &f.town, &mut errors);
    let (radius_km, capacity) = f.numbers(&mut errors);
    let center = center.unwrap_or(Location { lat: 0.0, lon: 0.0 });
    let new = NewExpert {
        name: f.name.clone(),
        email: f.email.clone(),
        password: f.password.clone(),
        phone: f.phone.clone(),
        skills: f.skills.clone(),
        service_area: AreaBody { center, radius_km },
        locale: f.locale.clone(),
        location: center,
        available: f.available,
        capacity,
    };
    match experts::validate_new(&new) {
        Err(v) => expert_errors(v.into(), &mut errors).map_err(|e| viewer.error(e))?,
        Ok(valid) if !errors.any() => {
            let hash = hash_password(valid.password.expose().to_owned()).await?;
            let id = Uuid::now_v7();
            let txn = state.db.begin_write().await.map_err(db_err)?;
            match experts::insert(&txn, id, valid, hash).await {
                Ok(x) => {
                    txn.commit().await.map_err(db_err)?;
                    experts::settle(&state, id).await;
                    session::flash(&viewer.session, format!("{} is added and can sign in to the app.", x.name));
                    return Ok(see_other("/admin/experts"));
                }
                Err(e) => expert_errors(e, &mut errors).map_err(|e| viewer.error(e))?,
            }
        }
        Ok(_) => {}
    }
    let page = ExpertFormPage {
        chrome: viewer.chrome,
        id: None,
        skills: f.skill_boxes(),
        languages: language_options(&f.locale),
        form: ExpertForm { password: String::new(), ..f },
        errors,
        attribution: ATTRIBUTION,
        area_hint: "Where they are based: their service area is centred there.".to_owned(),
    };
    Ok(page.respond_to(&req).map_into_boxed_body())
}

fn area_hint(x: &ExpertView) -> String {
    format!(
        "Now centred at {:.4}, {:.4}. Leave the town empty to keep it.",
        x.service_area.center.lat, x.service_area.center.lon
    )
}

/// `GET /admin/experts/{id}`.
#[get("/admin/experts/{id}")]
pub async fn expert_edit(
    req: HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
) -> WebResult<HttpResponse> {
    viewer.require(ADMIN, "changing experts")?;
    let id = id.into_inner();
    let x = experts::one(&state, &viewer.caller, id).await.map_err(|e| viewer.error(e))?;
    let form = ExpertForm {
        name: x.name.clone(),
        email: x.email.clone(),
        phone: x.phone.clone(),
        skills: x.skills.clone(),
        radius_km: format!("{}", x.service_area.radius_km),
        locale: x.locale.clone(),
        capacity: x.capacity.to_string(),
        available: x.available,
        ..Default::default()
    };
    let page = ExpertFormPage {
        chrome: viewer.chrome,
        id: Some(id),
        skills: form.skill_boxes(),
        languages: language_options(&form.locale),
        form,
        errors: FieldErrors::default(),
        attribution: ATTRIBUTION,
        area_hint: area_hint(&x),
    };
    Ok(page.respond_to(&req).map_into_boxed_body())
}

/// `POST /admin/experts/{id}`.
#[post("/admin/experts/{id}")]
pub async fn expert_save(
    req: HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    body: web::Bytes,
) -> WebResult<HttpResponse> {
    viewer.require(ADMIN, "changing experts")?;
    let id = id.into_inner();
    let current = experts::one(&state, &viewer.caller, id).await.map_err(|e| viewer.error(e))?;
    let f = ExpertForm::parse(&body);
    let mut errors = FieldErrors::default();
    let moved = !(f.town.trim().is_empty() && f.lat.trim().is_empty());
    let center = if moved { location_of(&f.lat, &f.lon, &f.town, &mut errors) } else { None };
    let (radius_km, capacity) = f.numbers(&mut errors);
    if !errors.any() {
        let patch = ExpertPatch {
            name: Some(f.name.clone()),
            phone: Some(f.phone.clone()),
            skills: Some(f.skills.clone()),
            service_area: Some(AreaBody { center: center.unwrap_or(current.service_area.center), radius_km }),
            locale: Some(f.locale.clone()),
            location: None,
            available: Some(f.available),
            capacity,
        };
        match experts::change(&state, &viewer.caller, id, &patch).await {
            Ok(x) => {
                session::flash(&viewer.session, format!("{}'s profile is saved.", x.name));
                return Ok(see_other("/admin/experts"));
            }
            Err(e) => expert_errors(e, &mut errors).map_err(|e| viewer.error(e))?,
        }
    }
    let page = ExpertFormPage {
        chrome: viewer.chrome,
        id: Some(id),
        skills: f.skill_boxes(),
        languages: language_options(&f.locale),
        form: ExpertForm { email: current.email.clone(), ..f },
        errors,
        attribution: ATTRIBUTION,
        area_hint: area_hint(&current),
    };
    Ok(page.respond_to(&req).map_into_boxed_body())
}

#[derive(Template, WebTemplate)]
#[template(path = "web/kb_review.html")]
struct ReviewPage {
    chrome: Chrome,
    waiting: Vec<Waiting>,
    /// The article whose rejection needs a reason, and the message.
    reason_error: Option<(Uuid, String)>,
}

impl ReviewPage {
    fn reason_for(&self, id: &Uuid) -> Option<&str> {
        self.reason_error.as_ref().filter(|(a, _)| a == id).map(|(_, m)| m.as_str())
    }
}

/// `GET /admin/kb`: articles waiting for review, oldest first.
#[get("/admin/kb")]
pub async fn kb_queue(viewer: Viewer, state: web::Data<AppState>) -> WebResult<ReviewPage> {
    viewer.require(review::REVIEWERS, "reviewing articles")?;
    let waiting = review::waiting(&state.db, 50, None).await.map_err(|e| viewer.error(e))?;
    Ok(ReviewPage { chrome: viewer.chrome, waiting, reason_error: None })
}

/// `POST /admin/kb/{id}/publish`.
#[post("/admin/kb/{id}/publish")]
pub async fn kb_publish(viewer: Viewer, state: web::Data<AppState>, id: web::Path<Uuid>) -> WebResult<HttpResponse> {
    match review::decide(&state, viewer.caller, id.into_inner(), Outcome::Publish).await {
        Ok(a) => session::flash(&viewer.session, format!("\u{201c}{}\u{201d} is published.", a.title)),
        Err(crate::error::ServiceError::Conflict(m)) => session::flash(&viewer.session, sentence(&m)),
        Err(e) => return Err(viewer.error(e)),
    }
    Ok(see_other("/admin/kb"))
}

fn sentence(m: &str) -> String {
    let mut c = m.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect::<String>() + ".").unwrap_or_default()
}

/// The rejection form.
#[derive(Debug, Deserialize)]
pub struct RejectForm {
    #[serde(default)]
    reason: String,
}

/// `POST /admin/kb/{id}/reject`.
#[post("/admin/kb/{id}/reject")]
pub async fn kb_reject(
    req: HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    id: web::Path<Uuid>,
    form: Form<RejectForm>,
) -> WebResult<HttpResponse> {
    let id = id.into_inner();
    let reason = form.into_inner().reason;
    match review::decide(&state, viewer.caller, id, Outcome::Reject { reason }).await {
        Ok(a) => {
            session::flash(&viewer.session, format!("\u{201c}{}\u{201d} is rejected; its author is told why.", a.title))
        }
        Err(crate::error::ServiceError::Conflict(m)) => session::flash(&viewer.session, sentence(&m)),
        Err(crate::error::ServiceError::Validation(v)) => {
            let message = v.0.first().map(|e| sentence(&e.message)).unwrap_or_default();
            let waiting = review::waiting(&state.db, 50, None).await.map_err(|e| viewer.error(e))?;
            let page = ReviewPage { chrome: viewer.chrome, waiting, reason_error: Some((id, message)) };
            return Ok(page.respond_to(&req).map_into_boxed_body());
        }
        Err(e) => return Err(viewer.error(e)),
    }
    Ok(see_other("/admin/kb"))
}

/// A dead letter as the page lists it.
pub struct DeadRow {
    /// Id.
    pub id: Uuid,
    /// Channel.
    pub channel: String,
    /// To whom.
    pub recipient: String,
    /// Subject or template.
    pub what: String,
    /// Attempts.
    pub attempts: i32,
    /// The last failure.
    pub error: String,
    /// Queued at.
    pub queued: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/messages.html")]
struct MessagesPage {
    chrome: Chrome,
    dead: Vec<DeadRow>,
}

/// `GET /admin/messages`: dead-lettered messages.
#[get("/admin/messages")]
pub async fn messages(viewer: Viewer, state: web::Data<AppState>) -> WebResult<MessagesPage> {
    viewer.require(ADMIN, "reading the outbox")?;
    let rows = outbox_message::Entity::find()
        .filter(outbox_message::Column::Status.eq("dead"))
        .order_by_desc(outbox_message::Column::Id)
        .limit(100)
        .all(&state.db.read)
        .await
        .map_err(db_err)?;
    let dead = rows
        .into_iter()
        .map(|m| DeadRow {
            id: m.id,
            channel: m.channel,
            recipient: m.recipient,
            what: m.subject.unwrap_or(m.template),
            attempts: m.attempts,
            error: m.last_error.unwrap_or_default(),
            queued: m.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        })
        .collect();
    Ok(MessagesPage { chrome: viewer.chrome, dead })
}

/// `POST /admin/messages/{id}/retry`.
#[post("/admin/messages/{id}/retry")]
pub async fn message_retry(viewer: Viewer, state: web::Data<AppState>, id: web::Path<Uuid>) -> WebResult<HttpResponse> {
    viewer.require(ADMIN, "retrying messages")?;
    if outbox::retry_dead(&state.db, id.into_inner())
        .await
        .map_err(|e| viewer.error(crate::api::problem::ApiError::from(e)))?
        .is_some()
    {
        state.notifier.kick();
        session::flash(&viewer.session, "The message is queued again.");
    } else {
        session::flash(&viewer.session, "That message is no longer dead: it was retried already.");
    }
    Ok(see_other("/admin/messages"))
}

/// A conflict as the page lists it.
pub struct ConflictRow {
    /// What kind.
    pub kind: String,
    /// What happened.
    pub message: String,
    /// The ticket.
    pub ticket: Option<Uuid>,
    /// When.
    pub at: String,
    /// Resolved.
    pub resolved: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/conflicts.html")]
struct ConflictsPage {
    chrome: Chrome,
    conflicts: Vec<ConflictRow>,
}

/// `GET /admin/conflicts`: device changes that could not be applied.
#[get("/admin/conflicts")]
pub async fn conflicts_page(viewer: Viewer, state: web::Data<AppState>) -> WebResult<ConflictsPage> {
    viewer.require(ADMIN, "reading sync conflicts")?;
    let rows = sync_conflict::Entity::find()
        .order_by_desc(sync_conflict::Column::Id)
        .limit(200)
        .all(&state.db.read)
        .await
        .map_err(db_err)?;
    let conflicts = rows
        .into_iter()
        .map(|c| ConflictRow {
            kind: c.kind.replace('_', " "),
            message: c.message,
            ticket: c.ticket_id,
            at: c.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            resolved: c.resolved_at.is_some(),
        })
        .collect();
    Ok(ConflictsPage { chrome: viewer.chrome, conflicts })
}
