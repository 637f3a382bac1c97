//! The cart cached in Redis in front of its store (tutorial step 3): read-through, and every write
//! goes to the store (Cosmos DB) first and then drops the cached copy.
//!
//! A cache in front of a store that others write can be made stale by a race: a reader misses,
//! reads the store, and stores its copy *after* a writer changed the cart and dropped the cached
//! copy. That would show a removed course again. Each cart therefore has a generation counter in
//! Redis that every write increments; a reader stores its copy only if the generation it saw
//! before reading the store is still current (one Lua script, atomic in Redis). So the cache can
//! be flushed or lost at any moment, and never resurrects or loses a line: the store holds every
//! cart, Redis only copies.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::{CartError, CartId, CartLine, CartOwner, CartStore};
use crate::cache::{CacheError, CacheName, Redis, retry_in_background};
use crate::ids::{CourseId, UserId};
use crate::metrics::CacheMetrics;
use crate::money::Money;

/// A cached cart is dropped on every write; the TTL only frees memory of carts nobody reads.
const CART_TTL: Duration = Duration::from_secs(30 * 60);
/// Generations outlive every cached copy they guard.
const GENERATION_TTL_SECONDS: u64 = 24 * 60 * 60;

/// Stores the copy only if the cart's generation is still the one read before the store was.
const STORE_IF_CURRENT: &str = r"
local current = redis.call('GET', KEYS[2]) or '0'
if current == ARGV[2] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[3])
  return 1
end
return 0
";

pub struct CachedCartStore {
    store: Arc<dyn CartStore>,
    redis: Redis,
    metrics: CacheMetrics,
}

#[derive(Serialize, Deserialize)]
struct CachedLine {
    course: i64,
    price_cents: i64,
    added_at: DateTime<Utc>,
}

impl CachedCartStore {
    pub fn new(store: Arc<dyn CartStore>, redis: Redis, metrics: CacheMetrics) -> CachedCartStore {
        CachedCartStore {
            store,
            redis,
            metrics,
        }
    }

    fn keys(&self, owner: CartOwner) -> (String, String) {
        let name = match owner {
            CartOwner::Visitor(CartId(id)) => format!("visitor-{}", id.simple()),
            CartOwner::User(UserId(id)) => format!("user-{id}"),
        };
        (
            self.redis.key(&format!("cart:{name}")),
            self.redis.key(&format!("cart:{name}:generation")),
        )
    }

    async fn cached(&self, key: &str) -> Result<Option<Vec<CartLine>>, CacheError> {
        let Some(bytes) = self.redis.get(key).await? else {
            return Ok(None);
        };
        // a copy that no longer decodes counts as a miss
        let Ok(lines) = serde_json::from_slice::<Vec<CachedLine>>(&bytes) else {
            return Ok(None);
        };
        Ok(lines
            .into_iter()
            .map(|line| {
                Some(CartLine {
                    course: CourseId(line.course),
                    price_seen: Money::from_cents(line.price_cents).ok()?,
                    added_at: line.added_at,
                })
            })
            .collect())
    }

    async fn generation(&self, key: &str) -> Result<String, CacheError> {
        Ok(self
            .redis
            .get(key)
            .await?
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .unwrap_or_else(|| "0".to_string()))
    }

    /// Before a write to the store: no copy is served from here on, whatever happens next. (Best
    /// effort; `written` after the write is what makes sure.)
    async fn writing(&self, owner: CartOwner) {
        let _ = drop_copy(self.redis.clone(), self.keys(owner)).await;
    }

    /// After a write to the store, whatever its outcome (a write that timed out may still have
    /// reached the store): a new generation and no cached copy. If Redis cannot be told,
    /// readers skip it for a moment anyway; the copy is retried in the background until dropped.
    async fn written(&self, owner: CartOwner) {
        let (redis, keys) = (self.redis.clone(), self.keys(owner));
        if let Err(error) = drop_copy(redis.clone(), keys.clone()).await {
            tracing::warn!(%error, "could not drop a cached cart; retrying in the background");
            retry_in_background(CART_TTL, move || drop_copy(redis.clone(), keys.clone()));
        }
    }
}

async fn drop_copy(redis: Redis, (copy, generation): (String, String)) -> Result<(), CacheError> {
    redis
        .run(|mut redis| async move {
            redis::pipe()
                .atomic()
                .incr(&generation, 1)
                .ignore()
                .expire(&generation, GENERATION_TTL_SECONDS as i64)
                .ignore()
                .del(&copy)
                .ignore()
                .query_async::<()>(&mut redis)
                .await
        })
        .await
}

#[async_trait::async_trait]
impl CartStore for CachedCartStore {
    async fn lines(&self, owner: CartOwner) -> Result<Vec<CartLine>, CartError> {
        let (copy, generation_key) = self.keys(owner);
        let generation = match self.cached(&copy).await {
            Ok(Some(lines)) => {
                self.metrics.hit(CacheName::Cart);
                return Ok(lines);
            }
            Ok(None) => {
                self.metrics.miss(CacheName::Cart);
                self.generation(&generation_key).await.ok()
            }
            Err(_) => {
                self.metrics.error(CacheName::Cart);
                None
            }
        };
        let lines = self.store.lines(owner).await?;
        if let Some(generation) = generation {
            let cached: Vec<CachedLine> = lines
                .iter()
                .map(|line| CachedLine {
                    course: line.course.0,
                    price_cents: line.price_seen.cents(),
                    added_at: line.added_at,
                })
                .collect();
            if let Ok(json) = serde_json::to_string(&cached) {
                let _ = self
                    .redis
                    .run(|mut redis| async move {
                        redis::Script::new(STORE_IF_CURRENT)
                            .key(copy)
                            .key(generation_key)
                            .arg(json)
                            .arg(generation)
                            .arg(CART_TTL.as_secs())
                            .invoke_async::<i64>(&mut redis)
                            .await
                    })
                    .await;
            }
        }
        Ok(lines)
    }

    async fn add(&self, owner: CartOwner, line: CartLine) -> Result<(), CartError> {
        self.writing(owner).await;
        let written = self.store.add(owner, line).await;
        self.written(owner).await;
        written
    }

    async fn remove(&self, owner: CartOwner, course: CourseId) -> Result<(), CartError> {
        self.writing(owner).await;
        let written = self.store.remove(owner, course).await;
        self.written(owner).await;
        written
    }

    async fn clear(&self, owner: CartOwner) -> Result<(), CartError> {
        self.writing(owner).await;
        let written = self.store.clear(owner).await;
        self.written(owner).await;
        written
    }

    async fn merge(&self, visitor: CartId, user: UserId) -> Result<(), CartError> {
        self.writing(CartOwner::Visitor(visitor)).await;
        self.writing(CartOwner::User(user)).await;
        let merged = self.store.merge(visitor, user).await;
        self.written(CartOwner::Visitor(visitor)).await;
        self.written(CartOwner::User(user)).await;
        merged
    }
}
