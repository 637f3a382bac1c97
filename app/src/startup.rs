//! Building and running the web server from `Settings`.

use std::net::TcpListener;

use actix_web::cookie::Key;
use actix_web::dev::Server;
use actix_web::middleware::{Compress, from_fn};
use actix_web::web::{self, Data};
use actix_web::{App, HttpServer};
use anyhow::Context;
use tracing_actix_web::TracingLogger;

use shop::events::relay::{self as outbox_relay, RelayHandle};
use shop::settings::{MetricsAccess, PublicUrl, Settings};

use crate::error::AppError;
use crate::error_page::error_pages;
use crate::http_cache::http_caching;
use crate::metrics::AppMetrics;
use crate::request_metrics::record_requests;
use crate::routes;
use crate::security_headers::security_headers;
use crate::session::store::{self, Sessions};
use crate::session::visitor_cart::{VisitorCartCookie, keep_visitor_cart};
use crate::state::{AppState, Stores};
use crate::telemetry::ShopRootSpan;

/// A bound, not yet running, web server. Binding first lets the tests ask for port 0 and learn the port.
pub struct Application {
    port: u16,
    server: Server,
    /// Step 4: the outbox relay beside the web server.
    relay: Option<RelayHandle>,
    metrics: AppMetrics,
}

impl Application {
    pub async fn build(settings: &Settings) -> anyhow::Result<Application> {
        Application::build_with(settings, Stores::from_settings(settings)?).await
    }

    pub async fn build_with(settings: &Settings, stores: Stores) -> anyhow::Result<Application> {
        let listener = TcpListener::bind((settings.host, settings.port))
            .with_context(|| format!("cannot listen on {}:{}", settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        // step 3: sessions in Redis; before, in the cookie
        let key = session_key(settings);
        let sessions = Sessions::new(
            stores.redis.clone(),
            key.clone(),
            settings.sessions.cookie_secure,
        );
        // middleware's own settings, beside the sessions': the handlers' services are in the state
        let visitor_cart_cookie = Data::new(VisitorCartCookie {
            key,
            secure: settings.sessions.cookie_secure,
        });
        // unset outside production: where this shop listens, now that the port is known
        let public_url = settings
            .public_url
            .clone()
            .unwrap_or_else(|| PublicUrl::listening_at(settings.host, port));
        let state = Data::new(AppState::build(settings, stores, public_url).await?);
        let metrics = state.metrics.clone();
        if settings.metrics == MetricsAccess::Off {
            tracing::info!("/metrics is not served: set METRICS_TOKEN to let a scraper read it");
        }
        let server = HttpServer::new(move || {
            App::new()
                // the session innermost, its guard around it, so error pages render the guard's answers
                .wrap(sessions.middleware())
                .wrap(from_fn(keep_visitor_cart))
                .wrap(from_fn(store::guard))
                // outermost first: the request span wraps everything, error pages get security headers
                .wrap(error_pages())
                // public pages get their validator before compression, private ones `no-store`
                .wrap(from_fn(http_caching))
                .wrap(security_headers())
                .wrap(Compress::default())
                .wrap(TracingLogger::<ShopRootSpan>::new())
                // outside everything else, so its status is the one sent and its time is the whole
                .wrap(from_fn(record_requests))
                // forms are small; anything larger is refused (413) before it is read
                .app_data(web::PayloadConfig::new(FORM_LIMIT_BYTES))
                // the whole service graph, built once: a handler cannot ask for a part it lacks
                .app_data(state.clone())
                .app_data(visitor_cart_cookie.clone())
                .configure(routes::configure)
                .default_service(web::to(not_found))
        })
        // HTTP_WORKERS; unset, one a CPU, as actix-web's own default
        .workers(settings.http_workers.unwrap_or_else(|| {
            std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
        }))
        .listen(listener)?
        .run();
        // step 4: checkout only writes the outbox; this sends what it wrote
        let relay = settings.events.clone().map(|events| {
            outbox_relay::spawn(
                &settings.database,
                events,
                metrics.outbox.clone(),
                &metrics.postgres,
            )
        });
        Ok(Application {
            port,
            server,
            relay,
            metrics,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What this app counts, as its `/metrics` shows it (the tests read it directly).
    pub fn metrics(&self) -> AppMetrics {
        self.metrics.clone()
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
