//! Staff accounts in the back office (admins): the agents, admins and managers, and a
//! confirmation step before anyone is deactivated (staff or expert). Deactivating goes
//! through the accounts service `PATCH /api/v1/users/{id}` uses: sign-in refused, every
//! token dead on every node, an expert's open tickets passed on to other experts.

use super::chrome::Chrome;
use super::error::{WebError, WebResult};
use super::form::see_other;
use super::session::{self, Viewer};
use crate::auth::Role;
use crate::auth::accounts::{self, AccountError};
use crate::db::entity::{ticket, user};
use crate::state::AppState;
use actix_web::web::{self, Form};
use actix_web::{HttpRequest, HttpResponse, Responder, get, post};
use askama::Template;
use askama_web::WebTemplate;
use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder};
use serde::Deserialize;
use uuid::Uuid;

/// Who manages accounts (the API's rule for `PATCH /api/v1/users/{id}`).
const ADMIN: &[Role] = &[Role::Admin];
/// The roles this page lists.
const STAFF_ROLES: [&str; 3] = ["agent", "admin", "manager"];

/// Registers the routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(list).service(confirm).service(standing);
}

/// One staff account as the list shows it.
pub struct StaffRow {
    /// The account.
    pub user: user::Model,
    /// The role in words.
    pub role: &'static str,
    /// The viewer's own account (it cannot deactivate itself).
    pub me: bool,
}

#[derive(Template, WebTemplate)]
#[template(path = "web/staff.html")]
struct StaffPage {
    chrome: Chrome,
    staff: Vec<StaffRow>,
}

fn role_words(role: &str) -> &'static str {
    match role {
        "agent" => "Call-center agent",
        "admin" => "Administrator",
        "manager" => "Manager",
        "expert" => "Expert",
        "customer" => "Customer",
        _ => "Account",
    }
}

/// Where an account of `role` is listed.
fn list_of(role: &str) -> &'static str {
    if role == "expert" { "/admin/experts" } else { "/admin/staff" }
}

/// `GET /admin/staff`: agents, admins and managers, with their standing.
#[get("/admin/staff")]
pub async fn list(viewer: Viewer, state: web::Data<AppState>) -> WebResult<StaffPage> {
    viewer.require(ADMIN, "managing staff accounts")?;
    let rows = user::Entity::find()
        .filter(user::Column::Role.is_in(STAFF_ROLES))
        .order_by_asc(user::Column::Role)
        .order_by_asc(user::Column::Name)
        .all(&state.db.read)
        .await
        .map_err(|e| WebError::Internal(e.into()))?;
    let me = viewer.caller.user_id;
    let staff = rows.into_iter().map(|u| StaffRow { role: role_words(&u.role), me: u.id == me, user: u }).collect();
    Ok(StaffPage { chrome: viewer.chrome, staff })
}

#[derive(Template, WebTemplate)]
#[template(path = "web/deactivate.html")]
struct ConfirmPage {
    chrome: Chrome,
    user: user::Model,
    role: &'static str,
    /// An expert's open tickets (assigned or accepted), passed on when they go.
    open_tickets: u64,
    back: &'static str,
}

/// `GET /admin/users/{id}/deactivate`: what deactivating this account does, and the
/// button that does it.
#[get("/admin/users/{id}/deactivate")]
pub async fn confirm(
    req: HttpRequest,
    viewer: Viewer,
    state: web::Data<AppState>,
    id: web::Path<String>,
) -> WebResult<HttpResponse> {
    viewer.require(ADMIN, "managing accounts")?;
    let Ok(id) = id.parse::<Uuid>() else { return Err(WebError::not_found(&viewer.chrome)) };
    let db = &state.db.read;
    let Some(u) = user::Entity::find_by_id(id).one(db).await.map_err(|e| WebError::Internal(e.into()))? else {
        return Err(WebError::not_found(&viewer.chrome));
    };
    let back = list_of(&u.role);
    if u.disabled {
        session::flash(&viewer.session, format!("{} is already deactivated.", u.name));
        return Ok(see_other(back));
    }
    if u.id == viewer.caller.user_id {
        session::flash(&viewer.session, "You cannot deactivate your own account; ask another administrator.");
        return Ok(see_other(back));
    }
    let open_tickets = if u.role == "expert" {
        ticket::Entity::find()
            .filter(ticket::Column::AssignedExpertId.eq(id))
            .filter(ticket::Column::Status.is_in(["assigned", "accepted"]))
            .count(db)
            .await
            .map_err(|e| WebError::Internal(e.into()))?
    } else {
        0
    };
    let page = ConfirmPage { chrome: viewer.chrome, role: role_words(&u.role), user: u, open_tickets, back };
    Ok(page.respond_to(&req).map_into_boxed_body())
}

/// The standing form.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct StandingForm {
    /// `true` to deactivate, `false` to reactivate.
    pub disabled: String,
    /// `yes` when sent from the confirmation page.
    pub confirmed: String,
}

/// `POST /admin/users/{id}/standing`: deactivates (only from the confirmation page: a
/// form without `confirmed=yes` is sent there) or reactivates an account.
#[post("/admin/users/{id}/standing")]
pub async fn standing(
    viewer: Viewer,
    state: web::Data<AppState>,
    id: web::Path<String>,
    form: Form<StandingForm>,
) -> WebResult<HttpResponse> {
    viewer.require(ADMIN, "managing accounts")?;
    let Ok(id) = id.parse::<Uuid>() else { return Err(WebError::not_found(&viewer.chrome)) };
    change(&viewer, &state, id, &form.into_inner()).await
}

/// Deactivates or reactivates account `id` as `f` asks, with the outcome flashed on its
/// list; deactivating without the confirmation goes to the confirmation page.
pub async fn change(viewer: &Viewer, state: &AppState, id: Uuid, f: &StandingForm) -> WebResult<HttpResponse> {
    let disabled = f.disabled == "true";
    if disabled && f.confirmed != "yes" {
        return Ok(see_other(&format!("/admin/users/{id}/deactivate")));
    }
    match accounts::set_disabled(state, viewer.caller, id, disabled).await {
        Ok(u) if disabled => {
            let tickets = if u.role == "expert" {
                " Their open tickets were passed on to other experts (or wait for one, when nobody fits)."
            } else {
                ""
            };
            session::flash(
                &viewer.session,
                format!(
                    "{} is deactivated: they are signed out everywhere and can no longer sign in.{tickets}",
                    u.name
                ),
            );
            Ok(see_other(list_of(&u.role)))
        }
        Ok(u) => {
            let then = if u.role == "expert" { " Set them on duty when they are ready." } else { "" };
            session::flash(&viewer.session, format!("{} is active again and can sign in.{then}", u.name));
            Ok(see_other(list_of(&u.role)))
        }
        Err(AccountError::NotFound) => Err(WebError::not_found(&viewer.chrome)),
        Err(AccountError::Internal(e)) => Err(WebError::Internal(e)),
        Err(e) => {
            session::flash(&viewer.session, format!("That could not be done: {e}."));
            Ok(see_other("/admin/staff"))
        }
    }
}
