//! Read routing (step 5, DESIGN §7): the catalog's reads go to the streaming replica
//! (`DATABASE_REPLICA_URL`) when it may answer them, otherwise to the primary.
//!
//! It may when it is up, no further behind than `REPLICA_MAX_LAG_MS`, and has replayed what the
//! reader must see ([`ReadAfter`]: the visitor's own last write, or the cached catalog's last
//! change). A background poll keeps the replica's replay position and lag in memory, so deciding is
//! a comparison; only when the reader's write is past the remembered position is the replica asked
//! once more before the read goes to the primary. A read that fails on the replica is done again on
//! the primary, so a replica that stops between two polls costs no error page.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

use super::StoreError;
use super::wal::{self, ReadAfter, WalPosition};
use crate::metrics::{Fallback, ReadMetrics, ReadTarget};
use crate::readiness::DownCause;
use crate::settings::DatabaseSettings;

/// How often the replica's replay position and lag are measured: a replica that falls behind or
/// stops is left within this long (plus the lag allowed).
const POLL_INTERVAL: Duration = Duration::from_millis(200);
/// A measurement that takes longer counts the replica as down.
const POLL_TIMEOUT: Duration = Duration::from_millis(500);
/// How long a request waits when it asks the replica whether it has replayed the reader's write.
const ASK_TIMEOUT: Duration = Duration::from_millis(100);
/// A replica that hangs holds a request this long at most before it goes to the primary.
const REPLICA_ACQUIRE_TIMEOUT: Duration = Duration::from_millis(500);
/// Positions the replica has not replayed, one a poll: 30 minutes' worth, then the oldest is kept
/// (so the lag is never understated).
const MAX_UNREPLAYED_SAMPLES: usize = 9000;

/// The replica as the last measurement found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplicaHealth {
    /// Not measured yet.
    Unchecked,
    /// Replaying within the allowed lag: reads go there.
    Streaming,
    /// Further behind than `REPLICA_MAX_LAG_MS`: bypassed until it catches up.
    Lagging,
    /// No answer, or an error.
    Down(DownCause),
    /// It answers but is not in recovery (promoted, or the primary itself): its data may differ.
    NotStandby,
}

/// What `/readyz`, `/about/architecture` and `/metrics` show of the replica.
#[derive(Debug, Clone, Copy)]
pub struct ReplicaStatus {
    pub health: ReplicaHealth,
    /// The last measured lag; `None` before the first.
    pub lag: Option<Duration>,
    pub max_lag: Duration,
}

impl ReplicaStatus {
    /// Whether reads go to the replica now.
    pub fn in_use(&self) -> bool {
        self.health == ReplicaHealth::Streaming
    }
}

/// A read that failed, as routing sees it: a store failure is worth trying on the primary.
pub trait ReadFailure {
    /// The store's failure behind this error, if it is one.
    fn store_error(&self) -> Option<&StoreError>;
}

impl ReadFailure for StoreError {
    fn store_error(&self) -> Option<&StoreError> {
        Some(self)
    }
}

/// Where reads go: the primary, and the replica when there is one. Cheap to clone.
#[derive(Clone)]
pub struct Reads {
    primary: PgPool,
    replica: Option<Arc<Replica>>,
    /// Counted for the app's routed reads; none for reads that never leave the primary.
    metrics: Option<ReadMetrics>,
}

struct Replica {
    pool: PgPool,
    max_lag: Duration,
    /// The furthest replay position seen, by the poll or by a request that asked.
    replayed: AtomicU64,
    observed: RwLock<ReplicaStatus>,
}

impl Reads {
    /// Every read on `primary`: where the data must be exactly what was last written (prices, a
    /// student's own orders), or where there is no replica.
    pub fn primary_only(primary: PgPool) -> Reads {
        Reads {
            primary,
            replica: None,
            metrics: None,
        }
    }

    /// Reads over `primary` and, when `settings` name one, the replica, measured now once and
    /// then in the background for as long as these `Reads` (or a clone) exist.
    pub async fn start(
        primary: PgPool,
        settings: &DatabaseSettings,
        metrics: ReadMetrics,
    ) -> Reads {
        let replica = settings.replica_options.as_ref().map(|options| {
            Arc::new(Replica {
                pool: replica_pool(options.clone(), settings),
                max_lag: settings.replica_max_lag,
                replayed: AtomicU64::new(0),
                observed: RwLock::new(ReplicaStatus {
                    health: ReplicaHealth::Unchecked,
                    lag: None,
                    max_lag: settings.replica_max_lag,
                }),
            })
        });
        if let Some(replica) = &replica {
            // measured before the first request, so an instance starts reading where it may
            let mut clock = LagClock::default();
            replica.poll(&primary, &mut clock, &metrics).await;
            tokio::spawn(watch(
                Arc::downgrade(replica),
                primary.clone(),
                clock,
                metrics.clone(),
            ));
        }
        Reads {
            primary,
            replica,
            metrics: Some(metrics),
        }
    }

    /// The primary: for writes, and reads that must see the last write whatever happens.
    pub fn primary(&self) -> &PgPool {
        &self.primary
    }

