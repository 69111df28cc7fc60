//! Reviewing knowledge-base articles: an article written on a device (or through the
//! API by an expert) waits `in_review` until an admin publishes or rejects it. The
//! outcome is recorded (`kb_reviews`), a published article goes into its KB shard for
//! every device, and the author's device is told either way (a notice in the expert's
//! root document, the way sync tells a device about refused changes).

use crate::auth::{Caller, Role};
use crate::db::Db;
use crate::db::entity::{kb_article, kb_review, user};
use crate::error::{ServiceError, ServiceResult};
use crate::state::AppState;
use chrono::Utc;
use sea_orm::{ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use sysops_core::kb::ArticleStatus;
use uuid::Uuid;

/// Who reviews articles.
pub const REVIEWERS: &[Role] = &[Role::Admin];

/// Longest rejection reason.
pub const MAX_REASON: usize = 2_000;

/// An article waiting for review, with its author's name.
#[derive(Debug, Clone)]
pub struct Waiting {
    /// The article.
    pub article: kb_article::Model,
    /// Who wrote it.
    pub author_name: Option<String>,
}

/// Where a page of the queue starts: after this article (its arrival time and id).
pub type After = (chrono::DateTime<Utc>, Uuid);

/// The cursor of the page after `a`.
pub fn cursor_of(a: &kb_article::Model) -> String {
    format!("{}.{}", a.created_at.timestamp_nanos_opt().unwrap_or_default(), a.id)
}

/// Reads a cursor made by [`cursor_of`].
pub fn parse_cursor(c: &str) -> ServiceResult<After> {
    let bad = || ServiceError::field("cursor", "not a cursor this server issued");
    let (t, id) = c.split_once('.').ok_or_else(bad)?;
    let t = chrono::DateTime::from_timestamp_nanos(t.parse().map_err(|_| bad())?);
    Ok((t, id.parse().map_err(|_| bad())?))
}

/// Articles in review, those waiting longest first (device-made ids are random, so the
/// order is by arrival), after `after`.
pub async fn waiting(db: &Db, limit: u64, after: Option<After>) -> ServiceResult<Vec<Waiting>> {
    use sea_orm::Condition;
    let mut q = kb_article::Entity::find().filter(kb_article::Column::Status.eq(ArticleStatus::InReview.as_str()));
    if let Some((t, id)) = after {
        q = q.filter(
            Condition::any()
                .add(kb_article::Column::CreatedAt.gt(t))
                .add(Condition::all().add(kb_article::Column::CreatedAt.eq(t)).add(kb_article::Column::Id.gt(id))),
        );
    }
    let rows = q
        .order_by_asc(kb_article::Column::CreatedAt)
        .order_by_asc(kb_article::Column::Id)
        .limit(limit)
        .all(&db.read)
        .await?;
    let authors = user::Entity::find()
        .filter(user::Column::Id.is_in(rows.iter().filter_map(|a| a.author_id)))
        .all(&db.read)
        .await?;
    Ok(rows
        .into_iter()
        .map(|a| {
            let author_name = authors.iter().find(|u| Some(u.id) == a.author_id).map(|u| u.name.clone());
            Waiting { article: a, author_name }
        })
        .collect())
}

/// How a review ends.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// Everyone who reads the KB sees it.
    Publish,
    /// Not published, and the author is told why.
    Reject {
        /// Why.
        reason: String,
    },
}

/// Publishes or rejects an article in review; 404 when there is no such article, 409
/// when it is not in review, 422 for an empty reason. The author's device is told.
pub async fn decide(state: &AppState, caller: Caller, id: Uuid, outcome: Outcome) -> ServiceResult<kb_article::Model> {
    caller.require(REVIEWERS, "reviewing knowledge-base articles")?;
    if let Outcome::Reject { reason } = &outcome {
        let n = reason.trim().chars().count();
        if n == 0 {
            return Err(ServiceError::field("reason", "say why the article is rejected; the author reads it"));
        }
        if n > MAX_REASON {
            return Err(ServiceError::field("reason", format!("must be at most {MAX_REASON} characters")));
        }
    }
    let txn = state.db.begin_write().await?;
    let a = kb_article::Entity::find_by_id(id).one(&txn).await?.ok_or_else(|| ServiceError::not_found("article"))?;
    if a.status != ArticleStatus::InReview.as_str() {
        return Err(ServiceError::Conflict(format!("the article is {}, not in review", a.status)));
    }
    let (status, reason) = match &outcome {
        Outcome::Publish => (ArticleStatus::Published, None),
        Outcome::Reject { reason } => (ArticleStatus::Rejected, Some(reason.trim().to_owned())),
    };
    let now = Utc::now();
    let mut am: kb_article::ActiveModel = a.into();
    am.status = Set(status.as_str().to_owned());
    am.updated_at = Set(now);
    let a = am.update(&txn).await?;
    kb_review::Entity::insert(kb_review::ActiveModel {
        article_id: Set(id),
        outcome: Set(status.as_str().to_owned()),
        reason: Set(reason.clone()),
        reviewer_id: Set(caller.user_id),
        reviewed_at: Set(now),
    })
    .exec_without_returning(&txn)
    .await?;
    txn.commit().await?;
    if status == ArticleStatus::Published {
        state.sync.handle.article(id);
    }
    if let Some(author) = a.author_id {
        let message = match reason {
            None => format!("kb_published: your article \"{}\" is published", a.title),
            Some(r) => format!("kb_rejected: your article \"{}\" was not published: {r}", a.title),
        };
        tell_author(state, author, id, message).await;
    }
    Ok(a)
}

/// Appends a notice to the author's root document (on the sync runtime), waiting for it
/// so the answer follows the notice. A failure is logged: the outcome is already stored.
async fn tell_author(state: &AppState, author: Uuid, article: Uuid, message: String) {
    let hub = state.sync.clone();
    let is_expert = user::Entity::find_by_id(author)
        .one(&state.db.read)
        .await
        .ok()
        .flatten()
        .is_some_and(|u| u.role == Role::Expert.as_str());
    if !is_expert {
        return; // only experts have devices
    }
    let done =
        state.sync.rt.spawn(async move { crate::sync::reconcile::notice(&hub, author, article, message).await }).await;
    match done {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(%article, error = %format!("{e:#}"), "the author's device was not told"),
        Err(e) => tracing::error!(%article, error = %e, "the author's device was not told"),
    }
}
