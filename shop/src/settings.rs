//! The shop's one `Settings` type, read from the environment (12-factor) and validated at start.
//!
//! Every problem names the variable at fault, so a failed start says exactly what to fix.

use std::net::IpAddr;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::PgConnectOptions;

use crate::topology::{CacheMode, CartStoreKind, EnrollmentMode, Step, Switch, Topology};

#[derive(Debug, Clone)]
pub struct Settings {
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
}

#[derive(Debug, Clone)]
pub struct RedisSettings {
    /// `REDIS_URL`: `redis://host:6379/0`, or `rediss://` for TLS (Azure Cache for Redis); a
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
    /// Parsed from `DATABASE_URL` (libpq URL syntax, `sslmode` included).
    pub connect_options: PgConnectOptions,
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
            .finish_non_exhaustive()
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
        let database = database_from(&env)?;
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
            CacheMode::Redis => Some(redis_from(&env)?),
            CacheMode::Off => None,
        };
        Ok(Settings {
            host,
            port,
            database,
            topology,
            cosmos,
            redis,
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
                    None => None,
                },
                cookie_secure: env.parsed("COOKIE_SECURE", Some(false), "true or false")?,
            },
            trust_forwarded_for: env.parsed("TRUST_FORWARDED_FOR", Some(false), "true or false")?,
            log_format: log_format_from(&env)?,
        })
    }

    /// What `courseshop migrate` and `seed` need: the database and how to log, and nothing of the
    /// step's other stores, so a deployment can migrate before those are reachable or configured.
    pub fn for_database_commands() -> Result<(DatabaseSettings, LogFormat), SettingsError> {
        let lookup = |variable: &str| std::env::var(variable).ok();
        let env = Env { lookup: &lookup };
        Ok((database_from(&env)?, log_format_from(&env)?))
    }
}

fn database_from(env: &Env<'_>) -> Result<DatabaseSettings, SettingsError> {
    let database_url = env.required(
        "DATABASE_URL",
        "set it to the PostgreSQL URL, e.g. postgres://postgres@127.0.0.1:5432/courseshop",
    )?;
    // never echo the URL back: it may hold a password
    let invalid_url = |reason: String| SettingsError::Invalid {
        variable: "DATABASE_URL",
        value: "<hidden>".to_string(),
        reason,
    };
    if !(database_url.starts_with("postgres://") || database_url.starts_with("postgresql://")) {
        return Err(invalid_url(
            "expected a postgres:// or postgresql:// URL".to_string(),
        ));
    }
    let connect_options = PgConnectOptions::from_str(&database_url)
        .map_err(|error| invalid_url(error.to_string()))?;
    Ok(DatabaseSettings {
        connect_options,
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

fn log_format_from(env: &Env<'_>) -> Result<LogFormat, SettingsError> {
    Ok(match env.optional("LOG_FORMAT").as_deref() {
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

fn redis_from(env: &Env<'_>) -> Result<RedisSettings, SettingsError> {
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
    fn steps_not_built_yet_are_refused_not_downgraded() {
        let error = settings(&[URL, ("SHOP_STEP", "4")]).expect_err("must fail");
        assert!(matches!(error, SettingsError::NotBuilt { .. }));
        assert!(
            error
                .to_string()
                .ends_with("run SHOP_STEP=3 or lower, or leave the switch unset")
        );
        let error =
            settings(&[URL, ("SHOP_STEP", "0"), ("ENROLLMENT", "async")]).expect_err("must fail");
        assert!(
            error
                .to_string()
                .starts_with("ENROLLMENT=async belongs to tutorial step 4")
        );
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
                "rediss://:secret@cache.redis.cache.windows.net:6380",
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
        ])
        .expect("valid settings");
        assert_eq!(settings.port, 8080);
        assert_eq!(settings.topology.step, Step::DEFAULT);
    }
}
