//! The knowledge base: ranked search, reading, and writing articles.

use super::create::{created, scope_of};
use super::extract::ApiJson;
use super::idempotency::IdempotencyKey;
use super::problem::{ApiError, ApiResult};
use super::views::{ArticleHit, ArticleView, Page};
use crate::auth::{Caller, Role};
use crate::db::entity::{kb_article, kb_review};
use crate::kb::review::{self, Outcome};
use crate::state::AppState;
use actix_web::web::Query;
use actix_web::{HttpRequest, HttpResponse, get, post, web};
use chrono::Utc;
use sea_orm::{ActiveValue::Set, EntityTrait};
use serde::Deserialize;
use sysops_core::ValidationErrors;
use sysops_core::kb::{ArticleStatus, parse_tags};
use sysops_core::text::{ArticleBody, Title};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

const READERS: &[Role] = &[Role::Expert, Role::Agent, Role::Admin];

/// Search parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SearchQuery {
    /// Words to look for; empty lists the newest articles.
    pub q: Option<String>,
    /// Page size, 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u64>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
    /// `in_review` (admins): instead of searching, list the articles waiting for review,
    /// oldest first, as full articles with their `status`.
    pub status: Option<String>,
}

/// Searches published articles, best match first; with `status=in_review` (admins),
/// lists the articles waiting for review instead (full articles, `Page<ArticleView>`).
#[utoipa::path(tag = "kb", params(SearchQuery), responses((status = 200, body = Page<ArticleHit>)),
    security(("bearer" = [])))]
#[get("/api/v1/kb")]
pub async fn search(state: web::Data<AppState>, caller: Caller, q: Query<SearchQuery>) -> ApiResult<HttpResponse> {
    caller.require(READERS, "searching the knowledge base")?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 100"));
    }
    match q.status.as_deref() {
        None | Some("published") => {}
        Some("in_review") => return in_review(&state, caller, limit, q.cursor.as_deref()).await,
        Some(_) => return Err(ApiError::field("status", "must be in_review or published")),
    }
    if q.q.as_deref().is_some_and(|s| s.len() > 500) {
        return Err(ApiError::field("q", "must be at most 500 characters"));
    }
    let offset = match q.cursor.as_deref() {
        None | Some("") => 0,
        Some(c) => c.parse::<u64>().map_err(|_| ApiError::field("cursor", "not a cursor this server issued"))?,
    };
    let hits = crate::kb::search(&state.db, q.q.as_deref().unwrap_or(""), limit + 1, offset).await?;
    let more = hits.len() as u64 > limit;
    let items: Vec<ArticleHit> = hits
        .into_iter()
        .take(limit as usize)
        .map(|h| ArticleHit { id: h.id, title: h.title, snippet: h.snippet, tags: h.tags })
        .collect();
    let next_cursor = more.then(|| (offset + limit).to_string());
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}

async fn in_review(state: &AppState, caller: Caller, limit: u64, cursor: Option<&str>) -> ApiResult<HttpResponse> {
    caller.require(review::REVIEWERS, "listing articles in review")?;
    let after = match cursor {
        None | Some("") => None,
        Some(c) => Some(review::parse_cursor(c)?),
    };
    let rows = review::waiting(&state.db, limit + 1, after).await?;
    let more = rows.len() as u64 > limit;
    let page = &rows[..rows.len().min(limit as usize)];
    let items: Vec<ArticleView> = page.iter().map(|w| ArticleView::from(&w.article)).collect();
    let next_cursor = if more { page.last().map(|w| review::cursor_of(&w.article)) } else { None };
    Ok(HttpResponse::Ok().json(Page { items, next_cursor }))
}

/// A rejection.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Rejection {
    /// Why the article is not published; the author's device shows it.
    pub reason: String,
}

/// Publishes an article in review (admins); devices receive it and its author is told.
#[utoipa::path(tag = "kb", responses((status = 200, body = ArticleView), (status = 404, body = super::problem::Problem),
    (status = 409, body = super::problem::Problem)), security(("bearer" = [])))]
#[post("/api/v1/kb/{id}/publish")]
pub async fn publish(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    let a = review::decide(&state, caller, id.into_inner(), Outcome::Publish).await?;
    Ok(HttpResponse::Ok().json(ArticleView::from(&a)))
}

