//! The one reader of the environment every part of the settings goes through, the error it gives,
//! and [`Secret`], the value a setting holds when it must never reach a log.

use std::str::FromStr;

use crate::topology::Switch;

/// The variables the settings are read from: the process environment (after a local `.env`, which
/// the binaries load first), or a lookup of the tests' own. Built once by a binary and handed to
/// every reader, so a variable is read the same way whichever command reads it.
pub struct Env<'a> {
    lookup: Box<Lookup<'a>>,
}

/// A variable's value, if it is set.
type Lookup<'a> = dyn Fn(&str) -> Option<String> + 'a;

impl Env<'static> {
    /// The process environment.
    pub fn from_process() -> Env<'static> {
        Env::from_lookup(|variable| std::env::var(variable).ok())
    }
}

impl<'a> Env<'a> {
    /// Variables from `lookup`, so tests can supply their own environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String> + 'a) -> Env<'a> {
        Env {
            lookup: Box::new(lookup),
        }
    }

    /// A set, non-blank variable; blank counts as unset, as most shells and `.env` files intend.
    pub(super) fn optional(&self, variable: &str) -> Option<String> {
        (self.lookup)(variable).filter(|value| !value.trim().is_empty())
    }

    pub(super) fn required(
        &self,
        variable: &'static str,
        hint: &'static str,
    ) -> Result<String, SettingsError> {
        self.optional(variable)
            .ok_or(SettingsError::Missing { variable, hint })
    }

    pub(super) fn parsed<T: FromStr>(
        &self,
        variable: &'static str,
        default: Option<T>,
        expected: &str,
    ) -> Result<T, SettingsError> {
        match (self.optional(variable), default) {
            (Some(value), _) => value.trim().parse().map_err(|_| SettingsError::Invalid {
                variable,
                value,
                reason: format!("expected {expected}"),
            }),
            (None, Some(default)) => Ok(default),
            (None, None) => Err(SettingsError::Missing {
                variable,
                hint: "it has no default",
            }),
        }
    }

    pub(super) fn parsed_in<T: FromStr + PartialOrd + Copy>(
        &self,
        variable: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
        expected: &str,
    ) -> Result<T, SettingsError> {
        let value = self.parsed(variable, Some(default), expected)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(SettingsError::Invalid {
                variable,
                value: self.optional(variable).unwrap_or_default(),
                reason: format!("expected {expected}"),
            })
        }
    }

    /// A Cosmos resource name: letters, digits, `-` and `_`, at most 255 characters.
    pub(super) fn name(
        &self,
        variable: &'static str,
        default: &str,
    ) -> Result<String, SettingsError> {
        let value = self
            .optional(variable)
            .unwrap_or_else(|| default.to_string());
        let valid = value.len() <= 255
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if valid {
            Ok(value)
        } else {
            Err(SettingsError::Invalid {
                variable,
                value,
                reason: "expected letters, digits, '-' or '_' (at most 255)".to_string(),
            })
        }
    }

    /// One of the topology's switches (`CART_STORE`, `CACHE`, `ENROLLMENT`), when set.
    pub(super) fn switch<S: Switch>(&self) -> Result<Option<S>, SettingsError> {
        self.optional(S::VARIABLE)
            .map(|value| {
                S::parse(&value).ok_or_else(|| SettingsError::Invalid {
                    variable: S::VARIABLE,
                    value,
                    reason: format!("expected one of {}", S::accepted()),
                })
            })
            .transpose()
    }

    /// A true/false switch.
    pub(super) fn flag(
        &self,
        variable: &'static str,
        default: bool,
    ) -> Result<bool, SettingsError> {
        self.parsed(variable, Some(default), "true or false")
    }
}

impl std::fmt::Debug for Env<'_> {
    /// The variables may hold secrets: say only what this is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Env(<variables>)")
    }
}

/// A value that must not reach a log: its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub(super) String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<hidden>)")
    }
}

/// Why the settings cannot be read; every problem names the variable at fault.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingsError {
    #[error("{variable} is not set: {hint}")]
    Missing {
        variable: &'static str,
        hint: &'static str,
    },
    #[error("{variable}={value:?} is not valid: {reason}")]
    Invalid {
        variable: &'static str,
        value: String,
        reason: String,
    },
}

impl SettingsError {
    /// `variable`'s value is refused for `reason`, without repeating it: it may hold a password.
    pub(super) fn hidden(variable: &'static str, reason: impl Into<String>) -> SettingsError {
        SettingsError::Invalid {
            variable,
            value: "<hidden>".to_string(),
            reason: reason.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::testing::{URL, env, settings};
    use crate::topology::{CacheMode, Step};

    #[test]
    fn blank_values_count_as_unset() {
        let settings = settings(&[
            URL,
            ("PORT", " "),
            ("SHOP_STEP", ""),
            ("COSMOS_ENDPOINT", "http://127.0.0.1:8081/"),
            ("COSMOS_KEY", "c2VjcmV0"),
            ("REDIS_URL", "redis://127.0.0.1:6379"),
            ("RABBITMQ_URL", "amqp://127.0.0.1:5672/%2f"),
            ("RABBITMQ_NAME_PREFIX", " "),
        ])
        .expect("valid settings");
        assert_eq!(settings.port, 8080);
        assert_eq!(settings.topology.step, Step::DEFAULT);
        assert_eq!(
            settings.events.map(|events| events.broker.name_prefix),
            Some(String::new())
        );
    }

    #[test]
    fn each_reader_names_its_variable() {
        let env = env(&[
            ("BLANK", "  "),
            ("NUMBER", " 42 "),
            ("WORD", "many"),
            ("CACHE", "Memcached"),
            ("NAME", "shop db"),
        ]);
        assert_eq!(env.optional("BLANK"), None);
        assert_eq!(
            env.required("BLANK", "set it").expect_err("blank is unset"),
            SettingsError::Missing {
                variable: "BLANK",
                hint: "set it"
            }
        );
        assert_eq!(env.parsed::<u32>("NUMBER", None, "a number"), Ok(42));
        assert_eq!(
            env.parsed::<u32>("UNSET", None, "a number")
                .expect_err("no default")
                .to_string(),
            "UNSET is not set: it has no default"
        );
        assert_eq!(
            env.parsed::<u32>("WORD", Some(1), "a number")
                .expect_err("not a number")
                .to_string(),
            "WORD=\"many\" is not valid: expected a number"
        );
        assert_eq!(
            env.parsed_in::<u32>("NUMBER", 1, 1..=10, "a number from 1 to 10")
                .expect_err("out of range")
                .to_string(),
            "NUMBER=\" 42 \" is not valid: expected a number from 1 to 10"
        );
        assert_eq!(env.parsed_in::<u32>("UNSET", 5, 1..=10, "a number"), Ok(5));
        assert_eq!(env.name("UNSET", "carts").as_deref(), Ok("carts"));
        assert!(env.name("NAME", "carts").is_err());
        assert_eq!(
            env.switch::<CacheMode>()
                .expect_err("unknown value")
                .to_string(),
            "CACHE=\"Memcached\" is not valid: expected one of off, redis"
        );
        assert_eq!(env.flag("UNSET", true), Ok(true));
    }

    #[test]
    fn debug_shows_no_value() {
        assert_eq!(format!("{:?}", Secret("pw".into())), "Secret(<hidden>)");
        assert_eq!(format!("{:?}", env(&[("A", "pw")])), "Env(<variables>)");
    }
}
