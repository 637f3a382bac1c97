// Every secret of the deployment, written into Key Vault through Azure Resource Manager. The container apps read
// them as Key Vault references (versionless URIs: a new secret version reaches them on their next refresh or
// restart). Rotating: re-provision with a new value, or `az keyvault secret set` from inside the network.
@description('Key Vault that receives the secrets.')
param keyVaultName string

@description('PostgreSQL server FQDN (<name>.postgres.database.azure.com).')
param postgresHost string

@description('PostgreSQL login the shop and the worker use.')
param postgresLogin string

@description('Password of that login.')
@secure()
param postgresPassword string

@description('Database name.')
param postgresDatabase string

@description('Whether the servers run the built-in PgBouncer: DATABASE_URL and the replica\'s URL then name port 6432, else 5432.')
param pgbouncer bool = true

@description('Whether there is a read replica: its URL goes into the secret database-replica-url.')
param postgresReadReplica bool = false

@description('FQDN of the read replica (<name>.postgres.database.azure.com). Empty without one.')
param postgresReplicaHost string = ''

@description('Name of the Azure Managed Redis cluster (Microsoft.Cache/redisEnterprise); the access key of its database goes into REDIS_URL.')
param redisName string

@description('Name of that cluster\'s database (always default).')
param redisDatabaseName string = 'default'

@description('Host the broker answers on inside the environment (the RabbitMQ container app name).')
param rabbitmqHost string

@description('TCP port of the broker.')
param rabbitmqPort int = 5672

@description('RabbitMQ user.')
param rabbitmqUser string

@description('RabbitMQ password.')
@secure()
param rabbitmqPassword string

@description('Key that signs and encrypts session cookies (64+ characters).')
@secure()
param sessionKey string

@description('Bearer token for the shop\'s /metrics.')
@secure()
param metricsToken string

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' existing = {
  name: keyVaultName
}

resource redis 'Microsoft.Cache/redisEnterprise@2025-07-01' existing = {
  name: redisName
}

resource redisDatabase 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' existing = {
  parent: redis
  name: redisDatabaseName
}

var pgUserInfo = '${uriComponent(postgresLogin)}:${uriComponent(postgresPassword)}'
// PgBouncer (port 6432, transaction pooling) for the request path; 5432 for migrations and LISTEN, which need a
// session of their own. The replica's URL names the replica's own PgBouncer, for the same reason as DATABASE_URL:
// every instance's pool shares a few server connections.
var pooledPort = pgbouncer ? 6432 : 5432
var databaseUrl = 'postgres://${pgUserInfo}@${postgresHost}:${pooledPort}/${postgresDatabase}?sslmode=verify-full'
var databaseDirectUrl = 'postgres://${pgUserInfo}@${postgresHost}:5432/${postgresDatabase}?sslmode=verify-full'
var databaseReplicaUrl = 'postgres://${pgUserInfo}@${postgresReplicaHost}:${pooledPort}/${postgresDatabase}?sslmode=verify-full'
// Azure Managed Redis: the host is the cluster's (<name>.<region>.redis.azure.net), the port (10000, TLS) and the access
// keys are the database's. A key may contain '/', '+' or '=': percent-encoded in the URL (the redis crate decodes it).
var redisUrl = 'rediss://:${uriComponent(redisDatabase.listKeys().primaryKey)}@${redis.properties.hostName}:${redisDatabase.properties.port}'
var rabbitmqUrl = 'amqp://${uriComponent(rabbitmqUser)}:${uriComponent(rabbitmqPassword)}@${rabbitmqHost}:${rabbitmqPort}/%2f'

var secrets = [
  {
    name: 'postgres-admin-password'
    value: postgresPassword
    contentType: 'text/plain; PostgreSQL administrator password'
  }
  {
    name: 'database-url'
    value: databaseUrl
    contentType: pgbouncer ? 'text/uri-list; libpq URL through PgBouncer (6432)' : 'text/uri-list; libpq URL, direct (5432)'
  }
  {
    name: 'database-direct-url'
    value: databaseDirectUrl
    contentType: 'text/uri-list; libpq URL, direct (5432)'
  }
  {
    name: 'redis-url'
    value: redisUrl
    contentType: 'text/uri-list; rediss URL with access key'
  }
  {
    name: 'rabbitmq-password'
    value: rabbitmqPassword
    contentType: 'text/plain; RabbitMQ password'
  }
  {
    name: 'rabbitmq-url'
    value: rabbitmqUrl
    contentType: 'text/uri-list; AMQP 0-9-1 URL'
  }
  {
    name: 'session-key'
    value: sessionKey
    contentType: 'text/plain; session cookie key'
  }
  {
    name: 'metrics-token'
    value: metricsToken
    contentType: 'text/plain; bearer token for /metrics'
  }
]

resource kvSecrets 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = [for secret in secrets: {
  parent: vault
  name: secret.name
  properties: {
    value: secret.value
    contentType: secret.contentType
    attributes: {
      enabled: true
    }
  }
}]

// Only with a replica (outside the list above, whose indexes the outputs below rely on).
resource replicaUrlSecret 'Microsoft.KeyVault/vaults/secrets@2023-07-01' = if (postgresReadReplica) {
  parent: vault
  name: 'database-replica-url'
  properties: {
    value: databaseReplicaUrl
    contentType: pgbouncer ? 'text/uri-list; libpq URL of the read replica through its PgBouncer (6432)' : 'text/uri-list; libpq URL of the read replica, direct (5432)'
    attributes: {
      enabled: true
    }
  }
}

// Versionless secret URIs (https://<vault>.vault.azure.net/secrets/<name>), for Key Vault references.
output postgresPasswordUri string = kvSecrets[0].properties.secretUri
output databaseUrlUri string = kvSecrets[1].properties.secretUri
output databaseDirectUrlUri string = kvSecrets[2].properties.secretUri
output redisUrlUri string = kvSecrets[3].properties.secretUri
output rabbitmqPasswordUri string = kvSecrets[4].properties.secretUri
output rabbitmqUrlUri string = kvSecrets[5].properties.secretUri
output sessionKeyUri string = kvSecrets[6].properties.secretUri
output metricsTokenUri string = kvSecrets[7].properties.secretUri
output databaseReplicaUrlUri string = postgresReadReplica ? replicaUrlSecret.properties.secretUri : ''
