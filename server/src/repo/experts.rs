//! Experts: the stored profile as the dispatcher's candidate.

use crate::db::entity::expert;
use anyhow::Context;
use sysops_core::assignment::Candidate;
use sysops_core::category::{Category, CategorySet};
use sysops_core::geo::{GeoPoint, ServiceArea};
use sysops_core::ids::ExpertId;

/// The skills column as a set (unknown categories are skipped: a category retired from
/// the catalogue must not make an expert unusable).
pub fn skills(row: &expert::Model) -> anyhow::Result<CategorySet> {
    let skills: Vec<String> = serde_json::from_value(row.skills.clone()).context("skills column")?;
    Ok(skills.iter().filter_map(|s| s.parse::<Category>().ok()).collect())
}

/// Builds a candidate from a stored expert row and their current load.
pub fn candidate(row: &expert::Model, active_tickets: u32) -> anyhow::Result<Candidate> {
    let center = GeoPoint::new(row.area_lat, row.area_lon).map_err(|e| anyhow::anyhow!("area centre: {e}"))?;
    Ok(Candidate {
        id: ExpertId::from_uuid(row.user_id),
        skills: skills(row)?,
        area: ServiceArea::new(center, row.area_radius_km).map_err(|e| anyhow::anyhow!("area: {e}"))?,
        location: GeoPoint::new(row.lat, row.lon).map_err(|e| anyhow::anyhow!("location: {e}"))?,
        on_duty: row.on_duty,
        active_tickets,
        capacity: u32::try_from(row.capacity).unwrap_or(0),
        last_assigned_at: row.last_assigned_at,
    })
}
