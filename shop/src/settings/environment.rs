//! `SHOP_ENV`, which decides what must be set rather than defaulted, and `LOG_FORMAT`.

use super::env::{Env, SettingsError};

/// `SHOP_ENV` (default `development`): where the binary runs. In `production` what a deployment must
/// not get wrong by forgetting it is required instead of defaulted: a shared `SESSION_KEY`, TLS to
/// PostgreSQL and Redis; and the defaults are the safe ones there (`Secure` cookies, JSON logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

impl Environment {
    pub fn is_production(self) -> bool {
        self == Environment::Production
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Pretty,
    /// One JSON object a line, for log collectors (Azure Monitor / Log Analytics).
    Json,
}

/// `SHOP_ENV`.
pub(super) fn read(env: &Env<'_>) -> Result<Environment, SettingsError> {
    match env.optional("SHOP_ENV").as_deref().map(str::trim) {
        None | Some("development") => Ok(Environment::Development),
        Some("production") => Ok(Environment::Production),
        Some(other) => Err(SettingsError::Invalid {
            variable: "SHOP_ENV",
            value: other.to_string(),
            reason: "expected development or production".to_string(),
        }),
    }
}

/// `LOG_FORMAT` (default `pretty`, `json` in production).
pub(super) fn log_format(
    env: &Env<'_>,
    environment: Environment,
) -> Result<LogFormat, SettingsError> {
    Ok(match env.optional("LOG_FORMAT").as_deref() {
        None if environment.is_production() => LogFormat::Json,
        None | Some("pretty") => LogFormat::Pretty,
        Some("json") => LogFormat::Json,
        Some(other) => {
            return Err(SettingsError::Invalid {
                variable: "LOG_FORMAT",
                value: other.to_string(),
                reason: "expected pretty or json".to_string(),
            });
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::testing::{URL, production, settings};

    #[test]
    fn an_unknown_environment_is_named() {
        let error = settings(&[URL, ("SHOP_ENV", "prod")]).expect_err("must fail");
        assert_eq!(
            error.to_string(),
            "SHOP_ENV=\"prod\" is not valid: expected development or production"
        );
    }

    #[test]
    fn production_defaults_to_secure_cookies_and_json_logs() {
        let deployed = production(&[]).expect("valid settings");
        assert_eq!(deployed.environment, Environment::Production);
        assert!(deployed.sessions.cookie_secure);
        assert_eq!(deployed.log_format, LogFormat::Json);
        // an explicit choice still wins (e.g. pretty logs while debugging a deployment)
        let pretty = production(&[("LOG_FORMAT", "pretty")]).expect("valid settings");
        assert_eq!(pretty.log_format, LogFormat::Pretty);

        let development = settings(&[URL]).expect("valid settings");
        assert_eq!(development.environment, Environment::Development);
        assert!(!development.sessions.cookie_secure);
    }

    #[test]
    fn an_unknown_log_format_is_named() {
        let error = settings(&[URL, ("LOG_FORMAT", "xml")]).expect_err("must fail");
        assert_eq!(
            error.to_string(),
            "LOG_FORMAT=\"xml\" is not valid: expected pretty or json"
        );
    }
}
