//! Customers as a service that the API and the web pages both call: registering,
//! editing one's profile, subscribing, and, for the call center, finding a customer
//! among millions (through their search terms, `sysops_core::customer::search`) and
//! reading one with their plans. Errors are `ServiceError`s; each front end maps them once.

use crate::auth::Role;
use crate::db::Db;
use crate::db::entity::{customer, customer_term, plan, subscription, user};
use crate::db::is_unique_violation;
use crate::error::{ServiceError, ServiceResult};
use crate::views::{CustomerView, Location, Page, SubscriptionView};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use serde::{Deserialize, Serialize};
use sysops_core::ValidationErrors;
use sysops_core::customer::{NotifyBy, search};
use sysops_core::geo::GeoPoint;
use sysops_core::plan::SubscriptionStatus;
use sysops_core::text::{Address, Email, Locale, Name, Password, Phone, Product};
use utoipa::ToSchema;
use uuid::Uuid;

/// A new customer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCustomer {
    /// Full name.
    pub name: String,
    /// E-mail (the login).
    pub email: String,
    /// Password, 8 to 128 characters, not one of the most common passwords (nor one with
    /// look-alike substitutions or added digits), nor the e-mail or name.
    pub password: String,
    /// Phone in international form (+14155550123).
    pub phone: String,
    /// `sms` or `email`.
    pub notify_by: String,
    /// Address.
    pub address: String,
    /// Where the address is.
    pub location: Location,
    /// Language of messages to the customer (`en-US`, `es-US`, …); default `en-US`.
    pub locale: Option<String>,
}

/// Inserts a user, turning a taken e-mail into 409.
pub async fn insert_user(txn: &impl ConnectionTrait, u: user::ActiveModel) -> ServiceResult<user::Model> {
    match user::Entity::insert(u).exec_with_returning(txn).await {
        Ok(u) => Ok(u),
        Err(e) if is_unique_violation(&e) => {
            Err(ServiceError::Conflict("an account with this e-mail address already exists".to_owned()))
        }
        Err(e) => Err(e.into()),
    }
}

/// Loads a customer's two rows.
pub async fn load(c: &impl ConnectionTrait, id: Uuid) -> ServiceResult<(user::Model, customer::Model)> {
    let u = user::Entity::find_by_id(id).one(c).await?;
    let cu = customer::Entity::find_by_id(id).one(c).await?;
    match (u, cu) {
        (Some(u), Some(cu)) => Ok((u, cu)),
        _ => Err(ServiceError::not_found("customer")),
    }
}

/// Who may find customers and read one with their plans (the call center and admins).
pub const FINDERS: &[Role] = &[Role::Agent, Role::Admin];

/// A registration that passed validation.
pub struct ValidCustomer {
    name: Name,
    email: Email,
    /// The password, to hash before [`insert`].
    pub password: Password,
    phone: Phone,
    notify_by: NotifyBy,
    address: Address,
    location: GeoPoint,
    locale: Locale,
}

/// Checks every field of a registration, naming each bad one.
pub fn validate(b: &NewCustomer) -> Result<ValidCustomer, ValidationErrors> {
    let mut v = ValidationErrors::new();
    let name = v.check("name", Name::parse(&b.name));
    let email = v.check("email", Email::parse(&b.email));
    let password = v.check("password", crate::auth::passwords::parse(&b.password, &[&b.email, &b.name]));
    let phone = v.check("phone", Phone::parse(&b.phone));
    let notify_by = v.check("notify_by", b.notify_by.parse::<NotifyBy>());
    let address = v.check("address", Address::parse(&b.address));
    let location = v.check("location", GeoPoint::new(b.location.lat, b.location.lon));
    let locale = v.check("locale", Locale::parse(b.locale.as_deref().unwrap_or("en-US")));
    v.finish()?;
    match (name, email, password, phone, notify_by, address, location, locale) {
        (
            Some(name),
            Some(email),
            Some(password),
            Some(phone),
            Some(notify_by),
            Some(address),
            Some(location),
            Some(locale),
        ) => Ok(ValidCustomer { name, email, password, phone, notify_by, address, location, locale }),
        _ => unreachable!("validated above"),
    }
}

