//! The app's side of step 4: the outbox relay, which publishes checkout's events to the broker.

use std::time::Duration;

use super::broker::{self, BrokerSettings};
use super::env::{Env, SettingsError};

/// The app's side of step 4: the outbox relay.
#[derive(Debug, Clone)]
pub struct EventSettings {
    pub broker: BrokerSettings,
    /// `OUTBOX_POLL_INTERVAL_MS` (default 1000): how often the relay looks for pending rows when no
    /// notification woke it (LISTEN/NOTIFY is lost while its connection is down, and does not pass
    /// through PgBouncer in transaction mode).
    pub poll_interval: Duration,
    /// `OUTBOX_BATCH_SIZE` (default 100): rows published per round trip of confirms.
    pub batch_size: u16,
}

pub(super) fn read(env: &Env<'_>) -> Result<EventSettings, SettingsError> {
    Ok(EventSettings {
        broker: broker::read(env)?,
        poll_interval: Duration::from_millis(env.parsed_in(
            "OUTBOX_POLL_INTERVAL_MS",
            1000,
            10..=60_000,
            "milliseconds from 10 to 60000",
        )?),
        batch_size: env.parsed_in(
            "OUTBOX_BATCH_SIZE",
            100,
            1..=1000,
            "a number of rows from 1 to 1000",
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::testing::{URL, settings};

    const ASYNC: [(&str, &str); 3] = [
        URL,
        ("ENROLLMENT", "async"),
        ("RABBITMQ_URL", "amqp://127.0.0.1"),
    ];

    #[test]
    fn the_relay_is_configured_only_when_enrollment_is_asynchronous() {
        assert!(settings(&[URL]).expect("valid").events.is_none());
        let events = settings(&ASYNC)
            .expect("valid")
            .events
            .expect("events at async");
        assert_eq!(events.poll_interval, Duration::from_secs(1));
        assert_eq!(events.batch_size, 100);
    }

    #[test]
    fn a_poll_interval_or_batch_out_of_range_is_named() {
        for (variable, value, expected) in [
            (
                "OUTBOX_POLL_INTERVAL_MS",
                "5",
                "milliseconds from 10 to 60000",
            ),
            ("OUTBOX_BATCH_SIZE", "0", "a number of rows from 1 to 1000"),
        ] {
            let pairs: Vec<(&str, &str)> =
                ASYNC.iter().copied().chain([(variable, value)]).collect();
            assert_eq!(
                settings(&pairs).expect_err("must fail").to_string(),
                format!("{variable}={value:?} is not valid: expected {expected}")
            );
        }
    }
}
