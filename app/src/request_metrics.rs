//! Counts and times every request for `/metrics`, labelled by the route's pattern
//! (`/courses/{slug}`), not its path: one series per page, not one per course or per typo.

use std::time::Instant;

use actix_web::Error;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web::Data;

use crate::state::AppState;

/// The route label of a request no route matched (the 404 page).
pub const UNMATCHED: &str = "unmatched";

/// Middleware (`from_fn`): records method, route pattern, status and time to answer, and counts
/// the SQL statements sent while answering. The time is to the response's head; a large body
/// still streaming is not in it.
pub async fn record_requests(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let started = Instant::now();
    let method = method_label(request.method());
    let route = request
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED.to_string());
    // the state is registered with this middleware in `startup.rs`; a clone of a few handles
    let Some(metrics) = request
        .app_data::<Data<AppState>>()
        .map(|state| state.metrics.clone())
    else {
        return next.call(request).await;
    };
    let outcome = metrics
        .postgres
        .counting_statements(next.call(request))
        .await;
    let status = match &outcome {
        Ok(response) => response.status(),
        Err(error) => error.as_response_error().status_code(),
    };
    metrics
        .http
        .request(method, &route, status.as_u16(), started.elapsed());
    outcome
}

/// Clients may send any method name; only the standard ones get a series of their own.
fn method_label(method: &Method) -> &'static str {
    const STANDARD: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "CONNECT", "TRACE",
    ];
    STANDARD
        .into_iter()
        .find(|standard| *standard == method.as_str())
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_outside_the_standard_set_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        let invented = Method::from_bytes(b"BREW").expect("a valid method token");
        assert_eq!(method_label(&invented), "other");
    }
}