/// Writes a validated registration (the user, the customer and their search terms);
/// a taken e-mail is a 409.
pub async fn insert(
    txn: &impl ConnectionTrait,
    c: ValidCustomer,
    password_hash: String,
) -> ServiceResult<(user::Model, customer::Model)> {
    let now = Utc::now();
    let id = Uuid::now_v7();
    let u = insert_user(
        txn,
        user::ActiveModel {
            id: Set(id),
            email: Set(c.email.to_string()),
            password_hash: Set(password_hash),
            role: Set(Role::Customer.as_str().to_owned()),
            name: Set(c.name.to_string()),
            created_at: Set(now),
            disabled: Set(false),
        },
    )
    .await?;
    let row = customer::ActiveModel {
        user_id: Set(id),
        phone: Set(c.phone.to_string()),
        notify_by: Set(c.notify_by.as_str().to_owned()),
        address: Set(c.address.to_string()),
        lat: Set(c.location.lat()),
        lon: Set(c.location.lon()),
        created_at: Set(now),
        locale: Set(c.locale.to_string()),
    };
    let row = customer::Entity::insert(row).exec_with_returning(txn).await?;
    file_terms(txn, id, &u.name, &u.email, &row.phone).await?;
    Ok((u, row))
}

/// Files a customer under their current search terms (replacing the old ones).
pub async fn file_terms(
    txn: &impl ConnectionTrait,
    id: Uuid,
    name: &str,
    email: &str,
    phone: &str,
) -> ServiceResult<()> {
    customer_term::Entity::delete_many().filter(customer_term::Column::CustomerId.eq(id)).exec(txn).await?;
    let rows = search::terms(name, email, phone)
        .into_iter()
        .map(|term| customer_term::ActiveModel { term: Set(term), customer_id: Set(id) });
    customer_term::Entity::insert_many(rows).exec_without_returning(txn).await?;
    Ok(())
}

/// Changes to a customer's own profile; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    /// Full name.
    pub name: Option<String>,
    /// Phone in international form (+14155550123).
    pub phone: Option<String>,
    /// How to be told that an expert is on the way: `sms` or `email`.
    pub notify_by: Option<String>,
    /// Address.
    pub address: Option<String>,
    /// Where the address is.
    pub location: Option<Location>,
    /// Language of messages (`en-US`, `es-US`, …).
    pub locale: Option<String>,
}

/// Applies a profile change, all or nothing.
pub async fn update_profile(db: &Db, id: Uuid, p: &ProfilePatch) -> ServiceResult<CustomerView> {
    let mut v = ValidationErrors::new();
    let name = p.name.as_deref().and_then(|x| v.check("name", Name::parse(x)));
    let phone = p.phone.as_deref().and_then(|x| v.check("phone", Phone::parse(x)));
    let notify_by = p.notify_by.as_deref().and_then(|x| v.check("notify_by", x.parse::<NotifyBy>()));
    let address = p.address.as_deref().and_then(|x| v.check("address", Address::parse(x)));
    let location = p.location.and_then(|l| v.check("location", GeoPoint::new(l.lat, l.lon)));
    let locale = p.locale.as_deref().and_then(|x| v.check("locale", Locale::parse(x)));
    v.finish()?;
    let txn = db.begin_write().await?;
    let (mut u, c) = load(&txn, id).await?;
    let refile = name.is_some() || phone.is_some();
    if let Some(n) = name {
        let mut um: user::ActiveModel = u.clone().into();
        um.name = Set(n.to_string());
        u = um.update(&txn).await?;
    }
    let unchanged = c.clone();
    let mut cm: customer::ActiveModel = c.into();
    if let Some(x) = phone {
        cm.phone = Set(x.to_string());
    }
    if let Some(x) = notify_by {
        cm.notify_by = Set(x.as_str().to_owned());
    }
    if let Some(x) = address {
        cm.address = Set(x.to_string());
    }
    if let Some(l) = location {
        cm.lat = Set(l.lat());
        cm.lon = Set(l.lon());
    }
    if let Some(x) = locale {
        cm.locale = Set(x.to_string());
    }
    let c = if cm.is_changed() { cm.update(&txn).await? } else { unchanged };
    if refile {
        file_terms(&txn, id, &u.name, &u.email, &c.phone).await?;
    }
    txn.commit().await?;
    Ok(CustomerView::new(&u, &c))
}

