// Azure Cache for Redis: the read-through cache of catalog pages and carts. TLS only (port 6380, TLS 1.2+), reached
// through its private endpoint. The shop authenticates with the access key, which main.bicep writes into the
// Key Vault secret REDIS_URL (Microsoft Entra authentication for Redis is a possible follow-up).
@description('Cache name.')
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags for the cache.')
param tags object = {}

@description('Basic (one node, no SLA: dev/test) or Standard (primary + replica, SLA).')
@allowed([
  'Basic'
  'Standard'
])
param skuName string = 'Basic'

@description('Size within the C family: 0 = 250 MB, 1 = 1 GB, 2 = 2.5 GB, ...')
@minValue(0)
@maxValue(6)
param capacity int = 0

@description('Resource ID of the Log Analytics workspace. Empty: no diagnostic setting.')
param logAnalyticsWorkspaceId string = ''

resource redis 'Microsoft.Cache/redis@2024-03-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    sku: {
      name: skuName
      family: 'C'
      capacity: capacity
    }
    enableNonSslPort: false
    minimumTlsVersion: '1.2'
    publicNetworkAccess: 'Disabled'
    redisVersion: '6'
    redisConfiguration: {
      'maxmemory-policy': 'volatile-lru'
    }
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(logAnalyticsWorkspaceId)) {
  name: 'to-log-analytics'
  scope: redis
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

output id string = redis.id
output name string = redis.name
output hostName string = redis.properties.hostName
output sslPort int = redis.properties.sslPort
