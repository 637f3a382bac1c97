//! The shop's HTML error page. `error_pages` (middleware) turns every 4xx/5xx response that is not
//! already a page or JSON, ours (`AppError`, with its explanation) or actix-web's own (unknown
//! route, wrong method, oversized body), into it, so a visitor never sees a bare status or a stack
//! trace.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use askama::Template;

use crate::error::Explanation;
use crate::layout::Layout;

#[derive(Template)]
#[template(path = "errors/error.html")]
struct ErrorPage {
    layout: Layout,
    status: u16,
    heading: &'static str,
    explanation: String,
}

fn heading(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "That request did not make sense",
        403 => "You cannot do that",
        404 => "We could not find that page",
        405 => "That is not something this page does",
        413 => "That was too much to send",
        429 => "Too many tries",
        503 => "The shop is busy right now",
        _ if status.is_server_error() => "Something went wrong",
        _ => "That did not work",
    }
}

/// Middleware: renders the HTML error page for error responses that have no page of their own.
pub fn error_pages<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(render_error_page)
}

fn render_error_page<B: MessageBody + 'static>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let already_a_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value.starts_with("text/html") || value.starts_with("application/json")
        });
    if already_a_page {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }

    let status = response.status();
    let explanation = response
        .response()
        .extensions()
        .get::<Explanation>()
        .map(|explanation| explanation.0.clone())
        .unwrap_or_else(|| match status {
            StatusCode::NOT_FOUND => "There is nothing at this address. The course may have been unpublished, or the link mistyped.".to_string(),
            StatusCode::PAYLOAD_TOO_LARGE => "The form sent more than the shop accepts.".to_string(),
            _ => "The shop could not handle that request.".to_string(),
        });
    let page = ErrorPage {
        // no canonical address: an error is not a page of the shop's to be counted anywhere
        layout: Layout::for_request(response.request(), heading(status)).noindex(),
        status: status.as_u16(),
        heading: heading(status),
        explanation,
    };
    let html = page.render().unwrap_or_else(|error| {
        tracing::error!(%error, "error page failed to render");
        format!(
            "<!doctype html><title>{0}</title><h1>{0}</h1>",
            status.as_u16()
        )
    });

    let (request, mut response) = response.into_parts();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    let response = response.set_body(html).map_into_boxed_body();
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(request, response).map_into_right_body(),
    ))
}
