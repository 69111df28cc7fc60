//! Response bodies, built from stored rows. Field names follow `../shared/API.md`.

use crate::db::entity::{assignment, customer, expert, kb_article, plan, subscription, ticket, ticket_event, user};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sysops_core::expert::Availability;
use utoipa::ToSchema;
use uuid::Uuid;

/// A point on Earth.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Location {
    /// Latitude in degrees, -90 to 90.
    pub lat: f64,
    /// Longitude in degrees, -180 to 180.
    pub lon: f64,
}

/// A page of a list.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T: ToSchema> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A user account.
#[derive(Debug, Serialize, ToSchema)]
pub struct UserView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Login e-mail.
    pub email: String,
    /// Role.
    pub role: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Disabled by an administrator (or closed): cannot sign in, tokens refused.
    pub disabled: bool,
}

impl From<&user::Model> for UserView {
    fn from(u: &user::Model) -> Self {
        Self {
            id: u.id,
            name: u.name.clone(),
            email: u.email.clone(),
            role: u.role.clone(),
            created_at: u.created_at,
            disabled: u.disabled,
        }
    }
}

/// A customer profile (never the password).
#[derive(Debug, Serialize, ToSchema)]
pub struct CustomerView {
    /// Id (also the user id).
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Phone (E.164).
    pub phone: String,
    /// `sms` or `email`.
    pub notify_by: String,
    /// Address.
    pub address: String,
    /// Where the address is.
    pub location: Location,
    /// Language of messages.
    pub locale: String,
    /// Registered.
    pub created_at: DateTime<Utc>,
}

impl CustomerView {
    /// From the two rows.
    pub fn new(u: &user::Model, c: &customer::Model) -> Self {
        Self {
            id: u.id,
            name: u.name.clone(),
            email: u.email.clone(),
            phone: c.phone.clone(),
            notify_by: c.notify_by.clone(),
            address: c.address.clone(),
            location: Location { lat: c.lat, lon: c.lon },
            locale: c.locale.clone(),
            created_at: c.created_at,
        }
    }
}

/// A support plan.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlanView {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Categories covered.
    pub categories: Vec<String>,
    /// Monthly price in minor units.
    pub monthly_price_cents: i64,
    /// ISO 4217 currency.
    pub currency: String,
    /// On offer; false once retired (existing subscriptions go on).
    pub active: bool,
}

impl From<&plan::Model> for PlanView {
    fn from(p: &plan::Model) -> Self {
        Self {
            id: p.id,
            name: p.name.clone(),
            categories: serde_json::from_value(p.categories.clone()).unwrap_or_default(),
            monthly_price_cents: p.monthly_price_cents,
            currency: p.currency.clone(),
            active: p.active,
        }
    }
}

/// A customer's subscription.
#[derive(Debug, Serialize, ToSchema)]
pub struct SubscriptionView {
    /// Id.
    pub id: Uuid,
    /// The plan.
    pub plan_id: Uuid,
    /// The product covered.
    pub product: String,
    /// `active`, `past_due` (a payment failed; retried after 1, 3 and 7 days),
    /// `suspended` (every retry failed: no new tickets until the card is updated) or
    /// `cancelled`.
    pub status: String,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// `monthly` (the default) or `annual`.
    pub billing: String,
    /// Cancelled by the customer: ends at the end of the paid period.
    pub cancel_at_period_end: bool,
}

impl From<&subscription::Model> for SubscriptionView {
    fn from(s: &subscription::Model) -> Self {
        Self {
            id: s.id,
            plan_id: s.plan_id,
            product: s.product.clone(),
            status: s.status.clone(),
            started_at: s.started_at,
            billing: s.billing_interval.clone(),
            cancel_at_period_end: s.cancel_at_period_end,
        }
    }
}

/// Where an expert works.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AreaBody {
    /// Centre.
    pub center: Location,
    /// Radius in kilometres.
    pub radius_km: f64,
}

/// An expert profile.
#[derive(Debug, Serialize, ToSchema)]
pub struct ExpertView {
    /// Id (also the user id).
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Phone.
    pub phone: String,
    /// Categories they can fix.
    pub skills: Vec<String>,
    /// Where they take jobs.
    pub service_area: AreaBody,
    /// Locale.
    pub locale: String,
    /// Last known position.
    pub location: Location,
    /// On duty.
    pub available: bool,
    /// `free`, `on_job` or `off`.
    pub availability: String,
    /// Tickets they hold now.
    pub active_tickets: u32,
    /// Most tickets they may hold at once.
    pub capacity: i32,
    /// Last profile change.
    pub updated_at: DateTime<Utc>,
}

