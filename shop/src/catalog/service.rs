//! The catalog, read from PostgreSQL (the system of record at every tutorial step): from step 5
//! the pages' reads go to the replica where it may answer them (`database::Reads`).

use sqlx::{PgConnection, PgPool};

use super::cached::{CatalogCache, Fetched, Source};
use super::query::{CatalogQuery, LISTED_RESULTS, PAGE_SIZE, PageNumber, Sort};
use super::search_index::CatalogIndex;
use super::search_index::postings::Filters;
use super::text_search::{self, TextSearch};
use super::{Category, CategorySlug, Course, CourseCard, CourseSlug};
use crate::database::{ReadAfter, ReadFailure, Reads, StoreError};
use crate::ids::{CategoryId, CourseId};

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("there is no category {0}")]
    UnknownCategory(CategorySlug),
    #[error("page {page} is past the last page ({last})")]
    PageOutOfRange {
        page: i64,
        last: i64,
        /// The search has more matches than are listed: narrowing it would find the rest.
        narrow: bool,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ReadFailure for CatalogError {
    fn store_error(&self) -> Option<&StoreError> {
        match self {
            CatalogError::Store(error) => Some(error),
            CatalogError::UnknownCategory(_) | CatalogError::PageOutOfRange { .. } => None,
        }
    }
}

impl From<sqlx::Error> for CatalogError {
    fn from(error: sqlx::Error) -> CatalogError {
        CatalogError::Store(error.into())
    }
}

/// How many courses match a search, on every page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MatchCount {
    Exactly(i64),
    /// More than `LISTED_RESULTS`: counting further would cost more than the number is worth.
    MoreThanListed,
}

impl MatchCount {
    /// The matches that can be listed on pages.
    pub fn listed(self) -> i64 {
        match self {
            MatchCount::Exactly(count) => count,
            MatchCount::MoreThanListed => LISTED_RESULTS,
        }
    }
}

/// One page of a catalog search.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct SearchResults {
    pub courses: Vec<CourseCard>,
    pub matches: MatchCount,
    pub page: PageNumber,
    /// The category the search was narrowed to, for the page heading.
    pub category: Option<Category>,
}

impl SearchResults {
    pub fn page_count(&self) -> i64 {
        ((self.matches.listed() + PAGE_SIZE - 1) / PAGE_SIZE).max(1)
    }
}

#[derive(Clone)]
pub struct Catalog {
    /// The primary, and the replica the pages may read (the sitemap's queries too, `sitemap.rs`).
    pub(super) reads: Reads,
    /// From step 3: pages are read through Redis (`cached.rs`).
    cache: Option<CatalogCache>,
    /// What answers searches with words, unless `CATALOG_SEARCH=postgres` (`search_index`).
    index: Option<CatalogIndex>,
}

/// A query for `CourseCard`s: their columns and joins, then the caller's clauses (string literals,
/// each starting with a space). Compile-checked like any `query_as!`.
macro_rules! course_cards {
    ($pool:expr, [$($clause:literal)+], $($arg:expr),* $(,)?) => {
        sqlx::query_as!(
            CourseCard,
            r#"SELECT c.id AS "id: _", c.slug AS "slug: _", c.title, c.summary, c.level AS "level: _",
                      c.duration_minutes AS "duration: _", c.price_cents AS "price: _",
                      cat.name AS category_name, u.display_name AS instructor_name
               FROM courses c
               JOIN categories cat ON cat.id = c.category_id
               JOIN users u ON u.id = c.instructor_id"# $(+ $clause)+,
            $($arg),*
        )
        .fetch_all($pool)
    };
}

// One listing query per sort order for a list without search text (`text_search.rs` has those), so
// each can walk its own index; they share the filter below, written `($n IS NULL OR …)` so one
// prepared statement serves every combination.
macro_rules! browse_courses {
    ($pool:expr, $query:expr, $category:expr, $offset:expr, $order_by:literal) => {
        course_cards!(
            $pool,
            [
                " WHERE c.published
                    AND ($1::bigint IS NULL OR c.category_id = $1)
                    AND ($2::text IS NULL OR c.level = $2)"
                " ORDER BY " $order_by
                " LIMIT $3 OFFSET $4"
            ],
            $category,
            $query.level.map(|level| level.as_str()),
            PAGE_SIZE,
            $offset,
        )
    };
}

