//! Expert management by administrators, and experts' own availability and location.

use super::create::{created, scope_of};
use super::customers::{insert_user, parse_location};
use super::extract::ApiJson;
use super::idempotency::IdempotencyKey;
use super::problem::{ApiError, ApiResult};
use super::views::{AreaBody, ExpertView, Location, Page};
use crate::auth::{Caller, Role, hash_password};
use crate::db::entity::{expert, user};
use crate::state::AppState;
use actix_web::{HttpRequest, HttpResponse, get, patch, post, web};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ConnectionTrait, EntityTrait, QueryOrder};
use serde::Deserialize;
use sysops_core::category::CategorySet;
use sysops_core::expert::{DEFAULT_CAPACITY, MAX_CAPACITY};
use sysops_core::geo::ServiceArea;
use sysops_core::text::{Email, Locale, Name, Password, Phone};
use sysops_core::{FieldError, ValidationErrors};
use utoipa::ToSchema;
use uuid::Uuid;

/// A new expert.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewExpert {
    /// Name.
    pub name: String,
    /// E-mail (the login).
    pub email: String,
    /// Password, 8 to 128 characters, not one of the most common passwords (nor one with
    /// look-alike substitutions or added digits), nor the e-mail or name.
    pub password: String,
    /// Phone in international form.
    pub phone: String,
    /// Categories they can fix.
    pub skills: Vec<String>,
    /// Where they take jobs.
    pub service_area: AreaBody,
    /// Locale (`en-US`).
    pub locale: String,
    /// Current position.
    pub location: Location,
    /// On duty.
    pub available: bool,
    /// Most tickets at once (default 3, at most 20).
    pub capacity: Option<i64>,
}

/// Changes to an expert. Experts may change only `available` and `location`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExpertPatch {
    /// Name.
    pub name: Option<String>,
    /// Phone.
    pub phone: Option<String>,
    /// Skills.
    pub skills: Option<Vec<String>>,
    /// Service area.
    pub service_area: Option<AreaBody>,
    /// Locale.
    pub locale: Option<String>,
    /// Current position.
    pub location: Option<Location>,
    /// On duty.
    pub available: Option<bool>,
    /// Capacity.
    pub capacity: Option<i64>,
}

fn parse_capacity(raw: Option<i64>) -> Result<i32, FieldError> {
    let c = raw.unwrap_or(i64::from(DEFAULT_CAPACITY));
    if (1..=i64::from(MAX_CAPACITY)).contains(&c) {
        Ok(c as i32)
    } else {
        Err(FieldError::new("", format!("must be between 1 and {MAX_CAPACITY}")))
    }
}

fn parse_area(v: &mut ValidationErrors, a: &AreaBody) -> Option<ServiceArea> {
    let center = parse_location(v, "service_area.center", &a.center)?;
    v.check("service_area", ServiceArea::new(center, a.radius_km))
}

/// Adds an expert.
#[utoipa::path(tag = "experts", request_body = NewExpert,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = ExpertView), (status = 409, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem)), security(("bearer" = [])))]
#[post("/api/v1/experts")]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    key: IdempotencyKey,
    body: ApiJson<NewExpert>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Admin], "adding experts")?;
    let valid = validate_new(&body.value)?;
    let hash = hash_password(valid.password.expose().to_owned()).await?;
    let id = Uuid::now_v7();
    let resp = created(&state, &req, key, &scope_of(Some(&caller)), &body.raw, move |txn| {
        Box::pin(async move { insert(txn, id, valid, hash).await })
    })
    .await?;
    // A replay returns an expert created earlier, which the dispatcher already holds.
    settle(&state, id).await;
    Ok(resp)
}

/// A new expert that passed validation.
pub struct ValidExpert {
    name: Name,
    email: Email,
    /// The password, to hash before [`insert`].
    pub password: Password,
    phone: Phone,
    skills: CategorySet,
    area: ServiceArea,
    locale: Locale,
    location: sysops_core::geo::GeoPoint,
    capacity: i32,
    available: bool,
}

