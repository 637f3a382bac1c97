//! Building and running the web server from `Settings`.

use std::net::TcpListener;

use actix_web::dev::Server;
use actix_web::middleware::Compress;
use actix_web::web::{self, Data};
use actix_web::{App, HttpServer};
use sqlx::PgPool;
use tracing_actix_web::TracingLogger;

use shop::catalog::Catalog;
use shop::database;
use shop::settings::Settings;

use crate::error::{AppError, error_pages};
use crate::layout::ShopInfo;
use crate::routes;
use crate::security_headers::security_headers;
use crate::telemetry::ShopRootSpan;

/// A bound, not yet running, web server. Binding first lets the tests ask for port 0 and learn the port.
pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub fn build(settings: &Settings) -> std::io::Result<Application> {
        let pool = database::connect_lazily(&settings.database);
        Application::build_with_pool(settings, pool)
    }

    pub fn build_with_pool(settings: &Settings, pool: PgPool) -> std::io::Result<Application> {
        let listener = TcpListener::bind((settings.host, settings.port))?;
        let port = listener.local_addr()?.port();
        let catalog = Data::new(Catalog::new(pool.clone()));
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
                .wrap(TracingLogger::<ShopRootSpan>::new())
                .app_data(catalog.clone())
                .app_data(pool.clone())
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

async fn not_found() -> Result<actix_web::HttpResponse, AppError> {
    Err(AppError::NotFound(
        "There is nothing at this address. The link may be mistyped or out of date.".to_string(),
    ))
}