/// A subscription that passed validation.
pub struct ValidSubscription {
    /// The plan (on offer).
    pub plan_id: Uuid,
    product: Product,
    /// Monthly (the default) or annual billing.
    pub billing: sysops_core::billing::Interval,
}

/// Checks a subscription request: the product's name and that the plan is on offer.
pub async fn validate_subscription(db: &Db, plan_id: Uuid, product: &str) -> ServiceResult<ValidSubscription> {
    let product = Product::parse(product).map_err(|e| e.under("product"))?;
    let p = plan::Entity::find_by_id(plan_id).one(&db.read).await?;
    if !p.is_some_and(|p| p.active) {
        return Err(ServiceError::field("plan_id", "no such plan in the catalogue"));
    }
    Ok(ValidSubscription { plan_id, product, billing: sysops_core::billing::Interval::Monthly })
}

/// Subscribes a customer (one subscription per product: a second is a 409).
pub async fn subscribe(
    txn: &impl ConnectionTrait,
    customer_id: Uuid,
    s: ValidSubscription,
) -> ServiceResult<SubscriptionView> {
    let row = subscription::ActiveModel {
        id: Set(Uuid::now_v7()),
        customer_id: Set(customer_id),
        plan_id: Set(s.plan_id),
        product: Set(s.product.to_string()),
        status: Set(SubscriptionStatus::Active.as_str().to_owned()),
        started_at: Set(Utc::now()),
        cancelled_at: Set(None),
        billing_interval: Set(s.billing.as_str().to_owned()),
        cancel_at_period_end: Set(false),
    };
    match subscription::Entity::insert(row).exec_with_returning(txn).await {
        Ok(s) => Ok(SubscriptionView::from(&s)),
        Err(e) if is_unique_violation(&e) => Err(ServiceError::Conflict(format!(
            "you already have a subscription for the product {:?}; one per product",
            s.product.as_str()
        ))),
        Err(e) => Err(e.into()),
    }
}

/// A customer found by a search.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CustomerSummary {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Phone (E.164).
    pub phone: String,
    /// Address.
    pub address: String,
}

fn bad_cursor() -> ServiceError {
    ServiceError::field("cursor", "not a cursor this server issued")
}

fn parse_cursor(c: &str) -> ServiceResult<(String, Uuid)> {
    let (term, id) = c.split_once('.').ok_or_else(bad_cursor)?;
    let term = String::from_utf8(hex::decode(term).map_err(|_| bad_cursor())?).map_err(|_| bad_cursor())?;
    Ok((term, id.parse().map_err(|_| bad_cursor())?))
}

/// Most index entries the out-of-order fallback looks at (it answers one page).
const FALLBACK_CANDIDATES: u64 = 1_000;

