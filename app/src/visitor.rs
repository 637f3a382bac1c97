//! Who is asking, read once per request by the `Visitor` extractor: the signed-in user (checked
//! against the server's record of the sign-in), the session's CSRF token, the cart badge and the
//! flash message, and from them the page's `Layout`.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};

use shop::accounts::User;
use shop::database::ReadAfter;
use shop::topology::Topology;

use crate::error::AppError;
use crate::layout::Layout;
use crate::session::ShopSession;
use crate::state::AppState;

/// Who is asking, read once per request: the signed-in user (if any) and the session's CSRF token
/// (empty when there is no session yet).
pub struct Visitor {
    pub user: Option<User>,
    pub csrf_token: String,
    pub session: ShopSession,
    cart_count: usize,
    flash: Option<String>,
    topology: Topology,
    /// The absolute address of the requested path, without its query: the page's canonical one
    /// unless its handler names another.
    canonical: String,
}

impl Visitor {
    /// The signed-in user, or a trip to the login page that comes back to `path`.
    pub fn signed_in(&self, path: &str) -> Result<&User, AppError> {
        self.user.as_ref().ok_or_else(|| {
            if self.session.unavailable() {
                // they may well be signed in: sending them to a login that cannot work helps nobody
                AppError::SessionUnavailable
            } else {
                AppError::SignInRequired(path.to_string())
            }
        })
    }

    /// What this visitor's catalog reads must see: their own last write (DESIGN §7, read routing).
    pub fn read_after(&self) -> ReadAfter {
        ReadAfter::write(self.session.wrote_at())
    }

    pub fn layout(&self, title: impl Into<String>) -> Layout {
        let mut layout = Layout::new(&self.topology, title.into());
        layout.user_name = self.user.as_ref().map(|user| user.display_name.to_string());
        layout.is_instructor = self.user.as_ref().is_some_and(User::is_instructor);
        layout.csrf_token = self.csrf_token.clone();
        layout.cart_count = self.cart_count;
        layout.flash = self.flash.clone();
        layout.canonical(self.canonical.clone())
    }
}

impl FromRequest for Visitor {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Visitor, actix_web::Error>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = ShopSession::from_request(request, payload).into_inner();
        let state = request.app_data::<Data<AppState>>().cloned();
        let path = request.path().to_string();
        Box::pin(async move {
            let session = session?;
            // registered once, in `startup`, for every route: its absence is a bug, not a visitor
            let state = state.ok_or_else(|| {
                AppError::Internal(anyhow::anyhow!("the application state is not registered"))
            })?;
            let topology = state.topology;
            let user = match session.sign_in() {
                Some((id, sign_in)) => {
                    let user = state
                        .accounts
                        .signed_in(id, &sign_in)
                        .await
                        .map_err(AppError::from)?;
                    // signed out (perhaps from a copy of this cookie), expired, or the account
                    // deleted: the rest of the request sees a visitor
                    if user.is_none() {
                        session.forget_sign_in();
                    }
                    user
                }
                _ => None,
            };
            // empty for a visitor without a session: their forms pass on the browser's word
            let csrf_token = session
                .csrf_token()
                .map(|token| token.as_str().to_string())
                .unwrap_or_default();
            // the badge is a nicety: a cart store that is down must not take every page with it
            let cart_count = match session.cart_owner(false)? {
                Some(owner) => state.carts.count(owner).await.unwrap_or_else(|error| {
                    tracing::warn!(%error, "cart count unavailable");
                    0
                }),
                None => 0,
            };
            let flash = session.take_flash();
            let canonical = state.public_url.page(&path);
            Ok(Visitor {
                user,
                csrf_token,
                session,
                cart_count,
                flash,
                topology,
                canonical,
            })
        })
    }
}
