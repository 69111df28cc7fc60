//! The customer's pages: their plans and tickets, their profile and how to be told, and
//! subscribing to a plan for a product. Raising and following tickets: `my_tickets`.

use super::chrome::Chrome;
use super::error::{WebError, WebResult};
use super::form::{FieldErrors, see_other};
use super::home::{PlanCard, catalogue};
use super::register::{Opt, language_options, location_of};
use super::session::{self, Viewer};
use crate::api::customers::load;
use crate::auth::Role;
use crate::customers::{self, ProfilePatch, SubscriptionDetail};
use crate::db::entity::subscription;
use crate::gazetteer::ATTRIBUTION;
use crate::state::AppState;
use actix_web::web::{self, Form, Query};
use actix_web::{HttpRequest, HttpResponse, Responder, get, post};
use askama::Template;
use askama_web::WebTemplate;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde::Deserialize;
use uuid::Uuid;

const CUSTOMER: &[Role] = &[Role::Customer];

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(start).service(profile).service(profile_save).service(subscribe_form).service(subscribe_post);
}

/// A ticket as a list shows it.
pub struct TicketRow {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Category.
    pub category: String,
    /// Status, in words.
    pub status: String,
    /// The status as stored (for its colour).
    pub status_key: String,
    /// Raised, `3 Dec 2026`.
    pub raised: String,
    /// Its page.
    pub href: String,
    /// The assigned (or completing) expert's first name; empty when none.
    pub expert: String,
}

/// The latest tickets of a customer, newest first (two queries at most: the list with
/// the experts' first names, and the progress of accepted ones).
pub async fn recent_tickets(state: &AppState, customer: Uuid, n: u64, pages: &str) -> Result<Vec<TicketRow>, WebError> {
    let rows =
        crate::tickets::disclose::customer_tickets(&state.db.read, customer, n).await.map_err(anyhow::Error::from)?;
    let accepted = rows.iter().filter(|t| t.status == "accepted").map(|t| t.id).collect();
    let progress = super::tickets::progress_of(&state.db.read, accepted).await.map_err(anyhow::Error::from)?;
    Ok(rows
        .into_iter()
        .map(|t| TicketRow {
            href: format!("{pages}/{}", t.id),
            expert: t.expert.unwrap_or_default(),
            status: label(&t.status, progress.get(&t.id).copied()).to_owned(),
            id: t.id,
            status_key: t.status,
            title: t.title,
            category: t.category,
            raised: t.created_at.format("%-d %b %Y").to_string(),
        })
        .collect())
}

/// A ticket's status in words, with the expert's progress on an accepted ticket (the
/// last of `en_route` and `arrived` recorded, if any).
pub fn label(status: &str, progress: Option<&str>) -> &'static str {
    match (status, progress) {
        ("accepted", Some("en_route")) => "Expert on the way",
        ("accepted", Some("arrived")) => "Expert arrived",
        _ => status_words(status),
    }
}

/// A ticket status in words a customer understands.
pub fn status_words(s: &str) -> &'static str {
    match s {
        "created" => "Received",
        "assigned" => "Expert assigned",
        "accepted" => "Expert confirmed",
        "en_route" => "Expert on the way",
        "arrived" => "Expert arrived",
        "completed" => "Fixed",
        "closed" => "Closed",
        "cancelled" => "Cancelled",
        "unassignable" => "Finding an expert",
        _ => "In progress",
    }
}

#[derive(Template, WebTemplate)]
#[template(path = "web/my.html")]
struct StartPage {
    chrome: Chrome,
    subscriptions: Vec<SubscriptionDetail>,
    tickets: Vec<TicketRow>,
}

/// `GET /my`: the customer's plans and tickets.
#[get("/my")]
pub async fn start(viewer: Viewer, state: web::Data<AppState>) -> WebResult<StartPage> {
    viewer.require(CUSTOMER, "the customer's pages")?;
    let id = viewer.caller.user_id;
    let subscriptions = customers::subscriptions(&state.db, id).await.map_err(|e| viewer.error(e))?;
    let tickets = recent_tickets(&state, id, 20, "/my/tickets").await?;
    Ok(StartPage { chrome: viewer.chrome, subscriptions, tickets })
}

/// The profile form's fields.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct ProfileForm {
    /// Name.
    pub name: String,
    /// Phone.
    pub phone: String,
    /// Address.
    pub address: String,
    /// A new town (empty: the location stays).
    pub town: String,
    /// Latitude from the browser.
    pub lat: String,
    /// Longitude from the browser.
    pub lon: String,
    /// `sms` or `email`.
    pub notify_by: String,
    /// Language of messages.
    pub locale: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/profile.html")]
struct ProfilePage {
    chrome: Chrome,
    email: String,
    form: ProfileForm,
    errors: FieldErrors,
    languages: Vec<Opt>,
    attribution: &'static str,
}

/// `GET /my/profile`.
#[get("/my/profile")]
pub async fn profile(req: HttpRequest, viewer: Viewer, state: web::Data<AppState>) -> WebResult<HttpResponse> {
    viewer.require(CUSTOMER, "the customer's pages")?;
    let (u, c) = load(&state.db.read, viewer.caller.user_id).await.map_err(|e| viewer.error(e))?;
    let form = ProfileForm {
        name: u.name,
        phone: c.phone,
        address: c.address,
        notify_by: c.notify_by,
        locale: c.locale,
        ..Default::default()
    };
    let page = ProfilePage {
        chrome: viewer.chrome,
        email: u.email,
        languages: language_options(&form.locale),
        form,
        errors: FieldErrors::default(),
        attribution: ATTRIBUTION,
    };
    Ok(page.respond_to(&req).map_into_boxed_body())
}

