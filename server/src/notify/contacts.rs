//! Who gets told what. Contacts (experts with their devices, customers, managers) are
//! loaded once per transaction or intake batch with a few `IN (…)` queries; building
//! the messages from them is pure, so a batch of tickets costs no extra round trips.

use super::outbox::Outgoing;
use super::{Channel, Notifier};
use crate::db::entity::{customer, device, expert, outbox_message, user};
use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use uuid::Uuid;

/// How to reach an expert.
#[derive(Debug, Clone)]
pub struct ExpertContact {
    /// Name.
    pub name: String,
    /// Phone.
    pub phone: String,
    /// Language.
    pub locale: String,
    /// Push tokens of their devices.
    pub tokens: Vec<String>,
    /// Where they are (for ETAs).
    pub location: (f64, f64),
}

/// How to reach a customer.
#[derive(Debug, Clone)]
pub struct CustomerContact {
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Phone.
    pub phone: String,
    /// `sms` or `email`.
    pub notify_by: String,
    /// Language.
    pub locale: String,
}

/// Contacts for one transaction.
#[derive(Debug, Default)]
pub struct Contacts {
    /// Experts by id.
    pub experts: HashMap<Uuid, ExpertContact>,
    /// Customers by id.
    pub customers: HashMap<Uuid, CustomerContact>,
    /// Managers: id, name, e-mail.
    pub managers: Vec<(Uuid, String, String)>,
}

impl Contacts {
    /// Loads the given experts and customers, and the managers if `managers`.
    pub async fn load(
        c: &impl ConnectionTrait,
        experts: &[Uuid],
        customers: &[Uuid],
        managers: bool,
    ) -> Result<Self, DbErr> {
        let mut out = Contacts::default();
        // An intake batch names the same customer and experts many times.
        let dedup = |ids: &[Uuid]| -> Vec<Uuid> {
            let mut v = ids.to_vec();
            v.sort_unstable();
            v.dedup();
            v
        };
        let (experts, customers) = (dedup(experts), dedup(customers));
        let ids: Vec<Uuid> = dedup(&[experts.as_slice(), customers.as_slice()].concat());
        // Independent queries, run together (each on its own pooled connection).
        let users = async {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            user::Entity::find().filter(user::Column::Id.is_in(ids)).all(c).await
        };
        let devices = async {
            if experts.is_empty() {
                return Ok(Vec::new());
            }
            device::Entity::find().filter(device::Column::ExpertId.is_in(experts.clone())).all(c).await
        };
        let expert_rows = async {
            if experts.is_empty() {
                return Ok(Vec::new());
            }
            expert::Entity::find().filter(expert::Column::UserId.is_in(experts.clone())).all(c).await
        };
        let customer_rows = async {
            if customers.is_empty() {
                return Ok(Vec::new());
            }
            customer::Entity::find().filter(customer::Column::UserId.is_in(customers.clone())).all(c).await
        };
        let manager_rows = async {
            if !managers {
                return Ok(Vec::new());
            }
            user::Entity::find()
                .filter(user::Column::Role.eq("manager"))
                .filter(user::Column::Disabled.eq(false))
                .all(c)
                .await
        };
        let (users, devices, expert_rows, customer_rows, manager_rows) =
            futures::try_join!(users, devices, expert_rows, customer_rows, manager_rows)?;
        let users: HashMap<Uuid, user::Model> = users.into_iter().map(|u| (u.id, u)).collect();
        let mut tokens: HashMap<Uuid, Vec<String>> = HashMap::new();
        for d in devices {
            tokens.entry(d.expert_id).or_default().push(d.push_token);
        }
        for e in expert_rows {
            let name = users.get(&e.user_id).map_or_else(String::new, |u| u.name.clone());
            out.experts.insert(
                e.user_id,
                ExpertContact {
                    name,
                    phone: e.phone,
                    locale: e.locale,
                    tokens: tokens.remove(&e.user_id).unwrap_or_default(),
                    location: (e.lat, e.lon),
                },
            );
        }
        for cu in customer_rows {
            if let Some(u) = users.get(&cu.user_id) {
                out.customers.insert(
                    cu.user_id,
                    CustomerContact {
                        name: u.name.clone(),
                        email: u.email.clone(),
                        phone: cu.phone,
                        notify_by: cu.notify_by,
                        locale: cu.locale,
                    },
                );
            }
        }
        out.managers = manager_rows.into_iter().map(|u| (u.id, u.name, u.email)).collect();
        Ok(out)
    }
}

