//! Ticket intake and reads. Reads are scoped by role: a customer sees their own tickets,
//! an expert the tickets assigned to them, staff every ticket; anything else is 404.

use super::extract::ApiJson;
use super::problem::{ApiError, ApiResult};
use super::views::{Location, Page, TicketEventView, TicketView};
use crate::auth::{Caller, Role};
use crate::db::entity::{assignment, plan, subscription, ticket, ticket_event};
use crate::idempotency::{self, Begin, IdempotencyKey};
use crate::state::AppState;
use crate::tickets::intake::NewTicket;
use actix_web::web::Query;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use serde::Deserialize;
use std::collections::HashMap;
use sysops_core::ValidationErrors;
use sysops_core::category::{Category, CategorySet};
use sysops_core::ids::TicketId;
use sysops_core::money::{Currency, Money};
use sysops_core::plan::{Plan, Subscription, check_coverage};
use sysops_core::text::{Address, Description, Name, Product, Title};
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
    let b = &body.value;
    let mut v = ValidationErrors::new();
    let category = v.check("category", b.category.parse::<Category>());
    let title = v.check("title", Title::parse(&b.title));
    let description = v.check("description", Description::parse(&b.description));
    let location = b.location.as_ref().and_then(|l| super::customers::parse_location(&mut v, "location", l));
    let parsed_address = b.address.as_deref().and_then(|a| v.check("address", Address::parse(a)));
    let customer_id = match (caller.role, b.customer_id) {
        (Role::Customer, None) => Some(caller.user_id),
        (Role::Customer, Some(id)) if id == caller.user_id => Some(id),
        (Role::Customer, Some(_)) => {
            v.push("customer_id", "customers raise tickets for themselves; leave customer_id out");
            None
        }
        (_, Some(id)) => Some(id),
        (_, None) => {
            v.push("customer_id", "agents must name the customer the ticket is for");
            None
        }
    };
    v.finish()?;
    let (Some(category), Some(title), Some(description), Some(customer_id)) =
        (category, title, description, customer_id)
    else {
        unreachable!("validated above")
    };
    // One round trip for everything intake needs to know: a stored idempotent response,
    // the subscription with its plan, and the customer's address.
    let scope = caller.user_id.to_string();
    let ctx = IntakeContext::load(&state.db, &scope, key.0.as_deref(), b.subscription_id, customer_id).await?;
    let claim = match key.0.as_deref() {
        Some(k) => match idempotency::begin_with(ctx.stored().as_ref(), &state.inflight, &scope, k, &req, &body.raw)? {
            Begin::Replay(r) => return Ok(r),
            Begin::Fresh(c) => Some(c),
        },
        None => None,
    };
    let (Some(address), Some(lat), Some(lon)) = (ctx.address.clone(), ctx.lat, ctx.lon) else {
        return Err(if caller.role == Role::Agent {
            ApiError::field("customer_id", "no such customer")
        } else {
            ApiError::not_found("customer")
        });
    };
    let (sub, p) = ctx
        .subscription_and_plan()
        .filter(|(s, _)| s.customer_id == customer_id)
        .ok_or_else(|| ApiError::field("subscription_id", "no such subscription for this customer"))?;
    check_coverage(&domain_subscription(&sub)?, &domain_plan(&p)?, category).map_err(|e| {
        let field = if matches!(e, sysops_core::plan::CoverageError::NotCovered { .. }) {
            "category"
        } else {
            "subscription_id"
        };
        ApiError::field(field, e.to_string())
    })?;
    let location = match location {
        Some(l) => l,
        None => sysops_core::geo::GeoPoint::new(lat, lon).map_err(|e| ApiError::Internal(e.into()))?,
    };
    let new = NewTicket {
        id: TicketId::new(),
        customer_id,
        subscription_id: sub.id,
        category,
        title,
        description,
        address: parsed_address.map_or(address, |a| a.into_inner()),
        location,
        created_by: caller,
    };
    let body = state.intake.submit(new, claim).await?;
    Ok(HttpResponse::Created().content_type("application/json").body(body))
}

/// What ticket intake reads, in one query.
#[derive(Debug, sea_orm::FromQueryResult)]
struct IntakeContext {
    i_scope: Option<String>,
    i_key: Option<String>,
    i_request_hash: Option<String>,
    i_status_code: Option<i32>,
    i_response_body: Option<String>,
    i_created_at: Option<chrono::DateTime<chrono::Utc>>,
    s_id: Option<Uuid>,
    s_customer_id: Option<Uuid>,
    s_plan_id: Option<Uuid>,
    s_product: Option<String>,
    s_status: Option<String>,
    s_started_at: Option<chrono::DateTime<chrono::Utc>>,
    p_name: Option<String>,
    p_categories: Option<serde_json::Value>,
    p_monthly_price_cents: Option<i64>,
    p_currency: Option<String>,
    p_active: Option<bool>,
    p_created_at: Option<chrono::DateTime<chrono::Utc>>,
    address: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
}

