//! Remembers that a store just failed, so the requests that follow do not each wait for it again.
//!
//! Every page shows the cart's size in its header and may read the cache. Without this, an outage
//! of Cosmos DB or Redis would make every page wait out that store's timeout; with it, one request
//! in each `COOL_DOWN` tries the store and the others go on without it at once, and the first
//! success closes it.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long after a failure requests skip the store: short, so a recovered service is used again
/// within a couple of seconds, without anyone restarting the app.
pub const COOL_DOWN: Duration = Duration::from_secs(2);

#[derive(Debug, Default)]
pub struct Outage {
    until: Mutex<Option<Instant>>,
}

impl Outage {
    /// True while requests should not try Cosmos. The first caller after the cool-down gets `false`
    /// and holds the next try for itself: the others keep skipping until it reports.
    pub fn skip(&self) -> bool {
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

    pub fn failed(&self) {
        if let Ok(mut until) = self.until.lock() {
            *until = Some(Instant::now() + COOL_DOWN);
        }
    }

    pub fn succeeded(&self) {
        if let Ok(mut until) = self.until.lock() {
            *until = None;
        }
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
}
