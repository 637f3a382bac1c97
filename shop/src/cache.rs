//! Redis, the shop's distributed cache from tutorial step 3 (DESIGN §4): one connection per process,
//! multiplexed and reconnecting by itself, shared by every instance of the shop.
//!
//! Redis is never the source of truth. Every call here is bounded by a short timeout, and after a
//! failure the cache is skipped for a moment (`StoreGuard`), so a Redis outage makes pages slower,
//! never wrong and never stuck.

mod name;
mod retry;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Client, ExistenceCheck, RedisError, SetExpiry, SetOptions};

use crate::outage::{Away, StoreError, StoreGuard, Verdict};
use crate::settings::RedisSettings;
pub use name::CacheName;
pub use retry::retry_in_background;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    /// Redis cannot be reached or did not answer in time: go on without it.
    #[error("Redis is unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("Redis refused the command")]
    Failed(#[source] RedisError),
}

#[derive(Debug, thiserror::Error)]
#[error("Redis did not answer within {0:?}")]
pub struct TimedOut(Duration);

#[derive(Debug, thiserror::Error)]
#[error("Redis failed moments ago; skipping it until it has had a moment")]
pub struct CoolingDown;

/// A handle on Redis; cheap to clone.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    settings: RedisSettings,
    client: Client,
    /// Made on first use, so the shop starts while Redis is down; then it reconnects by itself
    /// after a connection error. A connection that goes silent without an error (a half-open
    /// socket after a failover or a dropped idle flow) is thrown away after a timeout instead.
    connection: std::sync::Mutex<Option<ConnectionManager>>,
    /// One request at a time makes a new connection; the others wait for it.
    connecting: tokio::sync::Mutex<()>,
    guard: StoreGuard,
}

impl Redis {
    pub fn new(settings: RedisSettings) -> Result<Redis, CacheError> {
        // The redis client asks rustls for the process's default crypto provider, and there is
        // none while two are compiled in (ring, which sqlx and lapin use; aws-lc, which the Azure
        // SDK's HTTP client brings). Choosing ring here keeps `rediss://` working; an earlier
        // choice elsewhere in the process stands (the call then changes nothing).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = Client::open(settings.url.expose()).map_err(CacheError::Failed)?;
        Ok(Redis {
            inner: Arc::new(Inner {
                settings,
                client,
                connection: std::sync::Mutex::new(None),
                connecting: tokio::sync::Mutex::new(()),
                guard: StoreGuard::default(),
            }),
        })
    }

    /// A key in this shop's namespace (`REDIS_KEY_PREFIX`), so shops and tests can share a server.
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.inner.settings.key_prefix)
    }

    fn current(&self) -> Option<ConnectionManager> {
        self.inner
            .connection
            .lock()
            .ok()
            .and_then(|connection| connection.clone())
    }

    async fn connection(&self) -> Result<ConnectionManager, CacheError> {
        if let Some(connection) = self.current() {
            return Ok(connection);
        }
        let _one_at_a_time = self.inner.connecting.lock().await;
        if let Some(connection) = self.current() {
            return Ok(connection);
        }
        let timeout = self.inner.settings.timeout;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(timeout)
            .set_response_timeout(timeout)
            // reconnecting is retried in the background; a request never waits for it
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_with_config(self.inner.client.clone(), config)
            .await
            .map_err(classify)?;
        if let Ok(mut current) = self.inner.connection.lock() {
            *current = Some(connection.clone());
        }
        Ok(connection)
    }

    /// Forgets the connection, so the next command makes a new one.
    fn reconnect(&self) {
        if let Ok(mut current) = self.inner.connection.lock() {
            *current = None;
        }
    }

    /// Runs one command within the timeout, skipping Redis while it is known to be down.
    pub async fn run<T, F, Fut>(&self, command: F) -> Result<T, CacheError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let timeout = self.inner.settings.timeout;
        let outcome = self.inner.guard.run(timeout, self.command(command)).await;
        outcome.map_err(|away| self.unavailable(away))
    }

    /// One command on the connection, its error classified.
    async fn command<T, F, Fut>(&self, command: F) -> Result<T, CacheError>
    where
        F: FnOnce(ConnectionManager) -> Fut,
        Fut: Future<Output = Result<T, RedisError>>,
    {
        let connection = self.connection().await?;
        command(connection).await.map_err(classify)
    }

    /// The error for a command that has no answer; the one place the guard's outcome is read.
    fn unavailable(&self, away: Away<CacheError>) -> CacheError {
        let error = match away {
            Away::CoolingDown => return CacheError::Unavailable(Box::new(CoolingDown)),
            Away::TimedOut(after) => CacheError::Unavailable(Box::new(TimedOut(after))),
            Away::Failed(error) => error,
        };
        if let CacheError::Unavailable(_) = error {
            // A healthy Redis answers in well under a millisecond. After a timeout the
            // connection may be a half-open socket that would never report an error (a
            // failover, a dropped idle flow): the next command after the cool-down makes a
            // new one rather than trusting it.
            self.reconnect();
        }
        error
    }

    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>, CacheError> {
        self.run(|mut redis| async move { redis.get(key).await })
            .await
    }

    pub async fn set(&self, key: &str, value: &[u8], ttl: Duration) -> Result<(), CacheError> {
        let seconds = ttl.as_secs().max(1);
        self.run(|mut redis| async move { redis.set_ex(key, value, seconds).await })
            .await
    }

    /// `SET … XX EX`: replaces the value only if the key still exists (never brings back a key
    /// that expired or was deleted meanwhile); whether it did.
    pub async fn replace(
        &self,
        key: &str,
        value: &[u8],
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        let options = SetOptions::default()
            .conditional_set(ExistenceCheck::XX)
            .with_expiration(SetExpiry::EX(ttl.as_secs().max(1)));
        self.run(|mut redis| async move {
            redis
                .set_options::<_, _, Option<String>>(key, value, options)
                .await
        })
        .await
        .map(|replaced| replaced.is_some())
    }

    /// `EXPIRE`: the key now lives `ttl` from now (nothing happens to a key that is gone).
    pub async fn expire(&self, key: &str, ttl: Duration) -> Result<(), CacheError> {
        let seconds = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        self.run(|mut redis| async move { redis.expire::<_, ()>(key, seconds).await })
            .await
    }

    pub async fn delete(&self, key: &str) -> Result<(), CacheError> {
        self.run(|mut redis| async move { redis.del(key).await })
            .await
    }

    /// `PING`, for `/readyz`; asks even while cooling down, so the probe tells the truth.
    pub async fn ping(&self) -> Result<(), CacheError> {
        let ping = self.command(|mut redis| async move {
            redis::cmd("PING").query_async::<String>(&mut redis).await
        });
        let timeout = self.inner.settings.timeout;
        let outcome = self.inner.guard.probe(timeout, ping).await;
        outcome.map(|_| ()).map_err(|away| self.unavailable(away))
    }
}

impl StoreError for CacheError {
    fn verdict(&self) -> Verdict {
        match self {
            CacheError::Unavailable(_) => Verdict::Away,
            // Redis answered, if only to refuse the command
            CacheError::Failed(_) => Verdict::Answered,
        }
    }
}

fn classify(error: RedisError) -> CacheError {
    if error.is_io_error()
        || error.is_connection_refusal()
        || error.is_connection_dropped()
        || error.is_timeout()
    {
        CacheError::Unavailable(Box::new(error))
    } else {
        CacheError::Failed(error)
    }
}
