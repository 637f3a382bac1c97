//! Building and running the web server from `Settings`.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::cookie::Key;
use actix_web::dev::Server;
use actix_web::middleware::{Compress, from_fn};
use actix_web::web::{self, Data};
use actix_web::{App, HttpServer};
use anyhow::Context;
use sqlx::PgPool;
use tracing_actix_web::TracingLogger;

use shop::accounts::{Accounts, LoginLimiter};
use shop::cache::Redis;
use shop::cart::{CachedCartStore, CartService, CartStore, CosmosCartStore, PostgresCartStore};
use shop::catalog::{Catalog, CatalogCache, Teaching};
use shop::database;
use shop::enrollment::Enrollments;
use shop::events::broker::BrokerProbe;
use shop::events::relay::{self as outbox_relay, RelayHandle};
use shop::orders::{Checkout, Orders, SimulatedPaymentGateway};
use shop::settings::{MetricsAccess, Settings};
use shop::topology::CartStoreKind;

use crate::error::AppError;
use crate::error_page::error_pages;
use crate::layout::ShopInfo;
use crate::metrics;
use crate::routes;
use crate::routes::accounts::LoginThrottle;
use crate::routes::health::Probes;
use crate::security_headers::security_headers;
use crate::session::store::{self, Sessions};
use crate::session::visitor_cart::{VisitorCartCookie, keep_visitor_cart};
use crate::telemetry::ShopRootSpan;

/// A bound, not yet running, web server. Binding first lets the tests ask for port 0 and learn the port.
pub struct Application {
    port: u16,
    server: Server,
    /// Step 4: the outbox relay beside the web server.
    relay: Option<RelayHandle>,
}

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

