//! A generated ticket history (seeded, so a failure can be replayed): customers,
//! experts, tickets and the events of their lives (assignments, declines, timeouts,
//! acceptances, arrivals, completions, surveys, cancellations), knowledge-base articles.
//! Written straight into the tables, as the services would have written them, for the
//! reports' tests and benchmarks. Never called by the server itself.

use crate::db::entity::{
    customer, expert, kb_article, kb_review, plan, subscription, survey, ticket, ticket_event, user,
};
use chrono::{DateTime, Duration, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DbErr, EntityTrait, TransactionTrait};
use serde_json::json;
use sysops_core::category::Category;
use uuid::Uuid;

/// What to generate.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The random seed.
    pub seed: u64,
    /// Tickets.
    pub tickets: usize,
    /// Experts.
    pub experts: usize,
    /// Customers (one subscription each).
    pub customers: usize,
    /// Tickets are raised over this many days before `end`.
    pub days: i64,
    /// Nothing happens at or after this instant (later steps are left undone: the
    /// ticket is still open at that stage).
    pub end: DateTime<Utc>,
}

/// What was written.
#[derive(Debug, Default, Clone, Copy)]
pub struct Generated {
    /// Tickets.
    pub tickets: usize,
    /// Events.
    pub events: usize,
}

const PLACES: [(f64, f64); 4] = [(41.8781, -87.6298), (45.764, 4.8357), (-33.8688, 151.2093), (40.7128, -74.006)];
const DECLINE_REASONS: [&str; 4] = ["Too far", "not my speciality", "", "Busy with another job"];
const UNASSIGNABLE_REASONS: [&str; 3] =
    ["no expert has the skill", "no expert serves the area", "every expert is busy"];
const CANCEL_REASONS: [&str; 3] = ["fixed it myself", "", "duplicate"];

struct Person {
    id: Uuid,
    place: (f64, f64),
}