/// Customers whose name, e-mail or phone match `q` (see
/// `sysops_core::customer::search::plan`), a page at a time in a stable order. Each
/// page is one index range: fast however many customers there are. Name words typed out
/// of the name's order, when the range finds nothing, get one page from a bounded
/// search of the most selective word.
pub async fn find(db: &Db, q: &str, limit: u64, cursor: Option<&str>) -> ServiceResult<Page<CustomerSummary>> {
    if q.chars().count() > 200 {
        return Err(ServiceError::field("q", "must be at most 200 characters"));
    }
    let Some(plan) = search::plan(q) else {
        return Err(ServiceError::field(
            "q",
            "type part of a name, an e-mail address or at least 4 digits of a phone number",
        ));
    };
    let cursor = cursor.filter(|c| !c.is_empty()).map(parse_cursor).transpose()?;
    let page = in_range(db, &plan.lead, &[], cursor.clone(), limit, None).await?;
    match plan.fallback {
        Some((word, others)) if page.items.is_empty() && cursor.is_none() => {
            let mut page = in_range(db, &word, &others, None, limit, Some(FALLBACK_CANDIDATES)).await?;
            page.next_cursor = None;
            Ok(page)
        }
        _ => Ok(page),
    }
}

/// One page of the customers filed under a term starting with `lead` that also have a
/// term starting with each of `others`; `bound` caps the index entries looked at.
async fn in_range(
    db: &Db,
    lead: &str,
    others: &[String],
    cursor: Option<(String, Uuid)>,
    limit: u64,
    bound: Option<u64>,
) -> ServiceResult<Page<CustomerSummary>> {
    let backend = db.backend();
    let mut values: Vec<sea_orm::Value> = vec![lead.to_owned().into(), search::upper_bound(lead).into()];
    // The range walks the index; the prefix test keeps exactly the terms starting with
    // `lead` (PostgreSQL's collation may order other strings into the range). It is a
    // comparison with a literal length, not `LIKE $3`: SQLite re-prepares a statement
    // on every execution when a bound value is a LIKE pattern.
    let mut range = format!(
        "SELECT term, customer_id FROM customer_terms WHERE term >= $1 AND term < $2 AND substr(term, 1, {}) = $1",
        lead.chars().count()
    );
    if let Some((term, id)) = cursor {
        let n = values.len();
        range.push_str(&format!(" AND (term > ${} OR (term = ${} AND customer_id > ${}))", n + 1, n + 1, n + 2));
        values.push(term.into());
        values.push(id.into());
    }
    range.push_str(" ORDER BY term, customer_id");
    if let Some(b) = bound {
        range.push_str(&format!(" LIMIT {b}"));
    }
    let mut sql = format!(
        "SELECT t.term AS term, c.user_id AS id, u.name AS name, u.email AS email, c.phone AS phone, \
         c.address AS address FROM ({range}) t JOIN customers c ON c.user_id = t.customer_id \
         JOIN users u ON u.id = c.user_id WHERE 1 = 1"
    );
    for w in others {
        let n = values.len();
        sql.push_str(&format!(
            " AND EXISTS (SELECT 1 FROM customer_terms a WHERE a.customer_id = t.customer_id \
             AND a.term >= ${} AND a.term < ${} AND substr(a.term, 1, {}) = ${})",
            n + 1,
            n + 2,
            w.chars().count(),
            n + 1
        ));
        values.push(w.clone().into());
        values.push(search::upper_bound(w).into());
    }
    sql.push_str(&format!(" ORDER BY t.term, t.customer_id LIMIT {}", limit + 1));
    let rows = db.read.query_all_raw(crate::db::statement(backend, &sql, values)).await?;
    let more = rows.len() as u64 > limit;
    let mut items: Vec<CustomerSummary> = Vec::with_capacity(rows.len());
    let mut last: Option<(String, Uuid)> = None;
    for r in rows.iter().take(limit as usize) {
        let id: Uuid = r.try_get("", "id")?;
        last = Some((r.try_get("", "term")?, id));
        // A customer filed twice under the prefix (`ann annabel`) is listed once a page.
        if items.iter().any(|i| i.id == id) {
            continue;
        }
        items.push(CustomerSummary {
            id,
            name: r.try_get("", "name")?,
            email: r.try_get("", "email")?,
            phone: r.try_get("", "phone")?,
            address: r.try_get("", "address")?,
        });
    }
    let next_cursor = last.filter(|_| more).map(|(t, id)| format!("{}.{id}", hex::encode(t)));
    Ok(Page { items, next_cursor })
}