impl ExpertView {
    /// From the rows and the current load.
    pub fn new(u: &user::Model, e: &expert::Model, active_tickets: u32) -> Self {
        Self {
            id: u.id,
            name: u.name.clone(),
            email: u.email.clone(),
            phone: e.phone.clone(),
            skills: serde_json::from_value(e.skills.clone()).unwrap_or_default(),
            service_area: AreaBody {
                center: Location { lat: e.area_lat, lon: e.area_lon },
                radius_km: e.area_radius_km,
            },
            locale: e.locale.clone(),
            location: Location { lat: e.lat, lon: e.lon },
            available: e.on_duty,
            availability: Availability::derive(e.on_duty, active_tickets).as_str().to_owned(),
            active_tickets,
            capacity: e.capacity,
            updated_at: e.updated_at,
        }
    }
}

/// Why an assignment was made.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AssignmentView {
    /// The chosen expert.
    pub expert_id: Uuid,
    /// The chosen expert's first name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expert_first_name: Option<String>,
    /// 0–100; higher is a better fit.
    pub score: f64,
    /// Why this expert.
    pub reasons: Vec<String>,
    /// The closest competitors and why each lost (staff only: other experts' ids and
    /// scores are not shown to customers or experts).
    #[schema(value_type = Option<Vec<Object>>)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runners_up: Option<serde_json::Value>,
    /// When.
    pub assigned_at: DateTime<Utc>,
}

impl AssignmentView {
    /// From a decision just made.
    pub fn from_decision(a: &sysops_core::assignment::Assignment, at: DateTime<Utc>) -> Self {
        Self {
            expert_id: a.expert_id.as_uuid(),
            expert_first_name: None,
            score: a.score,
            reasons: a.reasons.clone(),
            runners_up: Some(serde_json::to_value(&a.runners_up).unwrap_or_default()),
            assigned_at: at,
        }
    }
}

impl From<&assignment::Model> for AssignmentView {
    fn from(a: &assignment::Model) -> Self {
        Self {
            expert_id: a.expert_id,
            expert_first_name: None,
            score: a.score,
            reasons: serde_json::from_value(a.reasons.clone()).unwrap_or_default(),
            runners_up: Some(a.runners_up.clone()),
            assigned_at: a.assigned_at,
        }
    }
}

/// A problem ticket.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketView {
    /// Id.
    pub id: Uuid,
    /// `created`, `assigned`, `accepted`, `completed`, `closed`, `cancelled` or `unassignable`.
    pub status: String,
    /// The customer.
    pub customer_id: Uuid,
    /// The subscription it was raised under.
    pub subscription_id: Uuid,
    /// Category.
    pub category: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// Where the work is.
    pub address: String,
    /// Its location.
    pub location: Location,
    /// The expert holding (or who completed) the ticket.
    pub assigned_expert_id: Option<Uuid>,
    /// The current assignment and its explanation; null when none.
    pub assignment: Option<AssignmentView>,
    /// Why no expert fits, when `unassignable`.
    pub unassignable_reason: Option<String>,
    /// The expert's resolution, once completed.
    pub resolution: Option<String>,
    /// Who completed it.
    pub completed_by: Option<Uuid>,
    /// When the work was completed (the device's time when completed offline).
    pub completed_at: Option<DateTime<Utc>>,
    /// `survey_received` or `no_survey`, once closed.
    pub close_reason: Option<String>,
    /// The expert's notes (written in the app, merged across their devices).
    pub expert_notes: String,
    /// Dispatchers' notes, which the expert's device receives.
    pub dispatcher_notes: String,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

impl TicketView {
    /// From the ticket and its current assignment.
    pub fn new(t: &ticket::Model, a: Option<&assignment::Model>) -> Self {
        Self::with_assignment(t, a.map(AssignmentView::from))
    }

    /// As `role` may see it (see [`crate::tickets::disclose`]), naming the assigned
    /// expert by `first_name`.
    pub fn disclosed(mut self, role: crate::auth::Role, first_name: Option<String>) -> Self {
        if let Some(a) = &mut self.assignment {
            a.expert_first_name = first_name;
            if !crate::tickets::disclose::sees_runners_up(role) {
                a.runners_up = None;
            }
        }
        self
    }

