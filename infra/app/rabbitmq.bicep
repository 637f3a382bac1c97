// RabbitMQ as an INTERNAL container app: one node, AMQP 0-9-1 on 5672 (internal TCP ingress: reachable only
// from apps of the same environment, as <app name>:5672) and the management UI/API on 15672 (internal too;
// reach it with `az containerapp exec` or from a jump host in the VNet). Messages and definitions persist on an
// Azure Files share mounted at /var/lib/rabbitmq/mnesia; the node name is fixed (rabbit@localhost) so the node
// finds its data directory again after a restart (the default name contains the replica's random hostname).
//
// Fit for development and small production workloads only:
//   - one node, no clustering or quorum-queue replication: a restart is a short outage (the shop's outbox keeps
//     publishing once the broker is back; the worker reconnects);
//   - min = max = 1 replica; a NEW REVISION (changing this template: image, env, resources) briefly overlaps the
//     old and new replica on the same data directory: change it in a quiet moment, or deactivate the old
//     revision first;
//   - Azure Files (SMB) is slower than a local disk and RabbitMQ does not recommend network file systems.
//   - RABBITMQ_DEFAULT_USER/PASS only seed an EMPTY node: rotating the password later also needs
//     `rabbitmqctl change_password` inside the container.
// Managed alternatives for production:
//   - Azure Service Bus: fully managed, but it speaks AMQP 1.0, not the AMQP 0-9-1 this app uses (lapin), so the
//     publisher and consumer would need a Service Bus client;
//   - CloudAMQP (RabbitMQ as a service, on the Azure Marketplace): same protocol, only RABBITMQ_URL changes;
//   - a RabbitMQ cluster on AKS with the RabbitMQ Cluster Kubernetes Operator (quorum queues, three nodes).
@description('Container app name (also the host name other apps use).')
param name string

@description('Azure region.')
param location string = resourceGroup().location

@description('Tags for the app.')
param tags object = {}

@description('Resource ID of the Container Apps environment.')
param environmentId string

@description('Name of the environment storage (Azure Files share) for the data directory.')
param storageName string

@description('Resource ID of the user-assigned identity (Key Vault Secrets User; AcrPull for an image imported into the registry).')
param identityId string

@description('Login server of the project\'s registry: the image is pulled from it, by the identity, when it lives there.')
param containerRegistryLoginServer string

@description('Pinned RabbitMQ image (an exact tag; `az acr import` it into the registry to avoid Docker Hub limits).')
param image string = 'docker.io/library/rabbitmq:3.13.7-management'

@description('RabbitMQ user the shop and the worker connect as.')
param user string

@description('Key Vault URI of the RabbitMQ password.')
param passwordSecretUri string

@description('vCPU of the broker.')
param cpu string = '0.5'

@description('Memory of the broker (must match the vCPU: 0.5 vCPU = 1Gi).')
param memory string = '1Gi'

var projectRegistry = [
  {
    server: containerRegistryLoginServer
    identity: identityId
  }
]

resource rabbitmq 'Microsoft.App/containerApps@2024-03-01' = {
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
      // Docker Hub needs no credentials; an image imported into the project's registry is pulled by the identity
      registries: startsWith(image, '${containerRegistryLoginServer}/') ? projectRegistry : []
      ingress: {
        external: false
        transport: 'tcp'
        targetPort: 5672
        exposedPort: 5672
        additionalPortMappings: [
          {
            external: false
            targetPort: 15672
            exposedPort: 15672
          }
        ]
      }
      secrets: [
        {
          name: 'rabbitmq-password'
          keyVaultUrl: passwordSecretUri
          identity: identityId
        }
      ]
    }
    template: {
      containers: [
        {
          name: 'rabbitmq'
          image: image
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          env: [
            {
              name: 'RABBITMQ_NODENAME'
              value: 'rabbit@localhost'
            }
            {
              name: 'RABBITMQ_DEFAULT_USER'
              value: user
            }
            {
              name: 'RABBITMQ_DEFAULT_PASS'
              secretRef: 'rabbitmq-password'
            }
          ]
          volumeMounts: [
            {
              volumeName: 'data'
              mountPath: '/var/lib/rabbitmq/mnesia'
            }
          ]
          probes: [
            {
              // Boot, and recovery of persisted queues from the share, can take a while.
              type: 'Startup'
              tcpSocket: {
                port: 5672
              }
              initialDelaySeconds: 10
              periodSeconds: 10
              timeoutSeconds: 5
              failureThreshold: 10
            }
            {
              type: 'Liveness'
              tcpSocket: {
                port: 5672
              }
              periodSeconds: 20
              timeoutSeconds: 5
              failureThreshold: 3
            }
            {
              type: 'Readiness'
              tcpSocket: {
                port: 5672
              }
              periodSeconds: 10
              timeoutSeconds: 5
              failureThreshold: 3
            }
          ]
        }
      ]
      volumes: [
        {
          name: 'data'
          storageType: 'AzureFile'
          storageName: storageName
          // SMB has no owners of its own: the broker runs as uid 999 (the image's rabbitmq user) and must own
          // its data directory; the Erlang cookie's strict mode is why the files are not world-readable
          mountOptions: 'uid=999,gid=999,dir_mode=0750,file_mode=0600'
        }
      ]
      scale: {
        minReplicas: 1
        maxReplicas: 1
      }
    }
  }
}

output id string = rabbitmq.id
output name string = rabbitmq.name
output host string = rabbitmq.name
output port int = 5672
