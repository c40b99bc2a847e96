// Status from observation: conditions come from a catalogue of reasons, keep their
// lastTransitionTime while their status holds, and are derived only from what was just
// observed (StatefulSet status, pod readiness, the brokers' own views and health) or from
// the failure that stopped this reconcile — never from what the operator merely intended.
// A cluster whose brokers do not form one replicating cluster is never Ready.

import { clientEndpoint, selectorString } from '../builders/names.js';
import {
  withDefaults, type BrokerStatus, type ConditionStatus, type ConditionType, type FloCluster, type FloClusterStatus,
  type FloCondition, type FloPhase, type OperationStatus, type PartitionSummary,
} from '../crd/types.js';

/** Every condition reason the operator writes. */
export const REASONS = {
  BrokersReady: 'BrokersReady',
  BrokersNotReady: 'BrokersNotReady',
  Reconciled: 'Reconciled',
  Scaling: 'Scaling',
  ScalingUp: 'ScalingUp',
  ScalingDown: 'ScalingDown',
  RollingUpdate: 'RollingUpdate',
  AsExpected: 'AsExpected',
  ReconcileFailed: 'ReconcileFailed',
  InvalidSpec: 'InvalidSpec',
  NotReplicating: 'NotReplicating',
  ClusterHealthy: 'ClusterHealthy',
  ClusterUnhealthy: 'ClusterUnhealthy',
  HealthUnknown: 'HealthUnknown',
  BelowReplicationFactor: 'BelowReplicationFactor',
  NotBlocked: 'NotBlocked',
  PodsFailing: 'PodsFailing',
} as const;

export interface Observation {
  desiredReplicas: number;
  /** Replicas the StatefulSet currently runs (status.replicas). */
  replicas: number;
  /** Pods that are Ready and whose broker answers /readyz. */
  readyReplicas: number;
  /** The StatefulSet controller has seen the latest spec and every pod runs the latest template. */
  rolledOut: boolean;
  brokers: BrokerStatus[];
  retentionApplied: boolean;
  founders?: number;
  replicationFactor?: number;
  controllerLeader?: number;
  /** Every broker that answers is a member of the same cluster (false: they keep separate data). */
  replicating?: boolean;
  /** Members in state active, as the witness broker reports them. */
  activeMembers?: number;
  /** Pods whose container waits for a reason that does not pass by itself (ErrImagePull, CrashLoopBackOff, ...): "pod: reason: message". */
  podProblems?: string[];
  /** Pods whose broker did not answer. */
  unanswered?: string[];
  /** The cluster's health as a member reports it; undefined when none answered. */
  healthy?: boolean;
  partitions?: PartitionSummary;
  healthProblems?: string[];
  operation?: OperationStatus;
  /** Why the scale-down cannot go on (the broker's refusal). */
  scaleDownBlocked?: string;
}

export interface Failure {
  step: string;
  message: string;
  invalidSpec?: boolean;
}

export function setCondition(conditions: readonly FloCondition[], next: Omit<FloCondition, 'lastTransitionTime'>, now: string): FloCondition[] {
  const previous = conditions.find((condition) => condition.type === next.type);
  const lastTransitionTime = previous !== undefined && previous.status === next.status ? previous.lastTransitionTime : now;
  return [...conditions.filter((condition) => condition.type !== next.type), { ...next, lastTransitionTime }]
    .sort((a, b) => a.type.localeCompare(b.type));
}

function condition(type: ConditionType, status: ConditionStatus, reason: string, message: string, generation: number | undefined): Omit<FloCondition, 'lastTransitionTime'> {
  return { type, status, reason, message, ...(generation === undefined ? {} : { observedGeneration: generation }) };
}

/** Brokers that do not form one replicating cluster (single-node brokers beyond one, or members of different clusters). */
function notReplicating(observed: Observation): boolean {
  if (observed.founders === 0) return observed.desiredReplicas > 1 || observed.brokers.length > 1;
  return observed.replicating === false;
}

function healthCondition(observed: Observation, generation: number | undefined): Omit<FloCondition, 'lastTransitionTime'> {
  const unanswered = observed.unanswered ?? [];
  if (observed.healthy === undefined) return condition('Healthy', 'Unknown', REASONS.HealthUnknown, 'no member broker reported the cluster\'s health', generation);
  if (observed.healthy && unanswered.length === 0) {
    return condition('Healthy', 'True', REASONS.ClusterHealthy, 'every broker answers; every partition has a leader and all its replicas', generation);
  }
  const problems = [...(unanswered.length > 0 ? [`pod(s) ${unanswered.join(', ')} do not answer`] : []), ...(observed.healthProblems ?? [])];
  return condition('Healthy', 'False', REASONS.ClusterUnhealthy, problems.slice(0, 5).join('; ') || 'not healthy', generation);
}

