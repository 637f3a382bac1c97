//! Waiting for an outcome that comes in the background (a relay's publish, a worker's enrollment, a
//! store coming back): poll until it holds, and fail the test after a bounded wait.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

/// How long a test waits for an outcome before it fails, when it names no other limit.
pub const PATIENCE: Duration = Duration::from_secs(15);

/// How often the condition is checked again.
const POLL: Duration = Duration::from_millis(50);

/// Polls `check` every 50 ms until it holds; fails the test with `what` after `within`.
pub async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "not within {within:?}: {what}");
        tokio::time::sleep(POLL).await;
    }
}

/// [`eventually`] with the default [`PATIENCE`].
pub async fn wait_until<F, Fut>(what: &str, check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    eventually(what, PATIENCE, check).await;
}
