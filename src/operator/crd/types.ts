// The FloCluster custom resource as TypeScript sees it, plus the spec defaults.
// crds/flo.dev_floclusters.yaml is the source of truth for the schema; these types
// mirror it, and `withDefaults` re-applies its defaults so builders never depend on
// the API server having defaulted an object (a stale cache or an old CRD may not).

export const FLO_GROUP = 'flo.dev';
export const FLO_VERSION = 'v1alpha1';
export const FLO_API_VERSION = `${FLO_GROUP}/${FLO_VERSION}`;
export const FLO_KIND = 'FloCluster';
export const FLO_PLURAL = 'floclusters';

/** Port every broker container listens on (HTTP API, probes and metrics). */
export const BROKER_HTTP_PORT = 3000;
/** Where the broker volume is mounted in the container. */
export const BROKER_DATA_DIR = '/var/lib/flo';
/** DNS domain of the cluster when the operator is not told otherwise (kubelet's --cluster-domain default). */
export const DEFAULT_CLUSTER_DOMAIN = 'cluster.local';
/** Port of every broker's Raft/peer listener (brokers dial each other's pod DNS name on it). */
export const BROKER_PEER_PORT = 4000;
/**
 * Annotation on a FloCluster recording how many brokers founded it (the replicas at creation),
 * written once: the founders' list (`--peers`) must never change after the cluster formed, so
 * later scaling never changes it. `0` marks a cluster whose StatefulSet was created by an older
 * operator without peers (single-node brokers, which cannot grow).
 */
export const FOUNDERS_ANNOTATION = 'flo.dev/founders';
/** Key of the cluster secret in the Secret the operator creates (or the default key of one the spec names). */
export const CLUSTER_SECRET_KEY = 'secret';

/**
 * The founders' count to keep, given the annotation and the founders the StatefulSet's pods were
 * started with (FLO_PEERS; undefined while there is no StatefulSet). Once the pods run, their
 * --peers is the truth: an annotation edited since (or one never written) is set back to it, since a
 * changed founders' list would restart every broker with peers it never formed with.
 */
export function foundersToKeep(recorded: number | undefined, fromStatefulSet: number | undefined, replicas: number): { founders: number; write: boolean } {
  if (fromStatefulSet !== undefined) return { founders: fromStatefulSet, write: recorded !== fromStatefulSet };
  return recorded !== undefined ? { founders: recorded, write: false } : { founders: replicas, write: true };
}

/** Founders recorded on the FloCluster, or undefined before the first reconcile recorded them. */
export function recordedFounders(cluster: Pick<FloCluster, 'metadata'>): number | undefined {
  const text = cluster.metadata.annotations?.[FOUNDERS_ANNOTATION];
  if (text === undefined || !/^\d{1,3}$/.test(text)) return undefined;
  return Number(text);
}

/** Settings of the operator process that shape every cluster's objects (flags, not spec). */
export interface OperatorSettings {
  /** DNS domain of the Kubernetes cluster, for per-pod broker addresses. */
  clusterDomain: string;
  /** Image of brokers whose spec names none (the chart passes the operator's own image); none published by default. */
  brokerImage?: string;
}

export const DEFAULT_SETTINGS: OperatorSettings = { clusterDomain: DEFAULT_CLUSTER_DOMAIN };
/** Largest replication factor the operator defaults to when the spec leaves it out. */
export const DEFAULT_MAX_REPLICATION_FACTOR = 3;

export interface RetentionRule {
  namespace: string;
  maxAge?: string;
  maxEvents?: number;
  maxBytes?: number | string;
}

export interface FloClusterSpec {
  replicas?: number;
  partitions?: number;
  replicationFactor?: number;
  image?: string;
  imagePullPolicy?: 'Always' | 'IfNotPresent' | 'Never';
  resources?: { requests?: Record<string, string | number>; limits?: Record<string, string | number> };
  storage?: { size?: string; storageClassName?: string; deleteClaim?: boolean };
  retention?: RetentionRule[];
  durability?: 'fsync' | 'os';
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  auth?: { tokensSecret?: { name: string; key?: string } };
  /** Secret holding the cluster secret brokers prove to each other; the operator creates `<name>-cluster-secret` when absent. */
  clusterSecret?: { name: string; key?: string };
  pod?: {
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
    nodeSelector?: Record<string, string>;
    affinity?: Record<string, unknown>;
    tolerations?: Record<string, unknown>[];
    topologySpreadConstraints?: Record<string, unknown>[];
    priorityClassName?: string;
    terminationGracePeriodSeconds?: number;
    serviceAccountName?: string;
    imagePullSecrets?: { name: string }[];
    securityContext?: Record<string, unknown>;
    containerSecurityContext?: Record<string, unknown>;
    env?: ({ name: string } & Record<string, unknown>)[];
  };
  service?: { type?: 'ClusterIP' | 'NodePort' | 'LoadBalancer'; port?: number; annotations?: Record<string, string> };
}

export type ConditionType = 'Ready' | 'Healthy' | 'Progressing' | 'ScaleDownBlocked' | 'Degraded';
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface FloCondition {
  type: ConditionType;
  status: ConditionStatus;
  reason: string;
  message: string;
  observedGeneration?: number;
  lastTransitionTime: string;
}

export type MemberState = 'joining' | 'active' | 'draining' | 'removed';

