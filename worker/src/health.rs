//! The worker's own small HTTP server for the platform: `/healthz`, `/readyz`, `/metrics`.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::dev::Server;
use actix_web::web::{self, Data};
use actix_web::{App, HttpResponse, HttpServer};
use serde::Serialize;
use sqlx::PgPool;

use crate::consumer::{BrokerState, BrokerStatus};

/// A dependency slower than this to answer counts as down: probes give up after one second, and
/// a probe that times out tells the platform less than a prompt "down".
const CHECK_TIMEOUT: Duration = Duration::from_millis(800);

/// The server on `listener`; it stops when its handle says so (the worker handles the signals).
pub(crate) fn serve(
    listener: TcpListener,
    pool: PgPool,
    broker: Arc<BrokerStatus>,
) -> std::io::Result<Server> {
    let pool = Data::new(pool);
    let broker = Data::from(broker);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(pool.clone())
            .app_data(broker.clone())
            .route("/healthz", web::get().to(healthz))
            .route("/readyz", web::get().to(readyz))
            .route("/metrics", web::get().to(metrics))
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

#[derive(Serialize)]
struct Readiness {
    status: &'static str,
    stores: Vec<Dependency>,
}

/// One dependency, in the shape of the web app's `/readyz`.
#[derive(Serialize)]
struct Dependency {
    name: &'static str,
    role: &'static str,
    critical: bool,
    status: &'static str,
    /// How long the check took; absent for RabbitMQ, whose state is the consumer's own.
    #[serde(rename = "latencyMs", skip_serializing_if = "Option::is_none")]
    latency_ms: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `GET /readyz`: PostgreSQL answers and the consumer is connected to RabbitMQ; 503 when either
/// is not (the worker cannot enroll without both).
#[tracing::instrument(name = "readiness probe", skip_all)]
async fn readyz(pool: Data<PgPool>, broker: Data<BrokerStatus>) -> HttpResponse {
    let started = Instant::now();
    let ping = tokio::time::timeout(CHECK_TIMEOUT, shop::database::ping(&pool)).await;
    let postgres_error = match ping {
        Ok(Ok(())) => None,
        Ok(Err(error)) => Some(crate::handling::describe(&error)),
        Err(_) => Some(format!("no answer within {} ms", CHECK_TIMEOUT.as_millis())),
    };
    let postgres = Dependency {
        name: "postgres",
        role: "orders and enrollments",
        critical: true,
        status: if postgres_error.is_none() {
            "up"
        } else {
            "down"
        },
        latency_ms: Some((started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0),
        error: postgres_error,
    };
    let (status, error) = match broker.now() {
        BrokerState::Consuming => ("up", None),
        BrokerState::Connecting => ("down", Some("connecting".to_string())),
        BrokerState::Down(error) => ("down", Some(error)),
    };
    let rabbitmq = Dependency {
        name: "rabbitmq",
        role: "OrderPlaced events (consumer)",
        critical: true,
        status,
        latency_ms: None,
        error,
    };
    let ready = postgres.status == "up" && rabbitmq.status == "up";
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        stores: vec![postgres, rabbitmq],
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}

/// `GET /metrics`: the process's metrics (messages consumed and by outcome, processing time,
/// pool connections) in the Prometheus text format.
async fn metrics(pool: Data<PgPool>) -> HttpResponse {
    shop::metrics::observe_pool(&pool);
    match shop::metrics::render() {
        Ok(text) => HttpResponse::Ok()
            .content_type(shop::metrics::CONTENT_TYPE)
            .body(text),
        Err(error) => {
            tracing::error!(%error, "cannot render the metrics");
            HttpResponse::InternalServerError().finish()
        }
    }
}
