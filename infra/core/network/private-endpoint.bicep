// A private endpoint for one sub-resource (group) of a PaaS resource, registered in its private DNS zone.
@description('Private endpoint name.')
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags for the endpoint.')
param tags object = {}

@description('Subnet the endpoint gets its address from.')
param subnetId string

@description('Resource ID of the target resource.')
param privateLinkServiceId string

@description('Target sub-resource: vault, Sql, redisEnterprise, file, ...')
param groupId string

@description('Resource ID of the private DNS zone for this group.')
param privateDnsZoneId string

resource endpoint 'Microsoft.Network/privateEndpoints@2023-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    subnet: {
      id: subnetId
    }
    privateLinkServiceConnections: [
      {
        name: name
        properties: {
          privateLinkServiceId: privateLinkServiceId
          groupIds: [
            groupId
          ]
        }
      }
    ]
  }
}

resource zoneGroup 'Microsoft.Network/privateEndpoints/privateDnsZoneGroups@2023-11-01' = {
  parent: endpoint
  name: 'default'
  properties: {
    privateDnsZoneConfigs: [
      {
        name: replace(groupId, '.', '-')
        properties: {
          privateDnsZoneId: privateDnsZoneId
        }
      }
    ]
  }
}

output id string = endpoint.id
