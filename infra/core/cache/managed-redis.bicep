// Azure Managed Redis (Microsoft.Cache/redisEnterprise + its one database, `default`): the read-through cache of
// catalog pages and carts, sessions and login counters. It replaces Azure Cache for Redis (Microsoft.Cache/redis),
// which is being retired and no longer accepts new caches in every tenant.
//
// What the shop needs from it: one endpoint that behaves like a single Redis server (one non-cluster connection,
// plain commands and Lua scripts over several keys), so the database uses the NoCluster policy (offered on caches of
// 25 GB and less: the allowed SKUs below); TLS only (clientProtocol Encrypted, port 10000, TLS 1.2+); access-key
// authentication, because the shop authenticates with the key that main.bicep writes into the Key Vault secret
// REDIS_URL (Microsoft Entra authentication is a possible follow-up). Reached only through its private endpoint.
//
// API version 2025-07-01 (GA): the first GA version with publicNetworkAccess on the cluster (required there),
// highAvailability, NoCluster and accessKeysAuthentication on the database, and listKeys() on the database.
@description('Cluster name (1-60 letters, digits and single hyphens).')
@minLength(1)
@maxLength(60)
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags for the cluster.')
param tags object = {}

@description('Azure Managed Redis SKU. Only sizes of 25 GB and less, the ones the NoCluster policy allows: Balanced_B0 (0.5 GB, the smallest), B1 (1 GB), B3 (3 GB), B5 (6 GB), B10 (12 GB), B20 (24 GB), and the Memory / Compute Optimized sizes up to 24 GB.')
@allowed([
  'Balanced_B0'
  'Balanced_B1'
  'Balanced_B3'
  'Balanced_B5'
  'Balanced_B10'
  'Balanced_B20'
  'MemoryOptimized_M10'
  'MemoryOptimized_M20'
  'ComputeOptimized_X3'
  'ComputeOptimized_X5'
  'ComputeOptimized_X10'
  'ComputeOptimized_X20'
])
param skuName string = 'Balanced_B0'

@description('High availability: Enabled replicates the data to a second node (SLA, about twice the price); Disabled is one node, no SLA, data lost on a node failure (dev/test).')
@allowed([
  'Enabled'
  'Disabled'
])
param highAvailability string = 'Disabled'

// Every key the shop writes carries a TTL (sessions, cached pages, cart generations, login counters), so VolatileLRU
// evicts the least recently used of all of them when memory runs out, as the old cache's volatile-lru did, while a key
// written without a TTL by mistake is never evicted. Either LRU policy can evict a session (its user is signed out)
// or a login counter (its window restarts) under memory pressure; NoEviction would protect them but make every write
// fail once the cache is full.
@description('Eviction policy of the database.')
@allowed([
  'VolatileLRU'
  'AllKeysLRU'
  'VolatileTTL'
  'NoEviction'
])
param evictionPolicy string = 'VolatileLRU'

@description('Resource ID of the Log Analytics workspace. Empty: no diagnostic settings.')
param logAnalyticsWorkspaceId string = ''

resource cluster 'Microsoft.Cache/redisEnterprise@2025-07-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
  }
  properties: {
    highAvailability: highAvailability
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Disabled'
  }
}

resource database 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' = {
  parent: cluster
  name: 'default'
  properties: {
    clientProtocol: 'Encrypted'
    port: 10000
    clusteringPolicy: 'NoCluster'
    evictionPolicy: evictionPolicy
    accessKeysAuthentication: 'Enabled'
    deferUpgrade: 'NotDeferred'
  }
}

// Metrics are emitted by the cluster, the connection log (new connection / authentication / disconnection) by the
// database.
resource clusterDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(logAnalyticsWorkspaceId)) {
  name: 'to-log-analytics'
  scope: cluster
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

resource databaseDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(logAnalyticsWorkspaceId)) {
  name: 'to-log-analytics'
  scope: database
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'ConnectionEvents'
        enabled: true
      }
    ]
  }
}

output id string = cluster.id
output name string = cluster.name
// <name>.<region>.redis.azure.net
output hostName string = cluster.properties.hostName
output databaseName string = database.name
output port int = database.properties.port
