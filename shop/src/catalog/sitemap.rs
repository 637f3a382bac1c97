//! What the sitemap tells search engines of the catalog: every published course and when it last
//! changed, in numbered files (`/sitemaps/courses-{n}.xml`) listed by the sitemap index.
//!
//! File `n` holds the published courses whose ids fall in its range, `(n - 1) × SITEMAP_PAGE_SIZE`
//! exclusive to `n × SITEMAP_PAGE_SIZE` inclusive. Each read is then a range of the primary key,
//! bounded by the file's size whatever the catalog's, and a course stays in the same file as
//! others are published and unpublished, so a crawler's copies of the other files stay right.

use chrono::{DateTime, Utc};

use super::query::PageNumber;
use super::service::Catalog;
use super::slug::CourseSlug;
use crate::database::{ReadAfter, StoreError};

/// Course ids per sitemap file, so at most this many addresses in one. The protocol allows 50,000;
/// 10,000 keeps a file near 1.5 MB and its query a few milliseconds.
pub const SITEMAP_PAGE_SIZE: i64 = 10_000;

/// A sitemap index may list at most this many sitemaps (the protocol's limit).
const MAX_SITEMAPS: i64 = 50_000;

/// A published course as the sitemap lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SitemapCourse {
    pub slug: CourseSlug,
    pub updated_at: DateTime<Utc>,
}

impl Catalog {
    /// The sitemap files that list at least one published course, in order. A range of ids with
    /// none (all unpublished, or ids never used) has no file: an empty sitemap is not a valid one.
    /// (Read where the catalog's pages are: a crawler may see a change up to the allowed lag late.)
    pub async fn sitemap_pages(&self) -> Result<Vec<PageNumber>, StoreError> {
        let pages = self
            .reads
            .run(ReadAfter::Anything, |pool| async move {
                Ok::<_, StoreError>(
                    sqlx::query_scalar!(
                        r#"SELECT page AS "page!"
               FROM generate_series(
                        1::bigint,
                        (SELECT (coalesce(max(id), 0) + $1 - 1) / $1 FROM courses)
                    ) AS page
               WHERE EXISTS (SELECT 1 FROM courses c
                             WHERE c.published AND c.id > (page - 1) * $1 AND c.id <= page * $1)
               ORDER BY page
               LIMIT $2"#,
                        SITEMAP_PAGE_SIZE,
                        MAX_SITEMAPS,
                    )
                    .fetch_all(&pool)
                    .await?,
                )
            })
            .await?;
        Ok(pages
            .into_iter()
            .filter_map(|page| PageNumber::try_from(page).ok())
            .collect())
    }

    /// The published courses of sitemap file `page`, by id; empty past the last.
    pub async fn sitemap_page(&self, page: PageNumber) -> Result<Vec<SitemapCourse>, StoreError> {
        let Some((after, last)) = id_range(page) else {
            return Ok(Vec::new());
        };
        self.reads
            .run(ReadAfter::Anything, |pool| async move {
                Ok(sqlx::query_as!(
                    SitemapCourse,
                    r#"SELECT slug AS "slug: _", updated_at
               FROM courses
               WHERE published AND id > $1 AND id <= $2
               ORDER BY id"#,
                    after,
                    last,
                )
                .fetch_all(&pool)
                .await?)
            })
            .await
    }
}

/// The ids sitemap file `page` covers: after the first, up to and including the second. `None` for
/// a page so far out that its ids do not fit in a bigint (no course has them).
fn id_range(page: PageNumber) -> Option<(i64, i64)> {
    let after = (page.get() - 1).checked_mul(SITEMAP_PAGE_SIZE)?;
    Some((after, after.checked_add(SITEMAP_PAGE_SIZE)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_file_covers_its_own_ids() {
        let page = |n: i64| PageNumber::try_from(n).expect("a page");
        assert_eq!(id_range(page(1)), Some((0, SITEMAP_PAGE_SIZE)));
        assert_eq!(
            id_range(page(3)),
            Some((2 * SITEMAP_PAGE_SIZE, 3 * SITEMAP_PAGE_SIZE))
        );
        assert_eq!(id_range(page(i64::MAX)), None);
    }
}
