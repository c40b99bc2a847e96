// The cluster secret brokers prove to each other on the peer port, when the spec names no
// Secret of its own. Created once with a random value and never read or rewritten by the
// operator (its RBAC has only `create` on Secrets): the kubelet hands it to the brokers.
// No ownerReference: setting one needs `delete` on Secrets where the
// OwnerReferencesPermissionEnforcement admission plugin runs, which a create-only operator
// lacks; so the Secret outlives its FloCluster (like claims kept by deleteClaim: false, which
// a FloCluster of the same name then finds again) and is deleted by hand.

import { randomBytes } from 'node:crypto';
import type { V1Secret } from '@kubernetes/client-node';
import { CLUSTER_SECRET_KEY, type FloCluster } from '../crd/types.js';
import { commonLabels, ownedNames } from './names.js';

/** Random bytes of a generated cluster secret (the broker needs at least 16 characters). */
export const CLUSTER_SECRET_BYTES = 32;

export function buildClusterSecret(cluster: FloCluster, value: string = randomBytes(CLUSTER_SECRET_BYTES).toString('base64url')): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      name: ownedNames(cluster.metadata.name).clusterSecret,
      namespace: cluster.metadata.namespace,
      labels: commonLabels(cluster, 'cluster-secret'),
    },
    data: { [CLUSTER_SECRET_KEY]: Buffer.from(value, 'utf8').toString('base64') },
  };
}
