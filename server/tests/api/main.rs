//! End-to-end tests of the real `sysops-server` binary: started on port 0 against a
//! fresh database (SQLite, and a real PostgreSQL the harness starts itself), driven over
//! real HTTP.

mod accounts;
mod auth_limits;
mod authorization;
mod backup;
mod bad_input;
mod billing;
mod cli;
mod crash;
mod customers;
mod deactivation;
mod device;
mod dispatching;
mod edges;
mod fleet;
mod fleet_storm;
mod helpers;
mod invoices;
mod kb_review;
mod load;
mod logs;
mod outbox;
mod passwords;
mod plans;
mod privacy;
mod providers;
mod reports;
mod story;
mod surveys;
mod sync;
mod sync_memory;
mod tokens;
mod web;
mod web_tickets;
mod workflow;
