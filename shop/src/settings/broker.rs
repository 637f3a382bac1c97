//! RabbitMQ, through which enrollment goes at tutorial step 4: where it is, the names the shop
//! declares there, and how long a failed message waits before each further attempt.

use std::time::Duration;

use super::env::{Env, Secret, SettingsError};

/// Where RabbitMQ is and what the shop declares there; the app's relay and the worker read the same.
#[derive(Debug, Clone)]
pub struct BrokerSettings {
    /// `RABBITMQ_URL`: `amqp://user:password@host:5672/%2f` (`amqps://` for TLS); the password stays
    /// hidden. A URL without `heartbeat` gets `heartbeat=10`, so a silently dead connection is noticed
    /// within seconds rather than the server's default minute.
    pub url: Secret,
    /// `RABBITMQ_NAME_PREFIX` (default empty): put before every exchange and queue name, so several
    /// shops (and the tests) can share one broker.
    pub name_prefix: String,
    /// `ENROLLMENT_RETRY_DELAYS_MS` (default `1000,10000,60000`): how long a message that failed
    /// for a passing reason waits before each further attempt; after the last one it is
    /// dead-lettered (see [`crate::events::RetryPolicy`]). So the default makes 4 attempts over
    /// about 71 seconds.
    pub retry_delays: Vec<Duration>,
}

pub(super) fn read(env: &Env<'_>) -> Result<BrokerSettings, SettingsError> {
    Ok(BrokerSettings {
        url: url(env)?,
        name_prefix: name_prefix(env)?,
        retry_delays: retry_delays(env)?,
    })
}

/// `RABBITMQ_URL`, with `heartbeat=10` added when it names none.
fn url(env: &Env<'_>) -> Result<Secret, SettingsError> {
    let url = env
        .required(
            "RABBITMQ_URL",
            "enrollment goes through RabbitMQ at this step: set it, \
             e.g. amqp://guest:guest@127.0.0.1:5672/%2f (./scripts/run does)",
        )?
        .trim()
        .to_string();
    let invalid = |reason: &str| SettingsError::hidden("RABBITMQ_URL", reason);
    let parsed = url::Url::parse(&url)
        .map_err(|_| invalid("expected a URL such as amqp://guest:guest@127.0.0.1:5672/%2f"))?;
    if !matches!(parsed.scheme(), "amqp" | "amqps") {
        return Err(invalid("expected an amqp:// or amqps:// (TLS) URL"));
    }
    if parsed.host().is_none() {
        return Err(invalid("the URL has no host"));
    }
    Ok(Secret(
        if parsed.query_pairs().any(|(key, _)| key == "heartbeat") {
            url
        } else if parsed.query().is_some() {
            format!("{url}&heartbeat=10")
        } else {
            format!("{url}?heartbeat=10")
        },
    ))
}

/// `RABBITMQ_NAME_PREFIX` (default empty).
fn name_prefix(env: &Env<'_>) -> Result<String, SettingsError> {
    let name_prefix = env.optional("RABBITMQ_NAME_PREFIX").unwrap_or_default();
    if !name_prefix
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'))
        || name_prefix.len() > 100
    {
        return Err(SettingsError::Invalid {
            variable: "RABBITMQ_NAME_PREFIX",
            value: name_prefix,
            reason: "letters, digits, '.', '-', '_' or ':' (at most 100), e.g. staging."
                .to_string(),
        });
    }
    Ok(name_prefix)
}

/// `ENROLLMENT_RETRY_DELAYS_MS` (default 1 s, 10 s, 60 s).
fn retry_delays(env: &Env<'_>) -> Result<Vec<Duration>, SettingsError> {
    let Some(value) = env.optional("ENROLLMENT_RETRY_DELAYS_MS") else {
        return Ok(vec![
            Duration::from_secs(1),
            Duration::from_secs(10),
            Duration::from_secs(60),
        ]);
    };
    value
        .split(',')
        .map(|part| {
            part.trim()
                .parse::<u64>()
                .ok()
                .filter(|millis| (10..=86_400_000).contains(millis))
                .map(Duration::from_millis)
        })
        .collect::<Option<Vec<_>>>()
        .filter(|delays| (1..=10).contains(&delays.len()))
        .ok_or_else(|| SettingsError::Invalid {
            variable: "ENROLLMENT_RETRY_DELAYS_MS",
            value: value.clone(),
            reason: "1 to 10 comma-separated delays in milliseconds (10 to 86400000), \
                     e.g. 1000,10000,60000"
                .to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::testing::{URL, settings};

    /// The broker settings of asynchronous enrollment at the monolith, with `pairs` added.
    fn broker(pairs: &[(&str, &str)]) -> Result<BrokerSettings, SettingsError> {
        let mut all = vec![URL, ("SHOP_STEP", "0"), ("ENROLLMENT", "async")];
        all.extend_from_slice(pairs);
        settings(&all).map(|settings| settings.events.expect("events at async").broker)
    }

    #[test]
    fn asynchronous_enrollment_needs_the_broker_and_checks_its_settings() {
        let error =
            settings(&[URL, ("SHOP_STEP", "0"), ("ENROLLMENT", "async")]).expect_err("must fail");
        assert!(
            error.to_string().starts_with("RABBITMQ_URL is not set"),
            "{error}"
        );
        let defaults =
            broker(&[("RABBITMQ_URL", "amqp://shop:secret@mq:5672/%2f")]).expect("valid settings");
        assert_eq!(
            defaults.url.expose(),
            "amqp://shop:secret@mq:5672/%2f?heartbeat=10"
        );
        assert!(!format!("{defaults:?}").contains("secret"));
        assert_eq!(defaults.name_prefix, "");
        assert_eq!(
            defaults.retry_delays,
            [1, 10, 60].map(Duration::from_secs),
            "4 attempts over about 71 seconds"
        );
        let custom = broker(&[
            ("RABBITMQ_URL", "amqps://mq/vhost?heartbeat=30"),
            ("RABBITMQ_NAME_PREFIX", "staging."),
            ("ENROLLMENT_RETRY_DELAYS_MS", "200, 400"),
        ])
        .expect("valid settings");
        assert_eq!(custom.url.expose(), "amqps://mq/vhost?heartbeat=30");
        assert_eq!(
            custom.retry_delays,
            [Duration::from_millis(200), Duration::from_millis(400)]
        );
    }

    #[test]
    fn a_bad_broker_setting_is_named_without_the_password() {
        for (variable, value) in [
            ("RABBITMQ_URL", "http://mq:5672"),
            ("RABBITMQ_URL", "amqp://user:secret@"),
            ("RABBITMQ_NAME_PREFIX", "has space"),
            ("ENROLLMENT_RETRY_DELAYS_MS", "1000,soon"),
            ("ENROLLMENT_RETRY_DELAYS_MS", "5"),
        ] {
            let mut pairs = vec![("RABBITMQ_URL", "amqp://mq")];
            pairs.push((variable, value));
            let error = broker(&pairs).expect_err(value);
            assert!(error.to_string().starts_with(variable), "{error}");
            assert!(!error.to_string().contains("secret"), "{error}");
        }
        // step 4 is the default, and its preset is async
        let error = settings(&[
            URL,
            ("SHOP_STEP", "4"),
            ("COSMOS_ENDPOINT", "http://127.0.0.1:8081/"),
            ("COSMOS_KEY", "c2VjcmV0"),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
        ])
        .expect_err("must fail");
        assert!(error.to_string().starts_with("RABBITMQ_URL"), "{error}");
    }
}
