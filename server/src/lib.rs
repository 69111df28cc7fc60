//! The Sysops Squad server: the REST API for customers, call-center agents, experts,
//! admins and managers; background jobs; and the operator CLI.
//!
//! `main.rs` is thin: [`cli::run`] parses the command line, [`app::Application`] builds
//! and runs the server. Tests start the real binary on port 0.

pub mod api;
pub mod app;
pub mod auth;
pub mod backup;
pub mod billing;
pub mod cli;
pub mod config;
pub mod customers;
pub mod db;
pub mod demo;
pub mod dispatch;
pub mod error;
pub mod gazetteer;
pub mod idempotency;
pub mod kb;
pub mod metrics;
pub mod notify;
pub mod plans;
pub mod privacy;
pub mod repo;
pub mod reports;
pub mod state;
pub mod sync;
pub mod telemetry;
pub mod tickets;
/// The optional HTTPS listener's TLS configuration.
pub mod tls;
pub mod views;
pub mod web;