export function computeStatus(cluster: FloCluster, observed: Observation, failure: Failure | undefined, now: string): FloClusterStatus {
  const generation = cluster.metadata.generation;
  const spec = withDefaults(cluster.spec);
  // A spec the operator refuses is never Ready, whatever runs (e.g. brokers that would split the data).
  const invalid = failure?.invalidSpec === true;
  const split = notReplicating(observed);
  const members = observed.founders === 0 || observed.activeMembers === undefined || observed.activeMembers === observed.desiredReplicas;
  const brokersReady = observed.readyReplicas >= observed.desiredReplicas && observed.rolledOut && observed.replicas === observed.desiredReplicas;
  // Ready agrees with Healthy (a pod that does not answer counts there too) and waits for a
  // scale's last steps (a removed broker's pod still stopping, its member not yet removed).
  const unanswered = observed.unanswered ?? [];
  const failing = observed.podProblems ?? [];
  const scaling = observed.operation?.type === 'ScaleUp' || observed.operation?.type === 'ScaleDown';
  const ready = !invalid && !split && brokersReady && members && observed.healthy === true && unanswered.length === 0 && !scaling;
  const settled = ready && observed.operation === undefined;
  const readyMessage = `${observed.readyReplicas}/${observed.desiredReplicas} brokers ready`;
  const why = invalid ? `the spec is refused: ${failure.message}`
    : split ? 'the brokers do not form one replicating cluster: each would keep separate data behind the one Service'
      : !brokersReady ? readyMessage
        : !members ? `${observed.activeMembers ?? 0} of ${observed.desiredReplicas} brokers are active members`
          : observed.healthy !== true ? `${readyMessage}, but the cluster is not healthy`
            : unanswered.length > 0 ? `${readyMessage}, but pod(s) ${unanswered.join(', ')} do not answer`
              : scaling ? `${readyMessage}, but a scale is still under way: ${observed.operation?.message ?? ''}` : readyMessage;
  const progressingReason = !observed.rolledOut ? REASONS.RollingUpdate
    : observed.operation?.type === 'ScaleUp' ? REASONS.ScalingUp : observed.operation?.type === 'ScaleDown' ? REASONS.ScalingDown : REASONS.Scaling;
  let conditions = cluster.status?.conditions ?? [];
  conditions = setCondition(conditions, ready
    ? condition('Ready', 'True', REASONS.BrokersReady, readyMessage, generation)
    : condition('Ready', 'False', invalid ? REASONS.InvalidSpec : split ? REASONS.NotReplicating : REASONS.BrokersNotReady, why, generation), now);
  conditions = setCondition(conditions, healthCondition(observed, generation), now);
  conditions = setCondition(conditions, condition('Progressing', settled ? 'False' : 'True', settled ? REASONS.Reconciled : progressingReason,
    settled ? 'cluster matches its spec' : observed.operation?.message ?? `${observed.replicas} of ${observed.desiredReplicas} brokers scheduled, ${why}`, generation), now);
  conditions = setCondition(conditions, observed.scaleDownBlocked === undefined
    ? condition('ScaleDownBlocked', 'False', REASONS.NotBlocked, 'no scale-down is blocked', generation)
    : condition('ScaleDownBlocked', 'True', REASONS.BelowReplicationFactor, `the cluster refused to drain a broker, so the scale-down waits and nothing was removed: ${observed.scaleDownBlocked}`, generation), now);
  conditions = setCondition(conditions, failure !== undefined
    ? condition('Degraded', 'True', failure.invalidSpec === true ? REASONS.InvalidSpec : REASONS.ReconcileFailed, `${failure.step}: ${failure.message}`, generation)
    : split ? condition('Degraded', 'True', REASONS.NotReplicating, why, generation)
      : failing.length > 0 ? condition('Degraded', 'True', REASONS.PodsFailing, failing.slice(0, 5).join('; '), generation)
        : condition('Degraded', 'False', REASONS.AsExpected, 'no problems observed', generation), now);
  const phase: FloPhase = failure !== undefined || split || failing.length > 0 ? 'Degraded' : ready ? 'Ready' : observed.readyReplicas === 0 ? 'Pending' : 'Progressing';
  const previousRetention = cluster.status?.retentionGeneration;
  const retentionGeneration = observed.retentionApplied && failure === undefined ? generation : previousRetention;
  return {
    observedGeneration: generation,
    replicas: observed.replicas,
    readyReplicas: observed.readyReplicas,
    selector: selectorString(cluster),
    phase,
    endpoint: clientEndpoint(cluster, spec.service.port),
    ...(retentionGeneration === undefined ? {} : { retentionGeneration }),
    ...(observed.founders === undefined ? {} : { founders: observed.founders }),
    ...(observed.replicationFactor === undefined ? {} : { replicationFactor: observed.replicationFactor }),
    ...(observed.controllerLeader === undefined ? {} : { controllerLeader: observed.controllerLeader }),
    ...(observed.partitions === undefined ? {} : { partitions: observed.partitions }),
    ...(observed.operation === undefined ? {} : { operation: observed.operation }),
    brokers: observed.brokers,
    conditions,
  };
}
