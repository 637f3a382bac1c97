//! Where sessions are kept: in the cookie itself at steps 0–2 (encrypted and signed; nothing on the
//! server to lose), in Redis from step 3, so that every instance of the shop reads every session.
//! The cookie then carries only a random key, signed. Redis sessions go through the cache's handle
//! (`shop::cache::Redis`): the same short timeouts, key prefix and back-off after a failure.
//!
//! A Redis outage must not take the shop down with it (DESIGN §6). actix-session answers any store
//! error with a bare 500, so the Redis store never returns one for an outage. It notes what failed
//! in the request's `SessionHealth` instead, and `guard`, around the session middleware, decides:
//! - a session that cannot be *loaded* is an anonymous visitor's: pages render, and what needs the
//!   session (a form, a signed-in page) says sign-in is unavailable (`ShopSession::unavailable`);
//! - a session that cannot be *saved* does not matter to a page view, but a form's work (signing
//!   in, a visitor's cart, checking out) is not kept without it: that answer becomes the 503 page.

use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;

use actix_session::SessionMiddleware;
use actix_session::config::CookieContentSecurity;
use actix_session::storage::{
    CookieSessionStore, LoadError, SaveError, SessionKey, SessionStore, UpdateError,
};
use actix_web::HttpMessage;
use actix_web::HttpRequest;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::cookie::time::Duration as CookieDuration;
use actix_web::cookie::{Key, SameSite};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;

use shop::cache::{CacheError, Redis};

use crate::error::AppError;
use shop::token::random_token;

/// actix-session's `SessionState` (not exported under that name).
type State = HashMap<String, String>;

pub(crate) const COOKIE_NAME: &str = "courseshop_session";

/// How this shop keeps sessions, decided once at start.
#[derive(Clone)]
pub struct Sessions {
    redis: Option<Redis>,
    key: Key,
    cookie_secure: bool,
}

impl Sessions {
    /// In Redis when there is one (step 3 on), else in the cookie. `key` signs the cookie (and
    /// encrypts it, when it holds the session itself).
    pub fn new(redis: Option<Redis>, key: Key, cookie_secure: bool) -> Sessions {
        Sessions {
            redis,
            key,
            cookie_secure,
        }
    }

    /// The session middleware for one worker. Wrap `guard` around it.
    pub fn middleware(&self) -> SessionMiddleware<ShopSessionStore> {
        let (store, content_security) = match &self.redis {
            // only a random key travels: signing it is enough
            Some(redis) => (
                ShopSessionStore::Redis(RedisSessionStore {
                    redis: redis.clone(),
                }),
                CookieContentSecurity::Signed,
            ),
            // the session itself travels: encrypted so the visitor cannot read or alter it
            None => (
                ShopSessionStore::Cookie(CookieSessionStore::default()),
                CookieContentSecurity::Private,
            ),
        };
        SessionMiddleware::builder(store, self.key.clone())
            .cookie_name(COOKIE_NAME.to_string())
            .cookie_secure(self.cookie_secure)
            .cookie_http_only(true)
            .cookie_same_site(SameSite::Lax)
            .cookie_content_security(content_security)
            .build()
    }
}

/// What went wrong with one request's session; `guard` puts it in the request's extensions.
#[derive(Debug, Default)]
pub struct SessionHealth {
    unreadable: Cell<bool>,
    unsaved: Cell<bool>,
}

impl SessionHealth {
    /// Whether the session of `request` could not be loaded.
    pub fn unreadable(request: &HttpRequest) -> bool {
        request
            .extensions()
            .get::<Rc<SessionHealth>>()
            .is_some_and(|health| health.unreadable.get())
    }
}

tokio::task_local! {
    /// The session health of the request being served. The store is shared by every request on a
    /// worker and sees only session keys and state, so this is how it reaches the request's own.
    static HEALTH: Rc<SessionHealth>;
}

/// Middleware around the session middleware: decides what a Redis outage means for this request
/// (see the module's documentation).
pub async fn guard(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let health = Rc::new(SessionHealth::default());
    request.extensions_mut().insert(health.clone());
    let changes_something = !request.method().is_safe();
    let response = HEALTH.scope(health.clone(), next.call(request)).await?;
    if health.unsaved.get() && changes_something {
        // the form's work may be done, but the session that records it (a sign-in, a visitor's
        // cart) is not kept: say so rather than answer as if it had worked
        return Ok(response
            .error_response(AppError::SessionUnavailable)
            .map_into_right_body());
    }
    Ok(response.map_into_left_body())
}

