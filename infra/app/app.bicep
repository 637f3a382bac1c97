// The shop (`courseshop serve --migrate`): external HTTPS ingress on 8080, probes on /healthz (liveness, startup)
// and /readyz (readiness), at least two replicas (any instance serves any request: sessions, carts and caches
// live in Redis, Cosmos DB and PostgreSQL, and the outbox relay claims rows with SKIP LOCKED) and more on
// concurrent HTTP requests. Migrations run in the new revision's container before it listens (through
// DATABASE_DIRECT_URL); replicas serialise on PostgreSQL's migration lock, and the startup probe allows for that.
// Its settings (shop-settings.bicep, shared with the cart migration job) are Key Vault references resolved with
// the app's user-assigned identity; with a PostgreSQL read replica, DATABASE_REPLICA_URL names it.
@description('Container app name.')
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags; must include azd-service-name.')
param tags object

@description('Resource ID of the Container Apps environment.')
param environmentId string

@description('Resource ID of the user-assigned identity (Key Vault Secrets User, AcrPull, Cosmos data role).')
param identityId string

@description('Login server of the container registry.')
param containerRegistryLoginServer string

@description('Whether azd has deployed the app before (keeps its current image on re-provision).')
param exists bool = false

@description('vCPU per replica.')
param cpu string = '0.5'

@description('Memory per replica (must match the vCPU: 0.5 vCPU = 1Gi).')
param memory string = '1Gi'

@description('Minimum replicas (2: one instance failing or being replaced leaves another serving; 1 keeps the outbox relay and the first request warm).')
@minValue(1)
param minReplicas int = 2

@description('Maximum replicas.')
@minValue(1)
@maxValue(300)
param maxReplicas int = 5

@description('Concurrent HTTP requests per replica before another is added.')
@minValue(1)
param concurrentRequests int = 50

@description('Secrets of the shop (shop-settings.bicep): Key Vault references resolved with the identity.')
param secrets array

@description('Environment of the courseshop container (shop-settings.bicep).')
param env array

module fetchImage 'fetch-container-image.bicep' = {
  name: '${name}-image'
  params: {
    exists: exists
    name: name
  }
}

// Until azd deploys the real image, the app runs a placeholder (which fails the probes: expected).
var image = exists ? fetchImage.outputs.containers[0].image : 'mcr.microsoft.com/k8se/quickstart:latest'

resource app 'Microsoft.App/containerApps@2024-03-01' = {
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
      activeRevisionsMode: 'Single'
      maxInactiveRevisions: 5
      ingress: {
        external: true
        targetPort: 8080
        transport: 'http'
        allowInsecure: false
        traffic: [
          {
            latestRevision: true
            weight: 100
          }
        ]
      }
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
          name: 'courseshop'
          image: image
          command: [
            '/usr/local/bin/courseshop'
          ]
          args: [
            'serve'
            '--migrate'
          ]
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          env: env
          probes: [
            {
              // Up to 10 s + 10 x 20 s = 210 s for pending migrations before the container is restarted.
              type: 'Startup'
              httpGet: {
                path: '/healthz'
                port: 8080
                scheme: 'HTTP'
              }
              initialDelaySeconds: 10
              periodSeconds: 20
              timeoutSeconds: 5
              failureThreshold: 10
            }
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: 8080
                scheme: 'HTTP'
              }
              periodSeconds: 10
              timeoutSeconds: 5
              failureThreshold: 3
            }
            {
              // 503 only while PostgreSQL is unreachable: the replica stops receiving traffic, is not restarted.
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: 8080
                scheme: 'HTTP'
              }
              periodSeconds: 10
              timeoutSeconds: 5
              failureThreshold: 3
              successThreshold: 1
            }
          ]
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'http-concurrency'
            http: {
              metadata: {
                concurrentRequests: string(concurrentRequests)
              }
            }
          }
        ]
      }
    }
  }
}

output id string = app.id
output name string = app.name
output fqdn string = app.properties.configuration.ingress.fqdn
output uri string = 'https://${app.properties.configuration.ingress.fqdn}'