impl IntakeContext {
    async fn load(
        db: &crate::db::Db,
        scope: &str,
        key: Option<&str>,
        subscription_id: Uuid,
        customer_id: Uuid,
    ) -> Result<Self, sea_orm::DbErr> {
        use sea_orm::FromQueryResult;
        let sql = "SELECT i.scope AS i_scope, i.key AS i_key, i.request_hash AS i_request_hash, \
                   i.status_code AS i_status_code, i.response_body AS i_response_body, i.created_at AS i_created_at, \
                   s.id AS s_id, s.customer_id AS s_customer_id, s.plan_id AS s_plan_id, s.product AS s_product, \
                   s.status AS s_status, s.started_at AS s_started_at, p.name AS p_name, p.categories AS p_categories, \
                   p.monthly_price_cents AS p_monthly_price_cents, p.currency AS p_currency, p.active AS p_active, \
                   p.created_at AS p_created_at, c.address AS address, c.lat AS lat, c.lon AS lon \
                   FROM (SELECT 1 AS one) x \
                   LEFT JOIN idempotency_keys i ON i.scope = $1 AND i.key = $2 \
                   LEFT JOIN subscriptions s ON s.id = $3 \
                   LEFT JOIN plans p ON p.id = s.plan_id \
                   LEFT JOIN customers c ON c.user_id = $4";
        let stmt = sea_orm::Statement::from_sql_and_values(
            db.backend(),
            sql,
            [scope.into(), key.unwrap_or("").into(), subscription_id.into(), customer_id.into()],
        );
        let row = sea_orm::ConnectionTrait::query_one_raw(&db.read, stmt)
            .await?
            .ok_or_else(|| sea_orm::DbErr::RecordNotFound("intake context".to_owned()))?;
        Self::from_query_result(&row, "")
    }

    fn stored(&self) -> Option<crate::db::entity::idempotency_key::Model> {
        Some(crate::db::entity::idempotency_key::Model {
            scope: self.i_scope.clone()?,
            key: self.i_key.clone()?,
            request_hash: self.i_request_hash.clone()?,
            status_code: self.i_status_code?,
            response_body: self.i_response_body.clone()?,
            created_at: self.i_created_at?,
        })
    }

    fn subscription_and_plan(&self) -> Option<(subscription::Model, plan::Model)> {
        let s = subscription::Model {
            id: self.s_id?,
            customer_id: self.s_customer_id?,
            plan_id: self.s_plan_id?,
            product: self.s_product.clone()?,
            status: self.s_status.clone()?,
            started_at: self.s_started_at?,
            cancelled_at: None,
        };
        let p = plan::Model {
            id: s.plan_id,
            name: self.p_name.clone()?,
            categories: self.p_categories.clone()?,
            monthly_price_cents: self.p_monthly_price_cents?,
            currency: self.p_currency.clone()?,
            active: self.p_active?,
            created_at: self.p_created_at?,
        };
        Some((s, p))
    }
}

fn domain_plan(p: &plan::Model) -> ApiResult<Plan> {
    let cats: Vec<String> = serde_json::from_value(p.categories.clone()).map_err(anyhow::Error::from)?;
    let currency = Currency::parse(&p.currency).map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?;
    Ok(Plan {
        id: p.id.into(),
        name: Name::parse(&p.name).map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?,
        categories: cats.iter().filter_map(|c| c.parse().ok()).collect::<CategorySet>(),
        monthly_price: Money::new(p.monthly_price_cents, currency),
    })
}

fn domain_subscription(s: &subscription::Model) -> ApiResult<Subscription> {
    Ok(Subscription {
        id: s.id.into(),
        customer_id: s.customer_id.into(),
        plan_id: s.plan_id.into(),
        product: Product::parse(&s.product).map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?,
        status: s.status.parse().map_err(|e| ApiError::Internal(anyhow::anyhow!("{e}")))?,
        started_at: s.started_at,
    })
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
    Ok(HttpResponse::Ok().json(crate::tickets::store::view(&state.db.read, &t).await?))
}

/// List filters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Only tickets in this status.
    pub status: Option<String>,
    /// Page size, 1 to 200 (default 50).
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
    let ids: Vec<Uuid> = rows.iter().map(|t| t.id).collect();
    let assignments: HashMap<Uuid, assignment::Model> = assignment::Entity::find()
        .filter(assignment::Column::TicketId.is_in(ids))
        .filter(assignment::Column::EndedAt.is_null())
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.ticket_id, a))
        .collect();
    let next_cursor = if more { rows.last().map(|t| t.id.to_string()) } else { None };
    let items = rows.iter().map(|t| TicketView::new(t, assignments.get(&t.id))).collect();
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
    Ok(HttpResponse::Ok().json(Page { items: rows.iter().map(TicketEventView::from).collect(), next_cursor: None }))
}
