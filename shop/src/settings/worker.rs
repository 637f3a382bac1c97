//! What only the enrollment worker reads: `WORKER_PREFETCH` (its port is in [`super::listen`]).

use super::env::{Env, SettingsError};

/// `WORKER_PREFETCH` (default 10).
pub(super) fn prefetch(env: &Env<'_>) -> Result<u16, SettingsError> {
    env.parsed_in(
        "WORKER_PREFETCH",
        10,
        1..=1000,
        "a number of messages from 1 to 1000",
    )
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::settings::WorkerSettings;
    use crate::settings::testing::URL;

    #[test]
    fn the_worker_reads_its_own_settings() {
        let env: HashMap<&str, &str> = [
            URL,
            ("RABBITMQ_URL", "amqp://127.0.0.1"),
            ("WORKER_PORT", "0"),
        ]
        .into_iter()
        .collect();
        let worker = WorkerSettings::from_lookup(|variable| {
            env.get(variable).map(|value| value.to_string())
        })
        .expect("valid settings");
        assert_eq!(worker.port, 0);
        assert_eq!(worker.prefetch, 10);
        assert_eq!(worker.broker.retry_delays.len(), 3);
        let error = WorkerSettings::from_lookup(|variable| {
            (variable == "DATABASE_URL").then(|| URL.1.to_string())
        })
        .expect_err("needs the broker");
        assert!(error.to_string().starts_with("RABBITMQ_URL is not set"));
    }

    #[test]
    fn a_prefetch_out_of_range_is_named() {
        let error = WorkerSettings::from_lookup(|variable| match variable {
            "DATABASE_URL" => Some(URL.1.to_string()),
            "RABBITMQ_URL" => Some("amqp://127.0.0.1".to_string()),
            "WORKER_PREFETCH" => Some("0".to_string()),
            _ => None,
        })
        .expect_err("must fail");
        assert_eq!(
            error.to_string(),
            "WORKER_PREFETCH=\"0\" is not valid: expected a number of messages from 1 to 1000"
        );
    }
}