export interface BrokerStatus {
  pod: string;
  ordinal?: number;
  /** Member id, as the broker itself reports it (never derived from the ordinal). */
  id?: number;
  /** The same id as a string (what `/v1/cluster` calls nodeId). */
  nodeId?: string;
  state?: MemberState;
  /** Partitions it holds a replica of, and leads. */
  partitions?: number;
  leaders?: number;
  ready: boolean;
}

export interface PartitionSummary {
  total: number;
  leaderless: number;
  underReplicated: number;
}

/** The scale operation in progress, if any. */
export interface OperationStatus {
  type: 'ScaleUp' | 'ScaleDown' | 'RollingRestart';
  fromReplicas: number;
  toReplicas: number;
  /** Member being drained or removed (scale-down). */
  member?: number;
  message: string;
}

export type FloPhase = 'Pending' | 'Progressing' | 'Ready' | 'Degraded';

export interface FloClusterStatus {
  observedGeneration?: number;
  replicas?: number;
  readyReplicas?: number;
  selector?: string;
  phase?: FloPhase;
  endpoint?: string;
  retentionGeneration?: number;
  brokers?: BrokerStatus[];
  /** Brokers the cluster was founded with (the founders' list never changes). */
  founders?: number;
  replicationFactor?: number;
  controllerLeader?: number;
  partitions?: PartitionSummary;
  operation?: OperationStatus;
  conditions?: FloCondition[];
}

export interface FloClusterMetadata {
  name: string;
  namespace: string;
  uid: string;
  generation?: number;
  resourceVersion?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
}

export interface FloCluster {
  apiVersion: string;
  kind: string;
  metadata: FloClusterMetadata;
  spec: FloClusterSpec;
  status?: FloClusterStatus;
}

/** A spec with every defaulted field filled in. */
export interface ResolvedSpec {
  replicas: number;
  partitions: number;
  replicationFactor: number;
  /** Empty when neither the spec nor the operator names an image (a spec problem). */
  image: string;
  imagePullPolicy: 'Always' | 'IfNotPresent' | 'Never';
  resources: { requests: Record<string, string>; limits: Record<string, string> };
  storage: { size: string; storageClassName?: string; deleteClaim: boolean };
  retention: RetentionRule[];
  durability: 'fsync' | 'os';
  logLevel: 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal';
  pod: NonNullable<FloClusterSpec['pod']>;
  service: { type: 'ClusterIP' | 'NodePort' | 'LoadBalancer'; port: number; annotations: Record<string, string> };
}

/** Requests a broker gets when the spec names none: enough to start, small enough for kind. */
export const DEFAULT_RESOURCE_REQUESTS: Readonly<Record<string, string>> = { cpu: '250m', memory: '256Mi' };

function quantities(map: Record<string, string | number> | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(map ?? {})) out[key] = String(value);
  return out;
}

/** Applies the CRD defaults (and the derived replication factor, and the operator's image) to a spec. */
export function withDefaults(spec: FloClusterSpec, settings: OperatorSettings = DEFAULT_SETTINGS): ResolvedSpec {
  const replicas = spec.replicas ?? 1;
  const requests = quantities(spec.resources?.requests);
  return {
    replicas,
    partitions: spec.partitions ?? 8,
    replicationFactor: spec.replicationFactor ?? Math.min(DEFAULT_MAX_REPLICATION_FACTOR, replicas),
    image: spec.image ?? settings.brokerImage ?? '',
    imagePullPolicy: spec.imagePullPolicy ?? 'IfNotPresent',
    resources: {
      requests: Object.keys(requests).length > 0 ? requests : { ...DEFAULT_RESOURCE_REQUESTS },
      limits: quantities(spec.resources?.limits),
    },
    storage: {
      size: spec.storage?.size ?? '10Gi',
      ...(spec.storage?.storageClassName === undefined ? {} : { storageClassName: spec.storage.storageClassName }),
      deleteClaim: spec.storage?.deleteClaim ?? false,
    },
    retention: spec.retention ?? [],
    durability: spec.durability ?? 'fsync',
    logLevel: spec.logLevel ?? 'info',
    pod: spec.pod ?? {},
    service: {
      type: spec.service?.type ?? 'ClusterIP',
      port: spec.service?.port ?? BROKER_HTTP_PORT,
      annotations: spec.service?.annotations ?? {},
    },
  };
}

/** Problems the schema cannot express or that an old CRD might let through; empty when valid. */
export function specProblems(spec: ResolvedSpec, founders?: number, explicitReplicationFactor?: number): string[] {
  const problems: string[] = [];
  if (spec.replicationFactor > spec.replicas) {
    problems.push(`replicationFactor ${spec.replicationFactor} exceeds replicas ${spec.replicas}`);
  }
  if (!Number.isInteger(spec.replicas) || spec.replicas < 1) problems.push('replicas must be a positive integer');
  if (founders === 0 && spec.replicas > 1) {
    problems.push(`replicas ${spec.replicas} refused: this cluster's brokers were created by an older operator as single-node brokers without peers, which cannot replicate; only replicas: 1 is possible (replay its events into a new FloCluster to grow)`);
  }
  if (founders !== undefined && founders > 0 && explicitReplicationFactor !== undefined && explicitReplicationFactor !== founders) {
    problems.push(`replicationFactor ${explicitReplicationFactor} refused: this version replicates every partition to every broker, and the replication factor is the number of brokers the cluster was founded with (${founders}); leave it out or set ${founders}`);
  }
  if (spec.image === '') {
    problems.push('no broker image: set spec.image, or run the operator with --broker-image (no public Flo image is published; build one, see docs/kubernetes.md)');
  }
  return problems;
}