/// Messages being prepared in one transaction.
pub struct Mail<'a> {
    notifier: &'a Notifier,
    now: DateTime<Utc>,
    /// The rows to insert.
    pub rows: Vec<outbox_message::ActiveModel>,
}

/// A template context as the renderer takes it, with the recipient's name added under
/// `key` (`expert`, `customer`, `manager`).
fn with_person(ctx: &impl Serialize, key: &str, name: &str) -> Value {
    let mut v = serde_json::to_value(ctx).unwrap_or_else(|e| {
        tracing::error!(error = %e, "template context did not serialize");
        Value::Null
    });
    if !v.is_object() {
        v = Value::Object(serde_json::Map::new());
    }
    v[key] = serde_json::json!({"name": name});
    v
}

impl<'a> Mail<'a> {
    /// An empty set of messages.
    pub fn new(notifier: &'a Notifier, now: DateTime<Utc>) -> Self {
        Self { notifier, now, rows: Vec::new() }
    }

    #[allow(clippy::too_many_arguments)]
    fn push_row(
        &mut self,
        ch: Channel,
        recipient: &str,
        user: Uuid,
        template: &str,
        locale: &str,
        ctx: &Value,
        ticket: Option<Uuid>,
    ) {
        let r = self.notifier.render(template, ch, locale, ctx);
        let m = Outgoing {
            channel: ch,
            recipient: recipient.to_owned(),
            recipient_user_id: Some(user),
            template: template.to_owned(),
            subject: r.subject,
            body: r.body,
            ticket_id: ticket,
        };
        self.rows.push(m.row(self.now));
    }

    /// Tells an expert: a push to each device, and a text message if `sms`.
    pub fn expert(
        &mut self,
        contacts: &Contacts,
        id: Uuid,
        template: &str,
        ctx: &impl Serialize,
        ticket: Option<Uuid>,
        sms: bool,
    ) {
        let Some(e) = contacts.experts.get(&id) else {
            tracing::error!(expert = %id, template, "no contact details for the expert; message not queued");
            return;
        };
        let ctx = with_person(ctx, "expert", &e.name);
        for t in &e.tokens {
            self.push_row(Channel::Push, t, id, template, &e.locale, &ctx, ticket);
        }
        if sms {
            self.push_row(Channel::Sms, &e.phone, id, template, &e.locale, &ctx, ticket);
        }
    }

    /// Tells a customer by their preferred channel, or by e-mail when `email_only`.
    pub fn customer(
        &mut self,
        contacts: &Contacts,
        id: Uuid,
        template: &str,
        ctx: &impl Serialize,
        ticket: Option<Uuid>,
        email_only: bool,
    ) {
        let Some(cu) = contacts.customers.get(&id) else {
            tracing::error!(customer = %id, template, "no contact details for the customer; message not queued");
            return;
        };
        let ctx = with_person(ctx, "customer", &cu.name);
        if email_only || cu.notify_by == "email" {
            self.push_row(Channel::Email, &cu.email, id, template, &cu.locale, &ctx, ticket);
        } else {
            self.push_row(Channel::Sms, &cu.phone, id, template, &cu.locale, &ctx, ticket);
        }
    }

    /// E-mails a user about their account (a password-reset link), whatever their role.
    pub fn account_email(&mut self, user: Uuid, email: &str, template: &str, locale: &str, ctx: &Value) {
        self.push_row(Channel::Email, email, user, template, locale, ctx, None);
    }

    /// E-mails every manager an alert.
    pub fn managers(&mut self, contacts: &Contacts, ctx: &impl Serialize, ticket: Option<Uuid>) {
        for (id, name, email) in &contacts.managers {
            let ctx = with_person(ctx, "manager", name);
            self.push_row(Channel::Email, email, *id, "manager_alert", "en", &ctx, ticket);
        }
    }

    /// Inserts the rows in one statement.
    pub async fn write(self, c: &impl ConnectionTrait) -> Result<usize, DbErr> {
        let n = self.rows.len();
        if n > 0 {
            outbox_message::Entity::insert_many(self.rows).exec_without_returning(c).await?;
        }
        Ok(n)
    }
}
