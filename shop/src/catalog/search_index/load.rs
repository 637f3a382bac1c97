//! Reading the index's courses from PostgreSQL: all of them, or what changed since the last read.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, TimeDelta, Utc};
use futures::TryStreamExt;
use sqlx::PgPool;

use super::postings::{IndexedCourse, Postings};
use crate::catalog::{CourseSlug, Level};
use crate::database::StoreError;
use crate::ids::CourseId;

/// How far before the newest change already read each read looks again: `updated_at` is when its
/// transaction began, so a transaction that began earlier may commit after a read that saw a newer
/// row. Rows read again are skipped by their `updated_at`.
const LOOK_BACK: TimeDelta = TimeDelta::seconds(5);

/// What the index has read.
#[derive(Default)]
pub(super) struct Changes {
    /// Each course's `updated_at` as last read, in microseconds.
    read: HashMap<CourseId, i64>,
    newest: Option<DateTime<Utc>>,
    loaded: Option<Instant>,
}

impl Changes {
    pub(super) fn due_for_rebuild(&self, every: Duration) -> bool {
        self.loaded.is_none_or(|loaded| loaded.elapsed() >= every)
    }

    /// Whether this version of a course is new to the index (and notes it).
    fn is_new(&mut self, id: CourseId, updated_at: DateTime<Utc>) -> bool {
        self.newest = self.newest.max(Some(updated_at));
        self.read.insert(id, updated_at.timestamp_micros()) != Some(updated_at.timestamp_micros())
    }
}

/// A course that changed: its new entry, or `None` when it left the catalog.
pub(super) struct Change {
    pub id: CourseId,
    pub slug: CourseSlug,
    pub course: Option<IndexedCourse>,
}

/// One course row as the index reads it (every course, published or not, for the changes).
macro_rules! indexed_courses {
    ($pool:expr, $filter:literal $(, $arg:expr)*) => {
        sqlx::query!(
            r#"SELECT c.id AS "id: CourseId", c.slug AS "slug: CourseSlug", c.published,
                      c.updated_at, c.created_at, c.price_cents, c.level AS "level: Level",
                      c.category_id,
                      tsvector_to_array(c.search) AS "lexemes!",
                      tsvector_to_array(c.title_search) AS "title_lexemes!"
               FROM courses c "# + $filter
            $(, $arg)*
        )
        .fetch($pool)
        .map_ok(|row| {
            let course = row.published.then(|| IndexedCourse {
                id: row.id,
                created_at: row.created_at.timestamp_micros(),
                price_cents: row.price_cents,
                level: row.level,
                category_id: row.category_id,
                lexemes: row.lexemes,
                title_lexemes: row.title_lexemes,
            });
            (row.id, row.slug, row.updated_at, course)
        })
    };
}

/// Every published course, streamed into a new index (the rows are not all held at once: 100,000
/// courses' lexemes would be ~8 million strings).
pub(super) async fn everything(pool: &PgPool) -> Result<(Postings, Changes), StoreError> {
    let mut postings = Postings::default();
    let mut changes = Changes {
        loaded: Some(Instant::now()),
        ..Changes::default()
    };
    let mut rows = indexed_courses!(pool, "WHERE c.published");
    while let Some((id, _, updated_at, course)) = rows.try_next().await? {
        changes.is_new(id, updated_at);
        if let Some(course) = course {
            postings.upsert(course);
        }
    }
    Ok((postings, changes))
}

/// The courses that changed since the last read, each once.
pub(super) async fn changed_since(
    pool: &PgPool,
    changes: &mut Changes,
) -> Result<Vec<Change>, StoreError> {
    // nothing read yet (an empty catalog): everything there now is new
    let since = changes
        .newest
        .map_or(DateTime::UNIX_EPOCH, |newest| newest - LOOK_BACK);
    let mut rows = indexed_courses!(pool, "WHERE c.updated_at > $1", since);
    let mut changed = Vec::new();
    while let Some((id, slug, updated_at, course)) = rows.try_next().await? {
        if changes.is_new(id, updated_at) {
            changed.push(Change { id, slug, course });
        }
    }
    Ok(changed)
}
