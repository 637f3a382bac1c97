//! What the shop keeps in a visitor's session, behind typed methods.
//!
//! At steps 0-2 the session is an encrypted, signed cookie; from step 3 it moves to Redis so app
//! instances are interchangeable (see `session_store`). At every step a sign-in is also a row in
//! PostgreSQL (`Accounts::sign_in`), so signing out ends it on the server.

use actix_session::Session;
use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use std::future::{Ready, ready};
use std::rc::Rc;

use shop::accounts::SignInId;
use shop::cart::{CartId, CartOwner};
use shop::database::WalPosition;
use shop::ids::UserId;

use crate::error::AppError;

pub mod csrf_token;
pub mod store;
pub mod visitor_cart;

use csrf_token::CsrfToken;
use store::SessionHealth;
use visitor_cart::VisitorCart;

const USER: &str = "user_id";
/// The key of the sign-in's row in PostgreSQL (`user_sessions`): without a live row, no user.
const SIGN_IN: &str = "sign_in";
const CSRF: &str = "csrf_token";
const FLASH: &str = "flash";
/// Where the primary's log was after this visitor's last write (step 5's read-your-writes).
const WROTE_AT: &str = "wrote_at";

pub struct ShopSession {
    session: Session,
    /// The anonymous cart's id, kept in a cookie of its own (`visitor_cart.rs`), not the session.
    visitor_cart: Option<Rc<VisitorCart>>,
    /// The session store could not be read: this visitor counts as anonymous for now.
    unavailable: bool,
}

impl ShopSession {
    /// Whether the visitor's session could not be loaded (Redis down): pages treat them as
    /// anonymous, and whatever needs their session (a form, a signed-in page) says it is
    /// unavailable for a moment rather than sign them in again.
    pub fn unavailable(&self) -> bool {
        self.unavailable
    }

    /// The user this session says is signed in, and the sign-in's key, if any. Not yet proof: the
    /// `Visitor` extractor checks the sign-in against PostgreSQL and forgets one that has ended. A
    /// session that cannot be read counts as signed out.
    pub fn sign_in(&self) -> Option<(UserId, SignInId)> {
        let user = self.session.get::<i64>(USER).ok().flatten()?;
        let key = self.session.get::<String>(SIGN_IN).ok().flatten()?;
        Some((UserId(user), SignInId::parse(&key)?))
    }

    /// The signed-in user, if any (see `sign_in`).
    pub fn user_id(&self) -> Option<UserId> {
        self.sign_in().map(|(user, _)| user)
    }

    /// Signs `user` in under a new session id, so a session fixed before login is worth nothing.
    /// `sign_in` is the key of the sign-in just recorded on the server.
    pub fn log_in(&self, user: UserId, sign_in: &SignInId) -> Result<(), AppError> {
        self.session.renew();
        self.session.insert(USER, user.0).map_err(unwritable)?;
        self.session
            .insert(SIGN_IN, sign_in.as_str())
            .map_err(unwritable)?;
        // a new token too: one seen before login does not carry over
        self.session
            .insert(CSRF, CsrfToken::generate()?.as_str())
            .map_err(unwritable)?;
        Ok(())
    }

    /// A sign-in that ended on the server (signed out elsewhere, expired, account gone): the
    /// session forgets it, so nothing later in the request (a cart, a form) acts as that user.
    pub fn forget_sign_in(&self) {
        self.session.remove(USER);
        self.session.remove(SIGN_IN);
    }

    /// Ends the session entirely (cookie removed), and forgets the visitor's cart too: a cart that
    /// could not be merged at login keeps its cookie, and the next person at a shared computer
    /// must not find the previous person's lines in their cart. The caller ends the sign-in on
    /// the server (`Accounts::sign_out`).
    pub fn log_out(&self) {
        self.session.purge();
        self.forget_visitor_cart();
    }

    /// Gives a session that is being written its CSRF token, if it has none yet. A visitor who
    /// has only browsed has no session at all: nothing is stored, and no cookie set, until the
    /// first thing the shop must remember for them (a message after adding to the cart, a sign-in).
    fn begin(&self) -> Result<(), AppError> {
        if self.csrf_token().is_none() {
            self.session
                .insert(CSRF, CsrfToken::generate()?.as_str())
                .map_err(unwritable)?;
        }
        Ok(())
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
        let Some(cookie) = self.visitor_cart.as_ref().filter(|_| create) else {
            return Ok(None);
        };
        let cart = CartId::new();
        cookie.set(cart);
        Ok(Some(CartOwner::Visitor(cart)))
    }

    /// The cart this browser filled before signing in, to merge at login.
    pub fn visitor_cart(&self) -> Option<CartId> {
        self.visitor_cart.as_ref().and_then(|cookie| cookie.get())
    }

    pub fn forget_visitor_cart(&self) {
        if let Some(cookie) = &self.visitor_cart {
            cookie.forget();
        }
    }

    /// Where the primary's log was after this visitor's last write: their reads go to the replica
    /// only once it has replayed that far.
    pub fn wrote_at(&self) -> Option<WalPosition> {
        self.session
            .get::<u64>(WROTE_AT)
            .ok()
            .flatten()
            .map(WalPosition)
    }

    /// Remembers a write of this visitor's at `position` (nothing to remember without a replica:
    /// `None`). Positions only grow, but two tabs may write at once: the later one is kept.
    pub fn remember_write(&self, position: Option<WalPosition>) -> Result<(), AppError> {
        let Some(position) = position else {
            return Ok(());
        };
        let latest = self
            .wrote_at()
            .map_or(position, |earlier| earlier.max(position));
        self.begin()?;
        self.session.insert(WROTE_AT, latest.0).map_err(unwritable)
    }

    /// A one-line message for the next page (post/redirect/get).
    pub fn flash(&self, message: &str) -> Result<(), AppError> {
        self.begin()?;
        self.session.insert(FLASH, message).map_err(unwritable)
    }

    pub fn take_flash(&self) -> Option<String> {
        self.session.remove_as::<String>(FLASH).and_then(Result::ok)
    }

    /// The session's CSRF token; none before the session begins.
    pub fn csrf_token(&self) -> Option<CsrfToken> {
        self.session
            .get::<String>(CSRF)
            .ok()
            .flatten()
            .map(CsrfToken::from_session)
    }
}

/// Whether `request` carries one of the shop's cookies (a session, a visitor's cart): then its
/// pages may be that visitor's own, and no shared cache may keep them.
pub fn carries_state(request: &HttpRequest) -> bool {
    request.cookie(store::COOKIE_NAME).is_some()
        || request.cookie(visitor_cart::COOKIE_NAME).is_some()
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
                .map(|session| ShopSession {
                    session,
                    visitor_cart: VisitorCart::of(request),
                    unavailable: SessionHealth::unreadable(request),
                }),
        )
    }
}
