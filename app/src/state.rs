//! The shop's service graph, built once from `Settings`: every handler reads the part it needs
//! from `Data<AppState>`, so a part that was never built is a compile error, not a 500 at run time.

use std::sync::Arc;

use anyhow::Context;
use sqlx::PgPool;

use shop::accounts::{Accounts, LoginLimiter};
use shop::cache::Redis;
use shop::cart::{
    CachedCartStore, CartService, CartStore, CosmosCartStore, PostgresCartStore,
    ReadThroughCartStore,
};
use shop::catalog::{Catalog, CatalogCache, CatalogIndex, Teaching};
use shop::database::{self, Reads};
use shop::enrollment::Enrollments;
use shop::events::broker::BrokerProbe;
use shop::orders::{Checkout, Orders, SimulatedPaymentGateway};
use shop::settings::{CatalogSearch, InstanceName, MetricsAccess, PublicUrl, Settings};
use shop::topology::{CartStoreKind, Topology};

use crate::login_throttle::LoginThrottle;
use crate::metrics::AppMetrics;
use crate::probes::Probes;

/// The stores the shop's topology picked, made from the settings (tests swap single ones).
pub struct Stores {
    pub pool: PgPool,
    /// Set when carts live in Cosmos DB (step 2 on).
    pub cosmos_carts: Option<CosmosCartStore>,
    /// Set when the cache is Redis (step 3 on).
    pub redis: Option<Redis>,
}

impl Stores {
    /// Connections are made lazily: the shop starts, and browsing works, while a store is down.
    pub fn from_settings(settings: &Settings) -> anyhow::Result<Stores> {
        Ok(Stores {
            pool: database::connect_lazily(&settings.database),
            cosmos_carts: settings.cosmos.clone().map(CosmosCartStore::new),
            redis: settings
                .redis
                .clone()
                .map(Redis::new)
                .transpose()
                .context("REDIS_URL is not a Redis URL the client accepts")?,
        })
    }
}

/// Everything a request may need, made once per process and shared by every worker thread.
pub struct AppState {
    /// The tutorial step and switches this shop runs (footer, `/about/architecture`).
    pub topology: Topology,
    /// Where people and search engines reach the shop: canonical links, the sitemap.
    pub public_url: PublicUrl,
    /// Which of several instances behind one address this is (`SHOP_INSTANCE`).
    pub instance: InstanceName,
    /// The primary: writes, and every read that must see the last write.
    pub pool: PgPool,
    /// Where the catalog's reads go: the replica when it may answer them (step 5), else `pool`.
    pub reads: Reads,
    /// The catalog as pages read it (through Redis from step 3, on the replica at step 5).
    pub catalog: Catalog,
    pub teaching: Teaching,
    pub accounts: Accounts,
    /// The cart as pages read it (through Redis from step 3).
    pub carts: CartService,
    /// Checkout, with its own cart service that reads the store itself.
    pub checkout: Checkout,
    pub orders: Orders,
    pub enrollments: Enrollments,
    pub login_throttle: LoginThrottle,
    pub probes: Probes,
    pub metrics_access: MetricsAccess,
    /// What this app counts (its `/metrics`, `/about/architecture`).
    pub metrics: AppMetrics,
}

