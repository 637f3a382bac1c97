//! The anonymous visitor's cart id, in a signed cookie of its own (`courseshop_cart`).
//!
//! It is not kept in the session: from step 3 the session lives in Redis, and Redis may be
//! flushed or lost at any time. The cart itself is in its store (PostgreSQL or Cosmos DB); with its
//! id in a cookie, losing Redis signs visitors out but never loses a cart. Like the session cookie,
//! it ends with the browser session, and logging out forgets it.

use std::cell::Cell;
use std::rc::Rc;

use actix_web::body::MessageBody;
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Cookie, CookieJar, Key, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, HttpRequest};

use shop::cart::CartId;

pub(crate) const COOKIE_NAME: &str = "courseshop_cart";

/// What the cookie said, and what it should say after this request.
#[derive(Debug)]
pub struct VisitorCart {
    current: Cell<Option<CartId>>,
    changed: Cell<bool>,
}

impl VisitorCart {
    /// This request's visitor cart (none outside the middleware, e.g. in unit tests).
    pub fn of(request: &HttpRequest) -> Option<Rc<VisitorCart>> {
        request.extensions().get::<Rc<VisitorCart>>().cloned()
    }

    pub fn get(&self) -> Option<CartId> {
        self.current.get()
    }

    pub fn set(&self, cart: CartId) {
        self.current.set(Some(cart));
        self.changed.set(true);
    }

    pub fn forget(&self) {
        if self.current.take().is_some() {
            self.changed.set(true);
        }
    }
}

/// Settings of the cookie: the key signs it, so a visitor cannot name another visitor's cart.
#[derive(Clone)]
pub struct VisitorCartCookie {
    pub key: Key,
    pub secure: bool,
}

/// Middleware (`from_fn`): reads the signed cookie into the request, writes it back if it changed.
pub async fn keep_visitor_cart(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let settings = request
        .app_data::<actix_web::web::Data<VisitorCartCookie>>()
        .cloned();
    let Some(settings) = settings else {
        return next.call(request).await;
    };
    let current = request.cookie(COOKIE_NAME).and_then(|cookie| {
        let mut jar = CookieJar::new();
        jar.add_original(cookie.into_owned());
        let verified = jar.signed(&settings.key).get(COOKIE_NAME)?;
        verified.value().parse::<uuid::Uuid>().ok().map(CartId)
    });
    let state = Rc::new(VisitorCart {
        current: Cell::new(current),
        changed: Cell::new(false),
    });
    request.extensions_mut().insert(state.clone());
    let mut response = next.call(request).await?;
    if state.changed.get() {
        let mut jar = CookieJar::new();
        let cookie = match state.current.get() {
            // a browser-session cookie, as the session's was: a shared computer's next user
            // does not find the last visitor's cart days later
            Some(CartId(id)) => Cookie::build(COOKIE_NAME, id.simple().to_string()),
            None => Cookie::build(COOKIE_NAME, "").max_age(CookieDuration::ZERO),
        }
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(settings.secure)
        .finish();
        jar.signed_mut(&settings.key).add(cookie);
        for cookie in jar.delta() {
            response.response_mut().add_cookie(cookie)?;
        }
    }
    Ok(response)
}
