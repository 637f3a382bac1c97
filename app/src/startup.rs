//! Building and running the web server from `Settings`.

use std::net::TcpListener;
use std::sync::Arc;

use actix_session::SessionMiddleware;
use actix_session::storage::CookieSessionStore;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::Server;
use actix_web::middleware::Compress;
use actix_web::web::{self, Data};
use actix_web::{App, HttpServer};
use anyhow::Context;
use sqlx::PgPool;
use tracing_actix_web::TracingLogger;

use shop::accounts::Accounts;
use shop::cache::Redis;
use shop::cart::{CartService, CartStore, CosmosCartStore, PostgresCartStore};
use shop::catalog::{Catalog, Teaching};
use shop::database;
use shop::enrollment::Enrollments;
use shop::orders::{Checkout, Orders, SimulatedPaymentGateway};
use shop::settings::Settings;
use shop::topology::CartStoreKind;

use crate::error::{AppError, error_pages};
use crate::layout::ShopInfo;
use crate::routes;
use crate::routes::health::Probes;
use crate::security_headers::security_headers;
use crate::telemetry::ShopRootSpan;

/// A bound, not yet running, web server. Binding first lets the tests ask for port 0 and learn the port.
pub struct Application {
    port: u16,
    server: Server,
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
        let catalog = Data::new(Catalog::new(pool.clone()));
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
        let probes = Data::new(Probes {
            cosmos: cosmos_carts,
            redis: redis.clone(),
        });
        let carts = CartService::new(
            cart_store,
            Catalog::new(pool.clone()),
            Enrollments::new(pool.clone()),
        );
        let checkout = Data::new(Checkout::new(
            pool.clone(),
            carts.clone(),
            Arc::new(SimulatedPaymentGateway),
        ));
        let carts = Data::new(carts);
        let orders = Data::new(Orders::new(pool.clone()));
        let teaching = Data::new(Teaching::new(pool.clone()));
        let enrollments = Data::new(Enrollments::new(pool.clone()));
        let session_key = session_key(settings);
        let cookie_secure = settings.sessions.cookie_secure;
        let pool = Data::new(pool);
        let info = Data::new(ShopInfo {
            topology: settings.topology,
        });
        let server = HttpServer::new(move || {
            App::new()
                // outermost first: the request span wraps everything, error pages get security headers
                .wrap(error_pages())
                .wrap(security_headers())
                .wrap(Compress::default())
                .wrap(
                    SessionMiddleware::builder(CookieSessionStore::default(), session_key.clone())
                        .cookie_name("courseshop_session".to_string())
                        .cookie_secure(cookie_secure)
                        .cookie_http_only(true)
                        .cookie_same_site(SameSite::Lax)
                        .build(),
                )
                .wrap(TracingLogger::<ShopRootSpan>::new())
                // forms are small; anything larger is refused (413) before it is read
                .app_data(web::FormConfig::default().limit(FORM_LIMIT_BYTES))
                .app_data(catalog.clone())
                .app_data(accounts.clone())
                .app_data(carts.clone())
                .app_data(checkout.clone())
                .app_data(orders.clone())
                .app_data(teaching.clone())
                .app_data(enrollments.clone())
                .app_data(pool.clone())
                .app_data(probes.clone())
                .app_data(info.clone())
                .configure(routes::configure)
                .default_service(web::to(not_found))
        })
        .listen(listener)?
        .run();
        Ok(Application { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Runs until SIGINT/SIGTERM (actix-web handles both and drains open requests).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
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
