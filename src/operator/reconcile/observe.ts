// What the operator sees of one FloCluster's brokers, read fresh on every reconcile: the
// StatefulSet, the broker pods, each running broker's own view (`/v1/cluster`: its member
// id, never derived from the ordinal), the member table and health as a witness broker
// reports them, and the brokers' claims. Nothing here is remembered between reconciles, so
// an operator restarted in the middle of a scale sees exactly what a running one would.

import type { V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { ownedNames, selectorString } from '../builders/index.js';
import { BROKER_HTTP_PORT, recordedFounders, withDefaults, type BrokerStatus, type FloCluster } from '../crd/types.js';
import { isNotFound, type KubeClients } from '../kube/clients.js';
import type { Observation } from '../status/conditions.js';
import type { BrokerClient, ClusterHealth, ClusterMember, ClusterView } from './broker-client.js';
import { REMOVED_MEMBER_ANNOTATION, type ClaimObservation, type ScaleObservation } from './scaling.js';

export interface ObserveDeps {
  clients: KubeClients;
  brokers: BrokerClient;
  log: Logger;
  /** DNS name of a broker pod. */
  host: (podName: string) => string;
  /** Peer address the broker of an ordinal advertises. */
  peerOf: (ordinal: number) => string;
}

export interface ClusterObservation {
  status: Omit<Observation, 'retentionApplied'>;
  scale: ScaleObservation;
  /** Host of the broker whose member table and health were read (membership requests go there). */
  witness?: string;
  pods: V1Pod[];
  statefulSet?: V1StatefulSet;
}

export function podOrdinal(pod: V1Pod): number {
  return Number(/-(\d+)$/.exec(pod.metadata?.name ?? '')?.[1] ?? -1);
}

function podReady(pod: V1Pod): boolean {
  return pod.metadata?.deletionTimestamp === undefined
    && (pod.status?.conditions ?? []).some((condition) => condition.type === 'Ready' && condition.status === 'True');
}

/** Container waiting reasons that do not go away by themselves: a bad image, a crash loop, a broken config. */
const FAILING_REASONS = new Set(['ErrImagePull', 'ImagePullBackOff', 'InvalidImageName', 'CrashLoopBackOff', 'CreateContainerConfigError', 'CreateContainerError', 'RunContainerError']);

/** "pod: reason: message" for a pod whose container waits for one of FAILING_REASONS. */
function podProblem(pod: V1Pod): string | undefined {
  const waiting = pod.status?.containerStatuses?.[0]?.state?.waiting;
  if (waiting?.reason === undefined || !FAILING_REASONS.has(waiting.reason)) return undefined;
  return `pod ${pod.metadata?.name ?? '?'}: ${waiting.reason}${waiting.message === undefined ? '' : `: ${waiting.message}`}`;
}

function podRunning(pod: V1Pod): boolean {
  return pod.status?.containerStatuses?.[0]?.state?.running !== undefined;
}

interface BrokerAnswer {
  pod: V1Pod;
  ordinal: number;
  ready: boolean;
  view?: ClusterView;
}

async function askBroker(deps: ObserveDeps, pod: V1Pod): Promise<BrokerAnswer> {
  const podName = pod.metadata?.name ?? '';
  const answer: BrokerAnswer = { pod, ordinal: podOrdinal(pod), ready: false };
  if (!podRunning(pod)) return answer;
  const host = deps.host(podName);
  // A draining or joining broker is not ready (its pod leaves the client Service) but still answers.
  const [ready, view] = await Promise.all([
    podReady(pod) ? deps.brokers.ready(host, BROKER_HTTP_PORT) : Promise.resolve(false),
    deps.brokers.cluster(host, BROKER_HTTP_PORT).catch((error: unknown) => {
      deps.log.debug({ err: error, pod: podName }, 'broker view not available');
      return undefined;
    }),
  ]);
  answer.ready = ready;
  if (view !== undefined) answer.view = view;
  return answer;
}

async function listClaims(deps: ObserveDeps, cluster: FloCluster): Promise<ClaimObservation[]> {
  const pattern = new RegExp(`^data-${cluster.metadata.name}-(\\d+)$`);
  const claims = await deps.clients.core.listNamespacedPersistentVolumeClaim({ namespace: cluster.metadata.namespace });
  return claims.items.flatMap((claim) => {
    const match = pattern.exec(claim.metadata?.name ?? '');
    if (match === null) return [];
    const removed = claim.metadata?.annotations?.[REMOVED_MEMBER_ANNOTATION];
    return [{ name: claim.metadata!.name!, ordinal: Number(match[1]), ...(removed === undefined ? {} : { removedMember: Number(removed) }) }];
  });
}

function brokerStatus(answer: BrokerAnswer, members: readonly ClusterMember[] | undefined): BrokerStatus {
  const own = answer.view?.member;
  const status: BrokerStatus = { pod: answer.pod.metadata?.name ?? '', ordinal: answer.ordinal, ready: answer.ready };
  if (own === undefined) return status;
  const entry = members?.find((member) => member.member === own) ?? answer.view?.brokers.find((member) => member.self);
  return {
    ...status, id: own, nodeId: String(own),
    ...(entry?.state === undefined ? {} : { state: entry.state }),
    ...(entry?.partitions === undefined ? {} : { partitions: entry.partitions }),
    ...(entry?.leaders === undefined ? {} : { leaders: entry.leaders }),
  };
}

/** `known`: the StatefulSet as this reconcile already read it (null: there is none), so it is not read twice. */
export async function observeCluster(deps: ObserveDeps, cluster: FloCluster, known?: { statefulSet: V1StatefulSet | null }): Promise<ClusterObservation> {
  const spec = withDefaults(cluster.spec);
  const { namespace } = cluster.metadata;
  const names = ownedNames(cluster.metadata.name);
  const founders = recordedFounders(cluster);
  const status: ClusterObservation['status'] = { desiredReplicas: spec.replicas, replicas: 0, readyReplicas: 0, rolledOut: false, brokers: [], ...(founders === undefined ? {} : { founders }) };
  const scale: ScaleObservation = {
    specReplicas: spec.replicas, statefulSetReplicas: undefined, podOrdinals: [], members: undefined, health: undefined,
    selfIds: new Map(), peerOf: deps.peerOf, claims: [], deleteClaim: spec.storage.deleteClaim,
  };
  let sts: V1StatefulSet;
  if (known !== undefined) {
    if (known.statefulSet === null) return { status, scale, pods: [] };
    sts = known.statefulSet;
  } else {
    try {
      sts = await deps.clients.apps.readNamespacedStatefulSet({ name: names.statefulSet, namespace });
    } catch (error) {
      if (isNotFound(error)) return { status, scale, pods: [] };
      throw error;
    }
  }
  const statefulSetReplicas = sts.spec?.replicas ?? 0;
  scale.statefulSetReplicas = statefulSetReplicas;
  const stsStatus = sts.status;
  status.replicas = stsStatus?.replicas ?? 0;
  status.rolledOut = (stsStatus?.observedGeneration ?? 0) >= (sts.metadata?.generation ?? 0)
    && (stsStatus?.updatedReplicas ?? 0) >= statefulSetReplicas && (stsStatus?.currentRevision ?? '') === (stsStatus?.updateRevision ?? '');
  const pods = (await deps.clients.core.listNamespacedPod({ namespace, labelSelector: selectorString(cluster) })).items
    .filter((pod) => podOrdinal(pod) >= 0).sort((a, b) => podOrdinal(a) - podOrdinal(b));
  scale.podOrdinals = pods.map(podOrdinal);
  scale.claims = await listClaims(deps, cluster);
  const answers = await Promise.all(pods.map((pod) => askBroker(deps, pod)));
  for (const answer of answers) if (answer.view !== undefined) scale.selfIds.set(answer.ordinal, answer.view.member);
  // The witness: the lowest-ordinal broker that is an active member (never the one a scale-down drains).
  const drainTarget = spec.replicas < statefulSetReplicas ? statefulSetReplicas - 1 : -1;
  const witness = answers.find((answer) => answer.view?.mode === 'cluster' && answer.view.brokers.find((member) => member.self)?.state === 'active'
    && answer.ordinal !== drainTarget && answer.ordinal < statefulSetReplicas);
  let health: ClusterHealth | undefined;
  let witnessHost: string | undefined;
  if (witness?.view !== undefined) {
    witnessHost = deps.host(witness.pod.metadata?.name ?? '');
    scale.members = witness.view.brokers;
    health = await deps.brokers.health(witnessHost, BROKER_HTTP_PORT).catch(() => undefined);
    if (health !== undefined) scale.health = health;
    status.replicationFactor = witness.view.replicationFactor;
    if (witness.view.controllerLeader !== undefined && witness.view.controllerLeader !== null) status.controllerLeader = witness.view.controllerLeader;
  }
  status.brokers = answers.map((answer) => brokerStatus(answer, scale.members));
  status.readyReplicas = status.brokers.filter((broker) => broker.ready).length;
  // Replicating: every broker that answers is a member of one cluster, the witness's.
  const clusterId = witness?.view?.clusterId;
  const answered = answers.filter((answer) => answer.view !== undefined);
  // Unknown while no broker answers; false once one answers as a single-node broker or as a member of another cluster.
  if (founders !== 0 && answered.length > 0) {
    status.replicating = answered.every((answer) => answer.view?.mode === 'cluster' && (clusterId === undefined || answer.view.clusterId === clusterId));
  }
  status.activeMembers = (scale.members ?? []).filter((member) => member.state === 'active').length;
  status.unanswered = pods.filter((pod, index) => answers[index]?.view === undefined).map((pod) => pod.metadata?.name ?? '');
  const failing = pods.flatMap((pod) => podProblem(pod) ?? []);
  if (failing.length > 0) status.podProblems = failing;
  if (health !== undefined) {
    status.healthy = health.healthy;
    status.partitions = health.partitions;
    status.healthProblems = health.problems;
  } else if (founders === 0 && answers.length > 0 && answers.every((answer) => answer.view?.mode === 'single-node')) {
    status.healthy = answers.every((answer) => answer.ready);
  }
  return { status, scale, ...(witnessHost === undefined ? {} : { witness: witnessHost }), pods, statefulSet: sts };
}
