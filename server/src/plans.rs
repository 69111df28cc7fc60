//! The support-plan catalogue as a service: changing or retiring a plan without
//! changing what existing subscribers signed up for. A plan's terms (categories, price,
//! currency) are fixed once anyone subscribes: a change to them retires the plan and
//! puts a successor on offer (`docs/adr/0010-plan-revisions.md`). A name change, or
//! any change to a plan nobody holds yet, is made in place.

use crate::db::Db;
use crate::db::entity::{plan, subscription};
use crate::error::{ServiceError, ServiceResult};
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter};
use serde::Deserialize;
use sysops_core::ValidationErrors;
use sysops_core::category::CategorySet;
use sysops_core::money::{Currency, Money};
use sysops_core::text::Name;
use utoipa::ToSchema;
use uuid::Uuid;

/// Changes to a plan; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanPatch {
    /// Name.
    pub name: Option<String>,
    /// Categories covered.
    pub categories: Option<Vec<String>>,
    /// Monthly price in minor units.
    pub monthly_price_cents: Option<i64>,
    /// ISO 4217 currency.
    pub currency: Option<String>,
}

/// Applies a change: in place when only the name changes or nobody holds the plan;
/// otherwise the plan is retired and its successor (a new id) is returned.
pub async fn change(db: &Db, id: Uuid, p: &PlanPatch) -> ServiceResult<plan::Model> {
    let txn = db.begin_write().await?;
    let old = plan::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| ServiceError::not_found("plan"))?;
    if !old.active {
        return Err(ServiceError::Conflict("the plan is retired; change the plan that replaced it".to_owned()));
    }
    let mut v = ValidationErrors::new();
    let name = p.name.as_deref().and_then(|n| v.check("name", Name::parse(n)));
    let categories = p.categories.as_deref().and_then(|c| v.check("categories", CategorySet::parse_non_empty(c)));
    let currency = v.check("currency", Currency::parse(p.currency.as_deref().unwrap_or(&old.currency)));
    let price = currency.and_then(|c| {
        v.check("monthly_price_cents", Money::price(p.monthly_price_cents.unwrap_or(old.monthly_price_cents), c))
    });
    v.finish()?;
    let Some(price) = price else { unreachable!("validated above") };
    let categories = match categories {
        Some(c) => serde_json::json!(c.slugs()),
        None => old.categories.clone(),
    };
    let terms_change = categories != old.categories
        || price.amount_cents() != old.monthly_price_cents
        || price.currency().code() != old.currency;
    let held = subscription::Entity::find().filter(subscription::Column::PlanId.eq(id)).count(&txn).await? > 0;
    let name = name.map_or_else(|| old.name.clone(), |n| n.to_string());
    let out = if terms_change && held {
        let mut retired: plan::ActiveModel = old.into();
        retired.active = Set(false);
        retired.update(&txn).await?;
        let successor = plan::ActiveModel {
            id: Set(Uuid::now_v7()),
            name: Set(name),
            categories: Set(categories),
            monthly_price_cents: Set(price.amount_cents()),
            currency: Set(price.currency().code().to_owned()),
            active: Set(true),
            created_at: Set(Utc::now()),
        };
        plan::Entity::insert(successor).exec_with_returning(&txn).await?
    } else {
        let mut am: plan::ActiveModel = old.into();
        am.name = Set(name);
        am.categories = Set(categories);
        am.monthly_price_cents = Set(price.amount_cents());
        am.currency = Set(price.currency().code().to_owned());
        am.update(&txn).await?
    };
    txn.commit().await?;
    Ok(out)
}

/// Takes a plan off the catalogue: nobody new can subscribe; existing subscriptions
/// go on under it. Retiring a retired plan changes nothing.
pub async fn retire(db: &Db, id: Uuid) -> ServiceResult<plan::Model> {
    let p = plan::Entity::find_by_id(id).one(&db.write).await?.ok_or_else(|| ServiceError::not_found("plan"))?;
    if !p.active {
        return Ok(p);
    }
    let mut am: plan::ActiveModel = p.into();
    am.active = Set(false);
    Ok(am.update(&db.write).await?)
}
