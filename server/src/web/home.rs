//! The visitor's home page, signing in and out, and the start pages of roles that work
//! elsewhere (experts use the app; managers get reports with the reports work).

use super::chrome::{Chrome, start_page};
use super::error::WebResult;
use super::form::{FieldErrors, see_other};
use super::session::{self, Viewer};
use crate::api::views::PlanView;
use crate::auth::{Role, SignInError, sign_in};
use crate::db::entity::{alert, plan};
use crate::state::AppState;
use actix_session::Session;
use actix_web::web::{self, Form, Query};
use actix_web::{HttpRequest, HttpResponse, Responder, get, post};
use askama::Template;
use askama_web::WebTemplate;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(home).service(sign_in_form).service(sign_in_post).service(sign_out).service(expert).service(manager);
}

/// A plan as the catalogue shows it.
pub struct PlanCard {
    /// The plan.
    pub plan: PlanView,
    /// `$29.99 a month`.
    pub price: String,
}

/// `$29.99`, `€5.00`, `12.50 CHF`.
pub fn money(cents: i64, currency: &str) -> String {
    let amount = format!("{}.{:02}", cents / 100, (cents % 100).abs());
    match currency {
        "USD" => format!("${amount}"),
        "EUR" => format!("€{amount}"),
        "GBP" => format!("£{amount}"),
        other => format!("{amount} {other}"),
    }
}

/// The plans on offer, cheapest first.
pub async fn catalogue(state: &AppState) -> Result<Vec<PlanCard>, sea_orm::DbErr> {
    let rows = plan::Entity::find()
        .filter(plan::Column::Active.eq(true))
        .order_by_asc(plan::Column::MonthlyPriceCents)
        .order_by_asc(plan::Column::Id)
        .all(&state.db.read)
        .await?;
    Ok(rows
        .iter()
        .map(|p| PlanCard { price: format!("{} a month", money(p.monthly_price_cents, &p.currency)), plan: p.into() })
        .collect())
}

#[derive(Template, WebTemplate)]
#[template(path = "web/home.html")]
struct HomePage {
    chrome: Chrome,
    plans: Vec<PlanCard>,
}

/// `GET /`: what the service is, the plans, sign in or register. Signed in: your start.
#[get("/")]
pub async fn home(req: HttpRequest, state: web::Data<AppState>, session: Session) -> WebResult<HttpResponse> {
    if let Some((caller, _)) = session::signed_in(&session) {
        return Ok(see_other(start_page(caller.role)));
    }
    let plans = catalogue(&state).await.map_err(anyhow::Error::from)?;
    Ok(HomePage { chrome: Chrome::new(&session, req.path()), plans }.respond_to(&req).map_into_boxed_body())
}

/// The sign-in form's fields.
#[derive(Debug, Default, Deserialize)]
pub struct SignInForm {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    next: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/sign_in.html")]
struct SignInPage {
    chrome: Chrome,
    email: String,
    next: String,
    errors: FieldErrors,
}

/// Where to go after signing in: `next` when it is a path on this site.
fn safe_next(next: &str, role: Role) -> String {
    let ok = next.starts_with('/') && !next.starts_with("//") && !next.starts_with("/\\") && next != "/sign-in";
    if ok { next.to_owned() } else { start_page(role).to_owned() }
}

/// The `next` query parameter.
#[derive(Debug, Deserialize)]
pub struct Next {
    next: Option<String>,
}

/// `GET /sign-in`.
#[get("/sign-in")]
pub async fn sign_in_form(req: HttpRequest, session: Session, q: Query<Next>) -> HttpResponse {
    if let Some((caller, _)) = session::signed_in(&session) {
        return see_other(start_page(caller.role));
    }
    let page = SignInPage {
        chrome: Chrome::new(&session, req.path()),
        email: String::new(),
        next: q.into_inner().next.unwrap_or_default(),
        errors: FieldErrors::default(),
    };
    page.respond_to(&req).map_into_boxed_body()
}

/// `POST /sign-in`: the API login's credential check, then a cookie session.
#[post("/sign-in")]
pub async fn sign_in_post(
    req: HttpRequest,
    state: web::Data<AppState>,
    session: Session,
    form: Form<SignInForm>,
) -> WebResult<HttpResponse> {
    let f = form.into_inner();
    let mut errors = FieldErrors::default();
    if f.email.trim().is_empty() {
        errors.add("email", "enter the e-mail address you registered with");
    }
    if f.password.is_empty() {
        errors.add("password", "enter your password");
    }
    if !errors.any() {
        let client = crate::auth::client_addr(&req, &state.settings);
        match sign_in(&state, &f.email, &f.password, client).await {
            Ok(who) => {
                session::start(&session, &who);
                return Ok(see_other(&safe_next(&f.next, who.role)));
            }
            Err(SignInError::WrongCredentials) => {
                errors.add("", "that e-mail address and password do not match an account; check them and try again")
            }
            Err(SignInError::RateLimited { retry_after_secs }) => {
                let minutes = retry_after_secs.div_ceil(60).max(1);
                errors.add(
                    "",
                    format!(
                        "too many sign-in attempts. For your security, signing in is paused: try again in {minutes} minute{}",
                        if minutes == 1 { "" } else { "s" }
                    ),
                )
            }
            Err(SignInError::Busy { retry_after_secs }) => errors.add(
                "",
                format!("we are signing in many people right now; please try again in {retry_after_secs} seconds"),
            ),
            Err(SignInError::Internal(e)) => return Err(e.into()),
        }
    }
    let page = SignInPage { chrome: Chrome::new(&session, req.path()), email: f.email, next: f.next, errors };
    Ok(page.respond_to(&req).map_into_boxed_body())
}

/// `POST /sign-out`.
#[post("/sign-out")]
pub async fn sign_out(session: Session) -> HttpResponse {
    session::end(&session);
    see_other("/")
}

#[derive(Template, WebTemplate)]
#[template(path = "web/expert.html")]
struct ExpertPage {
    chrome: Chrome,
}

/// `GET /expert`: experts work in the app.
#[get("/expert")]
pub async fn expert(viewer: Viewer) -> WebResult<ExpertPage> {
    viewer.require(&[Role::Expert], "the expert's page")?;
    Ok(ExpertPage { chrome: viewer.chrome })
}

/// An alert as the manager's page lists it.
pub struct AlertRow {
    /// What kind.
    pub kind: String,
    /// What happened.
    pub message: String,
    /// When, `2026-12-03 14:05 UTC`.
    pub at: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/manager.html")]
struct ManagerPage {
    chrome: Chrome,
    alerts: Vec<AlertRow>,
}

/// `GET /manager`: recent alerts, and the place where reports will be.
#[get("/manager")]
pub async fn manager(viewer: Viewer, state: web::Data<AppState>) -> WebResult<ManagerPage> {
    viewer.require(&[Role::Manager], "the manager's page")?;
    let rows = alert::Entity::find()
        .order_by_desc(alert::Column::Id)
        .limit(20)
        .all(&state.db.read)
        .await
        .map_err(anyhow::Error::from)?;
    let alerts = rows
        .into_iter()
        .map(|a| AlertRow {
            kind: a.kind.replace('_', " "),
            message: a.message,
            at: a.created_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        })
        .collect();
    Ok(ManagerPage { chrome: viewer.chrome, alerts })
}
