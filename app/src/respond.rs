//! The two answers a handler gives besides a page of status 200: a page with another status, and
//! the redirect after a successful form.

use actix_web::HttpResponse;
use actix_web::http::StatusCode;
use actix_web::http::header;
use askama::Template;

use crate::error::AppError;

/// A page with a status other than 200 (a form shown again with its messages).
pub fn render(status: StatusCode, page: &impl Template) -> Result<HttpResponse, AppError> {
    let html = page
        .render()
        .map_err(|error| AppError::Internal(error.into()))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .body(html))
}

/// Post/redirect/get: after a successful POST, the browser is sent to `location` with a GET.
pub fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther()
        .insert_header((header::LOCATION, location))
        .finish()
}
