//! The caches' families: how often Redis spared the store, and how often the store was asked.

use prometheus::{IntCounterVec, Opts};

use super::MetricsRegistry;
use crate::cache::CacheName;

/// What a cache lookup found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Miss,
    /// Redis was unavailable: the value came from the store as if there were no cache.
    Error,
}

impl CacheOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            CacheOutcome::Hit => "hit",
            CacheOutcome::Miss => "miss",
            CacheOutcome::Error => "error",
        }
    }
}

/// `courseshop_cache_requests_total{cache, outcome}` and `courseshop_cache_rebuilds_total{cache}`.
#[derive(Clone, Debug)]
pub struct CacheMetrics {
    requests: IntCounterVec,
    rebuilds: IntCounterVec,
}

impl CacheMetrics {
    pub fn new(registry: &MetricsRegistry) -> CacheMetrics {
        CacheMetrics {
            requests: registry.register(IntCounterVec::new(
                Opts::new(
                    "courseshop_cache_requests_total",
                    "Cache lookups by cache and outcome (hit, miss, error: Redis unavailable).",
                ),
                &["cache", "outcome"],
            )),
            rebuilds: registry.register(IntCounterVec::new(
                Opts::new(
                    "courseshop_cache_rebuilds_total",
                    "Cached values recomputed from the store, by cache.",
                ),
                &["cache"],
            )),
        }
    }

    /// A lookup in `cache` found the value.
    pub fn hit(&self, cache: CacheName) {
        self.lookup(cache, CacheOutcome::Hit);
    }

    /// A lookup in `cache` did not find the value.
    pub fn miss(&self, cache: CacheName) {
        self.lookup(cache, CacheOutcome::Miss);
    }

    /// A lookup in `cache` could not ask Redis (down, slow, cooling down).
    pub fn error(&self, cache: CacheName) {
        self.lookup(cache, CacheOutcome::Error);
    }

    fn lookup(&self, cache: CacheName, outcome: CacheOutcome) {
        self.requests
            .with_label_values(&[cache.as_str(), outcome.as_str()])
            .inc();
    }

    /// A value of `cache` was recomputed from the store. Fewer than the misses when concurrent
    /// misses share one recomputation (no stampede).
    pub fn rebuild(&self, cache: CacheName) {
        self.rebuilds.with_label_values(&[cache.as_str()]).inc();
    }

    /// Lookups in `cache` with `outcome` so far (`/about/architecture`, tests, load scenarios).
    pub fn requests(&self, cache: CacheName, outcome: CacheOutcome) -> u64 {
        self.requests
            .with_label_values(&[cache.as_str(), outcome.as_str()])
            .get()
    }

    /// Recomputations of `cache` values so far.
    pub fn rebuilds(&self, cache: CacheName) -> u64 {
        self.rebuilds.with_label_values(&[cache.as_str()]).get()
    }
}
