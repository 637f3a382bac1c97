//! The shop's one `Settings` type, and the enrollment worker's `WorkerSettings`, read from the
//! environment (12-factor) and validated at start.
//!
//! One file per part, each with its type and the function that reads it from the one environment
//! reader, [`Env`]; this file assembles them, and holds the partial readers of the commands that need
//! less than a whole start. Every problem names the variable at fault, so a failed start says exactly
//! what to fix.

mod broker;
mod catalog;
mod cosmos;
mod database;
mod env;
mod environment;
mod instance;
mod listen;
mod metrics;
mod outbox;
mod public_url;
mod redis;
mod sessions;
#[cfg(test)]
mod testing;
mod topology;
mod worker;

use std::net::{IpAddr, SocketAddr};

use crate::topology::{CacheMode, CartStoreKind, EnrollmentMode, Topology};

pub use self::broker::BrokerSettings;
pub use self::catalog::{CatalogSearch, CatalogSettings};
pub use self::cosmos::{CosmosAuth, CosmosSettings};
pub use self::database::DatabaseSettings;
pub use self::env::{Env, Secret, SettingsError};
pub use self::environment::{Environment, LogFormat};
pub use self::instance::InstanceName;
pub use self::metrics::MetricsAccess;
pub use self::outbox::EventSettings;
pub use self::public_url::PublicUrl;
pub use self::redis::{LoginLimits, RedisSettings};
pub use self::sessions::SessionSettings;

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    /// Address the web server binds: `HOST` (default 127.0.0.1; containers set 0.0.0.0).
    pub host: IpAddr,
    /// `PORT` (default 8080; 0 picks a free port, which the tests use).
    pub port: u16,
    /// `PUBLIC_URL`: where people and search engines reach the shop (canonical links, the
    /// sitemap). Required in production; unset elsewhere, `None` until the shop is bound and then
    /// the address it listens on (`PublicUrl::listening_at`).
    pub public_url: Option<PublicUrl>,
    /// `HTTP_WORKERS`: the web server's worker threads; `None` (unset): one a CPU.
    pub http_workers: Option<usize>,
    /// `SHOP_INSTANCE` (default: `HOSTNAME`, else `shop`): which of several instances this is.
    pub instance: InstanceName,
    pub database: DatabaseSettings,
    pub topology: Topology,
    /// What answers catalog searches with words in them.
    pub catalog: CatalogSettings,
    pub log_format: LogFormat,
    pub sessions: SessionSettings,
    /// `TRUST_FORWARDED_FOR` (default false): whether the client's address (for the login limit)
    /// is the one the proxy in front reports in `X-Forwarded-For` rather than the TCP peer's. Only
    /// true behind a proxy that always sets it (Azure Container Apps' ingress): anywhere else the
    /// header is whatever the client chose to send.
    pub trust_forwarded_for: bool,
    /// Set when the topology keeps carts in Cosmos DB (tutorial step 2 on).
    pub cosmos: Option<CosmosSettings>,
    /// Set when the topology caches in Redis (tutorial step 3 on).
    pub redis: Option<RedisSettings>,
    /// Set when enrollment is asynchronous (tutorial step 4): the outbox relay and its broker.
    pub events: Option<EventSettings>,
    pub metrics: MetricsAccess,
}

/// The enrollment worker's settings (`enrollment-worker`), read the same way as the shop's.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// `HOST` (default 127.0.0.1) and `WORKER_PORT` (default 8090; 0 picks a free one): where the
    /// worker's `/healthz`, `/readyz` and `/metrics` answer.
    pub host: IpAddr,
    pub port: u16,
    pub database: DatabaseSettings,
    pub broker: BrokerSettings,
    /// `WORKER_PREFETCH` (default 10): messages the broker hands the worker before it has acked
    /// earlier ones, which is also how many it processes at once. The default matches the default
    /// pool size, so no message in hand waits for a connection.
    pub prefetch: u16,
    pub log_format: LogFormat,
    pub environment: Environment,
}

impl Settings {
    /// Reads the process environment (after a local `.env`, which the binary loads first).
    pub fn from_env() -> Result<Settings, SettingsError> {
        Settings::read(&Env::from_process())
    }

