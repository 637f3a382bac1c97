//! The shop's one `Settings` type, read from the environment (12-factor) and validated at start.
//!
//! Every problem names the variable at fault, so a failed start says exactly what to fix.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

use crate::topology::{CacheMode, CartStoreKind, EnrollmentMode, Step, Switch, Topology};

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    /// Address the web server binds: `HOST` (default 127.0.0.1; containers set 0.0.0.0).
    pub host: IpAddr,
    /// `PORT` (default 8080; 0 picks a free port, which the tests use).
    pub port: u16,
    pub database: DatabaseSettings,
    pub topology: Topology,
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
    /// dead-lettered. So the default makes 4 attempts over about 71 seconds.
    pub retry_delays: Vec<Duration>,
}

impl BrokerSettings {
    /// Attempts a message gets before it is dead-lettered: the first, and one after each delay.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.retry_delays.len())
            .unwrap_or(u32::MAX - 1)
            .saturating_add(1)
    }
}

/// The app's side of step 4: the outbox relay.
#[derive(Debug, Clone)]
pub struct EventSettings {
    pub broker: BrokerSettings,
    /// `OUTBOX_POLL_INTERVAL_MS` (default 1000): how often the relay looks for pending rows when no
    /// notification woke it (LISTEN/NOTIFY is lost while its connection is down, and does not pass
    /// through PgBouncer in transaction mode).
    pub poll_interval: Duration,
    /// `OUTBOX_BATCH_SIZE` (default 100): rows published per round trip of confirms.
    pub batch_size: u16,
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

/// Where and how the shop reaches Azure Cosmos DB for NoSQL.
#[derive(Debug, Clone)]
pub struct CosmosSettings {
    /// `COSMOS_ENDPOINT`: the account URL, e.g. `https://courseshop.documents.azure.com:443/`, or
    /// the local server `./scripts/run` starts (`http://127.0.0.1:8081/`).
    pub endpoint: String,
    pub auth: CosmosAuth,
    /// `COSMOS_DATABASE` (default `courseshop`).
    pub database: String,
    /// `COSMOS_CART_CONTAINER` (default `carts`).
    pub cart_container: String,
    /// `COSMOS_CREATE_CONTAINERS`: create the database and container at start when missing.
    /// Default: true with a key, false with a managed identity (in Azure the infrastructure creates
    /// them, and a data-plane identity is not allowed to).
    pub create_containers: bool,
    /// `COSMOS_REGION` (default `East US`): the Azure region the shop runs in, so the SDK prefers
    /// the account's nearest replica. A single-region account (and the local server) ignores it.
    pub region: String,
    /// `COSMOS_TIMEOUT_MS` (default 2000): the longest a cart operation may take, retries included,
    /// before the page says the cart is unavailable.
    pub timeout: Duration,
}

#[derive(Debug, Clone)]
pub enum CosmosAuth {
    /// `COSMOS_KEY`: the account key (locally, the emulator's published key; in Azure, a Key Vault
    /// secret reference that Container Apps puts in the environment).
    Key(Secret),
    /// `COSMOS_AUTH=managed-identity`: Microsoft Entra ID through the app's managed identity;
    /// `AZURE_CLIENT_ID` picks a user-assigned identity.
    ManagedIdentity { client_id: Option<String> },
}

impl CosmosSettings {
    /// Plain `http://` is only ever a local emulator, which speaks JSON only: the SDK's binary
    /// encoding is for real accounts.
    pub fn is_emulator(&self) -> bool {
        self.endpoint.starts_with("http://")
    }
}

#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// `SESSION_KEY`: at least 64 characters, shared by every instance so a session cookie made by
    /// one is read by the others. Unset: a random key per process (sessions end at a restart).
    pub key: Option<Secret>,
    /// `COOKIE_SECURE` (default false): send cookies only over HTTPS; set it wherever TLS terminates
    /// in front of the shop (Azure Container Apps ingress does).
    pub cookie_secure: bool,
}

/// A value that must not reach a log: its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines, for a terminal.
    Pretty,
    /// One JSON object a line, for log collectors (Azure Monitor / Log Analytics).
    Json,
}

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
    #[error(
        "{piece} belongs to tutorial {step}, which is not built in this version yet; \
         run SHOP_STEP={last} or lower, or leave the switch unset",
        last = Topology::LAST_BUILT_STEP.number()
    )]
    NotBuilt { piece: String, step: Step },
}

