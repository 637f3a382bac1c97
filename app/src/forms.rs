//! The forms this shop posts, read only after their CSRF token matched: every form carries the
//! session's token (`session::csrf_token`), and every state-changing request is refused (403)
//! unless it sends that token back.
//!
//! A handler takes `Checked<T>` instead of `Form<T>`; the token check cannot be forgotten because
//! the form's fields are only reachable through it.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::session::ShopSession;
use crate::url_encoded;

/// A form with its CSRF token: the wire shape every state-changing form posts.
#[derive(Deserialize)]
struct Signed<T> {
    #[serde(default)]
    csrf_token: String,
    #[serde(flatten)]
    fields: T,
}

/// The fields of a form whose CSRF token matched the session's.
pub struct Checked<T>(pub T);

impl<T: DeserializeOwned + 'static> FromRequest for Checked<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Checked<T>, actix_web::Error>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        // the body as bytes (bounded by the app's PayloadConfig: 413 past it), parsed here rather
        // than by `Form`, which would mend a byte that is not UTF-8 into `�` and save it
        // a form in another charset is no form of this shop's (its pages are all UTF-8)
        let is_form = request.mime_type().ok().flatten().is_some_and(|mime| {
            mime.essence_str() == "application/x-www-form-urlencoded"
                && mime
                    .get_param(actix_web::mime::CHARSET)
                    .is_none_or(|charset| charset.as_str().eq_ignore_ascii_case("utf-8"))
        });
        let body = Bytes::from_request(request, payload);
        let session = ShopSession::from_request(request, payload).into_inner();
        Box::pin(async move {
            let refused = || {
                AppError::Forbidden(
                "This form has expired or did not come from this shop. Go back, reload the page and try again."
                    .to_string(),
            )
            };
            let session = session?;
            // the token cannot be checked, and what the form does would not be kept either
            if session.unavailable() {
                return Err(AppError::SessionUnavailable.into());
            }
            let unreadable = || AppError::BadRequest("The form could not be read.".to_string());
            let body = body.await.map_err(|error| {
                if matches!(error.as_response_error().status_code().as_u16(), 413) {
                    error
                } else {
                    unreadable().into()
                }
            })?;
            if !is_form {
                return Err(unreadable().into());
            }
            let form: Signed<T> = url_encoded::form(&body)?;
            let expected = session.stored_csrf_token().ok_or_else(refused)?;
            if !expected.matches(&form.csrf_token) {
                return Err(refused().into());
            }
            Ok(Checked(form.fields))
        })
    }
}