    /// Reads settings through `lookup`, so tests can supply their own environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        Settings::read(&Env::from_lookup(lookup))
    }

    /// Everything the shop needs to serve, and only the stores its topology uses.
    pub fn read(env: &Env<'_>) -> Result<Settings, SettingsError> {
        let environment = environment::read(env)?;
        let database = database::read(env, environment)?;
        let host = listen::host(env)?;
        let port = listen::port(env, "PORT", 8080)?;
        let http_workers = listen::http_workers(env)?;
        let instance = instance::read(env)?;
        let topology = topology::read(env)?;
        let cosmos = (topology.cart_store == CartStoreKind::Cosmos)
            .then(|| cosmos::read(env))
            .transpose()?;
        let redis = (topology.cache == CacheMode::Redis)
            .then(|| redis::read(env, environment))
            .transpose()?;
        let events = (topology.enrollment == EnrollmentMode::Async)
            .then(|| outbox::read(env))
            .transpose()?;
        // a struct's fields are read in the order written: the first problem is the one reported
        Ok(Settings {
            environment,
            host,
            port,
            http_workers,
            instance,
            database,
            topology,
            catalog: catalog::read(env)?,
            cosmos,
            redis,
            events,
            sessions: sessions::read(env, environment)?,
            trust_forwarded_for: sessions::trust_forwarded_for(env)?,
            log_format: environment::log_format(env, environment)?,
            metrics: metrics::read(env, environment)?,
            // last, after the settings the tutorial's production walk-through meets first
            public_url: public_url::read(env, environment)?,
        })
    }

    /// Only the topology (`SHOP_STEP` and the switches), for scripts that must know which services
    /// to start before the rest of the settings can be complete.
    pub fn topology_from_env(env: &Env<'_>) -> Result<Topology, SettingsError> {
        topology::read(env)
    }

    /// What `courseshop migrate` and `seed` need: the database and how to log, and nothing of the
    /// step's other stores, so a deployment can migrate before those are reachable or configured.
    pub fn for_database_commands(
        env: &Env<'_>,
    ) -> Result<(DatabaseSettings, LogFormat, Environment), SettingsError> {
        let environment = environment::read(env)?;
        Ok((
            database::read(env, environment)?,
            environment::log_format(env, environment)?,
            environment,
        ))
    }
}

impl WorkerSettings {
    pub fn from_env() -> Result<WorkerSettings, SettingsError> {
        WorkerSettings::read(&Env::from_process())
    }

    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<WorkerSettings, SettingsError> {
        WorkerSettings::read(&Env::from_lookup(lookup))
    }

    pub fn read(env: &Env<'_>) -> Result<WorkerSettings, SettingsError> {
        let environment = environment::read(env)?;
        Ok(WorkerSettings {
            environment,
            host: listen::host(env)?,
            port: listen::port(env, "WORKER_PORT", 8090)?,
            database: database::read(env, environment)?,
            broker: broker::read(env)?,
            prefetch: worker::prefetch(env)?,
            log_format: environment::log_format(env, environment)?,
        })
    }

    /// What `enrollment-worker redrive` needs: the broker and how to log, not the database, so ops
    /// can move dead letters back from anywhere that reaches RabbitMQ.
    pub fn for_redrive(env: &Env<'_>) -> Result<(BrokerSettings, LogFormat), SettingsError> {
        let environment = environment::read(env)?;
        Ok((
            broker::read(env)?,
            environment::log_format(env, environment)?,
        ))
    }
}

/// Where this machine's own shop or worker answers, from the variables it binds with: `HOST` (an
/// unspecified address such as 0.0.0.0 is reached on loopback) and `port_variable` (`PORT` or
/// `WORKER_PORT`). For `healthcheck`, which needs nothing else of the settings.
pub fn own_address_from_env(
    env: &Env<'_>,
    port_variable: &'static str,
    default_port: u16,
) -> Result<SocketAddr, SettingsError> {
    let host = listen::host(env)?;
    let port = listen::port(env, port_variable, default_port)?;
    Ok(listen::own_address(host, port))
}

#[cfg(test)]
mod tests {
    use super::testing::{URL, env, settings};
    use super::*;
    use crate::topology::Step;

    #[test]
    fn defaults_apply_when_only_the_database_is_given() {
        let settings = settings(&[URL, ("SHOP_STEP", "0")]).expect("valid settings");
        assert_eq!(settings.port, 8080);
        assert_eq!(settings.host.to_string(), "127.0.0.1");
        assert_eq!(settings.topology, Step::Monolith.preset());
        assert_eq!(settings.database.max_connections, 10);
        assert_eq!(settings.instance.as_str(), "shop");
        assert_eq!(settings.log_format, LogFormat::Pretty);
    }

