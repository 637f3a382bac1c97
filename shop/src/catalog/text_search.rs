//! A page of a text search whose work is bounded by the page asked for, not by the catalog.
//!
//! At 100,000 courses two common words match ~25,000 courses, two rarer ones a few dozen, and
//! PostgreSQL's estimate of which is which is often wrong by 30× (it takes words as independent;
//! "machine" and "tutorial" are not). So the shop decides from a fact instead: the matches,
//! collected from the GIN index up to one more than `LISTED_RESULTS` (the count it shows anyway).
//! - **Up to 1,000 matches**: those are sorted and the page cut from them, in the same query: a few
//!   ms whatever the sort. (Walking a sort index instead would visit most of the catalog looking
//!   for them: 500 ms.)
//! - **More**: the matches are at least 1 % of the catalog, so walking the sort's own index and
//!   keeping the matches finds a page after a few hundred rows, where sorting would first have to
//!   collect them all (200+ ms for 25,000).
//!
//! "Best match" is the courses whose title holds every search word, then the rest, newest first in
//! each: unlike `ts_rank`, an order an index walk can produce page by page (the title list from the
//! title's own GIN index, the rest from the newest-first index).

use sqlx::PgConnection;

use super::query::{LISTED_RESULTS, PAGE_SIZE, Sort};
use super::service::MatchCount;
use super::{CourseCard, CourseSlug, Duration, Level};
use crate::ids::CourseId;
use crate::money::Money;

/// A search with text: the text as typed and the filters, resolved to what the database holds.
pub(super) struct TextSearch<'a> {
    pub text: &'a str,
    pub category_id: Option<i64>,
    pub level: Option<&'a str>,
}

/// Up to `LISTED_RESULTS + 1` matches collected from the GIN index, sorted, one page of them
/// joined to its cards, each row carrying how many were collected: the count and the page in one
/// pass over the index.
macro_rules! sorted_matches {
    ($connection:expr, $search:expr, $offset:expr, $order_by:literal) => {
        sqlx::query!(
            r#"WITH matches AS MATERIALIZED (
                   SELECT c.id, c.created_at, c.price_cents,
                          c.title_search @@ websearch_to_tsquery('english', $1) AS in_title
                   FROM courses c
                   WHERE c.published
                     AND c.search @@ websearch_to_tsquery('english', $1)
                     AND ($2::bigint IS NULL OR c.category_id = $2)
                     AND ($3::text IS NULL OR c.level = $3)
                   LIMIT $6
               ), page AS (
                   SELECT m.id, row_number() OVER (ORDER BY "#
                + $order_by
                + r#") AS position
                   FROM matches m
                   ORDER BY "#
                + $order_by
                + r#"
                   LIMIT $4 OFFSET $5
               )
               SELECT c.id AS "id: CourseId", c.slug AS "slug: CourseSlug", c.title, c.summary,
                      c.level AS "level: Level", c.duration_minutes AS "duration: Duration",
                      c.price_cents AS "price: Money", cat.name AS category_name,
                      u.display_name AS instructor_name,
                      (SELECT count(*) FROM matches) AS "collected!"
               FROM page p
               JOIN courses c ON c.id = p.id
               JOIN categories cat ON cat.id = c.category_id
               JOIN users u ON u.id = c.instructor_id
               ORDER BY p.position"#,
            $search.text,
            $search.category_id,
            $search.level,
            PAGE_SIZE,
            $offset,
            LISTED_RESULTS + 1,
        )
        .fetch_all($connection)
        .await
        .map(|rows| {
            let collected = rows.first().map(|row| row.collected);
            let cards = rows
                .into_iter()
                .map(|row| CourseCard {
                    id: row.id,
                    slug: row.slug,
                    title: row.title,
                    summary: row.summary,
                    level: row.level,
                    duration: row.duration,
                    price: row.price,
                    category_name: row.category_name,
                    instructor_name: row.instructor_name,
                })
                .collect::<Vec<_>>();
            (cards, collected)
        })
    };
}

/// The first `offset + PAGE_SIZE` matches along a sort index, one page of them.
macro_rules! walked_matches {
    ($connection:expr, $search:expr, $offset:expr, $order_by:literal) => {
        course_cards!(
            $connection,
            [
                " WHERE c.published
                    AND c.search @@ websearch_to_tsquery('english', $1)
                    AND ($2::bigint IS NULL OR c.category_id = $2)
                    AND ($3::text IS NULL OR c.level = $3)"
                " ORDER BY " $order_by
                " LIMIT $4 OFFSET $5"
            ],
            $search.text,
            $search.category_id,
            $search.level,
            PAGE_SIZE,
            $offset,
        )
    };
}

