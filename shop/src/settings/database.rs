//! PostgreSQL: `DATABASE_URL`, `DATABASE_DIRECT_URL`, the pool, and the read replica
//! (`DATABASE_REPLICA_URL`, `REPLICA_MAX_LAG_MS`).

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

use super::env::{Env, SettingsError};
use super::environment::Environment;

#[derive(Clone)]
pub struct DatabaseSettings {
    /// Parsed from `DATABASE_URL` (libpq URL syntax, `sslmode` included). On Azure it names the
    /// server's PgBouncer (port 6432, transaction pooling).
    pub connect_options: PgConnectOptions,
    /// Parsed from `DATABASE_DIRECT_URL` (optional): the same database without a transaction pooler
    /// in between, for what needs a session of its own: migrations (they hold a session-level
    /// advisory lock) and the outbox relay's `LISTEN`. Unset: `DATABASE_URL` serves for those too.
    pub direct_options: Option<PgConnectOptions>,
    /// `DATABASE_MAX_CONNECTIONS` (default 10): the pool size of one app instance.
    pub max_connections: u32,
    /// `DATABASE_ACQUIRE_TIMEOUT_MS` (default 2000): how long a request waits for a connection before
    /// it is answered "unavailable" instead of hanging while PostgreSQL is down.
    pub acquire_timeout: Duration,
    /// Parsed from `DATABASE_REPLICA_URL` (optional, read the same way as `DATABASE_URL`): a
    /// streaming replica of the same database, for reads that may see a moment-old state (step 5).
    /// Unset: every read goes to `DATABASE_URL`.
    pub replica_options: Option<PgConnectOptions>,
    /// `REPLICA_MAX_LAG_MS` (default 1000): how far the replica may replay behind the primary
    /// before reads leave it for the primary.
    pub replica_max_lag: Duration,
}

impl std::fmt::Debug for DatabaseSettings {
    /// `PgConnectOptions`' own `Debug` shows the password; this one names only where it connects.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseSettings")
            .field("host", &self.connect_options.get_host())
            .field("port", &self.connect_options.get_port())
            .field("database", &self.connect_options.get_database())
            .field("max_connections", &self.max_connections)
            .field("acquire_timeout", &self.acquire_timeout)
            .field("direct", &self.direct_options.is_some())
            .field(
                "replica",
                &self
                    .replica_options
                    .as_ref()
                    .map(|replica| (replica.get_host(), replica.get_port())),
            )
            .field("replica_max_lag", &self.replica_max_lag)
            .finish_non_exhaustive()
    }
}

impl DatabaseSettings {
    /// The same settings, connecting straight to the server (`DATABASE_DIRECT_URL`) when that is
    /// given: for a connection that must keep its session (migrations, `LISTEN`).
    pub fn direct(&self) -> DatabaseSettings {
        DatabaseSettings {
            connect_options: self
                .direct_options
                .clone()
                .unwrap_or_else(|| self.connect_options.clone()),
            ..self.clone()
        }
    }
}

pub(super) fn read(
    env: &Env<'_>,
    environment: Environment,
) -> Result<DatabaseSettings, SettingsError> {
    let database_url = env.required(
        "DATABASE_URL",
        "set it to the PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/courseshop",
    )?;
    let connect_options = postgres_url("DATABASE_URL", &database_url, environment)?;
    let direct_options = env
        .optional("DATABASE_DIRECT_URL")
        .map(|url| postgres_url("DATABASE_DIRECT_URL", &url, environment))
        .transpose()?;
    let replica_options = env
        .optional("DATABASE_REPLICA_URL")
        .map(|url| postgres_url("DATABASE_REPLICA_URL", &url, environment))
        .transpose()?;
    Ok(DatabaseSettings {
        connect_options,
        direct_options,
        max_connections: env.parsed_in(
            "DATABASE_MAX_CONNECTIONS",
            10,
            1..=1000,
            "a pool size from 1 to 1000",
        )?,
        acquire_timeout: Duration::from_millis(env.parsed_in(
            "DATABASE_ACQUIRE_TIMEOUT_MS",
            2000,
            50..=60_000,
            "milliseconds from 50 to 60000",
        )?),
        replica_options,
        replica_max_lag: Duration::from_millis(env.parsed_in(
            "REPLICA_MAX_LAG_MS",
            1000,
            1..=600_000,
            "milliseconds from 1 to 600000",
        )?),
    })
}

