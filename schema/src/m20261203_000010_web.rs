//! What the web front end and its API need: customer search terms (an index, not a
//! scan, at millions of customers; filled here for the customers who already exist),
//! and knowledge-base review outcomes (who published or rejected an article, and why).

use sea_orm::{ConnectionTrait, Statement};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sysops_core::customer::search;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum CustomerTerms {
    Table,
    Term,
    CustomerId,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    UserId,
}

#[derive(DeriveIden)]
enum KbReviews {
    Table,
    ArticleId,
    Outcome,
    Reason,
    ReviewerId,
    ReviewedAt,
}

#[derive(DeriveIden)]
enum KbArticles {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(CustomerTerms::Table)
                .col(string(CustomerTerms::Term))
                .col(uuid(CustomerTerms::CustomerId))
                .primary_key(Index::create().col(CustomerTerms::Term).col(CustomerTerms::CustomerId))
                .foreign_key(
                    ForeignKey::create()
                        .from(CustomerTerms::Table, CustomerTerms::CustomerId)
                        .to(Customers::Table, Customers::UserId)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_customer_terms_customer")
                .table(CustomerTerms::Table)
                .col(CustomerTerms::CustomerId)
                .col(CustomerTerms::Term)
                .take(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(KbReviews::Table)
                .col(pk_uuid(KbReviews::ArticleId))
                .col(string(KbReviews::Outcome))
                .col(text_null(KbReviews::Reason))
                .col(uuid(KbReviews::ReviewerId))
                .col(timestamp_with_time_zone(KbReviews::ReviewedAt))
                .foreign_key(
                    ForeignKey::create()
                        .from(KbReviews::Table, KbReviews::ArticleId)
                        .to(KbArticles::Table, KbArticles::Id)
                        .on_delete(ForeignKeyAction::Cascade),
                )
                .take(),
        )
        .await?;
        backfill(m).await
    }
}

/// Files every existing customer under their search terms.
async fn backfill(m: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = m.get_connection();
    let backend = m.get_database_backend();
    let mut after = uuid::Uuid::nil();
    loop {
        let rows = db
            .query_all_raw(Statement::from_sql_and_values(
                backend,
                "SELECT c.user_id AS id, u.name AS name, u.email AS email, c.phone AS phone \
                 FROM customers c JOIN users u ON u.id = c.user_id WHERE c.user_id > $1 ORDER BY c.user_id LIMIT 1000",
                [after.into()],
            ))
            .await?;
        let Some(last) = rows.last() else { return Ok(()) };
        after = last.try_get("", "id")?;
        let mut insert = Query::insert();
        insert.into_table(CustomerTerms::Table).columns([CustomerTerms::Term, CustomerTerms::CustomerId]);
        for r in &rows {
            let id: uuid::Uuid = r.try_get("", "id")?;
            let (name, email, phone): (String, String, String) =
                (r.try_get("", "name")?, r.try_get("", "email")?, r.try_get("", "phone")?);
            for t in search::terms(&name, &email, &phone) {
                insert.values_panic([t.into(), id.into()]);
            }
        }
        insert.on_conflict(OnConflict::new().do_nothing().to_owned());
        db.execute(&insert).await?;
    }
}
