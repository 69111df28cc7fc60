//! The knowledge base: ranked search, reading, and writing articles.

use super::create::{created, scope_of};
use super::extract::ApiJson;
use super::idempotency::IdempotencyKey;
use super::problem::{ApiError, ApiResult};
use super::views::{ArticleHit, ArticleView, Page};
use crate::auth::{Caller, Role};
use crate::db::entity::kb_article;
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
    pub limit: Option<u64>,
    /// From a previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// Searches published articles, best match first.
#[utoipa::path(tag = "kb", params(SearchQuery), responses((status = 200, body = Page<ArticleHit>)),
    security(("bearer" = [])))]
#[get("/api/v1/kb")]
pub async fn search(state: web::Data<AppState>, caller: Caller, q: Query<SearchQuery>) -> ApiResult<HttpResponse> {
    caller.require(READERS, "searching the knowledge base")?;
    let limit = q.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 100"));
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
    Ok(HttpResponse::Ok().json(ArticleView::from(&a)))
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
