// Desired StatefulSet of brokers. Invariants that matter in production:
// - no peer list in the template: brokers find peers through the headless Service DNS,
//   so scaling changes only `replicas` and never rolls the whole cluster;
// - no node identity in the template: the broker creates its id in its data dir on first
//   start and keeps it there; an ordinal is only a DNS name and is never an identity;
// - retention comes from the ConfigMap by reference, so a retention change does not restart pods;
// - non-root, read-only root filesystem, every capability dropped.

import type { V1Container, V1EnvVar, V1PodSpec, V1StatefulSet } from '@kubernetes/client-node';
import { BROKER_DATA_DIR, BROKER_HTTP_PORT, withDefaults, type FloCluster, type ResolvedSpec } from '../crd/types.js';
import { RETENTION_KEY } from './config-map.js';
import { commonLabels, ownedNames, ownerReference, selectorLabels } from './names.js';

/** User and group the broker runs as (matches the Dockerfile). */
export const BROKER_UID = 10001;
/** Seconds a broker gets to finish in-flight writes after SIGTERM, unless the spec says otherwise. */
export const DEFAULT_TERMINATION_GRACE_SECONDS = 30;
export const BROKER_CONTAINER = 'broker';
export const DATA_VOLUME = 'data';

function brokerEnv(cluster: FloCluster, spec: ResolvedSpec): V1EnvVar[] {
  const names = ownedNames(cluster.metadata.name);
  return [
    { name: 'FLO_HOST', value: '0.0.0.0' },
    { name: 'FLO_PORT', value: String(BROKER_HTTP_PORT) },
    { name: 'FLO_DATA_DIR', value: BROKER_DATA_DIR },
    { name: 'FLO_PARTITIONS', value: String(spec.partitions) },
    { name: 'FLO_DURABILITY', value: spec.durability },
    { name: 'FLO_LOG_LEVEL', value: spec.logLevel },
    { name: 'FLO_RETENTION', valueFrom: { configMapKeyRef: { name: names.configMap, key: RETENTION_KEY } } },
    { name: 'FLO_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'FLO_POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'FLO_PEERS_SERVICE', value: `${names.peerService}.${cluster.metadata.namespace}.svc.cluster.local` },
  ];
}

function brokerContainer(cluster: FloCluster, spec: ResolvedSpec): V1Container {
  return {
    name: BROKER_CONTAINER,
    image: spec.image,
    imagePullPolicy: spec.imagePullPolicy,
    args: ['server'],
    env: brokerEnv(cluster, spec),
    ports: [{ name: 'http', containerPort: BROKER_HTTP_PORT, protocol: 'TCP' }],
    readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, failureThreshold: 2, timeoutSeconds: 2 },
    livenessProbe: {
      httpGet: { path: '/healthz', port: 'http' },
      initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 3,
    },
    resources: {
      requests: spec.resources.requests,
      ...(Object.keys(spec.resources.limits).length > 0 ? { limits: spec.resources.limits } : {}),
    },
    securityContext: {
      runAsNonRoot: true,
      runAsUser: BROKER_UID,
      runAsGroup: BROKER_UID,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
    volumeMounts: [{ name: DATA_VOLUME, mountPath: BROKER_DATA_DIR }, { name: 'tmp', mountPath: '/tmp' }],
  };
}

function podSpec(cluster: FloCluster, spec: ResolvedSpec): V1PodSpec {
  const pod = spec.pod;
  return {
    securityContext: {
      runAsNonRoot: true, runAsUser: BROKER_UID, runAsGroup: BROKER_UID, fsGroup: BROKER_UID,
      seccompProfile: { type: 'RuntimeDefault' },
    },
    terminationGracePeriodSeconds: pod.terminationGracePeriodSeconds ?? DEFAULT_TERMINATION_GRACE_SECONDS,
    enableServiceLinks: false,
    containers: [brokerContainer(cluster, spec)],
    volumes: [{ name: 'tmp', emptyDir: {} }],
    ...(pod.nodeSelector === undefined ? {} : { nodeSelector: pod.nodeSelector }),
    ...(pod.affinity === undefined ? {} : { affinity: pod.affinity }),
    ...(pod.tolerations === undefined ? {} : { tolerations: pod.tolerations }),
    ...(pod.topologySpreadConstraints === undefined ? {} : { topologySpreadConstraints: pod.topologySpreadConstraints }),
    ...(pod.priorityClassName === undefined ? {} : { priorityClassName: pod.priorityClassName }),
  } as V1PodSpec;
}

export function buildStatefulSet(cluster: FloCluster): V1StatefulSet {
  const spec = withDefaults(cluster.spec);
  const names = ownedNames(cluster.metadata.name);
  const whenRemoved = spec.storage.deleteClaim ? 'Delete' : 'Retain';
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: {
      name: names.statefulSet,
      namespace: cluster.metadata.namespace,
      labels: commonLabels(cluster, 'broker'),
      ownerReferences: [ownerReference(cluster)],
    },
    spec: {
      replicas: spec.replicas,
      serviceName: names.peerService,
      // Parallel: brokers of a replicated cluster must start together to form a quorum.
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selectorLabels(cluster) },
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition: 0 } },
      persistentVolumeClaimRetentionPolicy: { whenDeleted: whenRemoved, whenScaled: whenRemoved },
      template: {
        metadata: {
          labels: { ...spec.pod.labels, ...commonLabels(cluster, 'broker') },
          ...(spec.pod.annotations === undefined ? {} : { annotations: spec.pod.annotations }),
        },
        spec: podSpec(cluster, spec),
      },
      volumeClaimTemplates: [{
        metadata: { name: DATA_VOLUME, labels: selectorLabels(cluster) },
        spec: {
          accessModes: ['ReadWriteOnce'],
          resources: { requests: { storage: spec.storage.size } },
          ...(spec.storage.storageClassName === undefined ? {} : { storageClassName: spec.storage.storageClassName }),
        },
      }],
    },
  };
}
