//! The worker's own small HTTP server for the platform: `/healthz`, `/readyz`, `/metrics`.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::Server;
use actix_web::http::StatusCode;
use actix_web::web::{self, Data};
use actix_web::{App, HttpResponse, HttpServer};
use sqlx::PgPool;

use crate::consumer::{BrokerState, BrokerStatus};
use crate::metrics::WorkerMetrics;
use shop::readiness::{DownCause, Readiness, Status, StoreStatus, check};

/// The server on `listener`; it stops when its handle says so (the worker handles the signals).
pub(crate) fn serve(
    listener: TcpListener,
    pool: PgPool,
    broker: Arc<BrokerStatus>,
    metrics: WorkerMetrics,
) -> std::io::Result<Server> {
    let pool = Data::new(pool);
    let broker = Data::from(broker);
    let metrics = Data::new(metrics);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(pool.clone())
            .app_data(broker.clone())
            .app_data(metrics.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(scrape))
    })
    // three probes a few times a minute: one thread is plenty
    .workers(1)
    .disable_signals()
    .shutdown_timeout(5)
    .listen(listener)?
    .run())
}

/// `GET /healthz`: the process is alive. It checks nothing else, so an outage of PostgreSQL or
/// RabbitMQ does not get a worker restarted that would recover by itself.
async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "alive" }))
}

/// `GET /readyz`: PostgreSQL answers and the consumer is connected to RabbitMQ; 503 when either
/// is not (the worker cannot enroll without both). The body has the shape of the web app's.
#[tracing::instrument(name = "readiness probe", skip_all)]
async fn readyz(pool: Data<PgPool>, broker: Data<BrokerStatus>) -> HttpResponse {
    let postgres = check(
        "postgres",
        "orders and enrollments",
        true,
        shop::database::ping(&pool),
    )
    .await;
    // the consumer's own state: no check to time
    let rabbitmq = StoreStatus {
        name: "rabbitmq",
        role: "OrderPlaced events (consumer)",
        critical: true,
        status: match broker.now() {
            BrokerState::Consuming => Status::Up,
            BrokerState::Connecting => Status::Down(DownCause::Connecting),
            BrokerState::Down(cause) => Status::Down(cause),
        },
        latency_ms: None,
    };
    let body = Readiness::of(vec![postgres, rabbitmq]);
    let status =
        StatusCode::from_u16(body.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    HttpResponse::build(status).json(body)
}

/// `GET /metrics`: the worker's metrics (messages consumed and by outcome, processing time, SQL
/// statements, pool connections) in the Prometheus text format.
async fn scrape(pool: Data<PgPool>, metrics: Data<WorkerMetrics>) -> HttpResponse {
    metrics.postgres.observe_pool(&pool);
    match metrics.registry.render() {
        Ok(text) => HttpResponse::Ok()
            .content_type(shop::metrics::CONTENT_TYPE)
            .body(text),
        Err(error) => {
            tracing::error!(%error, "cannot render the metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}
