//! The dead-lettering rule: how often a message that failed for a passing reason is tried again,
//! and when it is given up on. The delays are a setting (`ENROLLMENT_RETRY_DELAYS_MS`); what they
//! mean is decided here.

use std::time::Duration;

/// A message is tried once, then once more after each delay in turn; when the last of those fails
/// too it is dead-lettered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    delays: Vec<Duration>,
}

impl RetryPolicy {
    pub fn new(delays: &[Duration]) -> RetryPolicy {
        RetryPolicy {
            delays: delays.to_vec(),
        }
    }

    /// Attempts a message gets before it is dead-lettered: the first, and one after each delay.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.delays.len())
            .unwrap_or(u32::MAX - 1)
            .saturating_add(1)
    }

    /// The wait before the next attempt once attempt `attempt` (1 for the first) failed, or `None`
    /// when that was the last of [`RetryPolicy::max_attempts`].
    pub fn delay_after(&self, attempt: u32) -> Option<Duration> {
        let index = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
        self.delays.get(index).copied()
    }

    /// The wait before trying again after a failure that uses no attempt up (a database out of
    /// reach is no fault of the message): the last delay, however many attempts were made.
    pub fn last_delay(&self) -> Option<Duration> {
        self.delays.last().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_gets_one_attempt_more_than_there_are_delays() {
        let policy = RetryPolicy::new(&[1, 10, 60].map(Duration::from_secs));
        assert_eq!(policy.max_attempts(), 4);
        assert_eq!(policy.delay_after(1), Some(Duration::from_secs(1)));
        assert_eq!(policy.delay_after(3), Some(Duration::from_secs(60)));
        for attempt in [4, 5, u32::MAX] {
            assert_eq!(policy.delay_after(attempt), None, "attempt {attempt}");
        }
        assert_eq!(policy.last_delay(), Some(Duration::from_secs(60)));
    }

    #[test]
    fn the_attempts_and_the_delays_agree() {
        let policy = RetryPolicy::new(&[Duration::from_millis(200); 2]);
        for attempt in 1..=policy.max_attempts() + 1 {
            assert_eq!(
                policy.delay_after(attempt).is_some(),
                attempt < policy.max_attempts(),
                "attempt {attempt}"
            );
        }
    }
}
