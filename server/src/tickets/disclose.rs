//! What each reader may see of a ticket's assignment. Staff (agents, admins, managers)
//! see the whole explanation, runners-up included; the customer and the experts see
//! who is coming by first name, never other experts' ids and scores. The REST views and
//! the audit trail both ask here.

use crate::auth::Role;
use crate::db::entity::user;
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
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
pub async fn first_names(c: &impl ConnectionTrait, experts: Vec<Uuid>) -> Result<HashMap<Uuid, String>, DbErr> {
    if experts.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(user::Entity::find()
        .filter(user::Column::Id.is_in(experts))
        .all(c)
        .await?
        .into_iter()
        .map(|u| (u.id, first_name(&u.name)))
        .collect())
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