/// A subscription with the plan it is under.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionDetail {
    /// The subscription.
    #[serde(flatten)]
    pub subscription: SubscriptionView,
    /// The plan's name.
    pub plan_name: String,
    /// The categories the plan covers.
    pub categories: Vec<String>,
}

/// One customer with their subscriptions.
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerDetail {
    /// The profile.
    #[serde(flatten)]
    pub customer: CustomerView,
    /// Their subscriptions, oldest first.
    pub subscriptions: Vec<SubscriptionDetail>,
}

/// A customer's subscriptions with their plans, oldest first.
pub async fn subscriptions(db: &Db, customer_id: Uuid) -> ServiceResult<Vec<SubscriptionDetail>> {
    let subs = subscription::Entity::find()
        .filter(subscription::Column::CustomerId.eq(customer_id))
        .order_by_asc(subscription::Column::Id)
        .all(&db.read)
        .await?;
    let plans =
        plan::Entity::find().filter(plan::Column::Id.is_in(subs.iter().map(|s| s.plan_id))).all(&db.read).await?;
    Ok(subs
        .iter()
        .map(|s| {
            let p = plans.iter().find(|p| p.id == s.plan_id);
            SubscriptionDetail {
                subscription: SubscriptionView::from(s),
                plan_name: p.map(|p| p.name.clone()).unwrap_or_default(),
                categories: p.and_then(|p| serde_json::from_value(p.categories.clone()).ok()).unwrap_or_default(),
            }
        })
        .collect())
}

/// Whether the customer has an active subscription (may raise a ticket), in one
/// indexed lookup.
pub async fn has_active_subscription(db: &Db, customer_id: Uuid) -> ServiceResult<bool> {
    let one: Option<Uuid> = subscription::Entity::find()
        .select_only()
        .column(subscription::Column::Id)
        .filter(subscription::Column::CustomerId.eq(customer_id))
        .filter(subscription::Column::Status.eq("active"))
        .into_tuple()
        .one(&db.read)
        .await?;
    Ok(one.is_some())
}

/// One customer and their subscriptions (404 when there is no such customer).
pub async fn detail(db: &Db, id: Uuid) -> ServiceResult<CustomerDetail> {
    let (u, c) = load(&db.read, id).await?;
    Ok(CustomerDetail { customer: CustomerView::new(&u, &c), subscriptions: subscriptions(db, id).await? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use sea_orm::{Database, EntityTrait};
    use sysops_schema::{Migrator, MigratorTrait};

    #[tokio::test]
    async fn customers_registered_before_the_web_migration_are_filed_by_it() {
        let db = Database::connect("sqlite::memory:").await.unwrap();
        Migrator::up(&db, Some(3)).await.unwrap();
        let id = Uuid::now_v7();
        let now = Utc::now();
        user::Entity::insert(user::ActiveModel {
            id: Set(id),
            email: Set("old@example.com".into()),
            password_hash: Set("x".into()),
            role: Set("customer".into()),
            name: Set("Olga Oldtimer".into()),
            created_at: Set(now),
            disabled: Set(false),
        })
        .exec_without_returning(&db)
        .await
        .unwrap();
        customer::Entity::insert(customer::ActiveModel {
            user_id: Set(id),
            phone: Set("+13125550100".into()),
            notify_by: Set("sms".into()),
            address: Set("1 Main St".into()),
            lat: Set(41.0),
            lon: Set(-87.0),
            created_at: Set(now),
            locale: Set("en-US".into()),
        })
        .exec_without_returning(&db)
        .await
        .unwrap();
        Migrator::up(&db, None).await.unwrap();
        let mut terms: Vec<String> =
            customer_term::Entity::find().all(&db).await.unwrap().into_iter().map(|t| t.term).collect();
        terms.sort();
        assert_eq!(terms, search::terms("Olga Oldtimer", "old@example.com", "+13125550100"));
        assert!(terms.contains(&"oldtimer".to_owned()));
    }
}
