//! Cache-aside for the catalog's pages in Redis (tutorial step 3).
//!
//! A page's data is looked up in Redis first; on a miss it is read from PostgreSQL and stored with
//! a TTL (with jitter, so entries written together do not expire together). Changes come from
//! instructors only, and every change invalidates at once by bumping the catalog version, which
//! every key contains: entries of the old version are simply never read again (they expire by
//! themselves). Every instance of the shop sees the change on its next request, and a request that
//! read PostgreSQL just before the change cannot put the old page back, as it stores it under the
//! old version.
//!
//! A hot miss does not stampede PostgreSQL: the first request takes a short lock in Redis and
//! rebuilds; the others wait a moment for its value instead of querying too.
//!
//! With a replica (step 5) a change also records where the primary's log was after it, beside the
//! new version (`catalog:changed_at` = `<version>:<position>`): an entry of that version is filled
//! from the replica only once it has replayed that position, otherwise from the primary, so a
//! replica that lags cannot put the page before the change into the cache for everyone.

use std::future::Future;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::query::CatalogQuery;
use super::{Category, Course, CourseSlug, SearchResults};
use redis::AsyncCommands;

use crate::cache::{CacheError, CacheName, Redis, retry_in_background};
use crate::database::{ReadAfter, WalPosition};
use crate::metrics::CacheMetrics;

/// A course page changes only when its instructor edits it, which invalidates it at once: the TTL
/// only bounds how long a missed invalidation (Redis unreachable at that moment) could last.
const COURSE_TTL: Duration = Duration::from_secs(30 * 60);
/// A course that is not there (a mistyped or unpublished link): kept briefly, so a crawler
/// requesting it again and again does not reach PostgreSQL each time.
const MISSING_COURSE_TTL: Duration = Duration::from_secs(60);
/// List pages are many (query × filters × sort × page) and each is cheap to drop.
const PAGE_TTL: Duration = Duration::from_secs(10 * 60);
/// Categories change only with a migration or seed.
const CATEGORIES_TTL: Duration = Duration::from_secs(60 * 60);
/// How long a rebuilding request holds the lock; a crashed one frees it by expiry.
const REBUILD_LOCK: Duration = Duration::from_secs(5);
/// How long the others wait for a rebuild, in steps, before reading PostgreSQL themselves.
const REBUILD_WAIT_STEP: Duration = Duration::from_millis(20);
/// Two seconds at most: longer than the slowest catalog search, shorter than a visitor's patience.
const REBUILD_WAIT_STEPS: u32 = 100;
/// Bumps the catalog version (KEYS[1]) and, when the change's WAL position is known (ARGV[1], a
/// decimal), records it for the new version in KEYS[2]: the later of it and the one recorded
/// before, compared as decimals without floating point (Lua's numbers are doubles). Unknown, the
/// new version has no position of its own, and its entries are filled from the primary.
const BUMP_VERSION: &str = r"
local version = redis.call('INCR', KEYS[1])
local position = ARGV[1]
if position ~= '' then
  local previous = redis.call('GET', KEYS[2])
  if previous then
    local recorded = string.match(previous, ':(%d+)$')
    if recorded and (#recorded > #position or (#recorded == #position and recorded > position)) then
      position = recorded
    end
  end
  redis.call('SET', KEYS[2], version .. ':' .. position)
end
return version
";
/// Deletes the rebuild lock only if this request still holds it.
const RELEASE_IF_HELD: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
";

/// Where a page's data came from, shown in the footer at step 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Cache,
    Database,
}

impl Source {
    pub fn label(self) -> &'static str {
        match self {
            Source::Cache => "Redis cache",
            Source::Database => "PostgreSQL",
        }
    }
}

/// A value and where it came from.
pub struct Fetched<T> {
    pub value: T,
    pub source: Source,
}

#[derive(Clone)]
pub struct CatalogCache {
    redis: Redis,
    metrics: CacheMetrics,
}

impl CatalogCache {
    pub fn new(redis: Redis, metrics: CacheMetrics) -> CatalogCache {
        CatalogCache { redis, metrics }
    }

    /// A course page for a reader who must see `after`; `load` reads the database for a reader
    /// who must see what it is given.
    pub async fn course<E, Fut>(
        &self,
        slug: &CourseSlug,
        after: ReadAfter,
        load: impl FnOnce(ReadAfter) -> Fut,
    ) -> Result<Fetched<Option<Course>>, E>
    where
        Fut: Future<Output = Result<Option<Course>, E>>,
    {
        // The version is in the course key too: a request that read the course just before an
        // edit and stores it just after stores it under the old version, which nobody reads.
        let Some((version, fill)) = self.version().await else {
            self.metrics.error(CacheName::Course);
            return load(after).await.map(from_database);
        };
        let key = self.redis.key(&format!("catalog:course:v{version}:{slug}"));
        // an entry is for everyone: filled from where the version's change is, and the reader's
        // own write too (an entry filled for them must not hide it from them)
        let load = move || load(fill.max(after));
        self.cached(CacheName::Course, key, load, |course: &Option<Course>| {
            if course.is_some() {
                COURSE_TTL
            } else {
                MISSING_COURSE_TTL
            }
        })
        .await
    }