/// Checks every field of a new expert, naming each bad one.
pub fn validate_new(b: &NewExpert) -> Result<ValidExpert, ValidationErrors> {
    let mut v = ValidationErrors::new();
    let name = v.check("name", Name::parse(&b.name));
    let email = v.check("email", Email::parse(&b.email));
    let password = v.check("password", crate::auth::passwords::parse(&b.password, &[&b.email, &b.name]));
    let phone = v.check("phone", Phone::parse(&b.phone));
    let skills = v.check("skills", CategorySet::parse_non_empty(&b.skills));
    let area = parse_area(&mut v, &b.service_area);
    let locale = v.check("locale", Locale::parse(&b.locale));
    let location = parse_location(&mut v, "location", &b.location);
    let capacity = v.check("capacity", parse_capacity(b.capacity));
    v.finish()?;
    match (name, email, password, phone, skills, area, locale, location, capacity) {
        (
            Some(name),
            Some(email),
            Some(password),
            Some(phone),
            Some(skills),
            Some(area),
            Some(locale),
            Some(location),
            Some(capacity),
        ) => Ok(ValidExpert {
            name,
            email,
            password,
            phone,
            skills,
            area,
            locale,
            location,
            capacity,
            available: b.available,
        }),
        _ => unreachable!("validated above"),
    }
}

/// Writes a validated expert (a taken e-mail is a 409).
pub async fn insert(txn: &impl ConnectionTrait, id: Uuid, x: ValidExpert, hash: String) -> ApiResult<ExpertView> {
    let now = Utc::now();
    let u = insert_user(
        txn,
        user::ActiveModel {
            id: Set(id),
            email: Set(x.email.to_string()),
            password_hash: Set(hash),
            role: Set(Role::Expert.as_str().to_owned()),
            name: Set(x.name.to_string()),
            created_at: Set(now),
            disabled: Set(false),
        },
    )
    .await?;
    let e = expert::ActiveModel {
        user_id: Set(id),
        phone: Set(x.phone.to_string()),
        skills: Set(serde_json::json!(x.skills.slugs())),
        area_lat: Set(x.area.center().lat()),
        area_lon: Set(x.area.center().lon()),
        area_radius_km: Set(x.area.radius_km()),
        locale: Set(x.locale.to_string()),
        lat: Set(x.location.lat()),
        lon: Set(x.location.lon()),
        on_duty: Set(x.available),
        capacity: Set(x.capacity),
        last_assigned_at: Set(None),
        updated_at: Set(now),
    };
    let e = expert::Entity::insert(e).exec_with_returning(txn).await?;
    Ok(ExpertView::new(&u, &e, 0))
}

/// After an expert is added: the dispatcher takes them in, their sync documents are made.
pub async fn settle(state: &AppState, id: Uuid) {
    if let Err(e) = state.dispatcher.refresh_expert(&state.db, id).await {
        tracing::error!(error = %e, expert = %id, "dispatcher refresh failed");
    }
    state.sync.handle.expert(id);
}

async fn load(c: &impl ConnectionTrait, id: Uuid) -> ApiResult<(user::Model, expert::Model)> {
    match (user::Entity::find_by_id(id).one(c).await?, expert::Entity::find_by_id(id).one(c).await?) {
        (Some(u), Some(e)) => Ok((u, e)),
        _ => Err(ApiError::not_found("expert")),
    }
}

async fn view(state: &AppState, u: &user::Model, e: &expert::Model) -> ExpertView {
    let active = state.dispatcher.active_tickets(e.user_id);
    ExpertView::new(u, e, active)
}

fn may_see(caller: &Caller, id: Uuid) -> ApiResult<()> {
    match caller.role {
        Role::Admin => Ok(()),
        Role::Expert if caller.user_id == id => Ok(()),
        Role::Expert => Err(ApiError::not_found("expert")),
        _ => Ok(caller.require(&[Role::Admin], "reading expert profiles")?),
    }
}

/// Lists experts (administrators).
#[utoipa::path(tag = "experts", responses((status = 200, body = Page<ExpertView>)), security(("bearer" = [])))]
#[get("/api/v1/experts")]
pub async fn list(state: web::Data<AppState>, caller: Caller) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Admin], "listing experts")?;
    Ok(HttpResponse::Ok().json(Page { items: all(&state).await?, next_cursor: None }))
}

/// Every expert, oldest first.
pub async fn all(state: &AppState) -> ApiResult<Vec<ExpertView>> {
    let experts = expert::Entity::find().order_by_asc(expert::Column::UserId).all(&state.db.read).await?;
    let users = user::Entity::find().all(&state.db.read).await?;
    let users: std::collections::HashMap<Uuid, user::Model> = users.into_iter().map(|u| (u.id, u)).collect();
    let mut items = Vec::with_capacity(experts.len());
    for e in &experts {
        if let Some(u) = users.get(&e.user_id) {
            items.push(view(state, u, e).await);
        }
    }
    Ok(items)
}