/// Writes a history as `spec` says; returns what it wrote.
pub async fn generate(db: &sea_orm::DatabaseConnection, spec: &Spec) -> Result<Generated, DbErr> {
    let mut rng = StdRng::seed_from_u64(spec.seed);
    let start = spec.end - Duration::days(spec.days);
    let tag = format!("{:x}", spec.seed);
    let txn = db.begin().await?;
    let plan_id = Uuid::now_v7();
    plan::Entity::insert(plan::ActiveModel {
        id: Set(plan_id),
        name: Set(format!("Generated plan {tag}")),
        categories: Set(json!(Category::ALL.iter().map(|c| c.slug()).collect::<Vec<_>>())),
        monthly_price_cents: Set(2999),
        currency: Set("USD".into()),
        active: Set(true),
        created_at: Set(start),
    })
    .exec_without_returning(&txn)
    .await?;
    let user = |id: Uuid, role: &str, name: String, email: String| user::ActiveModel {
        id: Set(id),
        email: Set(email),
        password_hash: Set("!generated".into()),
        role: Set(role.into()),
        name: Set(name),
        created_at: Set(start),
        disabled: Set(false),
    };
    let agent = Uuid::now_v7();
    user::Entity::insert(user(agent, "agent", format!("Agent {tag}"), format!("agent-{tag}@history.test")))
        .exec_without_returning(&txn)
        .await?;
    let mut experts = Vec::new();
    let mut rows = (Vec::new(), Vec::new());
    for i in 0..spec.experts {
        let id = Uuid::now_v7();
        let place = PLACES[i % PLACES.len()];
        rows.0.push(user(id, "expert", format!("Expert {i:04}"), format!("expert{i}-{tag}@history.test")));
        rows.1.push(expert::ActiveModel {
            user_id: Set(id),
            phone: Set(format!("+1555{:07}", i)),
            skills: Set(json!(Category::ALL.iter().map(|c| c.slug()).collect::<Vec<_>>())),
            area_lat: Set(place.0),
            area_lon: Set(place.1),
            area_radius_km: Set(60.0),
            locale: Set("en-US".into()),
            lat: Set(place.0),
            lon: Set(place.1),
            on_duty: Set(true),
            capacity: Set(3),
            last_assigned_at: Set(None),
            updated_at: Set(start),
        });
        experts.push(Person { id, place });
    }
    insert_chunks(&txn, rows.0, user::Entity::insert_many).await?;
    insert_chunks(&txn, rows.1, expert::Entity::insert_many).await?;
    let mut customers = Vec::new();
    let (mut us, mut cs, mut ss) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..spec.customers {
        let id = Uuid::now_v7();
        let base = PLACES[i % PLACES.len()];
        let place = (base.0 + rng.random_range(-0.6..0.6), base.1 + rng.random_range(-0.6..0.6));
        us.push(user(id, "customer", format!("Customer {i}"), format!("customer{i}-{tag}@history.test")));
        cs.push(customer::ActiveModel {
            user_id: Set(id),
            phone: Set(format!("+1666{:07}", i)),
            notify_by: Set("email".into()),
            address: Set(format!("{i} Generated Street")),
            lat: Set(place.0),
            lon: Set(place.1),
            created_at: Set(start),
            locale: Set("en-US".into()),
        });
        let sub = Uuid::now_v7();
        ss.push(subscription::ActiveModel {
            id: Set(sub),
            customer_id: Set(id),
            plan_id: Set(plan_id),
            product: Set("Home office".into()),
            status: Set("active".into()),
            started_at: Set(start),
            cancelled_at: Set(None),
            billing_interval: Set("monthly".to_owned()),
            cancel_at_period_end: Set(false),
        });
        customers.push((Person { id, place }, sub));
    }
    insert_chunks(&txn, us, user::Entity::insert_many).await?;
    insert_chunks(&txn, cs, customer::Entity::insert_many).await?;
    insert_chunks(&txn, ss, subscription::Entity::insert_many).await?;
    txn.commit().await?;

    let mut out = Generated::default();
    let span = (spec.end - start).num_seconds().max(1);
    for chunk_start in (0..spec.tickets).step_by(500) {
        let txn = db.begin().await?;
        let (mut tickets, mut events, mut surveys) = (Vec::new(), Vec::new(), Vec::new());
        for _ in chunk_start..(chunk_start + 500).min(spec.tickets) {
            let (c, sub) = &customers[rng.random_range(0..customers.len())];
            let category = Category::ALL[rng.random_range(0..Category::ALL.len())].slug();
            let created = start + Duration::seconds(rng.random_range(0..span));
            let (by, role) = if rng.random_bool(0.7) { (c.id, "customer") } else { (agent, "agent") };
            let life = Life::new(&mut rng, &experts, c.place, created, spec.end);
            let id = Uuid::now_v7();
            let mut ev = |kind: &str, actor: Option<Uuid>, role: &str, at: DateTime<Utc>, detail| {
                events.push(ticket_event::ActiveModel {
                    id: Set(Uuid::now_v7()),
                    ticket_id: Set(id),
                    kind: Set(kind.into()),
                    actor_id: Set(actor),
                    actor_role: Set(role.into()),
                    at: Set(at),
                    detail: Set(detail),
                });
            };
            ev("created", Some(by), role, created, json!({"category": category, "title": "Generated"}));
            for step in &life.steps {
                match step {
                    Step::Assigned(e, at) => ev("assigned", None, "system", *at, json!({"expert_id": e})),
                    Step::Unassignable(r, at) => {
                        ev("unassignable", None, "system", *at, json!({"reason": r, "detail": {"reason": r}}))
                    }
                    Step::Declined(e, r, at) => ev("declined", Some(*e), "expert", *at, json!({"reason": r})),
                    Step::Timeout(e, at) => ev("accept_timeout", None, "system", *at, json!({"expert_id": e})),
                    Step::Accepted(e, at) => ev("accepted", Some(*e), "expert", *at, json!({})),
                    Step::Arrived(e, at) => ev("arrived", Some(*e), "expert", *at, json!({"device_at": at})),
                    Step::Completed(e, at) => ev(
                        "completed",
                        Some(*e),
                        "expert",
                        *at,
                        json!({"resolution": "Fixed", "completed_at": at, "late": false}),
                    ),
                    Step::Cancelled(r, at) => ev("cancelled", Some(by), role, *at, json!({"reason": r})),
                    Step::Survey(rating, at) => {
                        ev("survey_received", None, "system", *at, json!({"rating": rating}));
                        ev("closed", None, "system", *at, json!({"reason": "survey_received"}));
                        surveys.push(survey::ActiveModel {
                            id: Set(Uuid::now_v7()),
                            ticket_id: Set(id),
                            rating: Set(*rating as i32),
                            comment: Set(String::new()),
                            submitted_at: Set(*at),
                        });
                    }
                }
            }
            let last = life.steps.last().map_or(created, Step::at);
            tickets.push(ticket::ActiveModel {
                id: Set(id),
                customer_id: Set(c.id),
                subscription_id: Set(*sub),
                category: Set(category.into()),
                title: Set("Generated".into()),
                description: Set("A generated ticket.".into()),
                address: Set("Generated Street".into()),
                lat: Set(c.place.0),
                lon: Set(c.place.1),
                status: Set(life.status.into()),
                assigned_expert_id: Set(life.expert),
                excluded_experts: Set(json!([])),
                completed_by: Set(life.completed.map(|x| x.0)),
                resolution: Set(life.completed.map(|_| "Fixed".into())),
                completed_at: Set(life.completed.map(|x| x.1)),
                close_reason: Set(None),
                unassignable_reason: Set(None),
                created_by: Set(by),
                created_at: Set(created),
                updated_at: Set(last),
                assigned_at_ms: Set(None),
                accepted_at_ms: Set(None),
                version: Set(life.steps.len() as i32),
                expert_notes: Set(String::new()),
                dispatcher_notes: Set(String::new()),
            });
        }
        out.tickets += tickets.len();
        out.events += events.len();
        insert_chunks(&txn, tickets, ticket::Entity::insert_many).await?;
        insert_chunks(&txn, events, ticket_event::Entity::insert_many).await?;
        insert_chunks(&txn, surveys, survey::Entity::insert_many).await?;
        txn.commit().await?;
    }

    let txn = db.begin().await?;
    let (mut articles, mut reviews) = (Vec::new(), Vec::new());
    for e in &experts {
        for _ in 0..rng.random_range(0..3) {
            let id = Uuid::now_v7();
            let created = start + Duration::seconds(rng.random_range(0..span));
            let published = rng.random_bool(0.6);
            articles.push(kb_article::ActiveModel {
                id: Set(id),
                title: Set("Generated article".into()),
                body: Set("Turn it off and on again.".into()),
                tags: Set(json!(["generated"])),
                status: Set(if published { "published" } else { "in_review" }.into()),
                author_id: Set(Some(e.id)),
                source_ticket_id: Set(None),
                created_at: Set(created),
                updated_at: Set(created),
            });
            let reviewed = created + Duration::hours(rng.random_range(1..72));
            if published && reviewed < spec.end {
                reviews.push(kb_review::ActiveModel {
                    article_id: Set(id),
                    outcome: Set("published".into()),
                    reason: Set(None),
                    reviewer_id: Set(agent),
                    reviewed_at: Set(reviewed),
                });
            }
        }
    }
    insert_chunks(&txn, articles, kb_article::Entity::insert_many).await?;
    insert_chunks(&txn, reviews, kb_review::Entity::insert_many).await?;
    txn.commit().await?;
    Ok(out)
}

