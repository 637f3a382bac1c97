//! The web layer's one error type and its mapping to responses.
//!
//! Handlers return `AppError`; `ErrorPages` (below) turns every 4xx/5xx response that is not already a
//! page or JSON, ours or actix-web's own (unknown route, wrong method, oversized body), into the
//! shop's HTML error page, so a visitor never sees a bare status or a stack trace.

use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::ServiceResponse;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use shop::accounts::TooManyAttempts;
use shop::cart::{CartError, CartServiceError};
use shop::catalog::{CatalogError, CatalogQueryError, LISTED_RESULTS_LABEL};
use shop::database::StoreError;

use crate::layout::Layout;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    /// A page for signed-in people: the visitor is sent to log in and brought back to the path.
    #[error("sign in to see {0}")]
    SignInRequired(String),
    #[error("the shop's database is unreachable")]
    Unavailable(#[source] StoreError),
    /// The cart's store is down; browsing goes on.
    #[error("the cart is unavailable")]
    CartUnavailable,
    /// The session store (Redis, step 3) is down: what needs a session waits; browsing goes on.
    #[error("sessions are unavailable")]
    SessionUnavailable,
    /// The login limit refused the attempt before the password was checked.
    #[error("too many sign-in attempts")]
    TooManyAttempts { retry_after: Duration },
    #[error("an unexpected error")]
    Internal(#[source] anyhow::Error),
}

/// What a visitor reads on the error page; put on the response for `ErrorPages` to render.
#[derive(Debug, Clone)]
struct Explanation(String);

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::NotFound(_) => StatusCode::NOT_FOUND,
            AppError::BadRequest(_) => StatusCode::BAD_REQUEST,
            AppError::Forbidden(_) => StatusCode::FORBIDDEN,
            AppError::SignInRequired(_) => StatusCode::SEE_OTHER,
            AppError::Unavailable(_) | AppError::CartUnavailable | AppError::SessionUnavailable => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            AppError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        if let AppError::SignInRequired(path) = self {
            let next: String = url_encode(path);
            return HttpResponse::SeeOther()
                .insert_header((header::LOCATION, format!("/login?next={next}")))
                .finish();
        }
        let explanation = match self {
            AppError::NotFound(message)
            | AppError::BadRequest(message)
            | AppError::Forbidden(message) => message.clone(),
            AppError::SignInRequired(_) => String::new(),
            AppError::Unavailable(error) => {
                tracing::warn!(error = %error, cause = ?std::error::Error::source(error), "store unavailable");
                "Part of the shop is unreachable right now. Please try again in a moment."
                    .to_string()
            }
            AppError::CartUnavailable => {
                "Your cart is unavailable right now. Nothing in it is lost: please try again in a moment. \
                 You can keep browsing courses meanwhile."
                    .to_string()
            }
            AppError::SessionUnavailable => {
                "Signing in is unavailable for a moment, so this could not be done. Please try again \
                 in a minute; you can keep browsing courses meanwhile."
                    .to_string()
            }
            AppError::TooManyAttempts { retry_after } => format!(
                "Too many sign-in attempts. Try again in {}.",
                in_minutes(*retry_after)
            ),
            AppError::Internal(error) => {
                tracing::error!(error = ?error, "request failed");
                "Something went wrong on our side. It has been logged; please try again."
                    .to_string()
            }
        };
        let mut response = HttpResponse::build(self.status_code());
        match self {
            AppError::Unavailable(_) | AppError::CartUnavailable | AppError::SessionUnavailable => {
                response.insert_header((header::RETRY_AFTER, "5"));
            }
            AppError::TooManyAttempts { retry_after } => {
                response.insert_header((header::RETRY_AFTER, retry_after.as_secs().max(1)));
            }
            _ => {}
        }
        let mut response = response.finish();
        response.extensions_mut().insert(Explanation(explanation));
        response
    }
}

impl From<StoreError> for AppError {
    fn from(error: StoreError) -> AppError {
        match error {
            StoreError::Unavailable(_) => AppError::Unavailable(error),
            StoreError::Query(_) | StoreError::Corrupt(_) => AppError::Internal(error.into()),
        }
    }
}

impl From<CartServiceError> for AppError {
    fn from(error: CartServiceError) -> AppError {
        match error {
            CartServiceError::Cart(CartError::Unavailable(source)) => {
                tracing::warn!(error = %source, "cart store unavailable");
                AppError::CartUnavailable
            }
            CartServiceError::Cart(CartError::Failed(source)) => {
                AppError::Internal(anyhow::anyhow!(source))
            }
            CartServiceError::Store(error) => error.into(),
        }
    }
}

impl From<TooManyAttempts> for AppError {
    fn from(refused: TooManyAttempts) -> AppError {
        AppError::TooManyAttempts {
            retry_after: refused.retry_after,
        }
    }
}

/// "1 minute", "15 minutes": a wait rounded up to whole minutes, never "0 minutes".
fn in_minutes(wait: Duration) -> String {
    match wait.as_secs().div_ceil(60).max(1) {
        1 => "1 minute".to_string(),
        minutes => format!("{minutes} minutes"),
    }
}

impl From<CatalogError> for AppError {
    fn from(error: CatalogError) -> AppError {
        match error {
            CatalogError::UnknownCategory(slug) => {
                AppError::NotFound(format!("There is no category called “{slug}”."))
            }
            CatalogError::PageOutOfRange { page, last, narrow } => AppError::NotFound(format!(
                "Page {page} is past the end of these results: they have {last} page{}.{}",
                if last == 1 { "" } else { "s" },
                if narrow {
                    format!(
                        " Only the first {LISTED_RESULTS_LABEL} matches are listed: add a word or a filter to see others."
                    )
                } else {
                    String::new()
                }
            )),
            CatalogError::Store(error) => error.into(),
        }
    }
}

impl From<CatalogQueryError> for AppError {
    fn from(error: CatalogQueryError) -> AppError {
        AppError::BadRequest(format!(
            "The address has a parameter the shop cannot use — {}: {}.",
            error.parameter, error.problem
        ))
    }
}

/// Percent-encodes a path for a query value.
fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

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
        layout: Layout::for_request(response.request(), heading(status)),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_are_rounded_up_to_whole_minutes() {
        assert_eq!(in_minutes(Duration::from_secs(1)), "1 minute");
        assert_eq!(in_minutes(Duration::from_secs(60)), "1 minute");
        assert_eq!(in_minutes(Duration::from_secs(61)), "2 minutes");
        assert_eq!(in_minutes(Duration::from_secs(900)), "15 minutes");
        assert_eq!(in_minutes(Duration::ZERO), "1 minute");
    }
}
