//! Sessions and what the shop trusts of a request: `SESSION_KEY`, `COOKIE_SECURE` and
//! `TRUST_FORWARDED_FOR`.

use super::env::{Env, Secret, SettingsError};
use super::environment::Environment;

#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// `SESSION_KEY`: at least 64 characters, shared by every instance so a session cookie made by
    /// one is read by the others. Unset: a random key per process (sessions end at a restart).
    pub key: Option<Secret>,
    /// `COOKIE_SECURE` (default false): send cookies only over HTTPS; set it wherever TLS terminates
    /// in front of the shop (Azure Container Apps ingress does).
    pub cookie_secure: bool,
}

pub(super) fn read(
    env: &Env<'_>,
    environment: Environment,
) -> Result<SessionSettings, SettingsError> {
    Ok(SessionSettings {
        key: key(env, environment)?,
        cookie_secure: env.flag("COOKIE_SECURE", environment.is_production())?,
    })
}

fn key(env: &Env<'_>, environment: Environment) -> Result<Option<Secret>, SettingsError> {
    match env.optional("SESSION_KEY") {
        Some(key) if key.chars().count() >= 64 => Ok(Some(Secret(key))),
        Some(_) => Err(SettingsError::hidden(
            "SESSION_KEY",
            "use at least 64 random characters, e.g. `openssl rand -hex 32`",
        )),
        // every replica must sign with the same key, or sessions break across them
        None if environment.is_production() => Err(SettingsError::Missing {
            variable: "SESSION_KEY",
            hint: "SHOP_ENV=production needs one key shared by every instance \
                   (64+ random characters, e.g. `openssl rand -hex 32`)",
        }),
        None => Ok(None),
    }
}

/// `TRUST_FORWARDED_FOR` (default false).
pub(super) fn trust_forwarded_for(env: &Env<'_>) -> Result<bool, SettingsError> {
    env.flag("TRUST_FORWARDED_FOR", false)
}

#[cfg(test)]
mod tests {
    use crate::settings::testing::{PRODUCTION, URL, settings};

    #[test]
    fn a_short_session_key_is_refused_and_never_shown() {
        let error = settings(&[URL, ("SESSION_KEY", "tooshort")]).expect_err("must fail");
        assert!(
            error.to_string().starts_with("SESSION_KEY=\"<hidden>\""),
            "{error}"
        );
        let key = "k".repeat(64);
        let settings =
            settings(&[URL, ("SESSION_KEY", &key), ("COOKIE_SECURE", "true")]).expect("valid");
        assert!(settings.sessions.cookie_secure);
        assert!(
            !format!("{settings:?}").contains(&key),
            "Debug must hide the key"
        );
    }

    #[test]
    fn production_refuses_to_start_without_a_shared_session_key() {
        let pairs: Vec<(&str, &str)> = PRODUCTION
            .iter()
            .filter(|(variable, _)| *variable != "SESSION_KEY")
            .copied()
            .collect();
        let error = settings(&pairs).expect_err("must fail");
        assert!(
            error
                .to_string()
                .starts_with("SESSION_KEY is not set: SHOP_ENV=production"),
            "{error}"
        );
    }

    #[test]
    fn forwarded_addresses_are_not_trusted_unless_asked() {
        assert!(!settings(&[URL]).expect("valid").trust_forwarded_for);
        let trusted = settings(&[URL, ("TRUST_FORWARDED_FOR", "true")]).expect("valid");
        assert!(trusted.trust_forwarded_for);
        let error = settings(&[URL, ("TRUST_FORWARDED_FOR", "yes")]).expect_err("must fail");
        assert_eq!(
            error.to_string(),
            "TRUST_FORWARDED_FOR=\"yes\" is not valid: expected true or false"
        );
    }
}
