// Log Analytics workspace: Container Apps console/system logs and the diagnostic settings of the data services.
@description('Workspace name.')
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags for the workspace.')
param tags object = {}

@description('Days to keep logs (30 is included in the price of ingestion).')
@minValue(30)
@maxValue(730)
param retentionInDays int = 30

resource workspace 'Microsoft.OperationalInsights/workspaces@2022-10-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    sku: {
      name: 'PerGB2018'
    }
    retentionInDays: retentionInDays
    features: {
      enableLogAccessUsingOnlyResourcePermissions: true
    }
  }
}

output id string = workspace.id
output name string = workspace.name
output customerId string = workspace.properties.customerId