impl AppState {
    /// The graph over `stores`, as `settings` pick it, for a shop reached at `public_url`.
    pub async fn build(
        settings: &Settings,
        stores: Stores,
        public_url: PublicUrl,
    ) -> anyhow::Result<AppState> {
        let Stores {
            pool,
            cosmos_carts,
            redis,
        } = stores;
        let metrics = AppMetrics::new();
        // step 5: the replica measured now and then in the background; without one, all on `pool`
        let reads = Reads::start(pool.clone(), &settings.database, metrics.reads.clone()).await;
        // step 3: the catalog's pages read through Redis, and instructors' changes invalidate them
        let catalog_cache = redis
            .clone()
            .map(|redis| CatalogCache::new(redis, metrics.cache.clone()));
        let (catalog, teaching) = match &catalog_cache {
            Some(cache) => (
                Catalog::with_cache(reads.clone(), cache.clone()),
                Teaching::with_cache(reads.clone(), cache.clone()),
            ),
            None => (Catalog::on(reads.clone()), Teaching::new(reads.clone())),
        };
        // searches with words answered from memory, unless the settings keep them in PostgreSQL
        let (catalog, teaching) = match settings.catalog.search {
            CatalogSearch::Index => {
                let index = CatalogIndex::start(
                    pool.clone(),
                    catalog_cache.clone(),
                    settings.catalog.index_refresh,
                );
                (
                    catalog.with_index(index.clone()),
                    teaching.with_index(index),
                )
            }
            CatalogSearch::Postgres => (catalog, teaching),
        };
        let accounts = Accounts::new(pool.clone());
        let enrollments = Enrollments::new(pool.clone());
        // carts are priced from the primary itself, never from a cached page or a replica: a price
        // is what is paid
        let pricing = Catalog::new(pool.clone());
        let cart_store: Arc<dyn CartStore> = match (settings.topology.cart_store, &cosmos_carts) {
            (CartStoreKind::Cosmos, Some(store)) => {
                // opened now so a wrong endpoint or key shows in the log at start; the shop still
                // starts without it, and the cart pages say the cart is unavailable until it answers
                if let Err(error) = store.open().await {
                    tracing::error!(error = %error, cause = ?std::error::Error::source(&error), "Cosmos DB is not reachable yet; carts are unavailable until it is");
                }
                if store.settings().read_through {
                    // the cut-over: a cart still in PostgreSQL moves on its first use
                    Arc::new(ReadThroughCartStore::new(
                        store.clone(),
                        Arc::new(store.clone()),
                        pool.clone(),
                    ))
                } else {
                    Arc::new(store.clone())
                }
            }
            (CartStoreKind::Cosmos, None) => {
                anyhow::bail!(
                    "carts are in Cosmos DB at this step, but no Cosmos DB settings were given"
                )
            }
            (CartStoreKind::Postgres, _) => Arc::new(PostgresCartStore::new(pool.clone())),
        };
        // Checkout reads the cart from its store, never from a cached copy: what is paid for must
        // be exactly what the store holds, even if dropping a stale copy failed moments ago.
        let checkout_carts =
            CartService::new(cart_store.clone(), pricing.clone(), enrollments.clone());
        // step 3: the cart read through Redis, the store written first
        let cart_store: Arc<dyn CartStore> = match &redis {
            Some(redis) => Arc::new(CachedCartStore::new(
                cart_store,
                redis.clone(),
                metrics.cache.clone(),
            )),
            None => cart_store,
        };
        let probes = Probes {
            cosmos: cosmos_carts,
            redis: redis.clone(),
            replica: reads.has_replica().then(|| reads.clone()),
            broker: settings
                .events
                .as_ref()
                .map(|events| BrokerProbe::new(events.broker.clone(), "courseshop readiness")),
        };
        let carts = CartService::new(cart_store, pricing, enrollments.clone());
        let checkout = Checkout::new(
            pool.clone(),
            checkout_carts,
            Arc::new(SimulatedPaymentGateway),
            settings.topology.enrollment,
        );
        let login_throttle = LoginThrottle {
            limiter: match (&redis, &settings.redis) {
                (Some(redis), Some(redis_settings)) => {
                    LoginLimiter::new(redis.clone(), redis_settings.login_limits)
                }
                _ => LoginLimiter::off(),
            },
            trust_forwarded_for: settings.trust_forwarded_for,
        };
        Ok(AppState {
            topology: settings.topology,
            public_url,
            instance: settings.instance.clone(),
            orders: Orders::new(pool.clone()),
            catalog,
            teaching,
            accounts,
            carts,
            checkout,
            enrollments,
            login_throttle,
            probes,
            metrics_access: settings.metrics.clone(),
            metrics,
            reads,
            pool,
        })
    }
}