async fn insert_chunks<A, I>(c: &impl ConnectionTrait, rows: Vec<A>, insert: impl Fn(Vec<A>) -> I) -> Result<(), DbErr>
where
    A: Clone,
    I: InsertMany,
{
    for chunk in rows.chunks(300) {
        insert(chunk.to_vec()).run(c).await?;
    }
    Ok(())
}

/// An insert of many rows, whatever the entity.
pub trait InsertMany {
    /// Runs it.
    fn run(self, c: &impl ConnectionTrait) -> impl std::future::Future<Output = Result<(), DbErr>>;
}

impl<A: sea_orm::ActiveModelTrait + Send> InsertMany for sea_orm::InsertMany<A> {
    async fn run(self, c: &impl ConnectionTrait) -> Result<(), DbErr> {
        self.exec_without_returning(c).await.map(|_| ())
    }
}

enum Step {
    Assigned(Uuid, DateTime<Utc>),
    Unassignable(&'static str, DateTime<Utc>),
    Declined(Uuid, &'static str, DateTime<Utc>),
    Timeout(Uuid, DateTime<Utc>),
    Accepted(Uuid, DateTime<Utc>),
    Arrived(Uuid, DateTime<Utc>),
    Completed(Uuid, DateTime<Utc>),
    Cancelled(&'static str, DateTime<Utc>),
    Survey(i64, DateTime<Utc>),
}

impl Step {
    fn at(&self) -> DateTime<Utc> {
        match self {
            Step::Assigned(_, t)
            | Step::Unassignable(_, t)
            | Step::Declined(_, _, t)
            | Step::Timeout(_, t)
            | Step::Accepted(_, t)
            | Step::Arrived(_, t)
            | Step::Completed(_, t)
            | Step::Cancelled(_, t)
            | Step::Survey(_, t) => *t,
        }
    }
}

/// One ticket's life, cut at `end`.
struct Life {
    steps: Vec<Step>,
    status: &'static str,
    expert: Option<Uuid>,
    completed: Option<(Uuid, DateTime<Utc>)>,
}

impl Life {
    fn new(
        rng: &mut StdRng,
        experts: &[Person],
        place: (f64, f64),
        created: DateTime<Utc>,
        end: DateTime<Utc>,
    ) -> Life {
        let near: Vec<&Person> =
            experts.iter().filter(|e| (e.place.0 - place.0).abs() < 2.0 && (e.place.1 - place.1).abs() < 2.0).collect();
        let mut life = Life { steps: Vec::new(), status: "created", expert: None, completed: None };
        let mut t = created;
        let later = |rng: &mut StdRng, t: &mut DateTime<Utc>, lo: i64, hi: i64| {
            *t += Duration::seconds(rng.random_range(lo..hi));
            *t < end
        };
        let push = |life: &mut Life, s: Step| life.steps.push(s);
        if near.is_empty() || rng.random_bool(0.08) {
            if later(rng, &mut t, 1, 30) {
                push(&mut life, Step::Unassignable(UNASSIGNABLE_REASONS[rng.random_range(0..3)], t));
                life.status = "unassignable";
                if rng.random_bool(0.5) && later(rng, &mut t, 600, 86_400) {
                    push(&mut life, Step::Cancelled(CANCEL_REASONS[rng.random_range(0..3)], t));
                    life.status = "cancelled";
                }
            }
            return life;
        }
        let mut expert = near[rng.random_range(0..near.len())].id;
        if !later(rng, &mut t, 5, 600) {
            return life;
        }
        push(&mut life, Step::Assigned(expert, t));
        (life.status, life.expert) = ("assigned", Some(expert));
        for _ in 0..3 {
            let roll: f64 = rng.random();
            if roll < 0.15 {
                if !later(rng, &mut t, 30, 1800) {
                    return life;
                }
                push(&mut life, Step::Declined(expert, DECLINE_REASONS[rng.random_range(0..4)], t));
            } else if roll < 0.2 {
                if !later(rng, &mut t, 900, 901) {
                    return life;
                }
                push(&mut life, Step::Timeout(expert, t));
            } else {
                break;
            }
            expert = near[rng.random_range(0..near.len())].id;
            push(&mut life, Step::Assigned(expert, t));
            life.expert = Some(expert);
        }
        if !later(rng, &mut t, 10, 3600) {
            return life;
        }
        push(&mut life, Step::Accepted(expert, t));
        life.status = "accepted";
        if rng.random_bool(0.05) {
            if later(rng, &mut t, 60, 7200) {
                push(&mut life, Step::Cancelled(CANCEL_REASONS[rng.random_range(0..3)], t));
                life.status = "cancelled";
            }
            return life;
        }
        if !later(rng, &mut t, 600, 7200) {
            return life;
        }
        push(&mut life, Step::Arrived(expert, t));
        if !later(rng, &mut t, 900, 14_400) {
            return life;
        }
        push(&mut life, Step::Completed(expert, t));
        (life.status, life.completed) = ("completed", Some((expert, t)));
        if rng.random_bool(0.6) && later(rng, &mut t, 3600, 3 * 86_400) {
            let rating = [1, 2, 3, 3, 4, 4, 4, 5, 5, 5][rng.random_range(0..10)];
            push(&mut life, Step::Survey(rating, t));
            life.status = "closed";
        }
        life
    }
}
