// Every desired object of a FloCluster, from pure functions of the resource alone:
// the same FloCluster (and operator settings) always yields the same objects, so reconcile
// can compare and repair.

import type { V1ConfigMap, V1PodDisruptionBudget, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import { DEFAULT_SETTINGS, type FloCluster, type OperatorSettings } from '../crd/types.js';
import { buildConfigMap } from './config-map.js';
import { buildPodDisruptionBudget } from './pdb.js';
import { buildClientService, buildPeerService } from './services.js';
import { buildStatefulSet } from './stateful-set.js';

export interface DesiredObjects {
  configMap: V1ConfigMap;
  peerService: V1Service;
  clientService: V1Service;
  statefulSet: V1StatefulSet;
  podDisruptionBudget: V1PodDisruptionBudget;
}

/**
 * `statefulSetReplicas`: what the StatefulSet runs now (the spec's replicas unless a scale-down is under way);
 * `voters`: the active members a broker reports (the PodDisruptionBudget's basis), undefined when unknown.
 */
export function buildDesired(cluster: FloCluster, settings: OperatorSettings = DEFAULT_SETTINGS, statefulSetReplicas?: number, partition?: number, voters?: number): DesiredObjects {
  return {
    configMap: buildConfigMap(cluster),
    peerService: buildPeerService(cluster),
    clientService: buildClientService(cluster),
    statefulSet: buildStatefulSet(cluster, settings, statefulSetReplicas, partition),
    podDisruptionBudget: buildPodDisruptionBudget(cluster, voters),
  };
}

export { buildConfigMap, retentionJson, RETENTION_KEY } from './config-map.js';
export { buildPodDisruptionBudget, maxUnavailableFor } from './pdb.js';
export { buildClientService, buildPeerService } from './services.js';
export { buildStatefulSet, clusterSecretRef, foundersOf } from './stateful-set.js';
export { buildClusterSecret } from './cluster-secret.js';
export * from './names.js';
