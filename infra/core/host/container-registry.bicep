// Azure Container Registry for the two images azd builds (remotely, with ACR Tasks) and pushes.
// Admin user off: the container apps pull with their managed identities (AcrPull on this registry only).
@description('Registry name (5-50 alphanumerics).')
@minLength(5)
@maxLength(50)
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags for the registry.')
param tags object = {}

@description('Registry SKU. Premium would add private endpoints, content trust and retention policies.')
@allowed([
  'Basic'
  'Standard'
  'Premium'
])
param sku string = 'Basic'

@description('Principal IDs (managed identities) that may pull images: AcrPull.')
param pullPrincipalIds array = []

@description('Resource ID of the Log Analytics workspace. Empty: no diagnostic setting.')
param logAnalyticsWorkspaceId string = ''

var acrPullRoleId = '7f951dda-4ed3-4680-a7ca-43fe172d538d'

resource registry 'Microsoft.ContainerRegistry/registries@2023-07-01' = {
  name: name
  location: location
  tags: tags
  sku: {
    name: sku
  }
  properties: {
    adminUserEnabled: false
    anonymousPullEnabled: false
    publicNetworkAccess: 'Enabled'
    zoneRedundancy: 'Disabled'
  }
}

resource pullers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in pullPrincipalIds: {
  name: guid(registry.id, principalId, acrPullRoleId)
  scope: registry
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', acrPullRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(logAnalyticsWorkspaceId)) {
  name: 'to-log-analytics'
  scope: registry
  properties: {
    workspaceId: logAnalyticsWorkspaceId
    logs: [
      {
        categoryGroup: 'audit'
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

output id string = registry.id
output name string = registry.name
output loginServer string = registry.properties.loginServer
