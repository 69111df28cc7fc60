//! Knowledge-base search on each database's own full-text engine: SQLite FTS5 (bm25,
//! snippet) or PostgreSQL tsvector (ts_rank, ts_headline). Both take the same sanitised
//! terms, so a query means the same thing on either.

pub mod review;

use crate::db::Db;
use sea_orm::{ConnectionTrait, DatabaseBackend, DbErr};
use uuid::Uuid;

/// One ranked hit.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Article id.
    pub id: Uuid,
    /// Title.
    pub title: String,
    /// The passage that matched.
    pub snippet: String,
    /// Tags.
    pub tags: Vec<String>,
}

/// Search terms: lower-cased alphanumeric words, at most 12.
pub fn terms(q: &str) -> Vec<String> {
    q.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()).map(str::to_lowercase).take(12).collect()
}

fn fts5_query(terms: &[String], any: bool) -> String {
    let n = terms.len();
    terms
        .iter()
        .enumerate()
        .map(|(i, t)| if i + 1 == n { format!("\"{t}\"*") } else { format!("\"{t}\"") })
        .collect::<Vec<_>>()
        .join(if any { " OR " } else { " " })
}

fn ts_query(terms: &[String], any: bool) -> String {
    let n = terms.len();
    terms
        .iter()
        .enumerate()
        .map(|(i, t)| if i + 1 == n { format!("{t}:*") } else { t.clone() })
        .collect::<Vec<_>>()
        .join(if any { " | " } else { " & " })
}

/// Published articles matching `q`, best first: all terms if any article has them all,
/// otherwise any term. The last term matches as a prefix (search as you type).
pub async fn search(db: &Db, q: &str, limit: u64, offset: u64) -> Result<Vec<Hit>, DbErr> {
    let terms = terms(q);
    if terms.is_empty() {
        return recent(db, limit, offset).await;
    }
    let hits = run(db, &terms, false, limit, offset).await?;
    if hits.is_empty() && offset == 0 && terms.len() > 1 {
        return run(db, &terms, true, limit, offset).await;
    }
    Ok(hits)
}

async fn run(db: &Db, terms: &[String], any: bool, limit: u64, offset: u64) -> Result<Vec<Hit>, DbErr> {
    let backend = db.backend();
    let (sql, query) = match backend {
        DatabaseBackend::Postgres => (
            "SELECT a.id AS id, a.title AS title, a.tags::text AS tags, \
               ts_headline('english', a.body, q, 'MaxWords=30, MinWords=12, StartSel=\"\", StopSel=\"\"') AS snippet \
             FROM kb_articles a, to_tsquery('english', $1) q \
             WHERE a.search @@ q AND a.status = 'published' \
             ORDER BY ts_rank(a.search, q) DESC, a.id LIMIT $2 OFFSET $3",
            ts_query(terms, any),
        ),
        _ => (
            "SELECT a.id AS id, a.title AS title, a.tags AS tags, snippet(kb_fts, 2, '', '', '…', 24) AS snippet \
             FROM kb_fts JOIN kb_articles a ON a.id = kb_fts.article_id \
             WHERE kb_fts MATCH $1 AND a.status = 'published' \
             ORDER BY bm25(kb_fts, 0.0, 8.0, 1.0, 4.0), a.id LIMIT $2 OFFSET $3",
            fts5_query(terms, any),
        ),
    };
    let rows = db
        .read
        .query_all_raw(crate::db::statement(
            backend,
            sql,
            vec![query.into(), (limit as i64).into(), (offset as i64).into()],
        ))
        .await?;
    rows.iter().map(hit).collect()
}

fn hit(r: &sea_orm::QueryResult) -> Result<Hit, DbErr> {
    let tags: String = r.try_get("", "tags")?;
    Ok(Hit {
        id: r.try_get("", "id")?,
        title: r.try_get("", "title")?,
        snippet: r.try_get("", "snippet")?,
        tags: serde_json::from_str(&tags).unwrap_or_default(),
    })
}

async fn recent(db: &Db, limit: u64, offset: u64) -> Result<Vec<Hit>, DbErr> {
    use crate::db::entity::kb_article;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
    let rows = kb_article::Entity::find()
        .filter(kb_article::Column::Status.eq("published"))
        .order_by_desc(kb_article::Column::Id)
        .limit(limit)
        .offset(offset)
        .all(&db.read)
        .await?;
    Ok(rows
        .into_iter()
        .map(|a| Hit {
            id: a.id,
            snippet: sysops_core::kb::snippet(&a.body, &[], 160),
            title: a.title,
            tags: serde_json::from_value(a.tags).unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_cannot_inject_operators() {
        let t = terms("hdmi\" OR NEAR(x) -no signal*");
        assert_eq!(t, vec!["hdmi", "or", "near", "x", "no", "signal"]);
        assert_eq!(fts5_query(&t[..2], false), "\"hdmi\" \"or\"*");
        assert_eq!(ts_query(&t[..2], true), "hdmi | or:*");
    }
}