/// Cookie sessions (steps 0–2) or Redis sessions (step 3 on): the middleware takes one store type.
pub enum ShopSessionStore {
    Cookie(CookieSessionStore),
    Redis(RedisSessionStore),
}

impl SessionStore for ShopSessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<State>, LoadError> {
        match self {
            ShopSessionStore::Cookie(store) => store.load(session_key).await,
            ShopSessionStore::Redis(store) => store.load(session_key).await,
        }
    }

    async fn save(&self, state: State, ttl: &CookieDuration) -> Result<SessionKey, SaveError> {
        match self {
            ShopSessionStore::Cookie(store) => store.save(state, ttl).await,
            ShopSessionStore::Redis(store) => store.save(state, ttl).await,
        }
    }

    async fn update(
        &self,
        session_key: SessionKey,
        state: State,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        match self {
            ShopSessionStore::Cookie(store) => store.update(session_key, state, ttl).await,
            ShopSessionStore::Redis(store) => store.update(session_key, state, ttl).await,
        }
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &CookieDuration,
    ) -> Result<(), anyhow::Error> {
        match self {
            ShopSessionStore::Cookie(store) => store.update_ttl(session_key, ttl).await,
            ShopSessionStore::Redis(store) => store.update_ttl(session_key, ttl).await,
        }
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        match self {
            ShopSessionStore::Cookie(store) => store.delete(session_key).await,
            ShopSessionStore::Redis(store) => store.delete(session_key).await,
        }
    }
}

/// Sessions in Redis: `{prefix}session:{key}` holds the state as JSON, expiring with the session.
pub struct RedisSessionStore {
    redis: Redis,
}

impl RedisSessionStore {
    fn redis_key(&self, session_key: &SessionKey) -> String {
        self.redis.key(&format!("session:{}", session_key.as_ref()))
    }
}

impl SessionStore for RedisSessionStore {
    async fn load(&self, session_key: &SessionKey) -> Result<Option<State>, LoadError> {
        match self.redis.get(&self.redis_key(session_key)).await {
            Ok(Some(json)) => serde_json::from_slice(&json)
                .map(Some)
                .map_err(|error| LoadError::Deserialization(error.into())),
            Ok(None) => Ok(None),
            // an empty state under the same key: the visitor is anonymous for now, and keeps their
            // cookie, so they are signed in again once Redis answers
            Err(error) => outage(Failure::Load, error)
                .map(|()| Some(State::new()))
                .map_err(LoadError::Other),
        }
    }

    async fn save(&self, state: State, ttl: &CookieDuration) -> Result<SessionKey, SaveError> {
        let json =
            serde_json::to_vec(&state).map_err(|error| SaveError::Serialization(error.into()))?;
        let session_key = new_session_key().map_err(SaveError::Other)?;
        let key = self.redis_key(&session_key);
        match self.redis.set(&key, &json, seconds(ttl)).await {
            Ok(()) => Ok(session_key),
            // the cookie gets a key with nothing behind it, which a later request reads as a new
            // visitor; `guard` refuses the request if it needed the session kept
            Err(error) => outage(Failure::Save, error)
                .map(|()| session_key)
                .map_err(SaveError::Other),
        }
    }

    async fn update(
        &self,
        session_key: SessionKey,
        state: State,
        ttl: &CookieDuration,
    ) -> Result<SessionKey, UpdateError> {
        // loaded as empty in an outage: writing that back would sign the visitor out for good
        if HEALTH
            .try_with(|health| health.unreadable.get())
            .unwrap_or(false)
        {
            let _ = HEALTH.try_with(|health| health.unsaved.set(true));
            return Ok(session_key);
        }
        let json =
            serde_json::to_vec(&state).map_err(|error| UpdateError::Serialization(error.into()))?;
        // XX: never bring back a key that has expired or was ended (renewed at sign-in, removed at
        // sign-out) meanwhile, as a copy of it may be in someone else's hands
        let updated = self
            .redis
            .replace(&self.redis_key(&session_key), &json, seconds(ttl))
            .await;
        match updated {
            Ok(true) => Ok(session_key),
            // nor its state: this request read the session before another ended it (a sign-out in
            // another tab), and moving its `user_id` to a fresh key would sign the browser in
            // again. The visitor starts a fresh anonymous session instead.
            Ok(false) => self
                .save(State::new(), ttl)
                .await
                .map_err(|error| match error {
                    SaveError::Serialization(error) => UpdateError::Serialization(error),
                    SaveError::Other(error) => UpdateError::Other(error),
                }),
            Err(error) => outage(Failure::Save, error)
                .map(|()| session_key)
                .map_err(UpdateError::Other),
        }
    }

