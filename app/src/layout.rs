//! What every page's shared layout needs: the page title, the header (search box, who is signed
//! in, the CSRF token for its log-out form) and the footer's "which step, which stores" line.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest, HttpResponse};
use askama::Template;

use shop::accounts::{Accounts, User};
use shop::cart::CartService;
use shop::catalog::Source;
use shop::topology::Topology;

use crate::error::AppError;
use crate::session::ShopSession;

/// The running shop's topology, shared by every request.
#[derive(Clone)]
pub struct ShopInfo {
    pub topology: Topology,
}

/// What a page says about itself when it says nothing more fitting (search results, Lighthouse).
pub const DEFAULT_DESCRIPTION: &str = "Courseshop: practical online courses in programming, \
     data, cloud, design and more, from people who do the work.";

pub struct Layout {
    pub title: String,
    /// The page's `<meta name="description">`: `DEFAULT_DESCRIPTION` unless `describe`d.
    pub description: String,
    /// The search text to keep in the header's search box.
    pub search: String,
    pub user_name: Option<String>,
    pub is_instructor: bool,
    pub csrf_token: String,
    /// Lines in the visitor's cart (the header's badge).
    pub cart_count: usize,
    /// A message left by the previous request ("Added to your cart").
    pub flash: Option<String>,
    pub step: String,
    pub customised: bool,
    pub catalog_store: &'static str,
    pub cart_store: &'static str,
    pub cache: &'static str,
    pub enrollment: &'static str,
    /// Whether pages are cached at this step (only then is `served_from` worth showing).
    cached: bool,
    /// Where this page's catalog data came from, when the catalog is cached (step 3).
    pub served_from: Option<&'static str>,
}

impl Layout {
    fn new(topology: &Topology, title: String) -> Layout {
        Layout {
            title,
            description: DEFAULT_DESCRIPTION.to_string(),
            search: String::new(),
            user_name: None,
            is_instructor: false,
            csrf_token: String::new(),
            cart_count: 0,
            flash: None,
            step: topology.step.to_string(),
            customised: topology.is_customised(),
            catalog_store: "PostgreSQL",
            cart_store: topology.cart_store_label(),
            cache: topology.cache_label(),
            enrollment: topology.enrollment_label(),
            cached: topology.has_cache(),
            served_from: None,
        }
    }

    /// Notes where the page's catalog data came from; shown only when there is a cache to tell
    /// apart from the database.
    pub fn served(mut self, source: Source) -> Layout {
        if self.cached {
            self.served_from = Some(source.label());
        }
        self
    }

    /// For pages rendered outside a handler (the error pages): no user, no forms.
    pub fn for_request(request: &HttpRequest, title: &str) -> Layout {
        let topology = request
            .app_data::<Data<ShopInfo>>()
            .map(|info| info.topology)
            .unwrap_or_else(|| shop::topology::Step::DEFAULT.preset());
        Layout::new(&topology, title.to_string())
    }

    pub fn with_search(mut self, search: &str) -> Layout {
        self.search = search.to_string();
        self
    }

    /// The page's own description, on one line; a blank one keeps the shop's.
    pub fn describe(mut self, description: impl AsRef<str>) -> Layout {
        let description = description
            .as_ref()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !description.is_empty() {
            self.description = description;
        }
        self
    }
}

/// Who is asking, read once per request: the signed-in user (if any) and the session's CSRF token.
pub struct Visitor {
    pub user: Option<User>,
    pub csrf_token: String,
    pub session: ShopSession,
    cart_count: usize,
    flash: Option<String>,
    topology: Topology,
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

    pub fn layout(&self, title: impl Into<String>) -> Layout {
        let mut layout = Layout::new(&self.topology, title.into());
        layout.user_name = self.user.as_ref().map(|user| user.display_name.to_string());
        layout.is_instructor = self.user.as_ref().is_some_and(User::is_instructor);
        layout.csrf_token = self.csrf_token.clone();
        layout.cart_count = self.cart_count;
        layout.flash = self.flash.clone();
        layout
    }
}

impl FromRequest for Visitor {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Visitor, actix_web::Error>>>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let session = ShopSession::from_request(request, payload).into_inner();
        let accounts = request.app_data::<Data<Accounts>>().cloned();
        let carts = request.app_data::<Data<CartService>>().cloned();
        let topology = request
            .app_data::<Data<ShopInfo>>()
            .map(|info| info.topology)
            .unwrap_or_else(|| shop::topology::Step::DEFAULT.preset());
        Box::pin(async move {
            let session = session?;
            let user = match (session.sign_in(), accounts) {
                (Some((id, sign_in)), Some(accounts)) => {
                    let user = accounts
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
            let csrf_token = session.csrf_token()?.as_str().to_string();
            // the badge is a nicety: a cart store that is down must not take every page with it
            let cart_count = match (session.cart_owner(false)?, carts) {
                (Some(owner), Some(carts)) => carts.count(owner).await.unwrap_or_else(|error| {
                    tracing::warn!(%error, "cart count unavailable");
                    0
                }),
                _ => 0,
            };
            let flash = session.take_flash();
            Ok(Visitor {
                user,
                csrf_token,
                session,
                cart_count,
                flash,
                topology,
            })
        })
    }
}

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