/// One page of `search` in `sort` order and how many courses match. `None` for the count when the
/// page is empty: the caller counts (a page past the end, or no match at all).
pub(super) async fn page(
    connection: &mut PgConnection,
    search: &TextSearch<'_>,
    sort: Sort,
    offset: i64,
) -> Result<(Vec<CourseCard>, Option<MatchCount>), sqlx::Error> {
    let (courses, collected) = match sort {
        Sort::Relevance => sorted_matches!(
            &mut *connection,
            search,
            offset,
            "m.in_title DESC, m.created_at DESC, m.id DESC"
        )?,
        Sort::Newest => sorted_matches!(
            &mut *connection,
            search,
            offset,
            "m.created_at DESC, m.id DESC"
        )?,
        Sort::PriceLowToHigh => {
            sorted_matches!(&mut *connection, search, offset, "m.price_cents, m.id")?
        }
        Sort::PriceHighToLow => sorted_matches!(
            &mut *connection,
            search,
            offset,
            "m.price_cents DESC, m.id DESC"
        )?,
    };
    match collected {
        None => Ok((courses, None)),
        Some(count) if count <= LISTED_RESULTS => Ok((courses, Some(MatchCount::Exactly(count)))),
        // more than are listed: the page from walking the sort's index, not from a partial sort
        Some(_) => {
            let courses = match sort {
                Sort::Relevance => best_matches_walked(&mut *connection, search, offset).await?,
                Sort::Newest => {
                    walked_matches!(
                        &mut *connection,
                        search,
                        offset,
                        "c.created_at DESC, c.id DESC"
                    )
                    .await?
                }
                Sort::PriceLowToHigh => {
                    walked_matches!(&mut *connection, search, offset, "c.price_cents, c.id").await?
                }
                Sort::PriceHighToLow => {
                    walked_matches!(
                        &mut *connection,
                        search,
                        offset,
                        "c.price_cents DESC, c.id DESC"
                    )
                    .await?
                }
            };
            Ok((courses, Some(MatchCount::MoreThanListed)))
        }
    }
}

/// Relevance order for a broad search: the title matches, collected from the title's index (titles
/// are short, so even a broad search has few: walking the newest-first index for them would visit
/// every course when there are none), and the others, walked newest first and cut at
/// `offset + PAGE_SIZE`; then merged. The title words are a subset of the searched words,
/// but the title test alone is not enough: `rust -beginner` matches a title "Rust" whose description
/// says "beginner", so both lists also need the whole-course match.
async fn best_matches_walked(
    connection: &mut PgConnection,
    search: &TextSearch<'_>,
    offset: i64,
) -> Result<Vec<CourseCard>, sqlx::Error> {
    sqlx::query_as!(
        CourseCard,
        r#"WITH in_title AS MATERIALIZED (
               SELECT c.id, c.created_at
               FROM courses c
               WHERE c.published
                 AND c.title_search @@ websearch_to_tsquery('english', $1)
                 AND c.search @@ websearch_to_tsquery('english', $1)
                 AND ($2::bigint IS NULL OR c.category_id = $2)
                 AND ($3::text IS NULL OR c.level = $3)
           ), ranked AS (
               (SELECT t.id, t.created_at, 0 AS tier
                FROM in_title t
                ORDER BY t.created_at DESC, t.id DESC
                LIMIT $4::bigint + $5::bigint)
               UNION ALL
               (SELECT c.id, c.created_at, 1 AS tier
                FROM courses c
                WHERE c.published
                  AND NOT c.title_search @@ websearch_to_tsquery('english', $1)
                  AND c.search @@ websearch_to_tsquery('english', $1)
                  AND ($2::bigint IS NULL OR c.category_id = $2)
                  AND ($3::text IS NULL OR c.level = $3)
                ORDER BY c.created_at DESC, c.id DESC
                LIMIT $4::bigint + $5::bigint)
               ORDER BY tier, created_at DESC, id DESC
               LIMIT $4 OFFSET $5
           )
           SELECT c.id AS "id: _", c.slug AS "slug: _", c.title, c.summary, c.level AS "level: _",
                  c.duration_minutes AS "duration: _", c.price_cents AS "price: _",
                  cat.name AS category_name, u.display_name AS instructor_name
           FROM ranked r
           JOIN courses c ON c.id = r.id
           JOIN categories cat ON cat.id = c.category_id
           JOIN users u ON u.id = c.instructor_id
           ORDER BY r.tier, r.created_at DESC, r.id DESC"#,
        search.text,
        search.category_id,
        search.level,
        PAGE_SIZE,
        offset,
    )
    .fetch_all(connection)
    .await
}
