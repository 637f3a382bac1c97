//! `GET /metrics`, for Prometheus (or Azure Monitor's managed Prometheus) to scrape.

use actix_web::HttpResponse;
use actix_web::web::Data;
use sqlx::PgPool;

use crate::error::AppError;

/// `GET /metrics`: every metric of this process in the Prometheus text format (`shop::metrics`).
///
/// No sign-in: in Azure the shop's port is reached from outside only through the ingress, and the
/// scraper runs inside the environment; the ingress could refuse `/metrics` from outside (not done
/// yet). The numbers are per instance: Prometheus adds the instances up.
///
/// Scrapes are counted in the request metrics like any page (route `/metrics`), so their load is
/// visible and they are not mixed into any other route's numbers.
pub async fn metrics(pool: Data<PgPool>) -> Result<HttpResponse, AppError> {
    shop::metrics::observe_pool(&pool);
    let text = shop::metrics::render().map_err(|error| AppError::Internal(error.into()))?;
    Ok(HttpResponse::Ok()
        .content_type(shop::metrics::CONTENT_TYPE)
        // a scraper wants this instant's numbers, never a cached copy
        .insert_header(("Cache-Control", "no-store"))
        .body(text))
}