    pub fn has_replica(&self) -> bool {
        self.replica.is_some()
    }

    /// The replica's last measurement; `None` without a replica.
    pub fn replica_status(&self) -> Option<ReplicaStatus> {
        self.replica.as_ref().map(|replica| replica.status())
    }

    /// Where the primary's log ends now, when there is a replica to compare it with (nothing to
    /// remember otherwise). Read after a write's commit, for the writer's session and the cache.
    pub async fn position_after_write(&self) -> Option<WalPosition> {
        self.replica.as_ref()?;
        match wal::primary_position(&self.primary).await {
            Ok(position) => Some(position),
            Err(error) => {
                // the write is done; only where its reader is sent is unsure now
                tracing::warn!(%error, "the primary's WAL position after a write could not be read");
                None
            }
        }
    }

    /// `read` on the replica when it may answer a reader who must see `after`, else on the
    /// primary; once more on the primary when it fails on the replica.
    pub async fn run<T, E, F, Fut>(&self, after: ReadAfter, read: F) -> Result<T, E>
    where
        E: ReadFailure,
        F: Fn(PgPool) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        let replica = match self.route(after).await {
            Ok(replica) => replica,
            Err(reason) => {
                if let Some(reason) = reason {
                    self.count_fallback(reason);
                }
                self.count_read(ReadTarget::Primary);
                return read(self.primary.clone()).await;
            }
        };
        match read(replica.pool.clone()).await {
            Err(error) if error.store_error().is_some_and(is_worth_retrying) => {
                if let Some(StoreError::Unavailable(cause)) = error.store_error() {
                    replica.left(DownCause::of(cause));
                }
                tracing::warn!(
                    error = error.store_error().map(tracing::field::display),
                    "a read failed on the replica; reading the primary"
                );
                self.count_fallback(Fallback::Failed);
                self.count_read(ReadTarget::Primary);
                read(self.primary.clone()).await
            }
            answered => {
                self.count_read(ReadTarget::Replica);
                answered
            }
        }
    }

    /// The replica when it may answer a reader who must see `after`; else why not (`None`: there
    /// is no replica to fall back from).
    async fn route(&self, after: ReadAfter) -> Result<&Replica, Option<Fallback>> {
        let Some(replica) = self.replica.as_deref() else {
            return Err(None);
        };
        match replica.status().health {
            ReplicaHealth::Streaming => {}
            ReplicaHealth::Unchecked => return Err(Some(Fallback::Unchecked)),
            ReplicaHealth::Lagging => return Err(Some(Fallback::Lagging)),
            ReplicaHealth::Down(_) | ReplicaHealth::NotStandby => {
                return Err(Some(Fallback::Down));
            }
        }
        match after {
            ReadAfter::Anything => Ok(replica),
            ReadAfter::UnknownWrite => Err(Some(Fallback::WriteNotReplayed)),
            ReadAfter::Write(position) => {
                if replica.has_replayed(position) || replica.asked_has_replayed(position).await {
                    Ok(replica)
                } else {
                    Err(Some(Fallback::WriteNotReplayed))
                }
            }
        }
    }

    fn count_read(&self, target: ReadTarget) {
        if let Some(metrics) = &self.metrics {
            metrics.read(target);
        }
    }

    fn count_fallback(&self, reason: Fallback) {
        if let Some(metrics) = &self.metrics {
            metrics.fallback(reason);
        }
    }
}

/// A failure the primary may not share: the replica unreachable, or refusing (a query cancelled
/// by a conflict with recovery, a database not replicated yet). Corrupt data would be the same there.
fn is_worth_retrying(error: &StoreError) -> bool {
    matches!(error, StoreError::Unavailable(_) | StoreError::Query(_))
}

/// The replica's pool: as the primary's, but named apart in `pg_stat_activity`, and quick to give
/// up on a replica that hangs (the primary can answer instead).
fn replica_pool(options: PgConnectOptions, settings: &DatabaseSettings) -> PgPool {
    PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .acquire_timeout(settings.acquire_timeout.min(REPLICA_ACQUIRE_TIMEOUT))
        .test_before_acquire(true)
        .connect_lazy_with(options.application_name("courseshop-replica-reads"))
}

