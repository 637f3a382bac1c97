// Azure Database for PostgreSQL Flexible Server with private access (VNet integration), the `courseshop`
// database and the built-in PgBouncer on port 6432 in transaction pooling mode (`pgbouncer`, on by default).
// PgBouncer and read replicas are not available on the Burstable tier, hence General Purpose / Memory Optimized
// only. The shop connects with the administrator login (simplest; a dedicated least-privilege role, or Microsoft
// Entra authentication, is a follow-up).
//
// With `readReplica`, a second server streams from the first (`createMode: 'Replica'`) in the same subnet and
// private DNS zone: the shop's catalog reads go there (DATABASE_REPLICA_URL). A replica inherits the
// administrator login, takes no backups and has no high availability; its compute and storage must never be
// smaller than the primary's (hence `replicaSkuName`, to grow the replica first), and storage auto-grow must be on
// wherever it is on for the primary.
@description('Server name (3-63 lowercase letters, digits, hyphens).')
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags for the server.')
param tags object = {}

@description('PostgreSQL major version.')
@allowed([
  '16'
])
param version string = '16'

@description('Compute size, e.g. Standard_D2ds_v5 (General Purpose, 2 vCores, 8 GiB).')
param skuName string = 'Standard_D2ds_v5'

@description('Compute tier, the replica\'s too. Burstable is not offered: the built-in PgBouncer and read replicas need General Purpose or Memory Optimized.')
@allowed([
  'GeneralPurpose'
  'MemoryOptimized'
])
param skuTier string = 'GeneralPurpose'

@description('Storage in GiB (grows automatically).')
@minValue(32)
param storageSizeGB int = 32

@description('Days of point-in-time restore.')
@minValue(7)
@maxValue(35)
param backupRetentionDays int = 14

@description('Geo-redundant backups (only where the region has a pair; cannot be changed after creation).')
@allowed([
  'Enabled'
  'Disabled'
])
param geoRedundantBackup string = 'Disabled'

@description('High availability: Disabled, SameZone or ZoneRedundant (a standby doubles the compute cost).')
@allowed([
  'Disabled'
  'SameZone'
  'ZoneRedundant'
])
param highAvailabilityMode string = 'Disabled'

@description('Administrator login.')
param administratorLogin string

@description('Administrator password.')
@secure()
param administratorLoginPassword string

@description('Database the shop uses.')
param databaseName string = 'courseshop'

@description('Subnet delegated to Microsoft.DBforPostgreSQL/flexibleServers.')
param delegatedSubnetId string

@description('Private DNS zone (a name ending in .postgres.database.azure.com) linked to the virtual network.')
param privateDnsZoneId string

@description('The built-in PgBouncer (port 6432, transaction pooling) on the primary and the replica.')
param pgbouncer bool = true

@description('A read replica of this server (a second server billed like the first).')
param readReplica bool = false

@description('Name of the read replica.')
param replicaName string = '${name}-replica'

@description('Compute size of the read replica. Empty: the primary\'s (skuName). Never smaller than the primary\'s.')
param replicaSkuName string = ''

@description('Resource ID of the Log Analytics workspace. Empty: no diagnostic setting.')
param logAnalyticsWorkspaceId string = ''

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: skuName
    tier: skuTier
  }
  properties: {
    version: version
    administratorLogin: administratorLogin
    administratorLoginPassword: administratorLoginPassword
    authConfig: {
      activeDirectoryAuth: 'Disabled'
      passwordAuth: 'Enabled'
    }
    storage: {
      storageSizeGB: storageSizeGB
      autoGrow: 'Enabled'
    }
    backup: {
      backupRetentionDays: backupRetentionDays
      geoRedundantBackup: geoRedundantBackup
    }
    highAvailability: {
      mode: highAvailabilityMode
    }
    network: {
      delegatedSubnetResourceId: delegatedSubnetId
      privateDnsZoneArmResourceId: privateDnsZoneId
      publicNetworkAccess: 'Disabled'
    }
  }
}

// sqlx prepares statements at the protocol level (a cache of 100 per connection): PgBouncer must track them.
// sqlx sends extra_float_digits=2 in its startup packet; PgBouncer refuses a parameter it does not track unless
// told to ignore it (the shop reads no floats as text, so ignoring it changes nothing).
var pgbouncerSettings = pgbouncer ? [
  {
    name: 'pgbouncer.enabled'
    value: 'true'
  }
  {
    name: 'pgbouncer.pool_mode'
    value: 'TRANSACTION'
  }
  {
    name: 'pgbouncer.max_prepared_statements'
    value: '200'
  }
  {
    name: 'pgbouncer.ignore_startup_parameters'
    value: 'extra_float_digits'
  }
] : [
  {
    name: 'pgbouncer.enabled'
    value: 'false'
  }
]

var serverSettings = concat([
  {
    name: 'require_secure_transport'
    value: 'on'
  }
], pgbouncerSettings, [
  {
    name: 'log_connections'
    value: 'on'
  }
  {
    name: 'log_disconnections'
    value: 'on'
  }
])

module settings 'postgresql-settings.bicep' = {
  name: '${name}-settings'
  params: {
    serverName: server.name
    settings: serverSettings
  }
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
  dependsOn: [
    settings
  ]
}

// Created after the primary's parameters and database: while a replica is being created the primary accepts no
// configuration change. No backup and no high availability: a replica has neither.
resource replica 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' = if (readReplica) {
  name: replicaName
  location: location
  tags: tags
  sku: {
    name: empty(replicaSkuName) ? skuName : replicaSkuName
    tier: skuTier
  }
  properties: {
    createMode: 'Replica'
    sourceServerResourceId: server.id
    version: version
    storage: {
      storageSizeGB: storageSizeGB
      autoGrow: 'Enabled'
    }
    highAvailability: {
      mode: 'Disabled'
    }
    network: {
      delegatedSubnetResourceId: delegatedSubnetId
      privateDnsZoneArmResourceId: privateDnsZoneId
      publicNetworkAccess: 'Disabled'
    }
  }
  dependsOn: [
    database
  ]
}

// The replica copied the primary's parameters when it was created; set them again so a later change reaches it.
module replicaSettings 'postgresql-settings.bicep' = if (readReplica) {
  name: '${replicaName}-settings'
  params: {
    serverName: replica.name
    settings: serverSettings
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(logAnalyticsWorkspaceId)) {
  name: 'to-log-analytics'
  scope: server
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'PostgreSQLLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

resource replicaDiagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (readReplica && !empty(logAnalyticsWorkspaceId)) {
  name: 'to-log-analytics'
  scope: replica
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        category: 'PostgreSQLLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        // physical_replication_delay_in_seconds (Read Replica Lag) among them
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

output id string = server.id
output name string = server.name
output fqdn string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
output replicaName string = readReplica ? replica.name : ''
output replicaFqdn string = readReplica ? replica.properties.fullyQualifiedDomainName : ''
