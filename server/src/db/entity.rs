//! One module per table.

pub mod alert;
pub mod assignment;
pub mod auth_session;
pub mod customer;
pub mod customer_term;
pub mod device;
pub mod expert;
pub mod idempotency_key;
pub mod kb_article;
pub mod kb_review;
pub mod outbox_message;
pub mod password_reset;
pub mod plan;
pub mod server_setting;
pub mod sign_in_failure;
pub mod subscription;
pub mod survey;
pub mod survey_invite;
pub mod sync_conflict;
pub mod sync_document;
pub mod sync_projection;
pub mod ticket;
pub mod ticket_event;
pub mod user;
