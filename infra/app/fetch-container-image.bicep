// azd convention: on a re-provision, keep the image azd deployed last instead of resetting the app to the
// placeholder. `exists` comes from SERVICE_<NAME>_RESOURCE_EXISTS, which azd sets once the service is deployed.
@description('Whether the container app already exists.')
param exists bool

@description('Container app name.')
param name string

resource existingApp 'Microsoft.App/containerApps@2024-03-01' existing = if (exists) {
  name: name
}

output containers array = exists ? existingApp.properties.template.containers : []