impl Settings {
    /// Reads the process environment (after a local `.env`, which the binary loads first).
    pub fn from_env() -> Result<Settings, SettingsError> {
        Settings::from_lookup(|variable| std::env::var(variable).ok())
    }

    /// Only the topology (`SHOP_STEP` and the switches), for scripts that must know which services
    /// to start before the rest of the settings can be complete.
    pub fn topology_from_env() -> Result<Topology, SettingsError> {
        let lookup = |variable: &str| std::env::var(variable).ok();
        let topology = topology_from(&Env { lookup: &lookup })?;
        match topology.missing_piece() {
            Some((piece, step)) => Err(SettingsError::NotBuilt { piece, step }),
            None => Ok(topology),
        }
    }

    /// Reads settings through `lookup`, so tests can supply their own environment.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Settings, SettingsError> {
        let env = Env { lookup: &lookup };
        let environment = environment_from(&env)?;
        let database = database_from(&env, environment)?;
        let host = env.parsed(
            "HOST",
            "127.0.0.1".parse().ok(),
            "an IP address such as 0.0.0.0",
        )?;
        let port = env.parsed("PORT", Some(8080), "a port number from 0 to 65535")?;
        let topology = topology_from(&env)?;
        if let Some((piece, step)) = topology.missing_piece() {
            return Err(SettingsError::NotBuilt { piece, step });
        }
        let cosmos = match topology.cart_store {
            CartStoreKind::Cosmos => Some(cosmos_from(&env)?),
            CartStoreKind::Postgres => None,
        };
        let redis = match topology.cache {
            CacheMode::Redis => Some(redis_from(&env, environment)?),
            CacheMode::Off => None,
        };
        let events = match topology.enrollment {
            EnrollmentMode::Async => Some(EventSettings {
                broker: broker_from(&env)?,
                poll_interval: Duration::from_millis(env.parsed_in(
                    "OUTBOX_POLL_INTERVAL_MS",
                    1000,
                    10..=60_000,
                    "milliseconds from 10 to 60000",
                )?),
                batch_size: env.parsed_in(
                    "OUTBOX_BATCH_SIZE",
                    100,
                    1..=1000,
                    "a number of rows from 1 to 1000",
                )?,
            }),
            EnrollmentMode::Sync => None,
        };
        Ok(Settings {
            environment,
            host,
            port,
            database,
            topology,
            cosmos,
            redis,
            events,
            sessions: SessionSettings {
                key: match env.optional("SESSION_KEY") {
                    Some(key) if key.chars().count() >= 64 => Some(Secret(key)),
                    Some(_) => {
                        return Err(SettingsError::Invalid {
                            variable: "SESSION_KEY",
                            value: "<hidden>".to_string(),
                            reason:
                                "use at least 64 random characters, e.g. `openssl rand -hex 32`"
                                    .to_string(),
                        });
                    }
                    // every replica must sign with the same key, or sessions break across them
                    None if environment.is_production() => {
                        return Err(SettingsError::Missing {
                            variable: "SESSION_KEY",
                            hint: "SHOP_ENV=production needs one key shared by every instance \
                                   (64+ random characters, e.g. `openssl rand -hex 32`)",
                        });
                    }
                    None => None,
                },
                cookie_secure: env.parsed(
                    "COOKIE_SECURE",
                    Some(environment.is_production()),
                    "true or false",
                )?,
            },
            trust_forwarded_for: env.parsed("TRUST_FORWARDED_FOR", Some(false), "true or false")?,
            log_format: log_format_from(&env, environment)?,
            metrics: match env.optional("METRICS_TOKEN") {
                Some(token) if token.trim().len() >= 32 => {
                    MetricsAccess::Token(Secret(token.trim().to_string()))
                }
                Some(_) => {
                    return Err(SettingsError::Invalid {
                        variable: "METRICS_TOKEN",
                        value: "<hidden>".to_string(),
                        reason: "use at least 32 random characters, e.g. `openssl rand -hex 32`"
                            .to_string(),
                    });
                }
                None if environment.is_production() => MetricsAccess::Off,
                None => MetricsAccess::Open,
            },
        })
    }

    /// What `courseshop migrate` and `seed` need: the database and how to log, and nothing of the
    /// step's other stores, so a deployment can migrate before those are reachable or configured.
    pub fn for_database_commands()
    -> Result<(DatabaseSettings, LogFormat, Environment), SettingsError> {
        let lookup = |variable: &str| std::env::var(variable).ok();
        let env = Env { lookup: &lookup };
        let environment = environment_from(&env)?;
        Ok((
            database_from(&env, environment)?,
            log_format_from(&env, environment)?,
            environment,
        ))
    }
}

