// Server parameters of one existing PostgreSQL Flexible Server. The primary and its read replica get the same
// list from postgresql-flexible.bicep: a replica copies the primary's parameters only once, when it is created, so
// a later change must be made on both.
@description('Name of the flexible server (in this resource group).')
param serverName string

@description('Server parameters to set, in order: [{ name, value }].')
param settings array

resource server 'Microsoft.DBforPostgreSQL/flexibleServers@2024-08-01' existing = {
  name: serverName
}

// One at a time: the server rejects a configuration change while another is under way.
@batchSize(1)
resource configurations 'Microsoft.DBforPostgreSQL/flexibleServers/configurations@2024-08-01' = [for setting in settings: {
  parent: server
  name: setting.name
  properties: {
    value: setting.value
    source: 'user-override'
  }
}]
