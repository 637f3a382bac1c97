//! Azure Cosmos DB for NoSQL, where carts are kept from tutorial step 2: `COSMOS_*`.

use std::time::Duration;

use super::env::{Env, Secret, SettingsError};

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
    /// `CART_MIGRATION=read-through` (default `off`): while carts move from PostgreSQL (steps 0–1)
    /// to Cosmos DB, a cart Cosmos DB does not have yet is looked up in PostgreSQL and copied on its
    /// first use (`cart::read_through`), so the shop can switch before the backfill ends.
    pub read_through: bool,
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

pub(super) fn read(env: &Env<'_>) -> Result<CosmosSettings, SettingsError> {
    let endpoint = endpoint(env)?;
    let auth = auth(env)?;
    let keyed = matches!(auth, CosmosAuth::Key(_));
    Ok(CosmosSettings {
        endpoint,
        auth,
        database: env.name("COSMOS_DATABASE", "courseshop")?,
        cart_container: env.name("COSMOS_CART_CONTAINER", "carts")?,
        create_containers: env.flag("COSMOS_CREATE_CONTAINERS", keyed)?,
        region: env
            .optional("COSMOS_REGION")
            .map_or_else(|| "East US".to_string(), |region| region.trim().to_string()),
        timeout: Duration::from_millis(env.parsed_in(
            "COSMOS_TIMEOUT_MS",
            2000,
            100..=60_000,
            "milliseconds from 100 to 60000",
        )?),
        read_through: read_through(env)?,
    })
}

/// `CART_MIGRATION`: `off` (the default) or `read-through`.
fn read_through(env: &Env<'_>) -> Result<bool, SettingsError> {
    match env.optional("CART_MIGRATION").as_deref().map(str::trim) {
        None | Some("off") => Ok(false),
        Some("read-through") => Ok(true),
        Some(other) => Err(SettingsError::Invalid {
            variable: "CART_MIGRATION",
            value: other.to_string(),
            reason: "expected off or read-through".to_string(),
        }),
    }
}

/// `COSMOS_ENDPOINT`, normalised; plain `http://` only for an emulator on this machine.
fn endpoint(env: &Env<'_>) -> Result<String, SettingsError> {
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
        "https" => Ok(url.to_string()),
        "http" if local => Ok(url.to_string()),
        "http" => Err(invalid(
            "plain http:// is for a local emulator on this machine; use https://",
        )),
        _ => Err(invalid("expected an https:// account URL")),
    }
}

/// `COSMOS_AUTH` (default `key`, with `COSMOS_KEY`) or a managed identity.
fn auth(env: &Env<'_>) -> Result<CosmosAuth, SettingsError> {
    match env.optional("COSMOS_AUTH").as_deref().map(str::trim) {
        Some("managed-identity") => Ok(CosmosAuth::ManagedIdentity {
            client_id: env.optional("AZURE_CLIENT_ID"),
        }),
        None | Some("key") => Ok(CosmosAuth::Key(Secret(env.required(
            "COSMOS_KEY",
            "set the account key (the local server takes the emulator's published key), \
             or COSMOS_AUTH=managed-identity in Azure",
        )?))),
        Some(other) => Err(SettingsError::Invalid {
            variable: "COSMOS_AUTH",
            value: other.to_string(),
            reason: "expected key or managed-identity".to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::testing::{URL, settings};

    #[test]
    fn cart_migration_is_off_unless_read_through_is_named() {
        let at_step_2 = |migration: Option<&'static str>| {
            let mut vars = vec![
                URL,
                ("SHOP_STEP", "2"),
                ("COSMOS_ENDPOINT", "http://127.0.0.1:8081/"),
                ("COSMOS_KEY", "c2VjcmV0"),
            ];
            vars.extend(migration.map(|value| ("CART_MIGRATION", value)));
            settings(&vars)
        };
        let cosmos = |migration| at_step_2(migration).expect("valid").cosmos.expect("cosmos");
        assert!(!cosmos(None).read_through);
        assert!(!cosmos(Some("off")).read_through);
        assert!(cosmos(Some(" read-through ")).read_through);
        for refused in ["readthrough", "on", "read-through\u{0}", "read-through\nx"] {
            let error = at_step_2(Some(refused)).expect_err("must fail");
            assert!(error.to_string().starts_with("CART_MIGRATION="), "{error}");
        }
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
}
