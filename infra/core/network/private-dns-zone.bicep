// A private DNS zone linked to the virtual network, so that names of private endpoints (and of the
// VNet-integrated PostgreSQL server) resolve to private addresses from inside the Container Apps environment.
@description('Zone name, e.g. privatelink.vaultcore.azure.net.')
param name string

@description('Resource ID of the virtual network to link.')
param virtualNetworkId string

@description('Tags for the zone.')
param tags object = {}

resource zone 'Microsoft.Network/privateDnsZones@2020-06-01' = {
  name: name
  location: 'global'
  tags: tags
}

resource link 'Microsoft.Network/privateDnsZones/virtualNetworkLinks@2020-06-01' = {
  parent: zone
  name: 'link-${uniqueString(virtualNetworkId)}'
  location: 'global'
  tags: tags
  properties: {
    registrationEnabled: false
    virtualNetwork: {
      id: virtualNetworkId
    }
  }
}

output id string = zone.id
output name string = zone.name
