// Key Vault holding every secret of the deployment (database password and URLs, Redis URL, RabbitMQ credentials,
// session key). RBAC authorization only (no access policies); reachable only through its private endpoint
// (public network access off): Bicep writes secrets through Azure Resource Manager, which needs no data-plane
// network path, and Container Apps resolve their Key Vault references from inside the virtual network.
@description('Key Vault name (3-24 characters).')
@minLength(3)
@maxLength(24)
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags for the vault.')
param tags object = {}

@description('Days a deleted vault or secret is kept (soft delete).')
@minValue(7)
@maxValue(90)
param softDeleteRetentionInDays int = 90

@description('Purge protection: a deleted vault cannot be purged before its retention ends (cannot be turned off again once on).')
param enablePurgeProtection bool = true

@description('Principal IDs (managed identities) that may read secrets: Key Vault Secrets User.')
param secretsUserPrincipalIds array = []

@description('Principal ID of the deploying user or service principal: Key Vault Secrets Officer, to rotate secrets. Empty: none.')
param secretsOfficerPrincipalId string = ''

@description('Type of the principal in secretsOfficerPrincipalId.')
@allowed([
  'User'
  'ServicePrincipal'
  'Group'
])
param secretsOfficerPrincipalType string = 'User'

@description('Resource ID of the Log Analytics workspace for audit logs. Empty: no diagnostic setting.')
param logAnalyticsWorkspaceId string = ''

// Built-in role definition IDs (https://learn.microsoft.com/azure/role-based-access-control/built-in-roles)
var keyVaultSecretsUserRoleId = '4633458b-17de-408a-b874-0445c86b69e6'
var keyVaultSecretsOfficerRoleId = 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7'

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: {
      family: 'A'
      name: 'standard'
    }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: softDeleteRetentionInDays
    enablePurgeProtection: enablePurgeProtection ? true : null
    enabledForDeployment: false
    enabledForDiskEncryption: false
    enabledForTemplateDeployment: false
    publicNetworkAccess: 'Disabled'
    networkAcls: {
      defaultAction: 'Deny'
      bypass: 'AzureServices'
      ipRules: []
      virtualNetworkRules: []
    }
  }
}

resource secretsUsers 'Microsoft.Authorization/roleAssignments@2022-04-01' = [for principalId in secretsUserPrincipalIds: {
  name: guid(vault.id, principalId, keyVaultSecretsUserRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsUserRoleId)
    principalId: principalId
    principalType: 'ServicePrincipal'
  }
}]

resource secretsOfficer 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(secretsOfficerPrincipalId)) {
  name: guid(vault.id, secretsOfficerPrincipalId, keyVaultSecretsOfficerRoleId)
  scope: vault
  properties: {
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', keyVaultSecretsOfficerRoleId)
    principalId: secretsOfficerPrincipalId
    principalType: secretsOfficerPrincipalType
  }
}

resource diagnostics 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = if (!empty(logAnalyticsWorkspaceId)) {
  name: 'to-log-analytics'
  scope: vault
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

output id string = vault.id
output name string = vault.name
output endpoint string = vault.properties.vaultUri
