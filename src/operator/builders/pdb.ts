// Desired PodDisruptionBudget, derived from the voters: the active members (in this version
// every member holds a replica of every partition, so each partition has that many voters).
// A voluntary disruption may take at most floor((voters - 1) / 2) brokers, which leaves every
// partition a quorum: 2 voters -> 0 (either away stops writes, so the disruption waits for a
// person), 3 or 4 -> 1, 5 -> 2. With one voter there is no quorum to protect and blocking node
// maintenance forever would help nobody: 1. Voters unknown (no member table read): the spec's
// replicas, what the cluster has once settled.

import type { V1PodDisruptionBudget } from '@kubernetes/client-node';
import { withDefaults, type FloCluster } from '../crd/types.js';
import { commonLabels, ownedNames, ownerReference, selectorLabels } from './names.js';

/** Brokers a voluntary disruption may take at once when every partition has `voters` voters. */
export function maxUnavailableFor(voters: number): number {
  return voters <= 1 ? 1 : Math.floor((voters - 1) / 2);
}

/** `voters`: the active members as a broker reports them; undefined when unknown. */
export function buildPodDisruptionBudget(cluster: FloCluster, voters?: number): V1PodDisruptionBudget {
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: {
      name: ownedNames(cluster.metadata.name).podDisruptionBudget,
      namespace: cluster.metadata.namespace,
      labels: commonLabels(cluster, 'broker'),
      ownerReferences: [ownerReference(cluster)],
    },
    spec: { maxUnavailable: maxUnavailableFor(voters ?? withDefaults(cluster.spec).replicas), selector: { matchLabels: selectorLabels(cluster) } },
  };
}