fn postgres_url(
    variable: &'static str,
    url: &str,
    environment: Environment,
) -> Result<PgConnectOptions, SettingsError> {
    // never echo the URL back: it may hold a password
    let invalid = |reason: String| SettingsError::hidden(variable, reason);
    if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
        return Err(invalid(
            "expected a postgres:// or postgresql:// URL".to_string(),
        ));
    }
    let options = PgConnectOptions::from_str(url).map_err(|error| invalid(error.to_string()))?;
    // sqlx's default, `prefer`, falls back to plain text without a word: production must not
    let encrypted = matches!(
        options.get_ssl_mode(),
        PgSslMode::Require | PgSslMode::VerifyCa | PgSslMode::VerifyFull
    );
    if environment.is_production() && !encrypted {
        return Err(invalid(
            "SHOP_ENV=production needs TLS to PostgreSQL: add sslmode=verify-full \
             (or sslmode=require) to the URL"
                .to_string(),
        ));
    }
    Ok(options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::testing::{URL, production, settings};

    #[test]
    fn a_missing_database_url_is_named() {
        let error = settings(&[]).expect_err("must fail");
        assert!(matches!(
            error,
            SettingsError::Missing {
                variable: "DATABASE_URL",
                ..
            }
        ));
        assert!(error.to_string().starts_with("DATABASE_URL is not set"));
    }

    #[test]
    fn a_malformed_database_url_is_refused_without_echoing_it() {
        let error = settings(&[("DATABASE_URL", "mysql://root:secret@db")]).expect_err("must fail");
        let message = error.to_string();
        assert!(message.starts_with("DATABASE_URL="), "{message}");
        assert!(!message.contains("secret"), "{message}");
        let settings =
            settings(&[("DATABASE_URL", "postgres://shop:secret@db/courseshop")]).expect("valid");
        assert!(
            !format!("{settings:?}").contains("secret"),
            "Debug must hide the password"
        );
    }

    #[test]
    fn the_pool_has_defaults_and_bounds() {
        let settings = settings(&[URL]).expect("valid settings");
        assert_eq!(settings.database.max_connections, 10);
        assert_eq!(settings.database.acquire_timeout, Duration::from_secs(2));
        let error = settings_error(&[URL, ("DATABASE_ACQUIRE_TIMEOUT_MS", "10")]);
        assert_eq!(
            error,
            "DATABASE_ACQUIRE_TIMEOUT_MS=\"10\" is not valid: expected milliseconds from 50 to 60000"
        );
    }

    fn settings_error(pairs: &[(&str, &str)]) -> String {
        settings(pairs).expect_err("must fail").to_string()
    }

    #[test]
    fn production_needs_tls_to_postgresql_on_both_urls() {
        for mode in ["disable", "allow", "prefer"] {
            let url = format!("postgres://shop:secret@db.example/courseshop?sslmode={mode}");
            let error = production(&[("DATABASE_URL", &url)]).expect_err("must fail");
            let message = error.to_string();
            assert!(
                message.starts_with("DATABASE_URL=\"<hidden>\""),
                "{message}"
            );
            assert!(message.contains("sslmode=verify-full"), "{message}");
            assert!(!message.contains("secret"), "{message}");
        }
        // no sslmode at all is sqlx's `prefer`: refused as well
        let error = production(&[("DATABASE_URL", "postgres://shop@db.example/courseshop")])
            .expect_err("must fail");
        assert!(error.to_string().starts_with("DATABASE_URL="), "{error}");
        let error = production(&[(
            "DATABASE_DIRECT_URL",
            "postgres://shop:secret@db.example:5432/courseshop",
        )])
        .expect_err("must fail");
        assert!(
            error.to_string().starts_with("DATABASE_DIRECT_URL="),
            "{error}"
        );
        for mode in ["require", "verify-ca", "verify-full"] {
            let url = format!("postgres://shop@db.example:5432/courseshop?sslmode={mode}");
            production(&[("DATABASE_DIRECT_URL", &url)]).expect("valid settings");
        }
    }

    #[test]
    fn the_direct_url_serves_session_work_and_defaults_to_the_pooled_one() {
        let settings = production(&[(
            "DATABASE_DIRECT_URL",
            "postgres://shop:secret@db.example:5432/courseshop?sslmode=verify-full",
        )])
        .expect("valid settings");
        assert_eq!(settings.database.connect_options.get_port(), 6432);
        assert_eq!(settings.database.direct().connect_options.get_port(), 5432);
        let settings = production(&[]).expect("valid settings");
        assert_eq!(settings.database.direct().connect_options.get_port(), 6432);
    }

    #[test]
    fn the_replica_is_optional_and_read_as_the_primary_is() {
        let unset = settings(&[URL]).expect("valid settings");
        assert!(unset.database.replica_options.is_none());
        assert_eq!(unset.database.replica_max_lag, Duration::from_secs(1));
        let settings = settings(&[
            URL,
            (
                "DATABASE_REPLICA_URL",
                "postgres://shop:secret@127.0.0.1:5433/courseshop",
            ),
            ("REPLICA_MAX_LAG_MS", " 250 "),
        ])
        .expect("valid settings");
        let replica = settings
            .database
            .replica_options
            .clone()
            .expect("a replica");
        assert_eq!(replica.get_port(), 5433);
        assert_eq!(replica.get_database(), Some("courseshop"));
        assert_eq!(
            settings.database.replica_max_lag,
            Duration::from_millis(250)
        );
        let shown = format!("{:?}", settings.database);
        assert!(shown.contains("5433"), "{shown}");
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn a_bad_replica_setting_names_its_variable() {
        let message = settings_error(&[URL, ("DATABASE_REPLICA_URL", "mysql://root:secret@db")]);
        assert!(
            message.starts_with("DATABASE_REPLICA_URL=\"<hidden>\" is not valid"),
            "{message}"
        );
        assert!(!message.contains("secret"), "{message}");
        for wrong in ["0", "-5", "600001", "1s"] {
            assert_eq!(
                settings_error(&[URL, ("REPLICA_MAX_LAG_MS", wrong)]),
                format!(
                    "REPLICA_MAX_LAG_MS={wrong:?} is not valid: expected milliseconds from 1 to 600000"
                )
            );
        }
        // production: TLS to the replica too
        let error = production(&[(
            "DATABASE_REPLICA_URL",
            "postgres://shop:secret@replica.example:5432/courseshop",
        )])
        .expect_err("must fail");
        assert!(
            error.to_string().starts_with("DATABASE_REPLICA_URL="),
            "{error}"
        );
        production(&[(
            "DATABASE_REPLICA_URL",
            "postgres://shop@replica.example:5432/courseshop?sslmode=verify-full",
        )])
        .expect("valid settings");
    }
}
