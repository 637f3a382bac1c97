//! Settings as the shop and the enrollment worker read them from their environment, made from a
//! test's own values instead (the process's environment is not read: tests run side by side).
//! Both types live in `shop::settings`, so no test tree needs the other's crate to build them.

use shop::settings::{Settings, WorkerSettings};

/// The shop's settings for the database at `database_url`: a port of its own, a short acquire
/// timeout, the monolith (step 0), then `overrides` (a later value wins over an earlier one).
pub fn settings_for(database_url: &str, overrides: &[(&str, &str)]) -> Settings {
    let mut env = vec![
        ("DATABASE_URL", database_url),
        ("PORT", "0"),
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "1000"),
        // the monolith unless a test asks for a later step
        ("SHOP_STEP", "0"),
        // searches from PostgreSQL: most tests change courses with SQL and search at once, which
        // the in-memory index would see only at its next refresh (its own tests and the hostile
        // corpus ask for it)
        ("CATALOG_SEARCH", "postgres"),
    ];
    env.extend_from_slice(overrides);
    Settings::from_lookup(|name| {
        env.iter()
            .rev()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
    })
    .expect("valid test settings")
}

/// The enrollment worker's settings for the database at `database_url`: a health port of its own, a
/// short acquire timeout, then `overrides` (e.g. a `TestRabbit`'s; a later value wins).
pub fn worker_settings_for(database_url: &str, overrides: &[(&str, String)]) -> WorkerSettings {
    let mut env: Vec<(&str, String)> = vec![
        ("DATABASE_URL", database_url.to_string()),
        ("WORKER_PORT", "0".to_string()),
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "1000".to_string()),
    ];
    env.extend(overrides.iter().cloned());
    WorkerSettings::from_lookup(|name| {
        env.iter()
            .rev()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value.clone())
    })
    .expect("valid test settings")
}
