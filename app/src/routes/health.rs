//! Probes for the platform (Azure Container Apps, docker-compose, a load balancer).

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::web::Data;
use shop::readiness::Readiness;

use crate::probes::check_stores;
use crate::state::AppState;

/// `GET /healthz`: the process is alive and serving. It checks no store, so a database outage does
/// not get healthy instances restarted.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "alive" }))
}

/// `GET /readyz`: each store this step uses, checked side by side. 503 when a store the shop
/// cannot serve without (PostgreSQL) is down; 200 "degraded" when only the cart store is, because
/// taking every instance out of the load balancer would turn a cart outage into a shop outage.
#[tracing::instrument(name = "readiness probe", skip_all)]
pub async fn readyz(state: Data<AppState>) -> HttpResponse {
    let body = Readiness::of(check_stores(&state.pool, &state.probes).await);
    let status =
        StatusCode::from_u16(body.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    HttpResponse::build(status).json(body)
}