    /// A list page for a reader who must see `after` (see `course`).
    pub async fn page<E, Fut>(
        &self,
        query: &CatalogQuery,
        after: ReadAfter,
        load: impl FnOnce(ReadAfter) -> Fut,
    ) -> Result<Fetched<SearchResults>, E>
    where
        Fut: Future<Output = Result<SearchResults, E>>,
    {
        let Some((version, fill)) = self.version().await else {
            // without the version no key is safe to read: go to the store
            self.metrics.error(CacheName::CatalogPage);
            return load(after).await.map(from_database);
        };
        let load = move || load(fill.max(after));
        let page = query.page_number();
        let key = self.redis.key(&format!(
            "catalog:page:v{version}:{}",
            query.to_query_string(Some(page))
        ));
        self.cached(CacheName::CatalogPage, key, load, |_| PAGE_TTL)
            .await
    }

    pub async fn categories<E, Fut>(&self, load: impl FnOnce() -> Fut) -> Result<Vec<Category>, E>
    where
        Fut: Future<Output = Result<Vec<Category>, E>>,
    {
        let key = self.redis.key("catalog:categories");
        Ok(self
            .cached(CacheName::Categories, key, load, |_| CATEGORIES_TTL)
            .await?
            .value)
    }

    /// After an instructor changed `slug` (edited, published, unpublished): its page and every
    /// list page are read afresh from the next request on, on every instance (a new version:
    /// edits are rare, so the other courses' pages being rebuilt too costs little). If Redis cannot be
    /// told now, it is told in the background until it hears it, so a stale page cannot outlive
    /// the outage by more than its TTL. `position`: where the primary's log was after the change
    /// (step 5; `None` without a replica, or when it could not be read).
    pub async fn course_changed(&self, slug: &CourseSlug, position: Option<WalPosition>) {
        if let Err(error) = self.invalidate(position).await {
            tracing::warn!(%error, %slug, "could not invalidate the cached catalog; retrying in the background");
            let (cache, slug) = (self.clone(), slug.clone());
            retry_in_background(COURSE_TTL, move || {
                let (cache, slug) = (cache.clone(), slug.clone());
                async move {
                    cache.invalidate(position).await?;
                    tracing::info!(%slug, "the cached catalog is invalidated");
                    Ok::<(), CacheError>(())
                }
            });
        }
    }

    async fn invalidate(&self, position: Option<WalPosition>) -> Result<(), CacheError> {
        let keys = (
            self.redis.key("catalog:version"),
            self.redis.key("catalog:changed_at"),
        );
        let position = position
            .map(|position| position.0.to_string())
            .unwrap_or_default();
        self.redis
            .run(|mut redis| {
                let (keys, position) = (keys.clone(), position.clone());
                async move {
                    redis::Script::new(BUMP_VERSION)
                        .key(keys.0)
                        .key(keys.1)
                        .arg(position)
                        .invoke_async::<u64>(&mut redis)
                        .await
                }
            })
            .await
            .map(|_| ())
    }

    /// The catalog's version (0 before the first change) and what its entries must be filled
    /// after; `None` when Redis cannot say.
    async fn version(&self) -> Option<(u64, ReadAfter)> {
        let keys = [
            self.redis.key("catalog:version"),
            self.redis.key("catalog:changed_at"),
        ];
        let (version, changed_at) = self
            .redis
            .run(|mut redis| {
                let keys = keys.clone();
                async move {
                    redis
                        .mget::<_, (Option<String>, Option<String>)>(&keys)
                        .await
                }
            })
            .await
            .ok()?;
        let version = match version {
            None => 0,
            Some(text) => text.parse().ok()?,
        };
        Some((version, fill_after(version, changed_at.as_deref())))
    }