impl WorkerSettings {
    pub fn from_env() -> Result<WorkerSettings, SettingsError> {
        WorkerSettings::from_lookup(|variable| std::env::var(variable).ok())
    }

    /// What `enrollment-worker redrive` needs: the broker and how to log, not the database, so ops
    /// can move dead letters back from anywhere that reaches RabbitMQ.
    pub fn for_redrive() -> Result<(BrokerSettings, LogFormat), SettingsError> {
        let lookup = |variable: &str| std::env::var(variable).ok();
        let env = Env { lookup: &lookup };
        let environment = environment_from(&env)?;
        Ok((broker_from(&env)?, log_format_from(&env, environment)?))
    }

    pub fn from_lookup(
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<WorkerSettings, SettingsError> {
        let env = Env { lookup: &lookup };
        let environment = environment_from(&env)?;
        Ok(WorkerSettings {
            environment,
            host: env.parsed(
                "HOST",
                "127.0.0.1".parse().ok(),
                "an IP address such as 0.0.0.0",
            )?,
            port: env.parsed("WORKER_PORT", Some(8090), "a port number from 0 to 65535")?,
            database: database_from(&env, environment)?,
            broker: broker_from(&env)?,
            prefetch: env.parsed_in(
                "WORKER_PREFETCH",
                10,
                1..=1000,
                "a number of messages from 1 to 1000",
            )?,
            log_format: log_format_from(&env, environment)?,
        })
    }
}

/// Where this machine's own shop or worker answers, from the variables it binds with: `HOST` (an
/// unspecified address such as 0.0.0.0 is reached on loopback) and `port_variable` (`PORT` or
/// `WORKER_PORT`). For `healthcheck`, which needs nothing else of the settings.
pub fn own_address_from_env(
    port_variable: &'static str,
    default_port: u16,
) -> Result<std::net::SocketAddr, SettingsError> {
    let lookup = |variable: &str| std::env::var(variable).ok();
    let env = Env { lookup: &lookup };
    let host: IpAddr = env.parsed(
        "HOST",
        "127.0.0.1".parse().ok(),
        "an IP address such as 0.0.0.0",
    )?;
    let host = if host.is_unspecified() {
        IpAddr::from([127, 0, 0, 1])
    } else {
        host
    };
    let port = env.parsed(
        port_variable,
        Some(default_port),
        "a port number from 0 to 65535",
    )?;
    Ok(std::net::SocketAddr::new(host, port))
}

fn environment_from(env: &Env<'_>) -> Result<Environment, SettingsError> {
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

fn broker_from(env: &Env<'_>) -> Result<BrokerSettings, SettingsError> {
    let url = env
        .required(
            "RABBITMQ_URL",
            "enrollment goes through RabbitMQ at this step: set it, \
             e.g. amqp://guest:guest@127.0.0.1:5672/%2f (./scripts/run does)",
        )?
        .trim()
        .to_string();
    let invalid = |reason: &str| SettingsError::Invalid {
        variable: "RABBITMQ_URL",
        value: "<hidden>".to_string(),
        reason: reason.to_string(),
    };
    let parsed = url::Url::parse(&url)
        .map_err(|_| invalid("expected a URL such as amqp://guest:guest@127.0.0.1:5672/%2f"))?;
    if !matches!(parsed.scheme(), "amqp" | "amqps") {
        return Err(invalid("expected an amqp:// or amqps:// (TLS) URL"));
    }
    if parsed.host().is_none() {
        return Err(invalid("the URL has no host"));
    }
    let url = if parsed.query_pairs().any(|(key, _)| key == "heartbeat") {
        url
    } else if parsed.query().is_some() {
        format!("{url}&heartbeat=10")
    } else {
        format!("{url}?heartbeat=10")
    };
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
    let retry_delays = match env.optional("ENROLLMENT_RETRY_DELAYS_MS") {
        None => vec![
            Duration::from_secs(1),
            Duration::from_secs(10),
            Duration::from_secs(60),
        ],
        Some(value) => value
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
            })?,
    };
    Ok(BrokerSettings {
        url: Secret(url),
        name_prefix,
        retry_delays,
    })
}

fn database_from(
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
    })
}