    async fn update_ttl(
        &self,
        session_key: &SessionKey,
        ttl: &CookieDuration,
    ) -> Result<(), anyhow::Error> {
        let extended = self
            .redis
            .expire(&self.redis_key(session_key), seconds(ttl))
            .await;
        // a missed extension only makes the session end sooner
        if let Err(error) = extended {
            tracing::warn!(%error, "a session's expiry could not be extended");
        }
        Ok(())
    }

    async fn delete(&self, session_key: &SessionKey) -> Result<(), anyhow::Error> {
        // the cookie is removed whatever happens here, and the entry expires with its TTL: signing
        // out (or in, which renews the session) must not fail because Redis did
        if let Err(error) = self.redis.delete(&self.redis_key(session_key)).await {
            tracing::warn!(%error, "a session ended, but its entry stays in Redis until it expires");
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
enum Failure {
    Load,
    Save,
}

/// Notes the outage for `guard` when it watches the request, so the request goes on without the
/// session; without a guard, the error stays an error.
fn outage(failure: Failure, error: CacheError) -> Result<(), anyhow::Error> {
    let noted = HEALTH.try_with(|health| match failure {
        Failure::Load => health.unreadable.set(true),
        Failure::Save => health.unsaved.set(true),
    });
    match (noted, failure) {
        (Ok(()), Failure::Load) => {
            tracing::warn!(%error, cause = ?std::error::Error::source(&error), "the session could not be loaded: serving an anonymous visitor");
            Ok(())
        }
        (Ok(()), Failure::Save) => {
            tracing::warn!(%error, cause = ?std::error::Error::source(&error), "the session could not be saved");
            Ok(())
        }
        (Err(_), _) => Err(anyhow::Error::new(error).context("the session store is unavailable")),
    }
}

/// A session key as unguessable as a CSRF token: 256 random bits, 64 hex characters.
fn new_session_key() -> Result<SessionKey, anyhow::Error> {
    let key = random_token()
        .map_err(|error| anyhow::anyhow!("no randomness for a session key: {error}"))?;
    SessionKey::try_from(key).map_err(anyhow::Error::new)
}

/// The session's TTL for Redis: whole seconds, at least one.
fn seconds(ttl: &CookieDuration) -> std::time::Duration {
    std::time::Duration::from_secs(u64::try_from(ttl.whole_seconds()).unwrap_or(0).max(1))
}

#[cfg(test)]
mod tests {
    use actix_session::SessionExt;
    use actix_web::http::{Method, StatusCode};
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpRequest, HttpResponse, test, web};

    use shop::settings::Settings;

    use super::*;

    /// Sessions in a Redis that is not there.
    fn unreachable_redis() -> Redis {
        let env = [
            ("DATABASE_URL", "postgres://postgres@127.0.0.1/unused"),
            ("SHOP_STEP", "0"),
            ("CACHE", "redis"),
            ("REDIS_URL", "redis://127.0.0.1:1"),
        ];
        let settings = Settings::from_lookup(|name| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.to_string())
        })
        .expect("valid settings");
        Redis::new(settings.redis.expect("redis settings")).expect("a Redis URL")
    }

    async fn remember(request: HttpRequest) -> HttpResponse {
        match request.get_session().insert("csrf_token", "t") {
            Ok(()) => HttpResponse::Ok().finish(),
            Err(_) => HttpResponse::InternalServerError().finish(),
        }
    }

    #[actix_web::test]
    async fn a_session_that_cannot_be_saved_fails_a_form_but_not_a_page() {
        let sessions = Sessions::new(Some(unreachable_redis()), Key::generate(), false);
        let app = test::init_service(
            App::new()
                .wrap(sessions.middleware())
                .wrap(from_fn(guard))
                .route("/", web::route().to(remember)),
        )
        .await;
        let page = test::TestRequest::get().uri("/").to_request();
        assert_eq!(
            test::call_service(&app, page).await.status(),
            StatusCode::OK
        );
        let form = test::TestRequest::default()
            .method(Method::POST)
            .uri("/")
            .to_request();
        let response = test::call_service(&app, form).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("retry-after"));
    }

    #[actix_web::test]
    async fn without_the_guard_an_outage_stays_an_error() {
        let sessions = Sessions::new(Some(unreachable_redis()), Key::generate(), false);
        let app = test::init_service(
            App::new()
                .wrap(sessions.middleware())
                .route("/", web::route().to(remember)),
        )
        .await;
        let page = test::TestRequest::get().uri("/").to_request();
        let outcome = test::try_call_service(&app, page).await;
        assert!(outcome.is_err(), "no guard to tell a page from a form");
    }
}
