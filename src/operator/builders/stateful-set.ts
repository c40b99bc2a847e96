// Desired StatefulSet of brokers. Invariants that matter in production:
// - one command line for every pod, fixed for the cluster's life: the founders' peer list
//   (`FLO_PEERS`, the pods that existed at creation, recorded on the FloCluster) never changes,
//   so scaling changes only `replicas` and never rolls the whole cluster; a pod beyond the
//   founders joins (`FLO_JOIN`) and is given a new member id by the cluster;
// - the ordinal gives a founder its first id only (`--ordinal-node-id`); the id then lives in
//   the data dir, and the operator always asks a broker for its id, never derives it;
// - retention comes from the ConfigMap by reference, so a retention change does not restart pods;
// - non-root, read-only root filesystem, every capability dropped — by default; the spec
//   may replace either security context, because some platforms (OpenShift) choose the UID;
// - the StatefulSet never deletes a volume on a scale-down (`whenScaled: Retain`): the operator
//   scales down one drained broker at a time and deletes its claim itself, last.

import type { V1Container, V1EnvVar, V1PodSpec, V1StatefulSet } from '@kubernetes/client-node';
import {
  BROKER_DATA_DIR, BROKER_HTTP_PORT, BROKER_PEER_PORT, CLUSTER_SECRET_KEY, DEFAULT_SETTINGS, recordedFounders, withDefaults, type FloCluster, type OperatorSettings, type ResolvedSpec,
} from '../crd/types.js';
import { RETENTION_KEY } from './config-map.js';
import { brokerHost, commonLabels, ownedNames, ownerReference, peerServiceHost, selectorLabels } from './names.js';

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

/** Founders of the cluster: as recorded on the FloCluster, else (before the first reconcile) its replicas now. */
export function foundersOf(cluster: FloCluster): number {
  return recordedFounders(cluster) ?? withDefaults(cluster.spec).replicas;
}

/** The Secret holding the cluster secret: the one the spec names, else the one the operator creates. */
export function clusterSecretRef(cluster: FloCluster): { name: string; key: string } {
  const named = cluster.spec.clusterSecret;
  return named === undefined ? { name: ownedNames(cluster.metadata.name).clusterSecret, key: CLUSTER_SECRET_KEY } : { name: named.name, key: named.key ?? CLUSTER_SECRET_KEY };
}

/** The cluster flags, the same for every pod (Kubernetes expands `$(FLO_POD_NAME)` per pod). */
function clusterEnv(cluster: FloCluster, settings: OperatorSettings): V1EnvVar[] {
  const founders = foundersOf(cluster);
  // 0: a StatefulSet of single-node brokers made by an older operator; their data dirs refuse --peers.
  if (founders === 0) return [];
  const peerHost = peerServiceHost(cluster, settings.clusterDomain);
  const founderAddresses = Array.from({ length: founders }, (_, ordinal) => `${brokerHost(cluster, `${cluster.metadata.name}-${ordinal}`, settings.clusterDomain)}:${BROKER_PEER_PORT}`);
  const secret = clusterSecretRef(cluster);
  return [
    { name: 'FLO_PEER_PORT', value: String(BROKER_PEER_PORT) },
    { name: 'FLO_PEERS', value: founderAddresses.join(',') },
    // Pod 0 founded the cluster; any member would do, and a broker named in FLO_PEERS founds instead.
    { name: 'FLO_JOIN', value: founderAddresses[0]! },
    { name: 'FLO_ORDINAL_NODE_ID', value: 'true' },
    // A pod whose store fails verification, or a founder whose volume was lost, joins again as a new member.
    { name: 'FLO_REBUILD_WHEN_DAMAGED', value: 'true' },
    { name: 'FLO_ADVERTISE_PEER', value: `$(FLO_POD_NAME).${peerHost}:${BROKER_PEER_PORT}` },
    { name: 'FLO_ADVERTISE_URL', value: `http://$(FLO_POD_NAME).${peerHost}:${BROKER_HTTP_PORT}` },
    { name: 'FLO_CLUSTER_ID', value: `${cluster.metadata.name}.${cluster.metadata.namespace}` },
    { name: 'FLO_CLUSTER_SECRET', valueFrom: { secretKeyRef: { name: secret.name, key: secret.key } } },
  ];
}

/** Environment variables the operator sets; the CRD refuses extra env of the same names. */
function brokerEnv(cluster: FloCluster, spec: ResolvedSpec, settings: OperatorSettings): V1EnvVar[] {
  const names = ownedNames(cluster.metadata.name);
  return [
    // First: later values refer to it as $(FLO_POD_NAME), which Kubernetes expands only from earlier entries.
    { name: 'FLO_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'FLO_HOST', value: '0.0.0.0' },
    { name: 'FLO_PORT', value: String(BROKER_HTTP_PORT) },
    { name: 'FLO_DATA_DIR', value: BROKER_DATA_DIR },
    { name: 'FLO_PARTITIONS', value: String(spec.partitions) },
    { name: 'FLO_DURABILITY', value: spec.durability },
    { name: 'FLO_LOG_LEVEL', value: spec.logLevel },
    { name: 'FLO_RETENTION', valueFrom: { configMapKeyRef: { name: names.configMap, key: RETENTION_KEY } } },
    { name: 'FLO_POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
    { name: 'FLO_PEERS_SERVICE', value: peerServiceHost(cluster, settings.clusterDomain) },
    ...clusterEnv(cluster, settings),
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
    ports: [{ name: 'http', containerPort: BROKER_HTTP_PORT, protocol: 'TCP' }, { name: 'peer', containerPort: BROKER_PEER_PORT, protocol: 'TCP' }],
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

/**
 * `replicas`: what the StatefulSet should run now; the spec's replicas unless a scale-down is
 * under way (the operator shrinks it one drained broker at a time). `partition`: pods below it
 * keep their revision (a rolling restart releases one broker at a time).
 */
export function buildStatefulSet(cluster: FloCluster, settings: OperatorSettings = DEFAULT_SETTINGS, replicas?: number, partition = 0): V1StatefulSet {
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
      replicas: replicas ?? spec.replicas,
      serviceName: names.peerService,
      // Parallel: brokers of a replicated cluster must start together to form a quorum.
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selectorLabels(cluster) },
      // The operator owns the order of restarts: it lowers the partition one healthy broker at a time (rolling.ts).
      updateStrategy: { type: 'RollingUpdate', rollingUpdate: { partition } },
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