/// One expert (administrators, or the expert themself).
#[utoipa::path(tag = "experts", responses((status = 200, body = ExpertView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/experts/{id}")]
pub async fn get_one(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(one(&state, &caller, id.into_inner()).await?))
}

/// One expert, for an admin or the expert themself.
pub async fn one(state: &AppState, caller: &Caller, id: Uuid) -> ApiResult<ExpertView> {
    may_see(caller, id)?;
    let (u, e) = load(&state.db.read, id).await?;
    Ok(view(state, &u, &e).await)
}

/// Changes an expert. Administrators may change anything here; an expert may change
/// only their own `available` and `location`.
#[utoipa::path(tag = "experts", request_body = ExpertPatch,
    responses((status = 200, body = ExpertView), (status = 403, body = super::problem::Problem),
        (status = 422, body = super::problem::Problem)), security(("bearer" = [])))]
#[patch("/api/v1/experts/{id}")]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: ApiJson<ExpertPatch>,
) -> ApiResult<HttpResponse> {
    Ok(HttpResponse::Ok().json(change(&state, &caller, id.into_inner(), &body.value).await?))
}

/// Applies a change to an expert: an admin's, or the expert's own availability and
/// location.
pub async fn change(state: &AppState, caller: &Caller, id: Uuid, p: &ExpertPatch) -> ApiResult<ExpertView> {
    may_see(caller, id)?;
    if caller.role == Role::Expert {
        let admin_only = [
            ("name", p.name.is_some()),
            ("phone", p.phone.is_some()),
            ("skills", p.skills.is_some()),
            ("service_area", p.service_area.is_some()),
            ("locale", p.locale.is_some()),
            ("capacity", p.capacity.is_some()),
        ];
        let named: Vec<&str> = admin_only.iter().filter(|(_, set)| *set).map(|(n, _)| *n).collect();
        if !named.is_empty() {
            return Err(ApiError::Forbidden(format!(
                "experts may change only available and location; ask an administrator to change {}",
                named.join(", ")
            )));
        }
    }
    let mut v = ValidationErrors::new();
    let name = p.name.as_deref().and_then(|n| v.check("name", Name::parse(n)));
    let phone = p.phone.as_deref().and_then(|n| v.check("phone", Phone::parse(n)));
    let skills = p.skills.as_deref().and_then(|s| v.check("skills", CategorySet::parse_non_empty(s)));
    let area = p.service_area.as_ref().and_then(|a| parse_area(&mut v, a));
    let locale = p.locale.as_deref().and_then(|l| v.check("locale", Locale::parse(l)));
    let location = p.location.as_ref().and_then(|l| parse_location(&mut v, "location", l));
    let capacity = p.capacity.and_then(|c| v.check("capacity", parse_capacity(Some(c))));
    v.finish()?;
    let txn = state.db.begin_write().await?;
    let (mut u, e) = load(&txn, id).await?;
    let mut am: expert::ActiveModel = e.into();
    if let Some(n) = name {
        let mut um: user::ActiveModel = u.clone().into();
        um.name = Set(n.to_string());
        u = um.update(&txn).await?;
    }
    if let Some(x) = phone {
        am.phone = Set(x.to_string());
    }
    if let Some(x) = skills {
        am.skills = Set(serde_json::json!(x.slugs()));
    }
    if let Some(a) = area {
        am.area_lat = Set(a.center().lat());
        am.area_lon = Set(a.center().lon());
        am.area_radius_km = Set(a.radius_km());
    }
    if let Some(x) = locale {
        am.locale = Set(x.to_string());
    }
    if let Some(l) = location {
        am.lat = Set(l.lat());
        am.lon = Set(l.lon());
    }
    if let Some(a) = p.available {
        am.on_duty = Set(a);
    }
    if let Some(c) = capacity {
        am.capacity = Set(c);
    }
    am.updated_at = Set(Utc::now());
    let e = am.update(&txn).await?;
    txn.commit().await?;
    state.dispatcher.refresh_expert(&state.db, id).await.map_err(ApiError::Internal)?;
    Ok(view(state, &u, &e).await)
}