impl Replica {
    fn status(&self) -> ReplicaStatus {
        *self.observed.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn has_replayed(&self, position: WalPosition) -> bool {
        self.replayed.load(Ordering::Acquire) >= position.0
    }

    /// Asks the replica how far it has replayed now (a request whose write is past the remembered
    /// position: the poll may just not have seen it yet).
    async fn asked_has_replayed(&self, position: WalPosition) -> bool {
        if let Ok(Ok(Some(replayed))) =
            tokio::time::timeout(ASK_TIMEOUT, wal::replayed(&self.pool)).await
        {
            self.replayed.fetch_max(replayed.0, Ordering::AcqRel);
        }
        self.has_replayed(position)
    }

    /// A read found the replica gone: bypassed until the next poll finds it again.
    fn left(&self, cause: DownCause) {
        self.observed
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .health = ReplicaHealth::Down(cause);
    }

    /// Measures the replica (its replay position) and the primary (its written position) side by
    /// side, and from them the replica's health and lag.
    async fn poll(&self, primary: &PgPool, clock: &mut LagClock, metrics: &ReadMetrics) {
        let (written, replayed) = tokio::join!(
            tokio::time::timeout(POLL_TIMEOUT, wal::primary_written(primary)),
            tokio::time::timeout(POLL_TIMEOUT, wal::replayed(&self.pool)),
        );
        let before = self.status();
        let (health, lag) = match replayed {
            Err(_) => (ReplicaHealth::Down(DownCause::Timeout), before.lag),
            Ok(Err(error)) => {
                if before.health != ReplicaHealth::Down(DownCause::of(&error)) {
                    tracing::warn!(error = %crate::readiness::chain_text(&error), "the replica does not answer: reads go to the primary");
                }
                (ReplicaHealth::Down(DownCause::of(&error)), before.lag)
            }
            Ok(Ok(None)) => (ReplicaHealth::NotStandby, before.lag),
            Ok(Ok(Some(replayed))) => {
                self.replayed.fetch_max(replayed.0, Ordering::AcqRel);
                // without the primary's position the lag cannot be measured: the last one stands
                let lag = match written {
                    Ok(Ok(written)) => Some(clock.observe(written, replayed, Instant::now())),
                    _ => before.lag,
                };
                let lagging = lag.is_some_and(|lag| lag > self.max_lag);
                (
                    if lagging {
                        ReplicaHealth::Lagging
                    } else {
                        ReplicaHealth::Streaming
                    },
                    lag,
                )
            }
        };
        if health != before.health {
            tracing::info!(
                from = ?before.health,
                to = ?health,
                lag_ms = lag.map(|lag| lag.as_millis() as u64),
                "the replica's state changed"
            );
        }
        if let Some(lag) = lag {
            metrics.set_lag(lag.as_secs_f64());
        }
        *self
            .observed
            .write()
            .unwrap_or_else(PoisonError::into_inner) = ReplicaStatus {
            health,
            lag,
            max_lag: self.max_lag,
        };
    }
}

/// Measures the replica every `POLL_INTERVAL` until the shop's `Reads` are gone.
async fn watch(replica: Weak<Replica>, primary: PgPool, mut clock: LagClock, metrics: ReadMetrics) {
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(replica) = replica.upgrade() else {
            return;
        };
        replica.poll(&primary, &mut clock, &metrics).await;
    }
}

/// The replica's lag, measured with this process's clock alone.
///
/// Lag is 0 when the replica has replayed all the primary has written. Otherwise it is how long
/// ago the poll first saw the primary's log reach a position the replica has still not replayed:
/// how old the oldest write the replica is missing is (understated by at most one poll). The usual
/// `now() - pg_last_xact_replay_timestamp()` was not chosen: it grows without bound on a primary
/// that writes nothing although the replica has everything, it counts only transactions (not the
/// position readers wait for), and it compares the replica's clock with another machine's.
#[derive(Debug, Default)]
struct LagClock {
    /// Positions the primary had written, each with when a poll first saw it, oldest first.
    unreplayed: VecDeque<(WalPosition, Instant)>,
}

impl LagClock {
    fn observe(&mut self, written: WalPosition, replayed: WalPosition, now: Instant) -> Duration {
        while self
            .unreplayed
            .front()
            .is_some_and(|(position, _)| *position <= replayed)
        {
            self.unreplayed.pop_front();
        }
        let newer = self
            .unreplayed
            .back()
            .is_none_or(|(position, _)| *position < written);
        if written > replayed && newer && self.unreplayed.len() < MAX_UNREPLAYED_SAMPLES {
            self.unreplayed.push_back((written, now));
        }
        self.unreplayed.front().map_or(Duration::ZERO, |(_, seen)| {
            now.saturating_duration_since(*seen)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_replica_that_has_everything_has_no_lag() {
        let mut clock = LagClock::default();
        let start = Instant::now();
        assert_eq!(
            clock.observe(WalPosition(100), WalPosition(100), start),
            Duration::ZERO
        );
        // the primary idle for a minute: still no lag (where a replay timestamp would say a minute)
        assert_eq!(
            clock.observe(WalPosition(100), WalPosition(100), start + 60 * SECOND),
            Duration::ZERO
        );
    }

    #[test]
    fn lag_is_the_age_of_the_oldest_write_not_replayed() {
        let mut clock = LagClock::default();
        let start = Instant::now();
        assert_eq!(
            clock.observe(WalPosition(200), WalPosition(100), start),
            Duration::ZERO
        );
        assert_eq!(
            clock.observe(WalPosition(300), WalPosition(150), start + SECOND),
            SECOND
        );
        assert_eq!(
            clock.observe(WalPosition(300), WalPosition(150), start + 3 * SECOND),
            3 * SECOND
        );
        // 200 replayed: the oldest missing write is the one first seen a second in
        assert_eq!(
            clock.observe(WalPosition(300), WalPosition(250), start + 4 * SECOND),
            3 * SECOND
        );
        assert_eq!(
            clock.observe(WalPosition(300), WalPosition(300), start + 5 * SECOND),
            Duration::ZERO
        );
    }
}
