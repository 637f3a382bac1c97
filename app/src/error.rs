//! The web layer's one error type and its mapping to responses: a status, headers and the
//! sentence that explains it. `error_page` renders that as the shop's HTML error page.

use std::time::Duration;

use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};

use shop::accounts::TooManyAttempts;
use shop::cart::{CartError, CartServiceError};
use shop::catalog::{CatalogError, CatalogQueryError, LISTED_RESULTS_LABEL};
use shop::database::StoreError;

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
pub(crate) struct Explanation(pub(crate) String);

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
