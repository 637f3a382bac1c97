//! The forms this shop posts, read only after the request proved it came from the shop's own page.
//!
//! Two checks, as OWASP's CSRF cheat sheet lays them out (docs/architecture.md, "CSRF"):
//! - the browser's own word (`same_origin::Provenance`: `Sec-Fetch-Site`, else `Origin`, else
//!   `Referer`): a request another site made is refused whatever it carries. This needs no state on
//!   the server, so an anonymous visitor, who has no session, can post the shop's forms. A post
//!   that says nothing of where it came from is not a browser's (every browser the shop supports
//!   sends `Origin` with a post), and so no forgery: without a session it is taken, as Go's
//!   `CrossOriginProtection` takes it;
//! - the session's synchronizer token (`session::csrf_token`), once there is a session: a form
//!   that carries a token must carry the session's, and a form without one (rendered before the
//!   session began) must have the browser's word that it came from the shop.
//!
//! A handler takes `Checked<T>` instead of `Form<T>`; the checks cannot be forgotten because the
//! form's fields are only reachable through it.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::web::Bytes;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::AppError;
use crate::same_origin::Provenance;
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

/// The fields of a form that came from the shop's own page (see the module's documentation).
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
        let provenance = Provenance::of(request);
        let body = Bytes::from_request(request, payload);
        let session = ShopSession::from_request(request, payload).into_inner();
        Box::pin(async move {
            let refused = || {
                AppError::Forbidden(
                "This form has expired or did not come from this shop. Go back, reload the page and try again."
                    .to_string(),
            )
            };
            if provenance == Provenance::Elsewhere {
                return Err(refused().into());
            }
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
            let from_our_page = provenance == Provenance::SameOrigin;
            let genuine = match (session.csrf_token(), form.csrf_token.is_empty()) {
                (Some(expected), false) => expected.matches(&form.csrf_token),
                // a page rendered before the session began has no token in its forms
                (Some(_), true) => from_our_page,
                // no session: our page, or no browser at all (a browser says where a post
                // comes from, and one from elsewhere was refused above)
                (None, true) => true,
                // a token of a session that has ended
                (None, false) => from_our_page,
            };
            if !genuine {
                return Err(refused().into());
            }
            Ok(Checked(form.fields))
        })
    }
}