impl Catalog {
    /// Every read on the primary: the catalog that prices carts and checkouts.
    pub fn new(pool: PgPool) -> Catalog {
        Catalog {
            reads: Reads::primary_only(pool),
            cache: None,
            index: None,
        }
    }

    /// The pages' catalog: read where `reads` send them.
    pub fn on(reads: Reads) -> Catalog {
        Catalog {
            reads,
            cache: None,
            index: None,
        }
    }

    /// The pages' catalog, cached in Redis.
    pub fn with_cache(reads: Reads, cache: CatalogCache) -> Catalog {
        Catalog {
            reads,
            cache: Some(cache),
            index: None,
        }
    }

    /// The same catalog, answering searches with words from `index` when it can.
    pub fn with_index(self, index: CatalogIndex) -> Catalog {
        Catalog {
            index: Some(index),
            ..self
        }
    }

    /// A course's page, through the cache when there is one, for a reader who must see `after`.
    /// (`course` always reads the primary: the cart prices from it and must not see a cached or
    /// replayed-late price.)
    pub async fn course_page(
        &self,
        slug: &CourseSlug,
        after: ReadAfter,
    ) -> Result<Fetched<Option<Course>>, StoreError> {
        let read = |after| {
            self.reads.run(
                after,
                move |pool| async move { course_on(&pool, slug).await },
            )
        };
        match &self.cache {
            Some(cache) => cache.course(slug, after, read).await,
            None => Ok(Fetched {
                value: read(after).await?,
                source: Source::Database,
            }),
        }
    }

    /// One page of a catalog search, through the cache when there is one, for a reader who must
    /// see `after`.
    pub async fn search_page(
        &self,
        query: &CatalogQuery,
        after: ReadAfter,
    ) -> Result<Fetched<SearchResults>, CatalogError> {
        let index = self.index.as_ref();
        let read = |after| {
            self.reads.run(after, move |pool| async move {
                search_on(&pool, index, query).await
            })
        };
        match &self.cache {
            Some(cache) => cache.page(query, after, read).await,
            None => Ok(Fetched {
                value: read(after).await?,
                source: Source::Database,
            }),
        }
    }

    /// Every category, in the shop's chosen order (through the cache when there is one). They
    /// change only with a migration or the seed, so any replica within the allowed lag has them.
    pub async fn categories(&self) -> Result<Vec<Category>, StoreError> {
        let read = || {
            self.reads.run(ReadAfter::Anything, |pool| async move {
                categories_on(&pool).await
            })
        };
        match &self.cache {
            Some(cache) => cache.categories(read).await,
            None => read().await,
        }
    }

    /// The home page's featured courses, newest first, for a reader who must see `after`.
    pub async fn featured(
        &self,
        limit: i64,
        after: ReadAfter,
    ) -> Result<Vec<CourseCard>, StoreError> {
        self.reads
            .run(after, |pool| async move {
                Ok(course_cards!(
                    &pool,
                    [" WHERE c.published AND c.featured" " ORDER BY c.created_at DESC, c.id DESC" " LIMIT $1"],
                    limit
                )
                .await?)
            })
            .await
    }

    /// The published courses among `ids`, as cards (a cart's lines), from the primary: they
    /// carry the prices a cart is paid at. Unpublished ones are left out.
    pub async fn cards(&self, ids: &[CourseId]) -> Result<Vec<CourseCard>, StoreError> {
        let ids: Vec<i64> = ids.iter().map(|id| id.0).collect();
        Ok(course_cards!(
            self.reads.primary(),
            [" WHERE c.published AND c.id = ANY($1)"],
            &ids
        )
        .await?)
    }

    /// A published course, from the primary (a price to charge). Unpublished courses are not in
    /// the catalog (past orders keep their own snapshot of title and price).
    pub async fn course(&self, slug: &CourseSlug) -> Result<Option<Course>, StoreError> {
        course_on(self.reads.primary(), slug).await
    }

    /// One page of courses matching `query`, from the primary (see `search_on`).
    pub async fn search(&self, query: &CatalogQuery) -> Result<SearchResults, CatalogError> {
        search_on(self.reads.primary(), self.index.as_ref(), query).await
    }
}

async fn categories_on(pool: &PgPool) -> Result<Vec<Category>, StoreError> {
    Ok(sqlx::query_as!(
        Category,
        r#"SELECT id AS "id: _", slug AS "slug: _", name, description
               FROM categories
               ORDER BY position, name"#
    )
    .fetch_all(pool)
    .await?)
}

