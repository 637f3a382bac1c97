//! Probes for the platform (Azure Container Apps, docker-compose, a load balancer).

use std::time::Duration;

use actix_web::HttpResponse;
use actix_web::web::Data;
use serde::Serialize;
use sqlx::PgPool;

/// `GET /healthz`: the process is alive and serving. It checks no store, so a database outage does
/// not get healthy instances restarted.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "alive" }))
}

#[derive(Serialize)]
struct Readiness {
    status: &'static str,
    stores: Vec<StoreStatus>,
}

#[derive(Serialize)]
struct StoreStatus {
    name: &'static str,
    role: &'static str,
    status: &'static str,
    #[serde(rename = "latencyMs")]
    latency_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// A store slower than this to answer counts as down: probes (Container Apps, Kubernetes) give up
/// after one second, and a probe that times out tells the platform less than a prompt "down".
const STORE_CHECK_TIMEOUT: Duration = Duration::from_millis(800);

/// `GET /readyz`: 200 when every store this step uses answers, 503 otherwise, with each store's status.
#[tracing::instrument(name = "readiness probe", skip_all)]
pub async fn readyz(pool: Data<PgPool>) -> HttpResponse {
    let started = std::time::Instant::now();
    let postgres =
        match tokio::time::timeout(STORE_CHECK_TIMEOUT, shop::database::ping(&pool)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(_) => Err(format!(
                "no answer within {} ms",
                STORE_CHECK_TIMEOUT.as_millis()
            )),
        };
    let stores = vec![StoreStatus {
        name: "postgres",
        role: "catalog, accounts, carts, orders, enrollments",
        status: if postgres.is_ok() { "up" } else { "down" },
        latency_ms: (started.elapsed().as_secs_f64() * 10_000.0).round() / 10.0,
        error: postgres.err(),
    }];
    let ready = stores.iter().all(|store| store.status == "up");
    let body = Readiness {
        status: if ready { "ready" } else { "unavailable" },
        stores,
    };
    if ready {
        HttpResponse::Ok().json(body)
    } else {
        HttpResponse::ServiceUnavailable().json(body)
    }
}
