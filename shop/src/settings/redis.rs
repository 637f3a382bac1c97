//! Redis, the cache and session store from tutorial step 3, and the sign-in limits counted there.

use std::time::Duration;

use super::env::{Env, Secret, SettingsError};
use super::environment::Environment;

#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `REDIS_URL`: `redis://host:6379/0`, or `rediss://` for TLS (Azure Managed Redis); a
    /// password in it stays hidden.
    pub url: Secret,
    /// `REDIS_KEY_PREFIX` (default `courseshop:`): every key starts with it, so several shops (and
    /// the tests) can share one server.
    pub key_prefix: String,
    /// `REDIS_TIMEOUT_MS` (default 250): the longest a request waits for Redis before it goes on
    /// without the cache. Redis answers in well under a millisecond when it is healthy.
    pub timeout: Duration,
    pub login_limits: LoginLimits,
}

/// How many sign-in attempts are let through in a fixed window, counted in Redis (step 3 on). The
/// earlier steps have no limiter at all: only argon2's cost slows guessing there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// `LOGIN_LIMIT_PER_ACCOUNT` (default 5): attempts for one email address, from anywhere (a
    /// success clears them).
    pub per_account: u32,
    /// `LOGIN_LIMIT_PER_ADDRESS` (default 30): attempts from one client address, whatever the
    /// emails (one machine trying many accounts); higher, as a school or office shares an address.
    pub per_address: u32,
    /// `LOGIN_LIMIT_WINDOW_SECS` (default 900): the window, counted from its first attempt.
    pub window: Duration,
}

pub(super) fn read(
    env: &Env<'_>,
    environment: Environment,
) -> Result<RedisSettings, SettingsError> {
    let url = url(env, environment)?;
    let key_prefix = env
        .optional("REDIS_KEY_PREFIX")
        .unwrap_or_else(|| "courseshop:".to_string());
    if key_prefix.chars().any(char::is_whitespace) {
        return Err(SettingsError::Invalid {
            variable: "REDIS_KEY_PREFIX",
            value: key_prefix,
            reason: "a prefix without spaces, e.g. courseshop:".to_string(),
        });
    }
    Ok(RedisSettings {
        url,
        key_prefix,
        timeout: Duration::from_millis(env.parsed_in(
            "REDIS_TIMEOUT_MS",
            250,
            10..=10_000,
            "milliseconds from 10 to 10000",
        )?),
        login_limits: login_limits(env)?,
    })
}

/// `REDIS_URL`; in production only TLS with a checked certificate.
fn url(env: &Env<'_>, environment: Environment) -> Result<Secret, SettingsError> {
    let url = env.required(
        "REDIS_URL",
        "the cache is Redis at this step: set it, e.g. redis://127.0.0.1:6379 (./scripts/run does)",
    )?;
    let url = url.trim().to_string();
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err(SettingsError::hidden(
            "REDIS_URL",
            "expected a redis:// or rediss:// (TLS) URL",
        ));
    }
    // `#insecure` (certificate not checked) exists for a test server's self-signed certificate
    if environment.is_production() && (!url.starts_with("rediss://") || url.contains("#insecure")) {
        return Err(SettingsError::hidden(
            "REDIS_URL",
            "SHOP_ENV=production needs TLS to Redis with a checked certificate: \
             rediss://:<access key>@<name>.<region>.redis.azure.net:10000",
        ));
    }
    Ok(Secret(url))
}

fn login_limits(env: &Env<'_>) -> Result<LoginLimits, SettingsError> {
    Ok(LoginLimits {
        per_account: env.parsed_in(
            "LOGIN_LIMIT_PER_ACCOUNT",
            5,
            1..=1000,
            "a number of attempts from 1 to 1000",
        )?,
        per_address: env.parsed_in(
            "LOGIN_LIMIT_PER_ADDRESS",
            30,
            1..=100_000,
            "a number of attempts from 1 to 100000",
        )?,
        window: Duration::from_secs(env.parsed_in(
            "LOGIN_LIMIT_WINDOW_SECS",
            900,
            1..=86_400,
            "seconds from 1 to 86400",
        )?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::testing::{URL, production, settings};

    #[test]
    fn redis_settings_are_read_only_when_the_cache_is_redis() {
        let step2 = settings(&[
            URL,
            ("SHOP_STEP", "2"),
            ("COSMOS_ENDPOINT", "http://127.0.0.1:8081/"),
            ("COSMOS_KEY", "c2VjcmV0"),
        ])
        .expect("valid");
        assert!(step2.redis.is_none());
        let error = settings(&[URL, ("CACHE", "redis")]).expect_err("must fail");
        assert!(
            error.to_string().starts_with("REDIS_URL is not set"),
            "{error}"
        );
        let error = settings(&[
            URL,
            ("CACHE", "redis"),
            ("REDIS_URL", "http://x:secret@cache"),
        ])
        .expect_err("must fail");
        assert!(!error.to_string().contains("secret"), "{error}");
        let redis = settings(&[
            URL,
            ("CACHE", "redis"),
            (
                "REDIS_URL",
                "rediss://:secret@cache.eastus.redis.azure.net:10000",
            ),
        ])
        .expect("valid")
        .redis
        .expect("redis settings");
        assert_eq!(redis.key_prefix, "courseshop:");
        assert_eq!(redis.timeout, Duration::from_millis(250));
        assert!(
            !format!("{redis:?}").contains("secret"),
            "Debug hides the password"
        );
    }

    #[test]
    fn login_limits_come_with_redis_and_name_a_bad_value() {
        let redis = [
            URL,
            ("CACHE", "redis"),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
        ];
        let defaults = settings(&redis).expect("valid");
        assert!(!defaults.trust_forwarded_for);
        assert_eq!(
            defaults.redis.expect("redis settings").login_limits,
            LoginLimits {
                per_account: 5,
                per_address: 30,
                window: Duration::from_secs(900),
            }
        );
        for variable in [
            "LOGIN_LIMIT_PER_ACCOUNT",
            "LOGIN_LIMIT_PER_ADDRESS",
            "LOGIN_LIMIT_WINDOW_SECS",
        ] {
            let error =
                settings(&[redis[0], redis[1], redis[2], (variable, "0")]).expect_err("must fail");
            assert!(
                error.to_string().starts_with(&format!("{variable}=\"0\"")),
                "{error}"
            );
        }
        let error = settings(&[URL, ("TRUST_FORWARDED_FOR", "yes")]).expect_err("must fail");
        assert!(
            error.to_string().starts_with("TRUST_FORWARDED_FOR="),
            "{error}"
        );
    }

    #[test]
    fn production_needs_tls_to_redis_with_a_checked_certificate() {
        let step3 = [("SHOP_STEP", "3"), ("CART_STORE", "postgres")];
        for url in [
            "redis://:key@cache.eastus.redis.azure.net:10000",
            "rediss://:key@cache.eastus.redis.azure.net:10000/#insecure",
        ] {
            let pairs: Vec<(&str, &str)> =
                step3.iter().copied().chain([("REDIS_URL", url)]).collect();
            let error = production(&pairs).expect_err("must fail");
            let message = error.to_string();
            assert!(message.starts_with("REDIS_URL=\"<hidden>\""), "{message}");
            assert!(message.contains("rediss://"), "{message}");
        }
        let pairs: Vec<(&str, &str)> = step3
            .iter()
            .copied()
            .chain([(
                "REDIS_URL",
                "rediss://:key@cache.eastus.redis.azure.net:10000",
            )])
            .collect();
        production(&pairs).expect("valid settings");
    }
}
