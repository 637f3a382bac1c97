// Azure Cosmos DB for NoSQL: the cart store. Keys are off (disableLocalAuth): the shop authenticates with its
// managed identity, which gets the built-in "Cosmos DB Built-in Data Contributor" data-plane role on this account.
// Database and container are created here, because the data plane cannot create them under RBAC
// (COSMOS_CREATE_CONTAINERS=false in the app). Reachable only through its private endpoint.
@description('Account name (3-44 lowercase letters, digits, hyphens).')
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags for the account.')
param tags object = {}

@description('Serverless (pay per request, the default) or provisioned throughput with autoscale.')
@allowed([
  'Serverless'
  'ProvisionedAutoscale'
])
param capacityMode string = 'Serverless'

@description('Autoscale maximum RU/s of the carts container (ProvisionedAutoscale only; scales between 10% and this).')
@minValue(1000)
param autoscaleMaxThroughput int = 1000

@description('Database name.')
param databaseName string = 'courseshop'

@description('Cart container name.')
param cartContainerName string = 'carts'

@description('Principal IDs (managed identities) given the Cosmos DB Built-in Data Contributor role on the account.')
param dataContributorPrincipalIds array = []

@description('Resource ID of the Log Analytics workspace. Empty: no diagnostic setting.')
param logAnalyticsWorkspaceId string = ''

var serverless = capacityMode == 'Serverless'
// Cosmos DB Built-in Data Contributor (a data-plane SQL role definition of every account)
var dataContributorRoleDefinitionId = '00000000-0000-0000-0000-000000000002'

resource account 'Microsoft.DocumentDB/databaseAccounts@2024-05-15' = {
  name: name
  location: location
  tags: tags
  kind: 'GlobalDocumentDB'
  properties: {
    databaseAccountOfferType: 'Standard'
    consistencyPolicy: {
      defaultConsistencyLevel: 'Session'
    }
    locations: [
      {
        locationName: location
        failoverPriority: 0
        isZoneRedundant: false
      }
    ]
    capabilities: serverless ? [
      {
        name: 'EnableServerless'
      }
    ] : []
    disableLocalAuth: true
    disableKeyBasedMetadataWriteAccess: true
    minimalTlsVersion: 'Tls12'
    publicNetworkAccess: 'Disabled'
    isVirtualNetworkFilterEnabled: false
    enableAutomaticFailover: false
    enableMultipleWriteLocations: false
  }
}

resource database 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases@2024-05-15' = {
  parent: account
  name: databaseName
  properties: {
    resource: {
      id: databaseName
    }
  }
}

// Carts are only ever read by id: partition key /id, nothing indexed; TTL on with no default (each document carries
// its own ttl). The indexing policy is the one the shop creates itself with a key (cart_container_properties in
// shop/src/cart/cosmos/connection.rs: consistent, every path excluded), so a container made here and one made by
// the shop behave alike.
resource carts 'Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers@2024-05-15' = {
  parent: database
  name: cartContainerName
  properties: {
    resource: {
      id: cartContainerName
      partitionKey: {
        paths: [
          '/id'
        ]
        kind: 'Hash'
      }
      defaultTtl: -1
      indexingPolicy: {
        indexingMode: 'consistent'
        automatic: true
        includedPaths: []
        excludedPaths: [
          {
            path: '/*'
          }
        ]
      }
    }
    options: serverless ? {} : {
      autoscaleSettings: {
        maxThroughput: autoscaleMaxThroughput
      }
    }
  }
}

resource dataContributors 'Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments@2024-05-15' = [for principalId in dataContributorPrincipalIds: {
  parent: account
  name: guid(account.id, principalId, dataContributorRoleDefinitionId)
  properties: {
    roleDefinitionId: '${account.id}/sqlRoleDefinitions/${dataContributorRoleDefinitionId}'
    principalId: principalId
    scope: account.id
  }
}]

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(logAnalyticsWorkspaceId)) {
  name: 'to-log-analytics'
  scope: account
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logAnalyticsDestinationType: 'Dedicated'
    logs: [
      {
        category: 'ControlPlaneRequests'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'Requests'
        enabled: true
      }
    ]
  }
}

output id string = account.id
output name string = account.name
output endpoint string = account.properties.documentEndpoint
// Display name of the write region (e.g. "East US"), the form COSMOS_REGION expects.
output writeRegion string = account.properties.writeLocations[0].locationName
output databaseName string = database.name
output cartContainerName string = carts.name
