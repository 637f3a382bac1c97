// The enrollment worker (`enrollment-worker`): no ingress (it only consumes from RabbitMQ); its /healthz and
// /readyz on WORKER_PORT 8090 serve the platform's probes, which reach the container directly, without ingress.
// Scaling: KEDA's rabbitmq scaler on the length of the queue `enrollment.order-placed`, between min and max
// replicas (min 1, so retries parked on delay queues are always picked up promptly).
@description('Container app name.')
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags; must include azd-service-name.')
param tags object

@description('Resource ID of the Container Apps environment.')
param environmentId string

@description('Resource ID of the user-assigned identity (Key Vault Secrets User, AcrPull).')
param identityId string

@description('Login server of the container registry.')
param containerRegistryLoginServer string

@description('Whether azd has deployed the worker before (keeps its current image on re-provision).')
param exists bool = false

@description('vCPU per replica.')
param cpu string = '0.25'

@description('Memory per replica (must match the vCPU: 0.25 vCPU = 0.5Gi).')
param memory string = '0.5Gi'

@description('Minimum replicas.')
@minValue(0)
param minReplicas int = 1

@description('Maximum replicas.')
@minValue(1)
@maxValue(300)
param maxReplicas int = 3

@description('Queue the scaler watches (RABBITMQ_NAME_PREFIX is empty in production).')
param queueName string = 'enrollment.order-placed'

@description('Ready messages per replica before another is added.')
@minValue(1)
param messagesPerReplica int = 20

@description('Key Vault URI of DATABASE_URL (PgBouncer).')
param databaseUrlSecretUri string

@description('Key Vault URI of RABBITMQ_URL.')
param rabbitmqUrlSecretUri string

module fetchImage 'fetch-container-image.bicep' = {
  name: '${name}-image'
  params: {
    exists: exists
    name: name
  }
}

var image = exists ? fetchImage.outputs.containers[0].image : 'mcr.microsoft.com/k8se/quickstart:latest'

resource worker 'Microsoft.App/containerApps@2024-03-01' = {
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
      registries: [
        {
          server: containerRegistryLoginServer
          identity: identityId
        }
      ]
      secrets: [
        {
          name: 'database-url'
          keyVaultUrl: databaseUrlSecretUri
          identity: identityId
        }
        {
          name: 'rabbitmq-url'
          keyVaultUrl: rabbitmqUrlSecretUri
          identity: identityId
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'enrollment-worker'
          image: image
          command: [
            '/usr/local/bin/enrollment-worker'
          ]
          args: [
            'run'
          ]
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          env: [
            {
              name: 'SHOP_ENV'
              value: 'production'
            }
            {
              // the health server must listen beyond loopback for the platform's probes
              name: 'HOST'
              value: '0.0.0.0'
            }
            {
              name: 'WORKER_PORT'
              value: '8090'
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
              name: 'DATABASE_URL'
              secretRef: 'database-url'
            }
            {
              name: 'RABBITMQ_URL'
              secretRef: 'rabbitmq-url'
            }
          ]
          probes: [
            {
              type: 'Startup'
              httpGet: {
                path: '/healthz'
                port: 8090
                scheme: 'HTTP'
              }
              initialDelaySeconds: 5
              periodSeconds: 10
              timeoutSeconds: 5
              failureThreshold: 10
            }
            {
              type: 'Liveness'
              httpGet: {
                path: '/healthz'
                port: 8090
                scheme: 'HTTP'
              }
              periodSeconds: 15
              timeoutSeconds: 5
              failureThreshold: 3
            }
            {
              // 503 unless PostgreSQL and RabbitMQ answer
              type: 'Readiness'
              httpGet: {
                path: '/readyz'
                port: 8090
                scheme: 'HTTP'
              }
              periodSeconds: 15
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
            name: 'order-placed-queue'
            custom: {
              type: 'rabbitmq'
              metadata: {
                queueName: queueName
                mode: 'QueueLength'
                value: string(messagesPerReplica)
                protocol: 'amqp'
              }
              auth: [
                {
                  // KEDA reads the broker's address and credentials from the same Key Vault-backed secret
                  secretRef: 'rabbitmq-url'
                  triggerParameter: 'host'
                }
              ]
            }
          }
        ]
      }
    }
  }
}

output id string = worker.id
output name string = worker.name