impl Application {
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        Application::build_with(settings, Stores::from_settings(settings)?).await
    }

    pub async fn build_with(settings: &Settings, stores: Stores) -> anyhow::Result<Application> {
        let listener = TcpListener::bind((settings.host, settings.port))
            .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        let Stores {
            pool,
            cosmos_carts,
            redis,
        } = stores;
        // step 3: the catalog's pages read through Redis, and instructors' changes invalidate them
        let catalog_cache = redis.clone().map(CatalogCache::new);
        let (catalog, teaching) = match &catalog_cache {
            Some(cache) => (
                Catalog::with_cache(pool.clone(), cache.clone()),
                Teaching::with_cache(pool.clone(), cache.clone()),
            ),
            None => (Catalog::new(pool.clone()), Teaching::new(pool.clone())),
        };
        let (catalog, teaching) = (Data::new(catalog), Data::new(teaching));
        let accounts = Data::new(Accounts::new(pool.clone()));
        let cart_store: Arc<dyn CartStore> = match (settings.topology.cart_store, &cosmos_carts) {
            (CartStoreKind::Cosmos, Some(store)) => {
                // opened now so a wrong endpoint or key shows in the log at start; the shop still
                // starts without it, and the cart pages say the cart is unavailable until it answers
                if let Err(error) = store.open().await {
                    tracing::error!(error = %error, cause = ?std::error::Error::source(&error), "Cosmos DB is not reachable yet; carts are unavailable until it is");
                }
                Arc::new(store.clone())
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
        let checkout_carts = CartService::new(
            cart_store.clone(),
            Catalog::new(pool.clone()),
            Enrollments::new(pool.clone()),
        );
        // step 3: the cart read through Redis, the store written first
        let cart_store: Arc<dyn CartStore> = match &redis {
            Some(redis) => Arc::new(CachedCartStore::new(cart_store, redis.clone())),
            None => cart_store,
        };
        let probes = Data::new(Probes {
            cosmos: cosmos_carts,
            redis: redis.clone(),
            broker: settings
                .events
                .as_ref()
                .map(|events| BrokerProbe::new(events.broker.clone(), "courseshop readiness")),
        });
        let carts = CartService::new(
            cart_store,
            Catalog::new(pool.clone()),
            Enrollments::new(pool.clone()),
        );
        let checkout = Data::new(Checkout::new(
            pool.clone(),
            checkout_carts,
            Arc::new(SimulatedPaymentGateway),
            settings.topology.enrollment,
        ));
        let carts = Data::new(carts);
        let orders = Data::new(Orders::new(pool.clone()));
        let enrollments = Data::new(Enrollments::new(pool.clone()));
        // step 3: sessions and the login limit in Redis; before, cookie sessions and no limit
        let key = session_key(settings);
        let sessions = Sessions::new(redis.clone(), key.clone(), settings.sessions.cookie_secure);
        let visitor_cart_cookie = Data::new(VisitorCartCookie {
            key,
            secure: settings.sessions.cookie_secure,
        });
        let login_throttle = Data::new(LoginThrottle {
            limiter: match (&redis, &settings.redis) {
                (Some(redis), Some(redis_settings)) => {
                    LoginLimiter::new(redis.clone(), redis_settings.login_limits)
                }
                _ => LoginLimiter::off(),
            },
            trust_forwarded_for: settings.trust_forwarded_for,
        });
        let pool = Data::new(pool);
        let info = Data::new(ShopInfo {
            topology: settings.topology,
        });
        if settings.metrics == MetricsAccess::Off {
            tracing::info!("/metrics is not served: set METRICS_TOKEN to let a scraper read it");
        }
        let metrics_access = Data::new(settings.metrics.clone());
        let server = HttpServer::new(move || {
            App::new()
                // the session innermost, its guard around it, so error pages render the guard's answers
                .wrap(sessions.middleware())
                .wrap(from_fn(keep_visitor_cart))
                .wrap(from_fn(store::guard))
                // outermost first: the request span wraps everything, error pages get security headers
                .wrap(error_pages())
                .wrap(security_headers())
                .wrap(Compress::default())
                .wrap(TracingLogger::<ShopRootSpan>::new())
                // outside everything else, so its status is the one sent and its time is the whole
                .wrap(from_fn(metrics::record_requests))
                // forms are small; anything larger is refused (413) before it is read
                .app_data(web::PayloadConfig::new(FORM_LIMIT_BYTES))
                .app_data(catalog.clone())
                .app_data(accounts.clone())
                .app_data(login_throttle.clone())
                .app_data(visitor_cart_cookie.clone())
                .app_data(carts.clone())
                .app_data(checkout.clone())
                .app_data(orders.clone())
                .app_data(teaching.clone())
                .app_data(enrollments.clone())
                .app_data(pool.clone())
                .app_data(probes.clone())
                .app_data(info.clone())
                .app_data(metrics_access.clone())
                .configure(routes::configure)
                .default_service(web::to(not_found))
        })
        .listen(listener)?
        .run();
        // step 4: checkout only writes the outbox; this sends what it wrote
        let relay = settings
            .events
            .clone()
            .map(|events| outbox_relay::spawn(&settings.database, events));
        Ok(Application {
            port,
            server,
            relay,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until SIGINT/SIGTERM (actix-web handles both and drains open requests), then lets the
    /// relay finish the batch in hand.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let served = self.server.await;
        if let Some(relay) = self.relay {
            relay.stop().await;
        }
        served
    }
}

/// Largest form body accepted: a course description is the longest field a form carries.
const FORM_LIMIT_BYTES: usize = 64 * 1024;

/// The key that signs and encrypts session cookies. Without `SESSION_KEY` each process makes its
/// own, which is fine on one machine and means sessions end when it restarts.
fn session_key(settings: &Settings) -> Key {
    match &settings.sessions.key {
        Some(secret) => Key::derive_from(secret.expose().as_bytes()),
        None => {
            tracing::warn!(
                "SESSION_KEY is not set: sessions will not survive a restart or be shared between instances"
            );
            Key::generate()
        }
    }
}

async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::NotFound(
        "There is nothing at this address. The link may be mistyped or out of date.".to_string(),
    ))
}