/// A published course's page, read on `pool`.
async fn course_on(pool: &PgPool, slug: &CourseSlug) -> Result<Option<Course>, StoreError> {
    Ok(sqlx::query_as!(
        Course,
        r#"SELECT c.id AS "id: _", c.slug AS "slug: _", c.title, c.summary, c.description,
                      c.level AS "level: _", c.duration_minutes AS "duration: _",
                      c.price_cents AS "price: _", c.published, c.updated_at,
                      cat.name AS category_name, cat.slug AS "category_slug: _",
                      u.display_name AS instructor_name
               FROM courses c
               JOIN categories cat ON cat.id = c.category_id
               JOIN users u ON u.id = c.instructor_id
               WHERE c.slug = $1 AND c.published"#,
        slug.as_str()
    )
    .fetch_optional(pool)
    .await?)
}

/// One page of courses matching `query`, read on `pool` (and from `index` when it can answer). A
/// page past the last is an error (the 404 page), except page 1 of an empty result, which is a
/// normal "nothing matches" answer.
async fn search_on(
    pool: &PgPool,
    index: Option<&CatalogIndex>,
    query: &CatalogQuery,
) -> Result<SearchResults, CatalogError> {
    let category = match &query.category {
        Some(slug) => Some(
            category_on(pool, slug)
                .await?
                .ok_or_else(|| CatalogError::UnknownCategory(slug.clone()))?,
        ),
        None => None,
    };
    let category_id = category.as_ref().map(|category| category.id.0);
    let page = query.page_number();
    let offset = page.offset();
    if let (Some(text), Some(index)) = (&query.text, index)
        && let Some((courses, matches)) =
            search_indexed(pool, index, text, query, category_id, offset).await?
    {
        if offset >= LISTED_RESULTS {
            return Err(past_the_listed_pages(page, matches));
        }
        return results(courses, matches, page, category);
    }
    // Which index serves a search depends on which filters it has, so it must be planned with its
    // values. sqlx caches prepared statements and PostgreSQL gives one a generic plan after five
    // runs; for `$1 IS NULL OR …` filters that plan scans every course (200 ms instead of 3 ms at
    // 100 000 courses). SET LOCAL scopes the setting to this read-only transaction, one round trip
    // with its BEGIN, so the shop's other queries keep their cheaper cached plans, a cancelled
    // request cannot leak it, and it holds behind PgBouncer's transaction pooling. No sequential
    // scan either: the match count stops at 1,001, and for a broad search PostgreSQL then expects
    // to find those sooner reading the table in order than through the search index (136 ms
    // instead of 6 ms); every catalog read has an index that serves it.
    let mut transaction = pool
            .begin_with(
                "BEGIN READ ONLY; SET LOCAL plan_cache_mode = force_custom_plan; SET LOCAL enable_seqscan = off",
            )
            .await?;
    if offset >= LISTED_RESULTS {
        // not even listed: the listed pages end before this one whatever the catalog holds
        let matches = count(&mut transaction, query, category_id).await?;
        return Err(past_the_listed_pages(page, matches));
    }
    let (courses, matches) = match &query.text {
        Some(text) => {
            let search = TextSearch {
                text,
                category_id,
                level: query.level.map(|level| level.as_str()),
            };
            let sort = query.effective_sort();
            match text_search::page(&mut transaction, &search, sort, offset).await? {
                (courses, Some(matches)) => (courses, matches),
                // an empty page: no match, or a page past the last (its 404 names the last)
                (courses, None) => (courses, count(&mut transaction, query, category_id).await?),
            }
        }
        None => {
            // without text there is no relevance: newest first
            let courses = match query.effective_sort() {
                Sort::Relevance | Sort::Newest => {
                    browse_courses!(
                        &mut *transaction,
                        query,
                        category_id,
                        offset,
                        "c.created_at DESC, c.id DESC"
                    )
                    .await?
                }
                Sort::PriceLowToHigh => {
                    browse_courses!(
                        &mut *transaction,
                        query,
                        category_id,
                        offset,
                        "c.price_cents, c.id"
                    )
                    .await?
                }
                Sort::PriceHighToLow => {
                    browse_courses!(
                        &mut *transaction,
                        query,
                        category_id,
                        offset,
                        "c.price_cents DESC, c.id DESC"
                    )
                    .await?
                }
            };
            // a short page tells the count without counting; otherwise count (one more indexed query)
            let matches = if !courses.is_empty() && (courses.len() as i64) < PAGE_SIZE {
                MatchCount::Exactly(offset + courses.len() as i64)
            } else {
                count(&mut transaction, query, category_id).await?
            };
            (courses, matches)
        }
    };
    transaction.commit().await?;
    results(courses, matches, page, category)
}

