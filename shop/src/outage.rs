//! Remembers that a store just failed, so the requests that follow do not each wait for it again.
//!
//! Every page shows the cart's size in its header and may read the cache. Without this, an outage
//! of Cosmos DB or Redis would make every page wait out that store's timeout; with it, one request
//! in each `COOL_DOWN` tries the store and the others go on without it at once, and the first
//! success closes it.
//!
//! `StoreGuard` is that rule for any store: each store says which of its errors mean it is away
//! (`StoreError`) and turns the guard's `Away` into its own error type.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long after a failure requests skip the store: short, so a recovered service is used again
/// within a couple of seconds, without anyone restarting the app.
pub const COOL_DOWN: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
struct Outage {
    until: Mutex<Option<Instant>>,
}

impl Outage {
    /// True while requests should not try the store. The first caller after the cool-down gets `false`
    /// and holds the next try for itself: the others keep skipping until it reports.
    fn skip(&self) -> bool {
        let Ok(mut until) = self.until.lock() else {
            return false;
        };
        match *until {
            Some(instant) if Instant::now() < instant => true,
            Some(_) => {
                *until = Some(Instant::now() + COOL_DOWN);
                false
            }
            None => false,
        }
    }

    fn failed(&self) {
        if let Ok(mut until) = self.until.lock() {
            *until = Some(Instant::now() + COOL_DOWN);
        }
    }

    fn succeeded(&self) {
        if let Ok(mut until) = self.until.lock() {
            *until = None;
        }
    }
}

/// What a store's error says about the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The store is away (unreachable, refusing, overloaded): skip it for a `COOL_DOWN`.
    Away,
    /// The store answered, if only to say no: it is there.
    Answered,
    /// Says nothing about the store either way (one busy record, say).
    Neither,
}

/// A store's error type, as the guard sees it.
pub trait StoreError {
    fn verdict(&self) -> Verdict;
}

/// Why a guarded call has no answer.
#[derive(Debug)]
pub enum Away<E> {
    /// The store failed moments ago: it was not asked.
    CoolingDown,
    /// The store did not answer within this timeout.
    TimedOut(Duration),
    /// The store answered with an error (whether that is an outage, `StoreError` said).
    Failed(E),
}

/// Guards calls to one store that may be away: a timeout on each call, and after an outage a
/// `COOL_DOWN` in which calls are skipped (see the module's comment).
#[derive(Debug, Default)]
pub struct StoreGuard {
    outage: Outage,
}

impl StoreGuard {
    /// Runs `call` within `timeout`, or skips it while the store cools down after a failure.
    pub async fn run<T, E: StoreError>(
        &self,
        timeout: Duration,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, Away<E>> {
        if self.outage.skip() {
            return Err(Away::CoolingDown);
        }
        self.record(timeout, tokio::time::timeout(timeout, call).await)
    }

    /// Runs `call` within `timeout` even while the store cools down (for readiness probes, which
    /// must tell the truth); its outcome still ends or starts an outage.
    pub async fn probe<T, E: StoreError>(
        &self,
        timeout: Duration,
        call: impl Future<Output = Result<T, E>>,
    ) -> Result<T, Away<E>> {
        self.record(timeout, tokio::time::timeout(timeout, call).await)
    }

    /// Notes what the call's outcome says about the store. (Not an `async fn` of its own, so a
    /// guarded call nests one future less: deep futures overflow the compiler's layout limit.)
    fn record<T, E: StoreError>(
        &self,
        timeout: Duration,
        outcome: Result<Result<T, E>, tokio::time::error::Elapsed>,
    ) -> Result<T, Away<E>> {
        let result = match outcome {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(Away::Failed(error)),
            Err(_) => Err(Away::TimedOut(timeout)),
        };
        let verdict = match &result {
            Ok(_) => Verdict::Answered,
            Err(Away::Failed(error)) => error.verdict(),
            Err(_) => Verdict::Away,
        };
        match verdict {
            Verdict::Away => self.outage.failed(),
            Verdict::Answered => self.outage.succeeded(),
            Verdict::Neither => {}
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_makes_requests_skip_until_the_cool_down_ends() {
        let outage = Outage::default();
        assert!(!outage.skip(), "healthy: nobody skips");
        outage.failed();
        assert!(outage.skip());
        // pretend the cool-down has passed
        *outage.until.lock().expect("lock") = Some(Instant::now() - Duration::from_millis(1));
        assert!(!outage.skip(), "one request tries again");
        assert!(outage.skip(), "the others wait for its answer");
        outage.succeeded();
        assert!(!outage.skip());
    }

    #[derive(Debug)]
    struct Said(Verdict);

    impl StoreError for Said {
        fn verdict(&self) -> Verdict {
            self.0
        }
    }

    const TIMEOUT: Duration = Duration::from_millis(50);

    async fn answer(verdict: Option<Verdict>) -> Result<(), Said> {
        verdict.map_or(Ok(()), |verdict| Err(Said(verdict)))
    }

    #[tokio::test]
    async fn the_guard_skips_after_an_outage_and_tells_why_a_call_has_no_answer() {
        let guard = StoreGuard::default();
        let answered = guard.run(TIMEOUT, answer(Some(Verdict::Answered))).await;
        assert!(matches!(
            answered,
            Err(Away::Failed(Said(Verdict::Answered)))
        ));
        let neither = guard.run(TIMEOUT, answer(Some(Verdict::Neither))).await;
        assert!(matches!(neither, Err(Away::Failed(_))));
        assert!(
            guard.run(TIMEOUT, answer(None)).await.is_ok(),
            "no outage yet"
        );

        let away = guard.run(TIMEOUT, answer(Some(Verdict::Away))).await;
        assert!(matches!(away, Err(Away::Failed(Said(Verdict::Away)))));
        let skipped = guard.run(TIMEOUT, answer(None)).await;
        assert!(matches!(skipped, Err(Away::CoolingDown)));
        // a probe asks anyway, and its success ends the outage
        assert!(guard.probe(TIMEOUT, answer(None)).await.is_ok());
        assert!(guard.run(TIMEOUT, answer(None)).await.is_ok());

        let slow = async {
            tokio::time::sleep(TIMEOUT * 4).await;
            answer(None).await
        };
        let timed_out = guard.run(TIMEOUT, slow).await;
        assert!(matches!(timed_out, Err(Away::TimedOut(after)) if after == TIMEOUT));
        assert!(matches!(
            guard.run(TIMEOUT, answer(None)).await,
            Err(Away::CoolingDown)
        ));
    }

    #[tokio::test]
    async fn an_error_that_says_neither_keeps_the_outage_as_it_was() {
        let guard = StoreGuard::default();
        let _ = guard.run(TIMEOUT, answer(Some(Verdict::Away))).await;
        let _ = guard.probe(TIMEOUT, answer(Some(Verdict::Neither))).await;
        assert!(matches!(
            guard.run(TIMEOUT, answer(None)).await,
            Err(Away::CoolingDown)
        ));
    }
}
