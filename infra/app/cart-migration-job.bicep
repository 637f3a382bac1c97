// The cart migration of tutorial step 2 (`courseshop carts migrate`) as a Container Apps job, started by hand:
// the shop's own image, identity, network and settings (shop-settings.bicep), without ingress or replicas to keep
// warm, and billed only while an execution runs. Its default arguments copy every PostgreSQL cart into Cosmos DB;
// `az containerapp job start --args` runs the other modes (--dry-run, --verify, --finish). The command is
// idempotent, so a failed replica is simply run again, once, by the platform.
@description('Job name (at most 32 characters).')
@maxLength(32)
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags.')
param tags object

@description('Resource ID of the Container Apps environment.')
param environmentId string

@description('Resource ID of the shop\'s user-assigned identity (Key Vault Secrets User, AcrPull, Cosmos data role).')
param identityId string

@description('Login server of the container registry.')
param containerRegistryLoginServer string

@description('Name of the shop\'s container app, whose image the job runs.')
param appName string

@description('Whether azd has deployed the shop before: the job takes its image then (a placeholder until).')
param appExists bool = false

@description('Secrets of the shop (shop-settings.bicep).')
param secrets array

@description('Environment of the courseshop container (shop-settings.bicep).')
param env array

@description('--concurrency of the migration: batches in flight against Cosmos DB (throttled requests are retried).')
@minValue(1)
@maxValue(256)
param concurrency int = 16

@description('Seconds an execution may run before it is stopped (a stopped run is resumed by the next).')
@minValue(300)
@maxValue(86400)
param replicaTimeout int = 7200

@description('vCPU of the job\'s replica.')
param cpu string = '0.5'

@description('Memory of the job\'s replica (must match the vCPU: 0.5 vCPU = 1Gi).')
param memory string = '1Gi'

// A separate deployment name from app.bicep's, which reads the same app.
module fetchImage 'fetch-container-image.bicep' = {
  name: '${name}-app-image'
  params: {
    exists: appExists
    name: appName
  }
}

// The image the shop runs at provision time; `az containerapp job start --image` gives a newer one (tutorial 02).
var image = appExists ? fetchImage.outputs.containers[0].image : 'mcr.microsoft.com/k8se/quickstart:latest'

resource job 'Microsoft.App/jobs@2024-03-01' = {
  name: name
  location: location
  tags: tags
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identityId}': {}
    }
  }
  properties: {
    environmentId: environmentId
    workloadProfileName: 'Consumption'
    configuration: {
      triggerType: 'Manual'
      manualTriggerConfig: {
        parallelism: 1
        replicaCompletionCount: 1
      }
      replicaTimeout: replicaTimeout
      replicaRetryLimit: 1
      registries: [
        {
          server: containerRegistryLoginServer
          identity: identityId
        }
      ]
      secrets: secrets
    }
    template: {
      containers: [
        {
          name: 'carts-migrate'
          image: image
          command: [
            '/usr/local/bin/courseshop'
          ]
          args: [
            'carts'
            'migrate'
            '--concurrency'
            string(concurrency)
          ]
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          env: env
        }
      ]
    }
  }
}

output id string = job.id
output name string = job.name
