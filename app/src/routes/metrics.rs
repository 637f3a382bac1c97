//! `GET /metrics`, for Prometheus (or Azure Monitor's managed Prometheus) to scrape.

use actix_web::web::Data;
use actix_web::{HttpRequest, HttpResponse};
use shop::settings::MetricsAccess;
use subtle::ConstantTimeEq;

use crate::error::AppError;
use crate::state::AppState;

/// `GET /metrics`: every metric of this app in the Prometheus text format (`crate::metrics::AppMetrics`).
///
/// Who may read it is `METRICS_TOKEN`'s to say (`MetricsAccess`): the ingress of a deployment
/// publishes every path, so in production a scraper sends `Authorization: Bearer <token>`, and
/// without a token the route is not served at all. The numbers are per instance: Prometheus adds the
/// instances up.
///
/// Scrapes are counted in the request metrics like any page (route `/metrics`), so their load is
/// visible and they are not mixed into any other route's numbers.
pub async fn metrics(
    state: Data<AppState>,
    request: HttpRequest,
) -> Result<HttpResponse, AppError> {
    let access = &state.metrics_access;
    let pool = &state.pool;
    match access {
        MetricsAccess::Open => {}
        MetricsAccess::Off => {
            return Err(AppError::NotFound(
                "There is no page at this address.".to_string(),
            ));
        }
        MetricsAccess::Token(token) => {
            let sent = request
                .headers()
                .get("authorization")
                .and_then(|value| value.to_str().ok())
                .and_then(|value| value.strip_prefix("Bearer "))
                .unwrap_or_default();
            // compared in constant time: how long it takes tells a guesser nothing
            if !bool::from(sent.as_bytes().ct_eq(token.expose().as_bytes())) {
                return Ok(HttpResponse::Unauthorized()
                    .insert_header(("WWW-Authenticate", "Bearer realm=\"metrics\""))
                    .content_type("text/plain; charset=utf-8")
                    .body("a bearer token (METRICS_TOKEN) is needed for /metrics\n"));
            }
        }
    }
    state.metrics.postgres.observe_pool(pool);
    let text = state
        .metrics
        .registry
        .render()
        .map_err(|error| AppError::Internal(error.into()))?;
    Ok(HttpResponse::Ok()
        .content_type(shop::metrics::CONTENT_TYPE)
        // a scraper wants this instant's numbers, never a cached copy
        .insert_header(("Cache-Control", "no-store"))
        .body(text))
}
