//! The catalog's text search, answered from memory: an inverted index of the published courses,
//! loaded from PostgreSQL at start and kept current by reading what changed since.
//!
//! Why not PostgreSQL's GIN index alone: at 100,000 courses two common words match ~20,000 courses,
//! and intersecting their posting lists costs PostgreSQL 6–8 ms of CPU per search before it has
//! read a row (measured in tutorial 00); at 200 searches/s that is most of this machine's two cores.
//! The same intersection over bitsets in the shop takes well under a millisecond, the count is
//! exact, and PostgreSQL is asked only for the lexemes (its own parser and stemmer, so both agree on
//! what a word is) and for the 20 cards of the page. PostgreSQL stays the system of record: the
//! index is a copy, rebuilt from it at any time, and what it cannot answer (phrases, a search
//! before the first load) PostgreSQL answers as before.
//!
//! Freshness: an edit made through this instance is in its index before the edit's response is
//! sent; other instances read changes every `CATALOG_INDEX_REFRESH_MS` (rows whose `updated_at`
//! moved, looking a few seconds back for transactions that committed late), and tell the page
//! cache, so no instance caches a page from an index that had not seen the edit yet.

mod load;
pub mod postings;
pub mod tsquery;

use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::Mutex;

use self::load::Changes;
use self::postings::{Filters, Hits, Postings};
use self::tsquery::Match;
use super::cached::CatalogCache;
use super::query::Sort;
use crate::database::{StoreError, primary_position};

/// How often a full load replaces the index anyway: a safety net for a change the `updated_at`
/// reads cannot see (a bulk write in a transaction longer than their look-back).
const REBUILD_EVERY: Duration = Duration::from_secs(10 * 60);

/// The in-memory search index, shared by every worker thread of one instance.
#[derive(Clone)]
pub struct CatalogIndex {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    /// `None` until the first load: searches go to PostgreSQL meanwhile.
    postings: RwLock<Option<Postings>>,
    /// What has been read: one refresh at a time.
    changes: Mutex<Changes>,
    /// From step 3: told of changes other instances made.
    cache: Option<CatalogCache>,
}

impl CatalogIndex {
    /// An index over `pool`'s catalog, loaded in the background now and refreshed every `refresh`
    /// until the last handle is dropped.
    pub fn start(pool: PgPool, cache: Option<CatalogCache>, refresh: Duration) -> CatalogIndex {
        let index = CatalogIndex {
            inner: Arc::new(Inner {
                pool,
                postings: RwLock::new(None),
                changes: Mutex::new(Changes::default()),
                cache,
            }),
        };
        tokio::spawn(keep_current(Arc::downgrade(&index.inner), refresh));
        index
    }

    /// Whether the first load is done (searches are answered here from then on).
    pub fn is_loaded(&self) -> bool {
        self.inner
            .postings
            .read()
            .is_ok_and(|postings| postings.is_some())
    }

    /// Reads what changed now, before the caller answers: an instructor's edit is in this
    /// instance's searches when the edit's response arrives.
    pub async fn refresh(&self) -> Result<(), StoreError> {
        refresh(&self.inner).await
    }

    /// The lexemes of `text` as PostgreSQL reads them, as a tree this index can answer; `None` when
    /// it cannot (a phrase, only stop words). Asked on `pool`, where the search's cards are read
    /// (the replica when it may be).
    pub async fn understand(&self, pool: &PgPool, text: &str) -> Result<Option<Match>, StoreError> {
        let query: String = sqlx::query_scalar!(
            r#"SELECT websearch_to_tsquery('english', $1)::text AS "query!""#,
            text
        )
        .fetch_one(pool)
        .await?;
        Ok(tsquery::parse(&query).ok())
    }

    /// One page of matches, or `None` before the first load.
    pub fn search(
        &self,
        query: &Match,
        filters: Filters,
        sort: Sort,
        offset: usize,
        limit: usize,
    ) -> Option<Hits> {
        let postings = self.inner.postings.read().ok()?;
        postings
            .as_ref()
            .map(|postings| postings.search(query, filters, sort, offset, limit))
    }
}

async fn keep_current(inner: Weak<Inner>, every: Duration) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        if let Err(error) = refresh(&inner).await {
            // PostgreSQL away: the index keeps answering from what it has, and catches up after
            tracing::warn!(error = %error, "could not read catalog changes for the search index");
        }
    }
}

#[tracing::instrument(name = "catalog index refresh", skip_all)]
async fn refresh(inner: &Inner) -> Result<(), StoreError> {
    let mut changes = inner.changes.lock().await;
    let worn = inner.postings.read().map_or(true, |postings| {
        postings.as_ref().is_none_or(Postings::worn)
    });
    if worn || changes.due_for_rebuild(REBUILD_EVERY) {
        let (postings, read) = load::everything(&inner.pool).await?;
        tracing::info!(courses = postings.courses(), "search index loaded");
        *changes = read;
        if let Ok(mut current) = inner.postings.write() {
            *current = Some(postings);
        }
        return Ok(());
    }
    let changed = load::changed_since(&inner.pool, &mut changes).await?;
    if changed.is_empty() {
        return Ok(());
    }
    let slugs: Vec<_> = changed.iter().map(|change| change.slug.clone()).collect();
    if let Ok(mut current) = inner.postings.write()
        && let Some(postings) = current.as_mut()
    {
        for change in changed {
            match change.course {
                Some(course) => postings.upsert(course),
                None => postings.remove(change.id),
            }
        }
    }
    // pages cached from an index that had not seen these changes yet are dropped. The new version
    // records where the primary's log is now, which is past every change just read: its pages may
    // then be filled from a replica that has replayed that far. Without a position (the primary
    // did not say) they are filled from the primary, and with a refresh on every instance after
    // each edit, the catalog's pages would almost never come from the replica.
    if let Some(cache) = &inner.cache
        && !slugs.is_empty()
    {
        let position = primary_position(&inner.pool).await.ok();
        for slug in &slugs {
            cache.course_changed(slug, position).await;
        }
    }
    Ok(())
}
