// Names and labels of everything the operator owns for one FloCluster.
// Selectors use only labels that never change for the life of a cluster (name,
// instance, component), because a StatefulSet or Service selector is immutable
// in practice; version-like labels go on metadata only.

import type { V1OwnerReference } from '@kubernetes/client-node';
import { FLO_API_VERSION, FLO_KIND, type FloCluster } from '../crd/types.js';

export const MANAGED_BY = 'flo-operator';
export const LABEL_NAME = 'app.kubernetes.io/name';
export const LABEL_INSTANCE = 'app.kubernetes.io/instance';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const LABEL_PART_OF = 'app.kubernetes.io/part-of';

export interface OwnedNames {
  statefulSet: string;
  peerService: string;
  clientService: string;
  configMap: string;
  podDisruptionBudget: string;
  clusterSecret: string;
}

export function ownedNames(clusterName: string): OwnedNames {
  return {
    statefulSet: clusterName,
    peerService: `${clusterName}-peers`,
    clientService: clusterName,
    configMap: `${clusterName}-config`,
    podDisruptionBudget: clusterName,
    clusterSecret: `${clusterName}-cluster-secret`,
  };
}

/** Labels that select a cluster's broker pods (stable for the cluster's life). */
export function selectorLabels(cluster: FloCluster): Record<string, string> {
  return { [LABEL_NAME]: 'flo', [LABEL_INSTANCE]: cluster.metadata.name, [LABEL_COMPONENT]: 'broker' };
}

/** The selector as the string form kept in status.selector (used by the scale subresource). */
export function selectorString(cluster: FloCluster): string {
  return Object.entries(selectorLabels(cluster)).map(([key, value]) => `${key}=${value}`).join(',');
}

/** Labels on every owned object. */
export function commonLabels(cluster: FloCluster, component: string): Record<string, string> {
  return {
    [LABEL_NAME]: 'flo',
    [LABEL_INSTANCE]: cluster.metadata.name,
    [LABEL_COMPONENT]: component,
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_PART_OF]: 'flo',
  };
}

export function ownerReference(cluster: FloCluster): V1OwnerReference {
  return {
    apiVersion: FLO_API_VERSION,
    kind: FLO_KIND,
    name: cluster.metadata.name,
    uid: cluster.metadata.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

/** DNS name of the headless peer Service in a cluster whose DNS domain is `clusterDomain`. */
export function peerServiceHost(cluster: FloCluster, clusterDomain: string): string {
  return `${ownedNames(cluster.metadata.name).peerService}.${cluster.metadata.namespace}.svc.${clusterDomain}`;
}

/** DNS name of one broker pod through the headless peer Service. */
export function brokerHost(cluster: FloCluster, podName: string, clusterDomain: string): string {
  return `${podName}.${peerServiceHost(cluster, clusterDomain)}`;
}

/** The address clients use: the client Service's DNS name. */
export function clientEndpoint(cluster: FloCluster, port: number): string {
  return `http://${ownedNames(cluster.metadata.name).clientService}.${cluster.metadata.namespace}.svc:${port}`;
}
