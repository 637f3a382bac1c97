// The shop (`courseshop serve --migrate`): external HTTPS ingress on 8080, probes on /healthz (liveness, startup)
// and /readyz (readiness), at least two replicas (any instance serves any request: sessions, carts and caches
// live in Redis, Cosmos DB and PostgreSQL, and the outbox relay claims rows with SKIP LOCKED) and more on
// concurrent HTTP requests. Migrations run in the new revision's container before it listens (through
// DATABASE_DIRECT_URL); replicas serialise on PostgreSQL's migration lock, and the startup probe allows for that.
// With a PostgreSQL read replica, DATABASE_REPLICA_URL names it and REPLICA_MAX_LAG_MS bounds the lag the shop
// accepts before it reads from the primary. Secrets are Key Vault references resolved with the app's
// user-assigned identity.
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

@description('Client ID of that identity (AZURE_CLIENT_ID for the Cosmos DB SDK).')
param identityClientId string

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

@description('Cosmos DB account endpoint (https://<account>.documents.azure.com:443/).')
param cosmosEndpoint string

@description('Region display name of the Cosmos DB account, e.g. East US.')
param cosmosRegion string

@description('PUBLIC_URL: the address people reach the shop at (https://<ingress FQDN> or a custom domain), required with SHOP_ENV=production.')
param publicUrl string

@description('Key Vault URI of DATABASE_URL (PgBouncer).')
param databaseUrlSecretUri string

@description('Key Vault URI of DATABASE_DIRECT_URL.')
param databaseDirectUrlSecretUri string

@description('Whether a PostgreSQL read replica exists: DATABASE_REPLICA_URL and REPLICA_MAX_LAG_MS are set only then.')
param readReplica bool = false

@description('Key Vault URI of DATABASE_REPLICA_URL (the read replica). Empty without one.')
param databaseReplicaUrlSecretUri string = ''

@description('REPLICA_MAX_LAG_MS: a replica further behind than this is bypassed and reads go to the primary.')
@minValue(1)
param replicaMaxLagMs int = 1000

@description('Key Vault URI of REDIS_URL.')
param redisUrlSecretUri string

@description('Key Vault URI of RABBITMQ_URL.')
param rabbitmqUrlSecretUri string

@description('Key Vault URI of SESSION_KEY.')
param sessionKeySecretUri string

@description('Key Vault URI of METRICS_TOKEN (the ingress publishes every path, /metrics included).')
param metricsTokenSecretUri string

module fetchImage 'fetch-container-image.bicep' = {
  name: '${name}-image'
  params: {
    exists: exists
    name: name
  }
}

// Until azd deploys the real image, the app runs a placeholder (which fails the probes: expected).
var image = exists ? fetchImage.outputs.containers[0].image : 'mcr.microsoft.com/k8se/quickstart:latest'

// Secret and variables of the read replica, added to the lists below only when there is one.
var replicaSecrets = readReplica ? [
  {
    name: 'database-replica-url'
    keyVaultUrl: databaseReplicaUrlSecretUri
    identity: identityId
  }
] : []
var replicaEnv = readReplica ? [
  {
    name: 'DATABASE_REPLICA_URL'
    secretRef: 'database-replica-url'
  }
  {
    name: 'REPLICA_MAX_LAG_MS'
    value: string(replicaMaxLagMs)
  }
] : []

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
      secrets: concat([
        {
          name: 'database-url'
          keyVaultUrl: databaseUrlSecretUri
          identity: identityId
        }
        {
          name: 'database-direct-url'
          keyVaultUrl: databaseDirectUrlSecretUri
          identity: identityId
        }
        {
          name: 'redis-url'
          keyVaultUrl: redisUrlSecretUri
          identity: identityId
        }
        {
          name: 'rabbitmq-url'
          keyVaultUrl: rabbitmqUrlSecretUri
          identity: identityId
        }
        {
          name: 'session-key'
          keyVaultUrl: sessionKeySecretUri
          identity: identityId
        }
        {
          name: 'metrics-token'
          keyVaultUrl: metricsTokenSecretUri
          identity: identityId
        }
      ], replicaSecrets)
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
          env: concat([
            {
              name: 'SHOP_ENV'
              value: 'production'
            }
            {
              name: 'PUBLIC_URL'
              value: publicUrl
            }
            {
              name: 'SHOP_STEP'
              value: '5'
            }
            {
              name: 'HOST'
              value: '0.0.0.0'
            }
            {
              name: 'PORT'
              value: '8080'
            }
            {
              name: 'COOKIE_SECURE'
              value: 'true'
            }
            {
              name: 'TRUST_FORWARDED_FOR'
              value: 'true'
            }
            {
              name: 'LOG_FORMAT'
              value: 'json'
            }
            {
              name: 'RUST_LOG'
              value: 'info'
            }
            {
              name: 'COSMOS_ENDPOINT'
              value: cosmosEndpoint
            }
            {
              name: 'COSMOS_AUTH'
              value: 'managed-identity'
            }
            {
              name: 'AZURE_CLIENT_ID'
              value: identityClientId
            }
            {
              name: 'COSMOS_DATABASE'
              value: 'courseshop'
            }
            {
              name: 'COSMOS_CART_CONTAINER'
              value: 'carts'
            }
            {
              name: 'COSMOS_CREATE_CONTAINERS'
              value: 'false'
            }
            {
              name: 'COSMOS_REGION'
              value: cosmosRegion
            }
            {
              name: 'DATABASE_URL'
              secretRef: 'database-url'
            }
            {
              name: 'DATABASE_DIRECT_URL'
              secretRef: 'database-direct-url'
            }
            {
              name: 'REDIS_URL'
              secretRef: 'redis-url'
            }
            {
              name: 'RABBITMQ_URL'
              secretRef: 'rabbitmq-url'
            }
            {
              name: 'SESSION_KEY'
              secretRef: 'session-key'
            }
            {
              name: 'METRICS_TOKEN'
              secretRef: 'metrics-token'
            }
          ], replicaEnv)
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