/// A search with words answered by the in-memory index, the page's cards read on `pool`: the
/// courses in the index's order and how many match. `None` when the index cannot answer it (not
/// loaded yet, a phrase).
async fn search_indexed(
    pool: &PgPool,
    index: &CatalogIndex,
    text: &str,
    query: &CatalogQuery,
    category_id: Option<i64>,
    offset: i64,
) -> Result<Option<(Vec<CourseCard>, MatchCount)>, CatalogError> {
    if !index.is_loaded() {
        return Ok(None);
    }
    let Some(words) = index.understand(pool, text).await? else {
        return Ok(None);
    };
    let filters = Filters {
        category_id,
        level: query.level,
    };
    let Some(hits) = index.search(
        &words,
        filters,
        query.effective_sort(),
        usize::try_from(offset).unwrap_or(usize::MAX),
        usize::try_from(PAGE_SIZE).unwrap_or(usize::MAX),
    ) else {
        return Ok(None);
    };
    let ids: Vec<i64> = hits.page.iter().map(|id| id.0).collect();
    let mut courses = if ids.is_empty() {
        Vec::new()
    } else {
        course_cards!(pool, [" WHERE c.published AND c.id = ANY($1)"], &ids).await?
    };
    // in the index's order; a course unpublished since the index last read is left out
    courses.sort_by_key(|card| hits.page.iter().position(|id| *id == card.id));
    let total = i64::try_from(hits.total).unwrap_or(i64::MAX);
    let matches = if total > LISTED_RESULTS {
        MatchCount::MoreThanListed
    } else {
        MatchCount::Exactly(total)
    };
    Ok(Some((courses, matches)))
}

/// A page of results; an empty page past the first is the 404 naming the last page.
fn results(
    courses: Vec<CourseCard>,
    matches: MatchCount,
    page: PageNumber,
    category: Option<Category>,
) -> Result<SearchResults, CatalogError> {
    let results = SearchResults {
        courses,
        matches,
        page,
        category,
    };
    if results.courses.is_empty() && page != PageNumber::FIRST {
        return Err(CatalogError::PageOutOfRange {
            page: page.get(),
            last: results.page_count(),
            narrow: false,
        });
    }
    Ok(results)
}

async fn category_on(pool: &PgPool, slug: &CategorySlug) -> Result<Option<Category>, StoreError> {
    Ok(sqlx::query_as!(
        Category,
        r#"SELECT id AS "id: CategoryId", slug AS "slug: _", name, description
               FROM categories
               WHERE slug = $1"#,
        slug.as_str()
    )
    .fetch_optional(pool)
    .await?)
}

/// The 404 for a page past the last listed one.
fn past_the_listed_pages(page: PageNumber, matches: MatchCount) -> CatalogError {
    CatalogError::PageOutOfRange {
        page: page.get(),
        last: (matches.listed() + PAGE_SIZE - 1) / PAGE_SIZE,
        narrow: matches == MatchCount::MoreThanListed,
    }
}

/// Counts matches, stopping at one past `LISTED_RESULTS`.
async fn count(
    connection: &mut PgConnection,
    query: &CatalogQuery,
    category_id: Option<i64>,
) -> Result<MatchCount, StoreError> {
    let count = sqlx::query_scalar!(
        r#"SELECT count(*) AS "count!" FROM (
                   SELECT 1 FROM courses c
                   WHERE c.published
                     AND ($1::text IS NULL OR c.search @@ websearch_to_tsquery('english', $1))
                     AND ($2::bigint IS NULL OR c.category_id = $2)
                     AND ($3::text IS NULL OR c.level = $3)
                   LIMIT $4
               ) AS matches"#,
        query.text.as_deref(),
        category_id,
        query.level.map(|level| level.as_str()),
        LISTED_RESULTS + 1,
    )
    .fetch_one(connection)
    .await?;
    Ok(if count > LISTED_RESULTS {
        MatchCount::MoreThanListed
    } else {
        MatchCount::Exactly(count)
    })
}
