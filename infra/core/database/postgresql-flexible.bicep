// Azure Database for PostgreSQL Flexible Server with private access (VNet integration), the `courseshop`
// database and the built-in PgBouncer on port 6432 in transaction pooling mode. PgBouncer is not available on the
// Burstable tier, hence General Purpose / Memory Optimized only. The shop connects with the administrator login
// (simplest; a dedicated least-privilege role, or Microsoft Entra authentication, is a follow-up).
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

@description('Compute tier. Burstable is not offered: the built-in PgBouncer needs General Purpose or Memory Optimized.')
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

// Server parameters are applied one after the other: the server rejects concurrent configuration changes.
resource requireSecureTransport 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'require_secure_transport'
  properties: {
    value: 'on'
    source: 'user-override'
  }
}

resource pgbouncerEnabled 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'pgbouncer.enabled'
  properties: {
    value: 'true'
    source: 'user-override'
  }
  dependsOn: [
    requireSecureTransport
  ]
}

resource pgbouncerPoolMode 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'pgbouncer.pool_mode'
  properties: {
    value: 'TRANSACTION'
    source: 'user-override'
  }
  dependsOn: [
    pgbouncerEnabled
  ]
}

// sqlx prepares statements at the protocol level (a cache of 100 per connection): PgBouncer must track them.
resource pgbouncerPreparedStatements 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'pgbouncer.max_prepared_statements'
  properties: {
    value: '200'
    source: 'user-override'
  }
  dependsOn: [
    pgbouncerPoolMode
  ]
}

// sqlx sends extra_float_digits=2 in its startup packet; PgBouncer refuses a parameter it does not
// track unless told to ignore it (the shop reads no floats as text, so ignoring it changes nothing)
resource pgbouncerIgnoredParameters 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'pgbouncer.ignore_startup_parameters'
  properties: {
    value: 'extra_float_digits'
    source: 'user-override'
  }
  dependsOn: [
    pgbouncerPreparedStatements
  ]
}

resource logConnections 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'log_connections'
  properties: {
    value: 'on'
    source: 'user-override'
  }
  dependsOn: [
    pgbouncerIgnoredParameters
  ]
}

resource logDisconnections 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = {
  parent: server
  name: 'log_disconnections'
  properties: {
    value: 'on'
    source: 'user-override'
  }
  dependsOn: [
    logConnections
  ]
}

resource database 'Microsoft.DBforPostgreSQL/flexibleServers/databases@2024-08-01' = {
  parent: server
  name: databaseName
  properties: {
    charset: 'UTF8'
    collation: 'en_US.utf8'
  }
  dependsOn: [
    logDisconnections
  ]
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

output id string = server.id
output name string = server.name
output fqdn string = server.properties.fullyQualifiedDomainName
output databaseName string = database.name
