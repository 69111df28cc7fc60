//! Checking a submitted ticket before it is queued for intake: its fields, who it is
//! for, the subscription and whether its plan covers the category, and an idempotency
//! key seen before. Everything intake needs to know is read in one query.

use super::error::TicketError;
use super::{Created, Keyed, NewTicket, Recorded, Submitted, TicketRequest, Tickets};
use crate::auth::{Caller, Role};
use crate::db::Db;
use crate::db::entity::{idempotency_key, plan, subscription};
use crate::idempotency::{self, Begin, KeyError};
use crate::repo;
use sea_orm::{DbErr, FromQueryResult};
use sysops_core::ValidationErrors;
use sysops_core::category::Category;
use sysops_core::geo::GeoPoint;
use sysops_core::ids::TicketId;
use sysops_core::plan::{CoverageError, check_coverage};
use sysops_core::text::{Address, Description, Title};
use uuid::Uuid;

impl From<KeyError> for TicketError {
    fn from(e: KeyError) -> Self {
        match e {
            KeyError::Reused => TicketError::KeyReused(e.to_string()),
            KeyError::InFlight | KeyError::Raced => TicketError::InFlight(e.to_string()),
            KeyError::Storage(e) => TicketError::Storage(e),
        }
    }
}

/// Checks `req` from `by` and submits it to intake.
pub(super) async fn submit(
    t: &Tickets,
    by: Caller,
    req: TicketRequest,
    keyed: Option<Keyed>,
) -> Result<Submitted, TicketError> {
    let mut v = ValidationErrors::new();
    let category = v.check("category", req.category.parse::<Category>());
    let title = v.check("title", Title::parse(&req.title));
    let description = v.check("description", Description::parse(&req.description));
    let location = req.location.and_then(|(lat, lon)| v.check("location", GeoPoint::new(lat, lon)));
    let address = req.address.as_deref().and_then(|a| v.check("address", Address::parse(a)));
    let customer_id = match (by.role, req.customer_id) {
        (Role::Customer, None) => Some(by.user_id),
        (Role::Customer, Some(id)) if id == by.user_id => Some(id),
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
        return Err(TicketError::internal("validated fields missing"));
    };
    // One round trip for everything intake needs to know: a stored idempotent answer,
    // the subscription with its plan, and the customer's address.
    let ctx = Context::load(&t.db, keyed.as_ref(), req.subscription_id, customer_id).await?;
    let recorded = match keyed {
        Some(k) => {
            match idempotency::begin_with(ctx.stored().as_ref(), &t.inflight, &k.scope, &k.key, k.fingerprint)? {
                Begin::Replay(r) => return Ok(Submitted::Replayed(r)),
                Begin::Fresh(claim) => Some(Recorded { claim, answer: k.answer }),
            }
        }
        None => None,
    };
    let (Some(home), Some(lat), Some(lon)) = (ctx.address.clone(), ctx.lat, ctx.lon) else {
        return Err(if by.role == Role::Customer {
            TicketError::not_found("customer")
        } else {
            TicketError::field("customer_id", "no such customer")
        });
    };
    let (sub, p) = ctx
        .subscription_and_plan()
        .filter(|(s, _)| s.customer_id == customer_id)
        .ok_or_else(|| TicketError::field("subscription_id", "no such subscription for this customer"))?;
    check_coverage(&repo::plans::subscription(&sub)?, &repo::plans::plan(&p)?, category).map_err(|e| {
        if matches!(e, CoverageError::Inactive("suspended")) {
            return TicketError::Refused(
                "the subscription is suspended because its invoice could not be charged: update the card on file \
                 (POST /api/v1/customers/me/card/setup, or the portal's billing page); the open invoice is charged \
                 at once and tickets can be raised again as soon as it is paid"
                    .to_owned(),
            );
        }
        let field = if matches!(e, CoverageError::NotCovered { .. }) { "category" } else { "subscription_id" };
        TicketError::field(field, e.to_string())
    })?;
    let location = match location {
        Some(l) => l,
        None => GeoPoint::new(lat, lon).map_err(TicketError::internal)?,
    };
    let new = NewTicket {
        id: TicketId::new(),
        customer_id,
        subscription_id: sub.id,
        category,
        title,
        description,
        address: address.map_or(home, |a| a.into_inner()),
        location,
        created_by: by,
    };
    let created: Created = t.intake.submit(new, recorded).await?;
    Ok(Submitted::Created(Box::new(created)))
}

/// What ticket intake reads, in one query.
#[derive(Debug, FromQueryResult)]
struct Context {
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

impl Context {
    async fn load(db: &Db, keyed: Option<&Keyed>, subscription_id: Uuid, customer_id: Uuid) -> Result<Self, DbErr> {
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
        let (scope, key) = keyed.map_or(("", ""), |k| (k.scope.as_str(), k.key.as_str()));
        let stmt = crate::db::statement(
            db.backend(),
            sql,
            vec![scope.into(), key.into(), subscription_id.into(), customer_id.into()],
        );
        let row = sea_orm::ConnectionTrait::query_one_raw(&db.read, stmt)
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("intake context".to_owned()))?;
        Self::from_query_result(&row, "")
    }

    fn stored(&self) -> Option<idempotency_key::Model> {
        Some(idempotency_key::Model {
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
            billing_interval: "monthly".to_owned(),
            cancel_at_period_end: false,
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
