//! What each reader may see of a ticket's assignment. Staff (agents, admins, managers)
//! see the whole explanation, runners-up included; the customer and the experts see
//! who is coming by first name, never other experts' ids and scores. The REST views and
//! the audit trail both ask here.

use crate::auth::Role;
use crate::db::entity::user;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QuerySelect, Statement};
use std::collections::HashMap;
use uuid::Uuid;

/// Whether `role` may see the runners-up of an assignment (other experts and their
/// scores): staff only.
pub fn sees_runners_up(role: Role) -> bool {
    matches!(role, Role::Agent | Role::Admin | Role::Manager)
}

/// The first name in a full name ("Ana María López" → "Ana").
pub fn first_name(full: &str) -> String {
    full.split_whitespace().next().unwrap_or_default().to_owned()
}

/// The first names of `experts`, in one query.
pub async fn first_names(c: &impl ConnectionTrait, mut experts: Vec<Uuid>) -> Result<HashMap<Uuid, String>, DbErr> {
    experts.sort_unstable();
    experts.dedup();
    if experts.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, String)> = user::Entity::find()
        .select_only()
        .columns([user::Column::Id, user::Column::Name])
        .filter(user::Column::Id.is_in(experts))
        .into_tuple()
        .all(c)
        .await?;
    Ok(rows.into_iter().map(|(id, name)| (id, first_name(&name))).collect())
}

/// A ticket as a customer's list shows it.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// Category.
    pub category: String,
    /// Status, as stored.
    pub status: String,
    /// Raised.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The assigned expert's first name (the only thing a customer learns of them).
    pub expert: Option<String>,
}

/// A customer's latest `n` tickets, newest first, with the assigned expert's first
/// name, in one indexed query of the columns a list shows (a ticket row also carries
/// its description, notes and history: a list would copy them out for nothing).
pub async fn customer_tickets(c: &impl ConnectionTrait, customer: Uuid, n: u64) -> Result<Vec<Listed>, DbErr> {
    let sql = format!(
        "SELECT t.id AS id, t.title AS title, t.category AS category, t.status AS status, \
         t.created_at AS created_at, u.name AS expert FROM tickets t \
         LEFT JOIN users u ON u.id = t.assigned_expert_id \
         WHERE t.customer_id = $1 ORDER BY t.id DESC LIMIT {n}"
    );
    let rows =
        c.query_all_raw(Statement::from_sql_and_values(c.get_database_backend(), sql, [customer.into()])).await?;
    rows.iter()
        .map(|r| {
            Ok(Listed {
                id: r.try_get("", "id")?,
                title: r.try_get("", "title")?,
                category: r.try_get("", "category")?,
                status: r.try_get("", "status")?,
                created_at: r.try_get("", "created_at")?,
                expert: r.try_get::<Option<String>>("", "expert")?.map(|n| first_name(&n)),
            })
        })
        .collect()
}

/// An audit-trail entry's details as `role` may read them: without runners-up unless
/// staff.
pub fn event_detail(role: Role, detail: &serde_json::Value) -> serde_json::Value {
    let mut d = detail.clone();
    if !sees_runners_up(role)
        && let Some(o) = d.as_object_mut()
    {
        o.remove("runners_up");
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_first_name_is_the_first_word() {
        assert_eq!(first_name("Ana María López"), "Ana");
        assert_eq!(first_name("  expert0 "), "expert0");
        assert_eq!(first_name(""), "");
    }

    #[test]
    fn only_staff_read_the_runners_up_of_an_assignment_event() {
        let d = serde_json::json!({"expert_id": "x", "runners_up": [{"expert_id": "y", "score": 50.0}]});
        assert!(event_detail(Role::Customer, &d).get("runners_up").is_none());
        assert!(event_detail(Role::Expert, &d).get("runners_up").is_none());
        assert!(event_detail(Role::Manager, &d).get("runners_up").is_some());
    }
}
