//! Registering as a customer: the API's validation and the same service, a town from the
//! shipped gazetteer (or the browser's position when the customer shares it), then a
//! signed-in session.

use super::chrome::{Chrome, start_page};
use super::error::{WebError, WebResult};
use super::form::{FieldErrors, see_other};
use super::session;
use crate::api::customers::NewCustomer;
use crate::api::views::Location;
use crate::auth::{Role, SignedIn, hash_password};
use crate::customers;
use crate::gazetteer::{self, ATTRIBUTION, Town};
use crate::state::AppState;
use actix_session::Session;
use actix_web::web::{self, Form, Query};
use actix_web::{HttpRequest, HttpResponse, Responder, get, post};
use askama::Template;
use askama_web::WebTemplate;
use serde::Deserialize;

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(form_page).service(submit).service(towns);
}

/// The languages messages can be sent in (the message templates that exist).
pub const LANGUAGES: &[(&str, &str)] = &[("en-US", "English"), ("es-US", "Español"), ("pl-PL", "Polski")];

/// One choice of a select.
pub struct Opt {
    /// Its value.
    pub value: &'static str,
    /// What it says.
    pub label: &'static str,
    /// Chosen.
    pub selected: bool,
}

/// The language choices, `current` chosen (English when it is none of them).
pub fn language_options(current: &str) -> Vec<Opt> {
    let known = LANGUAGES.iter().any(|(c, _)| *c == current);
    LANGUAGES
        .iter()
        .map(|(value, label)| Opt { value, label, selected: *value == current || (!known && *value == "en-US") })
        .collect()
}

/// The registration form's fields, as typed.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct RegisterForm {
    /// Full name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Password (never shown again).
    pub password: String,
    /// Phone.
    pub phone: String,
    /// Street address.
    pub address: String,
    /// Town, as typed or picked.
    pub town: String,
    /// Latitude from the browser, when shared.
    pub lat: String,
    /// Longitude from the browser, when shared.
    pub lon: String,
    /// `sms` or `email`.
    pub notify_by: String,
    /// Language of messages.
    pub locale: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/register.html")]
struct RegisterPage {
    chrome: Chrome,
    form: RegisterForm,
    errors: FieldErrors,
    languages: Vec<Opt>,
    attribution: &'static str,
}

impl RegisterPage {
    fn notify(&self, v: &str) -> bool {
        self.form.notify_by == v || (self.form.notify_by.is_empty() && v == "email")
    }
}

/// `GET /register`.
#[get("/register")]
pub async fn form_page(req: HttpRequest, session: Session) -> HttpResponse {
    if let Some((caller, _)) = session::signed_in(&session) {
        return see_other(start_page(caller.role));
    }
    let page = RegisterPage {
        chrome: Chrome::new(&session, req.path()),
        form: RegisterForm { locale: "en-US".to_owned(), ..Default::default() },
        errors: FieldErrors::default(),
        languages: language_options("en-US"),
        attribution: ATTRIBUTION,
    };
    page.respond_to(&req).map_into_boxed_body()
}

/// The position the customer shared, or the centre of the town they named.
pub fn location_of(lat: &str, lon: &str, town: &str, errors: &mut FieldErrors) -> Option<Location> {
    if let (Ok(lat), Ok(lon)) = (lat.trim().parse::<f64>(), lon.trim().parse::<f64>()) {
        return Some(Location { lat, lon });
    }
    if town.trim().is_empty() {
        errors.add("town", "enter your town or city, or use your current location");
        return None;
    }
    match gazetteer::resolve(town) {
        Some(t) => Some(Location { lat: t.lat, lon: t.lon }),
        None => {
            errors.add(
                "town",
                format!(
                    "we could not find \u{201c}{}\u{201d}: check the spelling, or pick a town from the suggestions",
                    town.trim()
                ),
            );
            None
        }
    }
}

/// `POST /register`.
#[post("/register")]
pub async fn submit(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: Form<RegisterForm>,
) -> WebResult<HttpResponse> {
    let f = form.into_inner();
    let mut errors = FieldErrors::default();
    let location = location_of(&f.lat, &f.lon, &f.town, &mut errors);
    let body = NewCustomer {
        name: f.name.clone(),
        email: f.email.clone(),
        password: f.password.clone(),
        phone: f.phone.clone(),
        notify_by: f.notify_by.clone(),
        address: f.address.clone(),
        location: location.unwrap_or(Location { lat: 0.0, lon: 0.0 }),
        locale: Some(if f.locale.is_empty() { "en-US".to_owned() } else { f.locale.clone() }),
    };
    match customers::validate(&body) {
        Err(v) => {
            for e in v.0 {
                let field = if e.field.starts_with("location") { "town" } else { e.field.as_str() };
                errors.add(field, e.message);
            }
        }
        Ok(valid) if !errors.any() => {
            let hash = hash_password(valid.password.expose().to_owned()).await?;
            let txn = state.db.begin_write().await.map_err(anyhow::Error::from)?;
            match customers::insert(&txn, valid, hash).await {
                Ok((u, _)) => {
                    txn.commit().await.map_err(anyhow::Error::from)?;
                    let who =
                        SignedIn { user_id: u.id, role: Role::Customer, name: u.name.clone(), email: u.email.clone() };
                    session::start(&session, &who);
                    session::flash(
                        &session,
                        format!(
                            "Welcome, {}. Your account is ready: choose a plan for a product to get covered.",
                            u.name
                        ),
                    );
                    return Ok(see_other("/my"));
                }
                Err(e) => errors = FieldErrors::from_api(e, "email").map_err(WebError::from)?,
            }
        }
        Ok(_) => {}
    }
    let page = RegisterPage {
        chrome: Chrome::new(&session, req.path()),
        languages: language_options(&f.locale),
        form: RegisterForm { password: String::new(), ..f },
        errors,
        attribution: ATTRIBUTION,
    };
    Ok(page.respond_to(&req).map_into_boxed_body())
}

/// What was typed so far.
#[derive(Debug, Deserialize)]
pub struct Typed {
    town: Option<String>,
    q: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/towns.html")]
struct TownOptions {
    towns: Vec<&'static Town>,
}

/// `GET /towns?q=`: suggestions for the town field (the options of its datalist).
#[get("/towns")]
pub async fn towns(q: Query<Typed>) -> TownOptions {
    let typed = q.town.as_deref().or(q.q.as_deref()).unwrap_or_default();
    TownOptions { towns: gazetteer::suggest(typed, 8) }
}