fn postgres_url(
    variable: &'static str,
    url: &str,
    environment: Environment,
) -> Result<PgConnectOptions, SettingsError> {
    // never echo the URL back: it may hold a password
    let invalid = |reason: String| SettingsError::Invalid {
        variable,
        value: "<hidden>".to_string(),
        reason,
    };
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

fn log_format_from(env: &Env<'_>, environment: Environment) -> Result<LogFormat, SettingsError> {
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

fn redis_from(env: &Env<'_>, environment: Environment) -> Result<RedisSettings, SettingsError> {
    let url = env.required(
        "REDIS_URL",
        "the cache is Redis at this step: set it, e.g. redis://127.0.0.1:6379 (./scripts/run does)",
    )?;
    let url = url.trim().to_string();
    if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
        return Err(SettingsError::Invalid {
            variable: "REDIS_URL",
            value: "<hidden>".to_string(),
            reason: "expected a redis:// or rediss:// (TLS) URL".to_string(),
        });
    }
    // `#insecure` (certificate not checked) exists for a test server's self-signed certificate
    if environment.is_production() && (!url.starts_with("rediss://") || url.contains("#insecure")) {
        return Err(SettingsError::Invalid {
            variable: "REDIS_URL",
            value: "<hidden>".to_string(),
            reason: "SHOP_ENV=production needs TLS to Redis with a checked certificate: \
                     rediss://:<access key>@<name>.<region>.redis.azure.net:10000"
                .to_string(),
        });
    }
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
        url: Secret(url),
        key_prefix,
        timeout: Duration::from_millis(env.parsed_in(
            "REDIS_TIMEOUT_MS",
            250,
            10..=10_000,
            "milliseconds from 10 to 10000",
        )?),
        login_limits: LoginLimits {
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
        },
    })
}

