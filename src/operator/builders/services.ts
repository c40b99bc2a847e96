// Desired Services: a headless peer Service (stable per-pod DNS for broker discovery,
// published before pods are ready so peers can find each other while starting) and
// a client Service that only routes to ready brokers.

import type { V1Service } from '@kubernetes/client-node';
import { BROKER_HTTP_PORT, BROKER_PEER_PORT, withDefaults, type FloCluster } from '../crd/types.js';
import { commonLabels, ownedNames, ownerReference, selectorLabels } from './names.js';

export function buildPeerService(cluster: FloCluster): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: ownedNames(cluster.metadata.name).peerService,
      namespace: cluster.metadata.namespace,
      labels: commonLabels(cluster, 'peers'),
      ownerReferences: [ownerReference(cluster)],
    },
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: selectorLabels(cluster),
      ports: [
        { name: 'http', port: BROKER_HTTP_PORT, targetPort: 'http', protocol: 'TCP' },
        { name: 'peer', port: BROKER_PEER_PORT, targetPort: 'peer', protocol: 'TCP' },
      ],
    },
  };
}

export function buildClientService(cluster: FloCluster): V1Service {
  const spec = withDefaults(cluster.spec);
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name: ownedNames(cluster.metadata.name).clientService,
      namespace: cluster.metadata.namespace,
      labels: commonLabels(cluster, 'client'),
      annotations: spec.service.annotations,
      ownerReferences: [ownerReference(cluster)],
    },
    spec: {
      type: spec.service.type,
      selector: selectorLabels(cluster),
      ports: [{ name: 'http', port: spec.service.port, targetPort: 'http', protocol: 'TCP' }],
    },
  };
}
