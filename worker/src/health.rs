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
use shop::readiness::{DownCause, chain_text};

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
    /// Why it is down, as a category: its error text goes to the log, not to the probe.
    #[serde(skip_serializing_if = "Option::is_none")]
    cause: Option<DownCause>,
}

/// `GET /readyz`: PostgreSQL answers and the consumer is connected to RabbitMQ; 503 when either
/// is not (the worker cannot enroll without both).
#[tracing::instrument(name = "readiness probe", skip_all)]
async fn readyz(pool: Data<PgPool>, broker: Data<BrokerStatus>) -> HttpResponse {
    let started = Instant::now();
    let ping = tokio::time::timeout(CHECK_TIMEOUT, shop::database::ping(&pool)).await;
    let postgres_cause = match ping {
        Ok(Ok(())) => None,
        Ok(Err(error)) => {
            tracing::warn!(error = %chain_text(&error), "PostgreSQL check failed");
            Some(DownCause::of(&error))
        }
        Err(_) => {
            tracing::warn!("PostgreSQL check got no answer in time");
            Some(DownCause::Timeout)
        }
    };
    let postgres = Dependency {
        name: "postgres",
        role: "orders and enrollments",
        critical: true,
        status: if postgres_cause.is_none() {
            "up"
        } else {
            "down"
        },
        latency_ms: Some((started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0),
        cause: postgres_cause,
    };
    let (status, cause) = match broker.now() {
        BrokerState::Consuming => ("up", None),
        BrokerState::Connecting => ("down", Some(DownCause::Connecting)),
        BrokerState::Down(cause) => ("down", Some(cause)),
    };
    let rabbitmq = Dependency {
        name: "rabbitmq",
        role: "OrderPlaced events (consumer)",
        critical: true,
        status,
        latency_ms: None,
        cause,
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
