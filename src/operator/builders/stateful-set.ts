// Desired StatefulSet of brokers. Invariants that matter in production:
// - no peer list in the template: brokers find peers through the headless Service DNS,
//   so scaling changes only `replicas` and never rolls the whole cluster;
// - no node identity in the template: the broker creates its id in its data dir on first
//   start and keeps it there; an ordinal is only a DNS name and is never an identity;
// - retention comes from the ConfigMap by reference, so a retention change does not restart pods;
// - non-root, read-only root filesystem, every capability dropped — by default; the spec
//   may replace either security context, because some platforms (OpenShift) choose the UID;
// - a volume is never deleted on a scale-down: its broker may still hold events that no
//   other broker has (partitions are not replicated yet).

import type { V1Container, V1EnvVar, V1PodSpec, V1StatefulSet } from '@kubernetes/client-node';
import {
  BROKER_DATA_DIR, BROKER_HTTP_PORT, DEFAULT_SETTINGS, withDefaults, type FloCluster, type OperatorSettings, type ResolvedSpec,
} from '../crd/types.js';
import { RETENTION_KEY } from './config-map.js';
import { commonLabels, ownedNames, ownerReference, peerServiceHost, selectorLabels } from './names.js';

/** User and group the broker runs as by default (matches the Dockerfile's USER). */
export const BROKER_UID = 10001;
/**
 * Startup allowance: opening storage and rebuilding indexes of a large volume can take
 * minutes, longer than liveness would wait; liveness only starts once this probe passed.
 */
export const STARTUP_PERIOD_SECONDS = 5;
export const STARTUP_FAILURE_THRESHOLD = 120;
/** Seconds a broker gets to finish in-flight writes after SIGTERM, unless the spec says otherwise. */
export const DEFAULT_TERMINATION_GRACE_SECONDS = 30;
export const BROKER_CONTAINER = 'broker';
export const DATA_VOLUME = 'data';

/** Environment variables the operator sets; the CRD refuses extra env of the same names. */
function brokerEnv(cluster: FloCluster, spec: ResolvedSpec, settings: OperatorSettings): V1EnvVar[] {
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
    { name: 'FLO_PEERS_SERVICE', value: peerServiceHost(cluster, settings.clusterDomain) },
    ...authEnv(cluster),
  ];
}

/** The brokers' tokens, from the Secret the spec names (read by the kubelet; the operator never reads Secrets). */
function authEnv(cluster: FloCluster): V1EnvVar[] {
  const secret = cluster.spec.auth?.tokensSecret;
  if (secret === undefined) return [];
  return [{ name: 'FLO_AUTH_TOKENS', valueFrom: { secretKeyRef: { name: secret.name, key: secret.key ?? 'tokens' } } }];
}

const DEFAULT_CONTAINER_SECURITY = {
  runAsNonRoot: true,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
};

const DEFAULT_POD_SECURITY = {
  runAsNonRoot: true, runAsUser: BROKER_UID, runAsGroup: BROKER_UID, fsGroup: BROKER_UID,
  seccompProfile: { type: 'RuntimeDefault' },
};

function brokerContainer(cluster: FloCluster, spec: ResolvedSpec, settings: OperatorSettings): V1Container {
  return {
    name: BROKER_CONTAINER,
    image: spec.image,
    imagePullPolicy: spec.imagePullPolicy,
    args: ['server'],
    env: [...brokerEnv(cluster, spec, settings), ...(spec.pod.env ?? []) as V1EnvVar[]],
    ports: [{ name: 'http', containerPort: BROKER_HTTP_PORT, protocol: 'TCP' }],
    readinessProbe: { httpGet: { path: '/readyz', port: 'http' }, periodSeconds: 5, failureThreshold: 2, timeoutSeconds: 2 },
    startupProbe: {
      httpGet: { path: '/healthz', port: 'http' },
      periodSeconds: STARTUP_PERIOD_SECONDS, failureThreshold: STARTUP_FAILURE_THRESHOLD, timeoutSeconds: 3,
    },
    livenessProbe: { httpGet: { path: '/healthz', port: 'http' }, periodSeconds: 10, failureThreshold: 3, timeoutSeconds: 3 },
    resources: {
      requests: spec.resources.requests,
      ...(Object.keys(spec.resources.limits).length > 0 ? { limits: spec.resources.limits } : {}),
    },
    // No runAsUser here: the image's USER (or the platform's choice) applies.
    securityContext: spec.pod.containerSecurityContext ?? DEFAULT_CONTAINER_SECURITY,
    volumeMounts: [{ name: DATA_VOLUME, mountPath: BROKER_DATA_DIR }, { name: 'tmp', mountPath: '/tmp' }],
  };
}

function podSpec(cluster: FloCluster, spec: ResolvedSpec, settings: OperatorSettings): V1PodSpec {
  const pod = spec.pod;
  return {
    securityContext: pod.securityContext ?? DEFAULT_POD_SECURITY,
    terminationGracePeriodSeconds: pod.terminationGracePeriodSeconds ?? DEFAULT_TERMINATION_GRACE_SECONDS,
    enableServiceLinks: false,
    containers: [brokerContainer(cluster, spec, settings)],
    volumes: [{ name: 'tmp', emptyDir: {} }],
    ...(pod.nodeSelector === undefined ? {} : { nodeSelector: pod.nodeSelector }),
    ...(pod.affinity === undefined ? {} : { affinity: pod.affinity }),
    ...(pod.tolerations === undefined ? {} : { tolerations: pod.tolerations }),
    ...(pod.topologySpreadConstraints === undefined ? {} : { topologySpreadConstraints: pod.topologySpreadConstraints }),
    ...(pod.priorityClassName === undefined ? {} : { priorityClassName: pod.priorityClassName }),
    ...(pod.serviceAccountName === undefined ? {} : { serviceAccountName: pod.serviceAccountName }),
    ...(pod.imagePullSecrets === undefined ? {} : { imagePullSecrets: pod.imagePullSecrets }),
  } as V1PodSpec;
}

export function buildStatefulSet(cluster: FloCluster, settings: OperatorSettings = DEFAULT_SETTINGS): V1StatefulSet {
  const spec = withDefaults(cluster.spec, settings);
  const names = ownedNames(cluster.metadata.name);
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
      persistentVolumeClaimRetentionPolicy: { whenDeleted: spec.storage.deleteClaim ? 'Delete' : 'Retain', whenScaled: 'Retain' },
      template: {
        metadata: {
          labels: { ...spec.pod.labels, ...commonLabels(cluster, 'broker') },
          ...(spec.pod.annotations === undefined ? {} : { annotations: spec.pod.annotations }),
        },
        spec: podSpec(cluster, spec, settings),
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