    /// Cache-aside with a single rebuild per key at a time.
    async fn cached<T, E, Fut>(
        &self,
        cache: CacheName,
        key: String,
        load: impl FnOnce() -> Fut,
        ttl: impl Fn(&T) -> Duration,
    ) -> Result<Fetched<T>, E>
    where
        T: Serialize + DeserializeOwned,
        Fut: Future<Output = Result<T, E>>,
    {
        match self.read::<T>(&key).await {
            Ok(Some(value)) => {
                self.metrics.hit(cache);
                return Ok(from_cache(value));
            }
            Ok(None) => self.metrics.miss(cache),
            Err(_) => {
                // Redis is away: the store answers, a little slower
                self.metrics.error(cache);
                return load().await.map(from_database);
            }
        }
        let lock = format!("{key}:rebuilding");
        // the holder's own token, so only it releases the lock (not a later holder's, if this
        // rebuild outlived the lock's expiry)
        let token = format!("{:08x}", getrandom::u32().unwrap_or_default());
        let won = self
            .redis
            .run(|mut redis| {
                let (lock, token) = (lock.clone(), token.clone());
                async move {
                    redis::cmd("SET")
                        .arg(lock)
                        .arg(token)
                        .arg("NX")
                        .arg("PX")
                        .arg(REBUILD_LOCK.as_millis() as u64)
                        .query_async::<Option<String>>(&mut redis)
                        .await
                }
            })
            .await;
        if let Ok(None) = won {
            // another request is rebuilding this entry: wait for its value
            for _ in 0..REBUILD_WAIT_STEPS {
                tokio::time::sleep(REBUILD_WAIT_STEP).await;
                if let Ok(Some(value)) = self.read::<T>(&key).await {
                    return Ok(from_cache(value));
                }
                // the rebuild ended without a value (its load failed): stop waiting for it
                let held = self
                    .redis
                    .run(|mut redis| {
                        let lock = lock.clone();
                        async move { redis.exists::<_, bool>(lock).await }
                    })
                    .await;
                if !matches!(held, Ok(true)) {
                    // (its value may have landed just before the lock went)
                    if let Ok(Some(value)) = self.read::<T>(&key).await {
                        return Ok(from_cache(value));
                    }
                    break;
                }
            }
        }
        if let Ok(Some(_)) = won
            && let Ok(Some(value)) = self.read::<T>(&key).await
        {
            // the lock was free because a rebuild had just ended: between this request's miss and
            // its lock, that rebuild stored the value, so there is nothing left to rebuild
            self.release(lock, token).await;
            return Ok(from_cache(value));
        }
        self.metrics.rebuild(cache);
        let loaded = load().await;
        if let Ok(value) = &loaded
            && let Ok(bytes) = serde_json::to_vec(value)
        {
            let _ = self.redis.set(&key, &bytes, with_jitter(ttl(value))).await;
        }
        if let Ok(Some(_)) = won {
            // released on every path, a failed load too: waiters then try PostgreSQL at once
            self.release(lock, token).await;
        }
        Ok(from_database(loaded?))
    }

    /// Frees the rebuild lock `lock` if this request (`token`) still holds it.
    async fn release(&self, lock: String, token: String) {
        let _ = self
            .redis
            .run(|mut redis| async move {
                redis::Script::new(RELEASE_IF_HELD)
                    .key(lock)
                    .arg(token)
                    .invoke_async::<i64>(&mut redis)
                    .await
            })
            .await;
    }

    /// A cached value; an entry that no longer decodes (an older shape) counts as a miss.
    async fn read<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, CacheError> {
        Ok(self
            .redis
            .get(key)
            .await?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
    }
}

/// What entries of catalog `version` must be filled after, from `changed_at` (`<version>:<position>`,
/// the last change's): that change's position when it is this version's; the primary when this
/// version's change has no known position (or its record is gone); anything before the first change.
fn fill_after(version: u64, changed_at: Option<&str>) -> ReadAfter {
    let recorded = changed_at.and_then(|text| {
        let (changed, position) = text.split_once(':')?;
        Some((changed.parse::<u64>().ok()?, position.parse::<u64>().ok()?))
    });
    match recorded {
        Some((changed, position)) if changed == version => ReadAfter::Write(WalPosition(position)),
        None if version == 0 => ReadAfter::Anything,
        _ => ReadAfter::UnknownWrite,
    }
}

fn from_cache<T>(value: T) -> Fetched<T> {
    Fetched {
        value,
        source: Source::Cache,
    }
}

fn from_database<T>(value: T) -> Fetched<T> {
    Fetched {
        value,
        source: Source::Database,
    }
}

/// ±20 %, so entries written in the same second expire over a spread of time.
fn with_jitter(ttl: Duration) -> Duration {
    let random = f64::from(getrandom::u32().unwrap_or(u32::MAX / 2)) / f64::from(u32::MAX);
    ttl.mul_f64(0.8 + 0.4 * random)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_filled_after_their_versions_change() {
        assert_eq!(fill_after(0, None), ReadAfter::Anything);
        assert_eq!(
            fill_after(3, Some("3:1234")),
            ReadAfter::Write(WalPosition(1234))
        );
        // changed again without a known position, or the record lost: only the primary is sure
        assert_eq!(fill_after(4, Some("3:1234")), ReadAfter::UnknownWrite);
        assert_eq!(fill_after(4, None), ReadAfter::UnknownWrite);
        assert_eq!(fill_after(4, Some("garbage")), ReadAfter::UnknownWrite);
    }

    #[test]
    fn jitter_stays_within_a_fifth_of_the_ttl() {
        for _ in 0..1000 {
            let ttl = with_jitter(Duration::from_secs(100));
            assert!(ttl >= Duration::from_secs(80) && ttl <= Duration::from_secs(120));
        }
    }
}
