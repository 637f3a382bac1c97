//! What the shop keeps in a visitor's session, behind typed methods.
//!
//! At steps 0-2 the session is an encrypted, signed cookie (nothing server-side to lose); from
//! step 3 it moves to Redis so app instances are interchangeable.

use actix_session::Session;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use std::future::{Ready, ready};

use shop::cart::{CartId, CartOwner};
use shop::ids::UserId;

use crate::csrf::CsrfToken;
use crate::error::AppError;

const USER: &str = "user_id";
const CSRF: &str = "csrf_token";
const CART: &str = "cart_id";
const FLASH: &str = "flash";

pub struct ShopSession(Session);

impl ShopSession {
    /// The signed-in user, if any. A session that cannot be read counts as signed out.
    pub fn user_id(&self) -> Option<UserId> {
        self.0.get::<i64>(USER).ok().flatten().map(UserId)
    }

    /// Signs `user` in under a new session id, so a session fixed before login is worth nothing.
    pub fn log_in(&self, user: UserId) -> Result<(), AppError> {
        self.0.renew();
        self.0.insert(USER, user.0).map_err(unwritable)?;
        // a new token too: one seen before login does not carry over
        self.0
            .insert(CSRF, CsrfToken::generate()?.as_str())
            .map_err(unwritable)?;
        Ok(())
    }

    /// Ends the session entirely (cookie removed).
    pub fn log_out(&self) {
        self.0.purge();
    }

    /// This session's CSRF token, made on first use.
    pub fn csrf_token(&self) -> Result<CsrfToken, AppError> {
        if let Some(token) = self.0.get::<String>(CSRF).ok().flatten() {
            return Ok(CsrfToken::from_session(token));
        }
        let token = CsrfToken::generate()?;
        self.0.insert(CSRF, token.as_str()).map_err(unwritable)?;
        Ok(token)
    }

    /// Whose cart this session uses: the user's once signed in, else the visitor's own (made on
    /// first use only when `create` is set, so browsing alone stores nothing).
    pub fn cart_owner(&self, create: bool) -> Result<Option<CartOwner>, AppError> {
        if let Some(user) = self.user_id() {
            return Ok(Some(CartOwner::User(user)));
        }
        if let Some(cart) = self.visitor_cart() {
            return Ok(Some(CartOwner::Visitor(cart)));
        }
        if !create {
            return Ok(None);
        }
        let cart = CartId::new();
        self.0.insert(CART, cart).map_err(unwritable)?;
        Ok(Some(CartOwner::Visitor(cart)))
    }

    /// The cart this browser filled before signing in, to merge at login.
    pub fn visitor_cart(&self) -> Option<CartId> {
        self.0.get::<CartId>(CART).ok().flatten()
    }

    pub fn forget_visitor_cart(&self) {
        self.0.remove(CART);
    }

    /// A one-line message for the next page (post/redirect/get).
    pub fn flash(&self, message: &str) -> Result<(), AppError> {
        self.0.insert(FLASH, message).map_err(unwritable)
    }

    pub fn take_flash(&self) -> Option<String> {
        self.0.remove_as::<String>(FLASH).and_then(Result::ok)
    }

    /// The stored token without making one (a POST from a session with none is refused).
    pub fn stored_csrf_token(&self) -> Option<CsrfToken> {
        self.0
            .get::<String>(CSRF)
            .ok()
            .flatten()
            .map(CsrfToken::from_session)
    }
}

fn unwritable(error: actix_session::SessionInsertError) -> AppError {
    AppError::Internal(anyhow::anyhow!("the session could not be written: {error}"))
}

impl FromRequest for ShopSession {
    type Error = actix_web::Error;
    type Future = Ready<Result<ShopSession, actix_web::Error>>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(
            Session::from_request(request, payload)
                .into_inner()
                .map(ShopSession),
        )
    }
}