    #[test]
    fn a_bad_value_names_its_variable_and_value() {
        let error = settings(&[URL, ("PORT", "eighty")]).expect_err("must fail");
        assert_eq!(
            error.to_string(),
            "PORT=\"eighty\" is not valid: expected a port number from 0 to 65535"
        );
        let error = settings(&[URL, ("SHOP_STEP", "6")]).expect_err("must fail");
        assert!(
            error
                .to_string()
                .starts_with("SHOP_STEP=\"6\" is not valid")
        );
        let error = settings(&[URL, ("CACHE", "memcached")]).expect_err("must fail");
        assert_eq!(
            error.to_string(),
            "CACHE=\"memcached\" is not valid: expected one of off, redis"
        );
        let error = settings(&[URL, ("DATABASE_MAX_CONNECTIONS", "0")]).expect_err("must fail");
        assert!(
            error
                .to_string()
                .starts_with("DATABASE_MAX_CONNECTIONS=\"0\"")
        );
    }

    /// Everything a start of the shop or the worker needs, so only the variable under test fails.
    const WHOLE: [(&str, &str); 4] = [
        URL,
        ("SHOP_STEP", "0"),
        ("RABBITMQ_URL", "amqp://127.0.0.1"),
        ("SHOP_ENV", "development"),
    ];

    fn with(pairs: &[(&'static str, &'static str)]) -> Env<'static> {
        env(&WHOLE.iter().chain(pairs).copied().collect::<Vec<_>>())
    }

    #[test]
    fn every_reader_reads_a_variable_the_same_way() {
        let bad_host = with(&[("HOST", "localhost")]);
        let expected = "HOST=\"localhost\" is not valid: expected an IP address such as 0.0.0.0";
        let errors = [
            Settings::read(&bad_host).expect_err("shop"),
            WorkerSettings::read(&bad_host).expect_err("worker"),
            own_address_from_env(&bad_host, "PORT", 8080).expect_err("shop's healthcheck"),
            own_address_from_env(&bad_host, "WORKER_PORT", 8090).expect_err("worker's healthcheck"),
        ];
        for error in errors {
            assert_eq!(error.to_string(), expected);
        }
        let bad_env = with(&[("SHOP_ENV", "prod")]);
        let expected = "SHOP_ENV=\"prod\" is not valid: expected development or production";
        let errors = [
            Settings::read(&bad_env).expect_err("shop"),
            WorkerSettings::read(&bad_env).expect_err("worker"),
            Settings::for_database_commands(&bad_env).expect_err("migrate and seed"),
            WorkerSettings::for_redrive(&bad_env).expect_err("redrive"),
        ];
        for error in errors {
            assert_eq!(error.to_string(), expected);
        }
    }

    #[test]
    fn the_partial_readers_read_only_what_their_command_needs() {
        // `services`: the topology alone, before any store is configured
        let step2 = env(&[("SHOP_STEP", "2"), ("CACHE", "redis")]);
        let topology = Settings::topology_from_env(&step2).expect("the topology alone");
        assert_eq!(topology.services(), ["postgres", "cosmos", "redis"]);
        // `migrate` and `seed`: the database, not the step's other stores
        let (database, log_format, environment) =
            Settings::for_database_commands(&env(&[URL, ("SHOP_STEP", "4")])).expect("database");
        assert_eq!(database.max_connections, 10);
        assert_eq!(
            (log_format, environment),
            (LogFormat::Pretty, Environment::Development)
        );
        // `redrive`: the broker, not the database
        let (broker, _) = WorkerSettings::for_redrive(&env(&[("RABBITMQ_URL", "amqp://mq")]))
            .expect("the broker alone");
        assert_eq!(broker.url.expose(), "amqp://mq?heartbeat=10");
        // `healthcheck`: where this machine's server answers
        let unspecified = env(&[("HOST", "0.0.0.0"), ("WORKER_PORT", "9000")]);
        assert_eq!(
            own_address_from_env(&unspecified, "WORKER_PORT", 8090),
            Ok(SocketAddr::from(([127, 0, 0, 1], 9000)))
        );
        assert_eq!(
            own_address_from_env(&unspecified, "PORT", 8080),
            Ok(SocketAddr::from(([127, 0, 0, 1], 8080)))
        );
    }
}
