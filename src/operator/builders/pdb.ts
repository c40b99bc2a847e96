// Desired PodDisruptionBudget: voluntary disruptions (drains, upgrades) take at most
// one broker at a time, which keeps a quorum for any replication factor of three or more.

import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { FloCluster } from '../crd/types.js';
import { commonLabels, ownedNames, ownerReference, selectorLabels } from './names.js';

export function buildPodDisruptionBudget(cluster: FloCluster): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: {
      name: ownedNames(cluster.metadata.name).podDisruptionBudget,
      namespace: cluster.metadata.namespace,
      labels: commonLabels(cluster, 'broker'),
      ownerReferences: [ownerReference(cluster)],
    },
    spec: { maxUnavailable: 1, selector: { matchLabels: selectorLabels(cluster) } },
  };
}
