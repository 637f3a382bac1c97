//! Reaching the cart container: the SDK client from `CosmosSettings`, and the database and
//! container made when missing (locally; in Azure the infrastructure owns them).

use std::sync::Arc;

use azure_core::credentials::Secret;
use azure_data_cosmos::models::{ContainerProperties, IndexingMode, IndexingPolicy, PropertyPath};
use azure_data_cosmos::options::{
    BinaryEncodingOptions, EndToEndOperationLatencyPolicy, OperationOptions, Region,
    ThrottlingRetryOptions,
};
use azure_data_cosmos::{
    AccountEndpoint, AccountReference, ContainerClient, CosmosClient, CosmosClientBuilder,
    CosmosError, RoutingStrategy,
};
use azure_identity::{ManagedIdentityCredential, ManagedIdentityCredentialOptions, UserAssignedId};

use crate::settings::{CosmosAuth, CosmosSettings};

/// Makes the SDK's client builder; tests supply one with fault-injection rules.
pub type ClientBuilderFactory = Arc<dyn Fn() -> CosmosClientBuilder + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("COSMOS_ENDPOINT is not an account endpoint the SDK accepts")]
    Endpoint(#[source] CosmosError),
    #[error("the managed identity credential cannot be made")]
    Credential(#[source] azure_core::Error),
    #[error("cannot reach the Cosmos DB account")]
    Client(#[source] CosmosError),
    #[error("cannot create Cosmos DB {what} {name:?}")]
    Provision {
        what: &'static str,
        name: String,
        #[source]
        source: CosmosError,
    },
    #[error("cannot open the cart container {name:?}")]
    Container {
        name: String,
        #[source]
        source: CosmosError,
    },
}

impl ConnectError {
    pub fn cosmos_error(&self) -> Option<&CosmosError> {
        match self {
            ConnectError::Endpoint(error) | ConnectError::Client(error) => Some(error),
            ConnectError::Provision { source, .. } | ConnectError::Container { source, .. } => {
                Some(source)
            }
            ConnectError::Credential(_) => None,
        }
    }
}

/// Opens the cart container, creating the database and container first when the settings ask.
pub async fn open_cart_container(
    settings: &CosmosSettings,
    builder: CosmosClientBuilder,
) -> Result<ContainerClient, ConnectError> {
    let client = client(settings, builder).await?;
    if settings.create_containers {
        provision(&client, settings).await?;
    }
    client
        .database_client(settings.database.as_str())
        .container_client(settings.cart_container.as_str(), None)
        .await
        .map_err(|source| ConnectError::Container {
            name: settings.cart_container.clone(),
            source,
        })
}

async fn client(
    settings: &CosmosSettings,
    builder: CosmosClientBuilder,
) -> Result<CosmosClient, ConnectError> {
    let endpoint: AccountEndpoint = settings.endpoint.parse().map_err(ConnectError::Endpoint)?;
    let account = match &settings.auth {
        CosmosAuth::Key(key) => AccountReference::with_authentication_key(
            endpoint,
            Secret::from(key.expose().to_string()),
        ),
        CosmosAuth::ManagedIdentity { client_id } => {
            let options = ManagedIdentityCredentialOptions {
                user_assigned_id: client_id.clone().map(UserAssignedId::ClientId),
                ..Default::default()
            };
            let credential =
                ManagedIdentityCredential::new(Some(options)).map_err(ConnectError::Credential)?;
            AccountReference::with_credential(endpoint, credential)
        }
    };
    let mut operation = OperationOptions::default();
    // The SDK's own retries (429, 503, a failed connection) must end inside the page's budget:
    // a cart that cannot answer in time is reported unavailable rather than holding the page.
    operation.end_to_end_latency_policy =
        Some(EndToEndOperationLatencyPolicy::new(settings.timeout));
    let mut throttling = ThrottlingRetryOptions::default();
    throttling.max_retry_wait_time = Some(settings.timeout / 2);
    operation.throttling_retry_options = Some(throttling);
    let mut builder = builder.with_default_operation_options(operation);
    if settings.is_emulator() {
        // local emulators speak text JSON only
        let mut json_only = BinaryEncodingOptions::default();
        json_only.enabled = false;
        builder = builder.with_binary_encoding_options(json_only);
    }
    builder
        .build(
            account,
            RoutingStrategy::ProximityTo(Region::from(settings.region.clone())),
        )
        .await
        .map_err(ConnectError::Client)
}

/// The cart container: partition key `/id` (see `document.rs`), TTL on with no default (each cart
/// document carries its own `ttl`), and no index: carts are only ever read by id, so indexing
/// every line would make each write cost more request units for queries nobody runs.
pub fn cart_container_properties(name: &str) -> ContainerProperties {
    let mut indexing = IndexingPolicy::default();
    indexing.automatic = true;
    indexing.indexing_mode = Some(IndexingMode::Consistent);
    indexing.excluded_paths = vec![PropertyPath::default().with_path("/*")];
    ContainerProperties::new(name.to_string(), "/id".into())
        .with_default_ttl(azure_data_cosmos::models::TimeToLive::NoDefault)
        .with_indexing_policy(indexing)
}

async fn provision(client: &CosmosClient, settings: &CosmosSettings) -> Result<(), ConnectError> {
    match client.create_database(&settings.database, None).await {
        Ok(_) => tracing::info!(database = %settings.database, "created the Cosmos DB database"),
        Err(error) if error.status().is_conflict() => {}
        Err(source) => {
            return Err(ConnectError::Provision {
                what: "database",
                name: settings.database.clone(),
                source,
            });
        }
    }
    let database = client.database_client(settings.database.as_str());
    match database
        .create_container(cart_container_properties(&settings.cart_container), None)
        .await
    {
        Ok(_) => {
            tracing::info!(container = %settings.cart_container, "created the Cosmos DB cart container")
        }
        Err(error) if error.status().is_conflict() => {}
        Err(source) => {
            return Err(ConnectError::Provision {
                what: "container",
                name: settings.cart_container.clone(),
                source,
            });
        }
    }
    Ok(())
}
