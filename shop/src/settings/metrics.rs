//! Who may read `GET /metrics`: `METRICS_TOKEN`.

use super::env::{Env, Secret, SettingsError};
use super::environment::Environment;

/// Who may read `GET /metrics`. A deployment's ingress publishes every path of the shop, so in
/// production the numbers (request rates, pool use, the outbox backlog) are not for everyone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MetricsAccess {
    /// Anyone (development: a scraper on this machine).
    Open,
    /// `METRICS_TOKEN`: a scraper sending `Authorization: Bearer <token>`.
    Token(Secret),
    /// Production without a token: not served at all (404).
    Off,
}

pub(super) fn read(
    env: &Env<'_>,
    environment: Environment,
) -> Result<MetricsAccess, SettingsError> {
    match env.optional("METRICS_TOKEN") {
        Some(token) if token.trim().len() >= 32 => {
            Ok(MetricsAccess::Token(Secret(token.trim().to_string())))
        }
        Some(_) => Err(SettingsError::hidden(
            "METRICS_TOKEN",
            "use at least 32 random characters, e.g. `openssl rand -hex 32`",
        )),
        None if environment.is_production() => Ok(MetricsAccess::Off),
        None => Ok(MetricsAccess::Open),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::testing::{URL, production, settings};

    #[test]
    fn metrics_are_open_locally_and_need_a_token_in_production() {
        assert_eq!(
            settings(&[URL]).expect("valid").metrics,
            MetricsAccess::Open
        );
        assert_eq!(production(&[]).expect("valid").metrics, MetricsAccess::Off);
        let token = "f".repeat(32);
        assert_eq!(
            production(&[("METRICS_TOKEN", &token)])
                .expect("valid")
                .metrics,
            MetricsAccess::Token(Secret(token.clone()))
        );
        let error = settings(&[URL, ("METRICS_TOKEN", "short")]).expect_err("must fail");
        assert!(
            error.to_string().starts_with("METRICS_TOKEN=\"<hidden>\""),
            "{error}"
        );
    }
}
