//! What the settings' tests share: an environment of their own, and the settings read from it.

use std::collections::HashMap;

use super::{Env, Settings, SettingsError};

/// An environment holding only `pairs`.
pub(super) fn env(pairs: &[(&str, &str)]) -> Env<'static> {
    let variables: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Env::from_lookup(move |variable| variables.get(variable).cloned())
}

/// The shop's settings from `pairs`, at the monolith unless they name a step: later steps need more
/// settings.
pub(super) fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let env: HashMap<String, String> = [("SHOP_STEP", "0")]
        .iter()
        .chain(pairs)
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    Settings::from_lookup(|variable| env.get(variable).cloned())
}

pub(super) const URL: (&str, &str) = (
    "DATABASE_URL",
    "postgres://postgres@127.0.0.1:5432/courseshop",
);

/// What a production deployment sets, at the monolith step so no other store is needed.
pub(super) const PRODUCTION: [(&str, &str); 4] = [
    ("SHOP_ENV", "production"),
    ("PUBLIC_URL", "https://shop.example"),
    (
        "DATABASE_URL",
        "postgres://shop:secret@db.example:6432/courseshop?sslmode=verify-full",
    ),
    (
        "SESSION_KEY",
        "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
    ),
];

pub(super) fn production(extra: &[(&str, &str)]) -> Result<Settings, SettingsError> {
    let pairs: Vec<(&str, &str)> = PRODUCTION.iter().chain(extra).copied().collect();
    settings(&pairs)
}
