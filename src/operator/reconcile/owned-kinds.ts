// How each owned kind is read, created and replaced, and which live fields survive an
// update: Service cluster IPs and node ports are assigned by the server; a StatefulSet's
// selector, serviceName, podManagementPolicy and volumeClaimTemplates cannot change.

import type { V1ConfigMap, V1PodDisruptionBudget, V1Service, V1StatefulSet } from '@kubernetes/client-node';
import type { KubeClients } from '../kube/clients.js';
import { isSubset, mergeMetadata, type ObjectAccess } from './ensure.js';

export function configMapAccess(clients: KubeClients): ObjectAccess<V1ConfigMap & Record<string, unknown>> {
  return {
    kind: 'ConfigMap',
    read: (name, namespace) => clients.core.readNamespacedConfigMap({ name, namespace }) as Promise<V1ConfigMap & Record<string, unknown>>,
    create: (namespace, body) => clients.core.createNamespacedConfigMap({ namespace, body }) as Promise<V1ConfigMap & Record<string, unknown>>,
    replace: (name, namespace, body) => clients.core.replaceNamespacedConfigMap({ name, namespace, body }) as Promise<V1ConfigMap & Record<string, unknown>>,
    merge: (live, desired) => ({ ...live, metadata: mergeMetadata(live, desired), data: desired.data ?? {} }),
  };
}

export function serviceAccess(clients: KubeClients): ObjectAccess<V1Service & Record<string, unknown>> {
  return {
    kind: 'Service',
    read: (name, namespace) => clients.core.readNamespacedService({ name, namespace }) as Promise<V1Service & Record<string, unknown>>,
    create: (namespace, body) => clients.core.createNamespacedService({ namespace, body }) as Promise<V1Service & Record<string, unknown>>,
    replace: (name, namespace, body) => clients.core.replaceNamespacedService({ name, namespace, body }) as Promise<V1Service & Record<string, unknown>>,
    merge: (live, desired) => {
      const livePorts = live.spec?.ports ?? [];
      const ports = (desired.spec?.ports ?? []).map((port) => {
        const nodePort = livePorts.find((candidate) => candidate.name === port.name)?.nodePort;
        return nodePort === undefined || desired.spec?.type === 'ClusterIP' ? port : { ...port, nodePort };
      });
      return {
        ...live,
        metadata: mergeMetadata(live, desired),
        spec: {
          ...desired.spec, ports,
          ...(live.spec?.clusterIP === undefined ? {} : { clusterIP: live.spec.clusterIP }),
          ...(live.spec?.clusterIPs === undefined ? {} : { clusterIPs: live.spec.clusterIPs }),
        },
      };
    },
  };
}

/** StatefulSet spec fields the API server refuses to change after creation. */
export const STATEFULSET_IMMUTABLE = ['selector', 'serviceName', 'podManagementPolicy', 'volumeClaimTemplates'] as const;

export function statefulSetAccess(clients: KubeClients): ObjectAccess<V1StatefulSet & Record<string, unknown>> {
  return {
    kind: 'StatefulSet',
    read: (name, namespace) => clients.apps.readNamespacedStatefulSet({ name, namespace }) as Promise<V1StatefulSet & Record<string, unknown>>,
    create: (namespace, body) => clients.apps.createNamespacedStatefulSet({ namespace, body }) as Promise<V1StatefulSet & Record<string, unknown>>,
    replace: (name, namespace, body) => clients.apps.replaceNamespacedStatefulSet({ name, namespace, body }) as Promise<V1StatefulSet & Record<string, unknown>>,
    merge: (live, desired) => {
      const spec = { ...desired.spec! };
      for (const field of STATEFULSET_IMMUTABLE) (spec as Record<string, unknown>)[field] = live.spec?.[field];
      return { ...live, metadata: mergeMetadata(live, desired), spec };
    },
    adjust: (live, desired) => {
      const notes: string[] = [];
      const spec = { ...desired.spec! } as Record<string, unknown>;
      for (const field of STATEFULSET_IMMUTABLE) {
        const liveValue = live.spec?.[field];
        if (!isSubset(spec[field], liveValue)) notes.push(`StatefulSet field spec.${field} cannot change after creation; the change is not applied`);
        spec[field] = liveValue;
      }
      return { object: { ...desired, spec: spec as unknown as V1StatefulSet['spec'] }, notes };
    },
  };
}

export function podDisruptionBudgetAccess(clients: KubeClients): ObjectAccess<V1PodDisruptionBudget & Record<string, unknown>> {
  return {
    kind: 'PodDisruptionBudget',
    read: (name, namespace) => clients.policy.readNamespacedPodDisruptionBudget({ name, namespace }) as Promise<V1PodDisruptionBudget & Record<string, unknown>>,
    create: (namespace, body) => clients.policy.createNamespacedPodDisruptionBudget({ namespace, body }) as Promise<V1PodDisruptionBudget & Record<string, unknown>>,
    replace: (name, namespace, body) => clients.policy.replaceNamespacedPodDisruptionBudget({ name, namespace, body }) as Promise<V1PodDisruptionBudget & Record<string, unknown>>,
    merge: (live, desired) => ({ ...live, metadata: mergeMetadata(live, desired), spec: desired.spec! }),
  };
}
