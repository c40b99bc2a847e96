// Desired PodDisruptionBudget, derived from the replication factor. Every member holds a
// replica of every partition, so one broker away leaves a quorum when there are three or
// more copies: maxUnavailable 1. With two copies, losing either stops writes (no quorum):
// maxUnavailable 0, so a voluntary disruption waits for a person. With one copy there is no
// quorum to protect and blocking node maintenance forever would help nobody: maxUnavailable 1.

import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import type { FloCluster } from '../crd/types.js';
import { commonLabels, ownedNames, ownerReference, selectorLabels } from './names.js';
import { foundersOf } from './stateful-set.js';

/** Brokers a voluntary disruption may take at once for a replication factor. */
export function maxUnavailableFor(replicationFactor: number): number {
  return replicationFactor === 2 ? 0 : 1;
}

export function buildPodDisruptionBudget(cluster: FloCluster): V1PodDisruptionBudget {
  // The replication factor is the founders' count (single-node brokers of an older operator: 1).
  const replicationFactor = Math.max(1, foundersOf(cluster));
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: {
      name: ownedNames(cluster.metadata.name).podDisruptionBudget,
      namespace: cluster.metadata.namespace,
      labels: commonLabels(cluster, 'broker'),
      ownerReferences: [ownerReference(cluster)],
    },
    spec: { maxUnavailable: maxUnavailableFor(replicationFactor), selector: { matchLabels: selectorLabels(cluster) } },
  };
}
