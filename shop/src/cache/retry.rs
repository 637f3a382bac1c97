//! Telling Redis later what it could not be told now: an invalidation that failed during an outage
//! is tried again in the background, so a stale entry cannot outlive the outage by more than its
//! TTL.

use std::future::Future;
use std::time::Duration;

/// The pause before each try in the background.
pub const RETRY_EVERY: Duration = Duration::from_secs(1);

/// Tries `op` again in the background every `RETRY_EVERY` until it succeeds, for `give_up_after`
/// at most (no longer than the entries it invalidates live). Returns at once.
pub fn retry_in_background<F, Fut, E>(give_up_after: Duration, op: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
{
    retry_every(RETRY_EVERY, give_up_after, op);
}

fn retry_every<F, Fut, E>(every: Duration, give_up_after: Duration, mut op: F)
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send,
{
    tokio::spawn(async move {
        let deadline = tokio::time::Instant::now() + give_up_after;
        while tokio::time::Instant::now() < deadline {
            tokio::time::sleep(every).await;
            if op().await.is_ok() {
                return;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    const EVERY: Duration = Duration::from_millis(10);

    #[tokio::test]
    async fn retries_until_it_succeeds() {
        let tries = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&tries);
        retry_every(EVERY, Duration::from_secs(60), move || {
            let succeeds = counted.fetch_add(1, Ordering::SeqCst) + 1 >= 3;
            async move { if succeeds { Ok(()) } else { Err(()) } }
        });
        tokio::time::sleep(EVERY * 20).await;
        assert_eq!(
            tries.load(Ordering::SeqCst),
            3,
            "stops at the first success"
        );
    }

    #[tokio::test]
    async fn gives_up_after_the_time_it_was_given() {
        let tries = Arc::new(AtomicU32::new(0));
        let counted = Arc::clone(&tries);
        retry_every(EVERY, EVERY * 5, move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Err::<(), ()>(()) }
        });
        tokio::time::sleep(EVERY * 20).await;
        let given_up = tries.load(Ordering::SeqCst);
        assert!((1..=5).contains(&given_up), "{given_up} tries");
        tokio::time::sleep(EVERY * 10).await;
        assert_eq!(
            tries.load(Ordering::SeqCst),
            given_up,
            "no try after giving up"
        );
    }
}