fn cosmos_from(env: &Env<'_>) -> Result<CosmosSettings, SettingsError> {
    let endpoint = env.required(
        "COSMOS_ENDPOINT",
        "carts are in Cosmos DB at this step: set it to the account URL, \
         e.g. https://<account>.documents.azure.com:443/ (./scripts/run starts a local server)",
    )?;
    let invalid = |reason: &str| SettingsError::Invalid {
        variable: "COSMOS_ENDPOINT",
        value: endpoint.clone(),
        reason: reason.to_string(),
    };
    let url = url::Url::parse(endpoint.trim()).map_err(|_| {
        invalid("expected an account URL such as https://<account>.documents.azure.com:443/")
    })?;
    // the SDK accepts plain HTTP only from emulator hosts; say so now rather than at the first cart
    let local = match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => {
            name == "localhost"
                || env.optional("AZURE_COSMOS_EMULATOR_HOST").as_deref() == Some(name)
        }
        None => return Err(invalid("the URL has no host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if local => {}
        "http" => {
            return Err(invalid(
                "plain http:// is for a local emulator on this machine; use https://",
            ));
        }
        _ => return Err(invalid("expected an https:// account URL")),
    }
    let endpoint = url.to_string();
    let auth = match env.optional("COSMOS_AUTH").as_deref().map(str::trim) {
        Some("managed-identity") => CosmosAuth::ManagedIdentity {
            client_id: env.optional("AZURE_CLIENT_ID"),
        },
        None | Some("key") => CosmosAuth::Key(Secret(env.required(
            "COSMOS_KEY",
            "set the account key (the local server takes the emulator's published key), \
             or COSMOS_AUTH=managed-identity in Azure",
        )?)),
        Some(other) => {
            return Err(SettingsError::Invalid {
                variable: "COSMOS_AUTH",
                value: other.to_string(),
                reason: "expected key or managed-identity".to_string(),
            });
        }
    };
    let keyed = matches!(auth, CosmosAuth::Key(_));
    Ok(CosmosSettings {
        endpoint,
        auth,
        database: env.name("COSMOS_DATABASE", "courseshop")?,
        cart_container: env.name("COSMOS_CART_CONTAINER", "carts")?,
        create_containers: env.parsed("COSMOS_CREATE_CONTAINERS", Some(keyed), "true or false")?,
        region: env
            .optional("COSMOS_REGION")
            .map_or_else(|| "East US".to_string(), |region| region.trim().to_string()),
        timeout: Duration::from_millis(env.parsed_in(
            "COSMOS_TIMEOUT_MS",
            2000,
            100..=60_000,
            "milliseconds from 100 to 60000",
        )?),
    })
}

fn topology_from(env: &Env<'_>) -> Result<Topology, SettingsError> {
    let step = match env.optional("SHOP_STEP") {
        None => Step::DEFAULT,
        Some(value) => value
            .trim()
            .parse::<u8>()
            .ok()
            .and_then(Step::from_number)
            .ok_or_else(|| SettingsError::Invalid {
                variable: "SHOP_STEP",
                value: value.clone(),
                reason: "expected a tutorial step from 0 to 4".to_string(),
            })?,
    };
    let preset = step.preset();
    Ok(Topology {
        step,
        cart_store: env.switch::<CartStoreKind>()?.unwrap_or(preset.cart_store),
        cache: env.switch::<CacheMode>()?.unwrap_or(preset.cache),
        enrollment: env.switch::<EnrollmentMode>()?.unwrap_or(preset.enrollment),
    })
}

struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl Env<'_> {
    /// A set, non-blank variable; blank counts as unset, as most shells and `.env` files intend.
    fn optional(&self, variable: &str) -> Option<String> {
        (self.lookup)(variable).filter(|value| !value.trim().is_empty())
    }

    fn required(
        &self,
        variable: &'static str,
        hint: &'static str,
    ) -> Result<String, SettingsError> {
        self.optional(variable)
            .ok_or(SettingsError::Missing { variable, hint })
    }

    fn parsed<T: FromStr>(
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

    fn parsed_in<T: FromStr + PartialOrd + Copy>(
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
    fn name(&self, variable: &'static str, default: &str) -> Result<String, SettingsError> {
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

    fn switch<S: Switch>(&self) -> Result<Option<S>, SettingsError> {
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
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        // the monolith unless a test names a step: later steps need more settings
        let env: HashMap<String, String> = [("SHOP_STEP", "0")]
            .iter()
            .chain(pairs)
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_lookup(|variable| env.get(variable).cloned())
    }

    const URL: (&str, &str) = (
        "DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/courseshop",
    );

    #[test]
    fn defaults_apply_when_only_the_database_is_given() {
        let settings = settings(&[URL, ("SHOP_STEP", "0")]).expect("valid settings");
        assert_eq!(settings.port, 8080);
        assert_eq!(settings.host.to_string(), "127.0.0.1");
        assert_eq!(settings.topology, Step::Monolith.preset());
        assert_eq!(settings.database.max_connections, 10);
        assert_eq!(settings.log_format, LogFormat::Pretty);
    }

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
    fn a_bad_value_names_its_variable_and_value() {
        let error = settings(&[URL, ("PORT", "eighty")]).expect_err("must fail");
        assert_eq!(
            error.to_string(),
            "PORT=\"eighty\" is not valid: expected a port number from 0 to 65535"
        );
        let error = settings(&[URL, ("SHOP_STEP", "7")]).expect_err("must fail");
        assert!(
            error
                .to_string()
                .starts_with("SHOP_STEP=\"7\" is not valid")
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
    fn asynchronous_enrollment_needs_the_broker_and_checks_its_settings() {
        let error =
            settings(&[URL, ("SHOP_STEP", "0"), ("ENROLLMENT", "async")]).expect_err("must fail");
        assert!(
            error.to_string().starts_with("RABBITMQ_URL is not set"),
            "{error}"
        );
        let broker = |pairs: &[(&str, &str)]| {
            let mut all = vec![URL, ("SHOP_STEP", "0"), ("ENROLLMENT", "async")];
            all.extend_from_slice(pairs);
            settings(&all).map(|settings| settings.events.expect("events at async").broker)
        };
        let defaults =
            broker(&[("RABBITMQ_URL", "amqp://shop:secret@mq:5672/%2f")]).expect("valid settings");
        assert_eq!(
            defaults.url.expose(),
            "amqp://shop:secret@mq:5672/%2f?heartbeat=10"
        );
        assert!(!format!("{defaults:?}").contains("secret"));
        assert_eq!(defaults.name_prefix, "");
        assert_eq!(defaults.max_attempts(), 4);
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

    #[test]
    fn the_worker_reads_its_own_settings() {
        let env: HashMap<&str, &str> = [
            URL,
            ("RABBITMQ_URL", "amqp://127.0.0.1"),
            ("WORKER_PORT", "0"),
        ]
        .into_iter()
        .collect();
        let worker = WorkerSettings::from_lookup(|variable| {
            env.get(variable).map(|value| value.to_string())
        })
        .expect("valid settings");
        assert_eq!(worker.port, 0);
        assert_eq!(worker.prefetch, 10);
        assert_eq!(worker.broker.max_attempts(), 4);
        let error = WorkerSettings::from_lookup(|variable| {
            (variable == "DATABASE_URL").then(|| URL.1.to_string())
        })
        .expect_err("needs the broker");
        assert!(error.to_string().starts_with("RABBITMQ_URL is not set"));
    }

    #[test]
    fn switches_override_the_step_preset() {
        let settings = settings(&[URL, ("SHOP_STEP", "1"), ("CART_STORE", "postgres")])
            .expect("valid settings");
        assert_eq!(settings.topology.step, Step::AzureSetup);
        assert_eq!(settings.topology.cart_store, CartStoreKind::Postgres);
    }

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
    fn cosmos_settings_are_read_only_when_carts_are_in_cosmos() {
        let step1 = settings(&[URL, ("SHOP_STEP", "1")]).expect("valid");
        assert!(step1.cosmos.is_none());
        let error = settings(&[URL, ("SHOP_STEP", "2")]).expect_err("must fail");
        assert!(
            error.to_string().starts_with("COSMOS_ENDPOINT is not set"),
            "{error}"
        );
        let error = settings(&[
            URL,
            ("CART_STORE", "cosmos"),
            ("COSMOS_ENDPOINT", "http://127.0.0.1:8081/"),
        ])
        .expect_err("must fail");
        assert!(
            error.to_string().starts_with("COSMOS_KEY is not set"),
            "{error}"
        );
        let settings = settings(&[
            URL,
            ("SHOP_STEP", "2"),
            ("COSMOS_ENDPOINT", "http://127.0.0.1:8081/"),
            ("COSMOS_KEY", "c2VjcmV0"),
        ])
        .expect("valid");
        let cosmos = settings.cosmos.expect("cosmos settings");
        assert!(cosmos.is_emulator());
        assert!(cosmos.create_containers);
        assert_eq!(cosmos.database, "courseshop");
        assert_eq!(cosmos.cart_container, "carts");
        assert!(
            !format!("{cosmos:?}").contains("c2VjcmV0"),
            "Debug hides the key"
        );
    }

    #[test]
    fn a_managed_identity_needs_no_key_and_creates_nothing() {
        let settings = settings(&[
            URL,
            ("SHOP_STEP", "2"),
            ("COSMOS_ENDPOINT", "https://shop.documents.azure.com:443/"),
            ("COSMOS_AUTH", "managed-identity"),
            ("AZURE_CLIENT_ID", "00000000-0000-0000-0000-000000000001"),
        ])
        .expect("valid");
        let cosmos = settings.cosmos.expect("cosmos settings");
        assert!(!cosmos.is_emulator());
        assert!(!cosmos.create_containers);
        assert!(matches!(
            cosmos.auth,
            CosmosAuth::ManagedIdentity { client_id: Some(_) }
        ));
    }

    #[test]
    fn plain_http_is_refused_for_a_remote_cosmos_account() {
        let error = settings(&[
            URL,
            ("SHOP_STEP", "2"),
            ("COSMOS_ENDPOINT", "http://shop.documents.azure.com/"),
            ("COSMOS_KEY", "c2VjcmV0"),
        ])
        .expect_err("must fail");
        assert!(error.to_string().starts_with("COSMOS_ENDPOINT="), "{error}");
        let error = settings(&[
            URL,
            ("SHOP_STEP", "2"),
            ("COSMOS_ENDPOINT", "http://127.0.0.1:8081/"),
            ("COSMOS_KEY", "c2VjcmV0"),
            ("COSMOS_DATABASE", "shop db"),
        ])
        .expect_err("must fail");
        assert!(error.to_string().starts_with("COSMOS_DATABASE="), "{error}");
    }

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

    /// What a production deployment sets, at the monolith step so no other store is needed.
    const PRODUCTION: [(&str, &str); 3] = [
        ("SHOP_ENV", "production"),
        (
            "DATABASE_URL",
            "postgres://shop:secret@db.example:6432/courseshop?sslmode=verify-full",
        ),
        (
            "SESSION_KEY",
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ),
    ];

    fn production(extra: &[(&str, &str)]) -> Result<Settings, SettingsError> {
        let pairs: Vec<(&str, &str)> = PRODUCTION.iter().chain(extra).copied().collect();
        settings(&pairs)
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

    #[test]
    fn an_unknown_environment_is_named() {
        let error = settings(&[URL, ("SHOP_ENV", "prod")]).expect_err("must fail");
        assert_eq!(
            error.to_string(),
            "SHOP_ENV=\"prod\" is not valid: expected development or production"
        );
    }

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
