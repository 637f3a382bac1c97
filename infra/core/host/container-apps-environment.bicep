// Container Apps managed environment: workload profiles (Consumption profile only), injected into the virtual
// network (external: the shop's ingress is public; everything else is internal), logs to Log Analytics, and one
// Azure Files share registered as environment storage for the RabbitMQ data directory.
@description('Environment name.')
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags for the environment.')
param tags object = {}

@description('Name of the Log Analytics workspace for console and system logs.')
param logAnalyticsWorkspaceName string

@description('Subnet for the environment (delegated to Microsoft.App/environments).')
param infrastructureSubnetId string

@description('Zone redundancy (needs a region with availability zones; cannot be changed after creation).')
param zoneRedundant bool = false

@description('Name the file share is registered under in the environment (what volumes refer to).')
param storageName string

@description('Storage account that holds the share.')
param storageAccountName string

@description('Azure Files share name.')
param shareName string

resource logAnalytics 'Microsoft.OperationalInsights/workspaces@2022-10-01' existing = {
  name: logAnalyticsWorkspaceName
}

resource storageAccount 'Microsoft.Storage/storageAccounts@2023-05-01' existing = {
  name: storageAccountName
}

resource environment 'Microsoft.App/managedEnvironments@2024-03-01' = {
  name: name
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'log-analytics'
      logAnalyticsConfiguration: {
        customerId: logAnalytics.properties.customerId
        sharedKey: logAnalytics.listKeys().primarySharedKey
      }
    }
    vnetConfiguration: {
      infrastructureSubnetId: infrastructureSubnetId
      internal: false
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
    zoneRedundant: zoneRedundant
  }
}

resource storage 'Microsoft.App/managedEnvironments/storages@2024-03-01' = {
  parent: environment
  name: storageName
  properties: {
    azureFile: {
      accountName: storageAccount.name
      accountKey: storageAccount.listKeys().keys[0].value
      shareName: shareName
      accessMode: 'ReadWrite'
    }
  }
}

output id string = environment.id
output name string = environment.name
output defaultDomain string = environment.properties.defaultDomain
output storageName string = storage.name
