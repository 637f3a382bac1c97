// One user-assigned managed identity. User-assigned (not system-assigned) so that its role assignments
// (Key Vault Secrets User, AcrPull, Cosmos data role) exist BEFORE the container app that uses it is
// created: the app resolves Key Vault references and pulls its image at creation time.
@description('Identity name.')
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags for the identity.')
param tags object = {}

resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  name: name
  location: location
  tags: tags
}

output id string = identity.id
output name string = identity.name
output principalId string = identity.properties.principalId
output clientId string = identity.properties.clientId
