//! Database migrations for the Sysops Squad server, valid on SQLite and PostgreSQL.
//!
//! Migrations are append-only: once one has landed it is never edited; a change is a
//! new migration. Where the two databases differ (full-text search), a migration asks
//! the connection which backend it is on.

pub use sea_orm_migration::prelude::*;

mod m20261126_000001_foundation;
mod m20261127_000002_workflow;
mod m20261127_000003_sync;
mod m20261203_000010_web;
mod m20261203_000020_auth;
mod m20261203_000030_billing;
mod m20261203_000031_billing_pending;
mod m20261203_000040_reports;
mod m20261204_000051_ticket_history_indexes;
mod m20261204_000052_invoice_plan;
mod m20261204_000060_report_rollup;

/// Every migration, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261126_000001_foundation::Migration),
            Box::new(m20261127_000002_workflow::Migration),
            Box::new(m20261127_000003_sync::Migration),
            Box::new(m20261203_000010_web::Migration),
            Box::new(m20261203_000020_auth::Migration),
            Box::new(m20261203_000030_billing::Migration),
            Box::new(m20261203_000040_reports::Migration),
            Box::new(m20261203_000031_billing_pending::Migration),
            Box::new(m20261204_000051_ticket_history_indexes::Migration),
            Box::new(m20261204_000052_invoice_plan::Migration),
            Box::new(m20261204_000060_report_rollup::Migration),
        ]
    }
}
