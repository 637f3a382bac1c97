// The shop's settings on Azure, in one place: the Key Vault-backed secrets and the environment that the shop
// (app.bicep) and the cart migration job (cart-migration-job.bicep) both run `courseshop` with, so the job loads
// exactly the settings the serving shop does. It deploys nothing; main.bicep passes its outputs to both.
@description('Resource ID of the user-assigned identity that resolves the Key Vault references.')
param identityId string

@description('Client ID of that identity (AZURE_CLIENT_ID for the Cosmos DB SDK).')
param identityClientId string

@description('PUBLIC_URL: the address people reach the shop at (https://<ingress FQDN> or a custom domain), required with SHOP_ENV=production.')
param publicUrl string

@description('Cosmos DB account endpoint (https://<account>.documents.azure.com:443/).')
param cosmosEndpoint string

@description('Region display name of the Cosmos DB account, e.g. East US.')
param cosmosRegion string

@description('CART_MIGRATION: read-through while carts still move from PostgreSQL to Cosmos DB (tutorial 02), off otherwise.')
@allowed([
  'off'
  'read-through'
])
param cartMigration string = 'off'

@description('Key Vault URI of DATABASE_URL (PgBouncer).')
param databaseUrlSecretUri string

@description('Key Vault URI of DATABASE_DIRECT_URL.')
param databaseDirectUrlSecretUri string

@description('Whether a PostgreSQL read replica exists: DATABASE_REPLICA_URL and REPLICA_MAX_LAG_MS are set only then.')
param readReplica bool = false

@description('Key Vault URI of DATABASE_REPLICA_URL (the read replica). Empty without one.')
param databaseReplicaUrlSecretUri string = ''

@description('REPLICA_MAX_LAG_MS: a replica further behind than this is bypassed and reads go to the primary.')
@minValue(1)
param replicaMaxLagMs int = 1000

@description('Key Vault URI of REDIS_URL.')
param redisUrlSecretUri string

@description('Key Vault URI of RABBITMQ_URL.')
param rabbitmqUrlSecretUri string

@description('Key Vault URI of SESSION_KEY.')
param sessionKeySecretUri string

@description('Key Vault URI of METRICS_TOKEN (the ingress publishes every path, /metrics included).')
param metricsTokenSecretUri string

// Secret and variables of the read replica, added to the lists below only when there is one.
var replicaSecrets = readReplica ? [
  {
    name: 'database-replica-url'
    keyVaultUrl: databaseReplicaUrlSecretUri
    identity: identityId
  }
] : []
var replicaEnv = readReplica ? [
  {
    name: 'DATABASE_REPLICA_URL'
    secretRef: 'database-replica-url'
  }
  {
    name: 'REPLICA_MAX_LAG_MS'
    value: string(replicaMaxLagMs)
  }
] : []

@description('Secrets of the container app or job: Key Vault references resolved with the identity.')
output secrets array = concat([
  {
    name: 'database-url'
    keyVaultUrl: databaseUrlSecretUri
    identity: identityId
  }
  {
    name: 'database-direct-url'
    keyVaultUrl: databaseDirectUrlSecretUri
    identity: identityId
  }
  {
    name: 'redis-url'
    keyVaultUrl: redisUrlSecretUri
    identity: identityId
  }
  {
    name: 'rabbitmq-url'
    keyVaultUrl: rabbitmqUrlSecretUri
    identity: identityId
  }
  {
    name: 'session-key'
    keyVaultUrl: sessionKeySecretUri
    identity: identityId
  }
  {
    name: 'metrics-token'
    keyVaultUrl: metricsTokenSecretUri
    identity: identityId
  }
], replicaSecrets)

@description('Environment of the courseshop container (secrets by reference to the list above).')
output env array = concat([
  {
    name: 'SHOP_ENV'
    value: 'production'
  }
  {
    name: 'PUBLIC_URL'
    value: publicUrl
  }
  {
    name: 'SHOP_STEP'
    value: '5'
  }
  {
    name: 'HOST'
    value: '0.0.0.0'
  }
  {
    name: 'PORT'
    value: '8080'
  }
  {
    name: 'COOKIE_SECURE'
    value: 'true'
  }
  {
    name: 'TRUST_FORWARDED_FOR'
    value: 'true'
  }
  {
    name: 'LOG_FORMAT'
    value: 'json'
  }
  {
    name: 'RUST_LOG'
    value: 'info'
  }
  {
    name: 'COSMOS_ENDPOINT'
    value: cosmosEndpoint
  }
  {
    name: 'COSMOS_AUTH'
    value: 'managed-identity'
  }
  {
    name: 'AZURE_CLIENT_ID'
    value: identityClientId
  }
  {
    name: 'COSMOS_DATABASE'
    value: 'courseshop'
  }
  {
    name: 'COSMOS_CART_CONTAINER'
    value: 'carts'
  }
  {
    name: 'COSMOS_CREATE_CONTAINERS'
    value: 'false'
  }
  {
    name: 'COSMOS_REGION'
    value: cosmosRegion
  }
  {
    name: 'CART_MIGRATION'
    value: cartMigration
  }
  {
    name: 'DATABASE_URL'
    secretRef: 'database-url'
  }
  {
    name: 'DATABASE_DIRECT_URL'
    secretRef: 'database-direct-url'
  }
  {
    name: 'REDIS_URL'
    secretRef: 'redis-url'
  }
  {
    name: 'RABBITMQ_URL'
    secretRef: 'rabbitmq-url'
  }
  {
    name: 'SESSION_KEY'
    secretRef: 'session-key'
  }
  {
    name: 'METRICS_TOKEN'
    secretRef: 'metrics-token'
  }
], replicaEnv)
