//! End-to-end tests of the real `sysops-server` binary: started on port 0 against a
//! fresh database (SQLite, and a real PostgreSQL the harness starts itself), driven over
//! real HTTP.

mod accounts;
mod auth_limits;
mod authorization;
mod backup;
mod bad_input;
mod cli;
mod crash;
mod device;
mod edges;
mod helpers;
mod load;
mod logs;
mod outbox;
mod passwords;
mod privacy;
mod providers;
mod story;
mod surveys;
mod sync;
mod tokens;
mod workflow;
