// The virtual network the Container Apps environment is injected into, with three subnets:
//   infra             the Container Apps environment (workload profiles: /27 at least; delegated to Microsoft.App/environments)
//   postgres          PostgreSQL Flexible Server with private access (VNet integration; delegated)
//   private-endpoints private endpoints of Key Vault, Cosmos DB, Redis and the RabbitMQ file share
// Each subnet has its own network security group (Azure's default rules, plus inbound HTTP(S) from the internet
// to the environment subnet, where the external ingress of the shop listens).
@description('Virtual network name.')
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags for the network resources.')
param tags object = {}

@description('Prefix for the names of the network security groups.')
param nsgNamePrefix string = 'nsg-'

@description('Address space of the virtual network.')
param addressPrefix string = '10.40.0.0/16'

@description('Subnet of the Container Apps environment (workload profiles environments need /27 or larger; /23 leaves room).')
param infraSubnetPrefix string = '10.40.0.0/23'

@description('Subnet delegated to PostgreSQL Flexible Server.')
param postgresSubnetPrefix string = '10.40.2.0/24'

@description('Subnet for private endpoints.')
param privateEndpointsSubnetPrefix string = '10.40.3.0/24'

resource infraNsg 'Microsoft.Network/networkSecurityGroups@2023-11-01' = {
  name: '${nsgNamePrefix}infra-${name}'
  location: location
  tags: tags
  properties: {
    securityRules: [
      {
        name: 'AllowHttpsInbound'
        properties: {
          description: 'External ingress of the shop (HTTPS; port 80 only redirects to 443).'
          protocol: 'Tcp'
          sourceAddressPrefix: 'Internet'
          sourcePortRange: '*'
          destinationAddressPrefix: infraSubnetPrefix
          destinationPortRanges: [
            '443'
            '80'
          ]
          access: 'Allow'
          priority: 100
          direction: 'Inbound'
        }
      }
    ]
  }
}

resource postgresNsg 'Microsoft.Network/networkSecurityGroups@2023-11-01' = {
  name: '${nsgNamePrefix}postgres-${name}'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource privateEndpointsNsg 'Microsoft.Network/networkSecurityGroups@2023-11-01' = {
  name: '${nsgNamePrefix}pe-${name}'
  location: location
  tags: tags
  properties: {
    securityRules: []
  }
}

resource vnet 'Microsoft.Network/virtualNetworks@2023-11-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    addressSpace: {
      addressPrefixes: [
        addressPrefix
      ]
    }
    subnets: [
      {
        name: 'infra'
        properties: {
          addressPrefix: infraSubnetPrefix
          networkSecurityGroup: {
            id: infraNsg.id
          }
          delegations: [
            {
              name: 'Microsoft.App.environments'
              properties: {
                serviceName: 'Microsoft.App/environments'
              }
            }
          ]
        }
      }
      {
        name: 'postgres'
        properties: {
          addressPrefix: postgresSubnetPrefix
          networkSecurityGroup: {
            id: postgresNsg.id
          }
          delegations: [
            {
              name: 'Microsoft.DBforPostgreSQL.flexibleServers'
              properties: {
                serviceName: 'Microsoft.DBforPostgreSQL/flexibleServers'
              }
            }
          ]
        }
      }
      {
        name: 'private-endpoints'
        properties: {
          addressPrefix: privateEndpointsSubnetPrefix
          networkSecurityGroup: {
            id: privateEndpointsNsg.id
          }
          privateEndpointNetworkPolicies: 'Enabled'
        }
      }
    ]
  }
}

output id string = vnet.id
output name string = vnet.name
output infraSubnetId string = '${vnet.id}/subnets/infra'
output postgresSubnetId string = '${vnet.id}/subnets/postgres'
output privateEndpointsSubnetId string = '${vnet.id}/subnets/private-endpoints'