    /// From the ticket and an assignment view.
    pub fn with_assignment(t: &ticket::Model, assignment: Option<AssignmentView>) -> Self {
        Self {
            id: t.id,
            status: t.status.clone(),
            customer_id: t.customer_id,
            subscription_id: t.subscription_id,
            category: t.category.clone(),
            title: t.title.clone(),
            description: t.description.clone(),
            address: t.address.clone(),
            location: Location { lat: t.lat, lon: t.lon },
            assigned_expert_id: t.assigned_expert_id,
            assignment,
            unassignable_reason: t.unassignable_reason.clone(),
            resolution: t.resolution.clone(),
            completed_by: t.completed_by,
            completed_at: t.completed_at,
            close_reason: t.close_reason.clone(),
            expert_notes: t.expert_notes.clone(),
            dispatcher_notes: t.dispatcher_notes.clone(),
            created_at: t.created_at,
            updated_at: t.updated_at,
        }
    }
}

/// One entry of a ticket's audit trail.
#[derive(Debug, Serialize, ToSchema)]
pub struct TicketEventView {
    /// Id (time-ordered).
    pub id: Uuid,
    /// What happened (`created`, `assigned`, `accepted`, …).
    pub kind: String,
    /// Who did it; null for the system.
    pub actor_id: Option<Uuid>,
    /// Their role, or `system`.
    pub actor_role: String,
    /// When.
    pub at: DateTime<Utc>,
    /// Details.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

impl From<&ticket_event::Model> for TicketEventView {
    fn from(e: &ticket_event::Model) -> Self {
        Self {
            id: e.id,
            kind: e.kind.clone(),
            actor_id: e.actor_id,
            actor_role: e.actor_role.clone(),
            at: e.at,
            detail: e.detail.clone(),
        }
    }
}

/// A knowledge-base article.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleView {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Body.
    pub body: String,
    /// Tags.
    pub tags: Vec<String>,
    /// `in_review`, `published`, `rejected` or `archived`.
    pub status: String,
    /// Author, when written by a person.
    pub author_id: Option<Uuid>,
    /// The ticket it came from, if any.
    pub source_ticket_id: Option<Uuid>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Why the article was not published, when `rejected`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejection_reason: Option<String>,
}

impl From<&kb_article::Model> for ArticleView {
    fn from(a: &kb_article::Model) -> Self {
        Self {
            id: a.id,
            title: a.title.clone(),
            body: a.body.clone(),
            tags: serde_json::from_value(a.tags.clone()).unwrap_or_default(),
            status: a.status.clone(),
            author_id: a.author_id,
            source_ticket_id: a.source_ticket_id,
            created_at: a.created_at,
            updated_at: a.updated_at,
            rejection_reason: None,
        }
    }
}

/// One knowledge-base search hit.
#[derive(Debug, Serialize, ToSchema)]
pub struct ArticleHit {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// The passage that matched.
    pub snippet: String,
    /// Tags.
    pub tags: Vec<String>,
}

/// One line of an invoice.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoiceLineView {
    /// What it is for, as the customer reads it.
    pub description: String,
    /// Minor units of the invoice's currency; negative for credits.
    pub amount_cents: i64,
}

/// An invoice: one period of one subscription.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct InvoiceView {
    /// Id.
    pub id: Uuid,
    /// The number printed on the statement (`SQ-202612-1A2B3C4D`).
    pub number: String,
    /// The subscription billed.
    pub subscription_id: Uuid,
    /// First day covered.
    pub period_start: chrono::NaiveDate,
    /// First day not covered.
    pub period_end: chrono::NaiveDate,
    /// Its lines.
    pub lines: Vec<InvoiceLineView>,
    /// Sum of the lines, before tax.
    pub subtotal_cents: i64,
    /// Tax added.
    pub tax_cents: i64,
    /// Tax rate in basis points (2000 = 20%).
    pub tax_rate_basis_points: i32,
    /// What is charged.
    pub total_cents: i64,
    /// Refunded so far.
    pub amount_refunded_cents: i64,
    /// ISO 4217 code.
    pub currency: String,
    /// `draft`, `open` (due, or being retried), `paid`, `void` (cancelled before it was
    /// paid) or `uncollectible` (every retry failed: the subscription is suspended until
    /// it is paid).
    #[schema(example = "paid")]
    pub status: String,
    /// Issued.
    pub issued_at: DateTime<Utc>,
    /// Paid; null until then.
    pub paid_at: Option<DateTime<Utc>>,
}