/// `POST /my/profile`.
#[post("/my/profile")]
pub async fn profile_save(
    req: HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    form: Form<ProfileForm>,
) -> WebResult<HttpResponse> {
    viewer.require(CUSTOMER, "the customer's pages")?;
    let f = form.into_inner();
    let mut errors = FieldErrors::default();
    let moved = !(f.town.trim().is_empty() && f.lat.trim().is_empty());
    let location = if moved { location_of(&f.lat, &f.lon, &f.town, &mut errors) } else { None };
    if !errors.any() {
        let patch = ProfilePatch {
            name: Some(f.name.clone()),
            phone: Some(f.phone.clone()),
            notify_by: Some(f.notify_by.clone()),
            address: Some(f.address.clone()),
            location,
            locale: Some(f.locale.clone()),
        };
        match customers::update_profile(&state.db, viewer.caller.user_id, &patch).await {
            Ok(_) => {
                session::flash(&viewer.session, "Your profile is saved.");
                return Ok(see_other("/my/profile"));
            }
            Err(e) => {
                errors = FieldErrors::from_api(e, "").map_err(|e| viewer.error(e))?;
                if let Some(m) = errors.get("location").map(str::to_owned) {
                    errors.add("town", m);
                }
            }
        }
    }
    let (u, _) = load(&state.db.read, viewer.caller.user_id).await.map_err(|e| viewer.error(e))?;
    let page = ProfilePage {
        chrome: viewer.chrome,
        email: u.email,
        languages: language_options(&f.locale),
        form: f,
        errors,
        attribution: ATTRIBUTION,
    };
    Ok(page.respond_to(&req).map_into_boxed_body())
}

/// The subscription form's fields.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct SubscribeForm {
    /// The chosen plan.
    pub plan: String,
    /// The product it covers.
    pub product: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/subscribe.html")]
struct SubscribePage {
    chrome: Chrome,
    plans: Vec<PlanCard>,
    form: SubscribeForm,
    errors: FieldErrors,
}

/// The plan pre-selected from the home page.
#[derive(Debug, Deserialize)]
pub struct Chosen {
    plan: Option<String>,
}

/// `GET /my/plans/new`.
#[get("/my/plans/new")]
pub async fn subscribe_form(
    req: HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    q: Query<Chosen>,
) -> WebResult<HttpResponse> {
    viewer.require(CUSTOMER, "subscribing")?;
    let plans = catalogue(&state).await.map_err(anyhow::Error::from)?;
    let form = SubscribeForm { plan: q.into_inner().plan.unwrap_or_default(), product: String::new() };
    let page = SubscribePage { chrome: viewer.chrome, plans, form, errors: FieldErrors::default() };
    Ok(page.respond_to(&req).map_into_boxed_body())
}

/// `POST /my/plans/new`. A double click sends it twice: the second finds the same
/// subscription already made and goes where the first went.
#[post("/my/plans/new")]
pub async fn subscribe_post(
    req: HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    form: Form<SubscribeForm>,
) -> WebResult<HttpResponse> {
    viewer.require(CUSTOMER, "subscribing")?;
    let f = form.into_inner();
    let customer = viewer.caller.user_id;
    let mut errors = FieldErrors::default();
    match f.plan.parse::<Uuid>() {
        Err(_) => errors.add("plan", "choose a plan"),
        Ok(plan_id) => {
            let outcome = match customers::validate_subscription(&state.db, plan_id, &f.product).await {
                Ok(valid) => {
                    let txn = state.db.begin_write().await.map_err(anyhow::Error::from)?;
                    match customers::subscribe(&txn, customer, valid).await {
                        Ok(s) => txn.commit().await.map(|_| s).map_err(Into::into),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(s) => {
                    session::flash(&viewer.session, format!("Your {} is covered from today.", s.product));
                    return Ok(see_other("/my"));
                }
                Err(crate::error::ServiceError::Conflict(m)) => {
                    if same_subscription_exists(&state, customer, plan_id, &f.product).await? {
                        session::flash(&viewer.session, format!("Your {} is covered by this plan.", f.product.trim()));
                        return Ok(see_other("/my"));
                    }
                    errors.add("product", m);
                }
                Err(e) => {
                    errors = FieldErrors::from_api(e, "product").map_err(|e| viewer.error(e))?;
                    if let Some(m) = errors.get("plan_id").map(str::to_owned) {
                        errors.add("plan", m);
                    }
                }
            }
        }
    }
    let plans = catalogue(&state).await.map_err(anyhow::Error::from)?;
    let page = SubscribePage { chrome: viewer.chrome, plans, form: f, errors };
    Ok(page.respond_to(&req).map_into_boxed_body())
}

async fn same_subscription_exists(state: &AppState, customer: Uuid, plan: Uuid, product: &str) -> WebResult<bool> {
    let Ok(product) = sysops_core::text::Product::parse(product) else { return Ok(false) };
    let s = subscription::Entity::find()
        .filter(subscription::Column::CustomerId.eq(customer))
        .filter(subscription::Column::Product.eq(product.to_string()))
        .one(&state.db.read)
        .await
        .map_err(anyhow::Error::from)?;
    Ok(s.is_some_and(|s| s.plan_id == plan))
}