/// Rejects an article in review with a reason (admins); its author's device is told why.
#[utoipa::path(tag = "kb", request_body = Rejection,
    responses((status = 200, body = ArticleView), (status = 404, body = super::problem::Problem),
    (status = 409, body = super::problem::Problem), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/kb/{id}/reject")]
pub async fn reject(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<Uuid>,
    body: ApiJson<Rejection>,
) -> ApiResult<HttpResponse> {
    let reason = body.value.reason;
    let a = review::decide(&state, caller, id.into_inner(), Outcome::Reject { reason: reason.clone() }).await?;
    Ok(HttpResponse::Ok()
        .json(ArticleView { rejection_reason: Some(reason.trim().to_owned()), ..ArticleView::from(&a) }))
}

/// One article: published ones for every reader, drafts for their author and admins.
#[utoipa::path(tag = "kb", responses((status = 200, body = ArticleView), (status = 404, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[get("/api/v1/kb/{id}")]
pub async fn get_one(state: web::Data<AppState>, caller: Caller, id: web::Path<Uuid>) -> ApiResult<HttpResponse> {
    caller.require(READERS, "reading the knowledge base")?;
    let a = kb_article::Entity::find_by_id(id.into_inner())
        .one(&state.db.read)
        .await?
        .filter(|a| a.status == "published" || caller.role == Role::Admin || a.author_id == Some(caller.user_id))
        .ok_or_else(|| ApiError::not_found("article"))?;
    let rejection_reason = match a.status.as_str() {
        "rejected" => kb_review::Entity::find_by_id(a.id).one(&state.db.read).await?.and_then(|r| r.reason),
        _ => None,
    };
    Ok(HttpResponse::Ok().json(ArticleView { rejection_reason, ..ArticleView::from(&a) }))
}

/// A new article.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewArticle {
    /// Title, 3 to 200 characters.
    pub title: String,
    /// Body: the problem and how it was fixed.
    pub body: String,
    /// Tags (at most 20).
    #[serde(default)]
    pub tags: Vec<String>,
    /// The ticket this article comes from, if any.
    pub source_ticket_id: Option<Uuid>,
}

/// Writes an article: an expert's goes to review, an admin's is published at once.
#[utoipa::path(tag = "kb", request_body = NewArticle,
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes retries safe")),
    responses((status = 201, body = ArticleView), (status = 422, body = super::problem::Problem)),
    security(("bearer" = [])))]
#[post("/api/v1/kb")]
pub async fn create(
    state: web::Data<AppState>,
    req: HttpRequest,
    caller: Caller,
    key: IdempotencyKey,
    body: ApiJson<NewArticle>,
) -> ApiResult<HttpResponse> {
    caller.require(&[Role::Expert, Role::Admin], "writing knowledge-base articles")?;
    let b = &body.value;
    let mut v = ValidationErrors::new();
    let title = v.check("title", Title::parse(&b.title));
    let text = v.check("body", ArticleBody::parse(&b.body));
    let tags = v.check("tags", parse_tags(&b.tags));
    v.finish()?;
    let (Some(title), Some(text), Some(tags)) = (title, text, tags) else { unreachable!("validated above") };
    let status = if caller.role == Role::Admin { ArticleStatus::Published } else { ArticleStatus::InReview };
    let source = b.source_ticket_id;
    let article_id = Uuid::now_v7();
    created(&state, &req, key, &scope_of(Some(&caller)), &body.raw, move |txn| {
        Box::pin(async move {
            let now = Utc::now();
            let a = kb_article::ActiveModel {
                id: Set(article_id),
                title: Set(title.into_inner()),
                body: Set(text.into_inner()),
                tags: Set(serde_json::json!(tags.iter().map(|t| t.as_str()).collect::<Vec<_>>())),
                status: Set(status.as_str().to_owned()),
                author_id: Set(Some(caller.user_id)),
                source_ticket_id: Set(source),
                created_at: Set(now),
                updated_at: Set(now),
            };
            Ok(ArticleView::from(&kb_article::Entity::insert(a).exec_with_returning(txn).await?))
        })
    })
    .await
    .inspect(|_| state.sync.handle.article(article_id))
}
