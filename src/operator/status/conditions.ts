// Status from observation: conditions come from a catalogue of reasons, keep their
// lastTransitionTime while their status holds, and are derived only from what was just
// observed (StatefulSet status, pod readiness, broker /readyz) or from the failure that
// stopped this reconcile — never from what the operator merely intended.

import { clientEndpoint, selectorString } from '../builders/names.js';
import {
  withDefaults, type BrokerStatus, type ConditionStatus, type ConditionType, type FloCluster, type FloClusterStatus,
  type FloCondition, type FloPhase,
} from '../crd/types.js';

/** Every condition reason the operator writes. */
export const REASONS = {
  BrokersReady: 'BrokersReady',
  BrokersNotReady: 'BrokersNotReady',
  Reconciled: 'Reconciled',
  Scaling: 'Scaling',
  RollingUpdate: 'RollingUpdate',
  AsExpected: 'AsExpected',
  ReconcileFailed: 'ReconcileFailed',
  InvalidSpec: 'InvalidSpec',
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

export function computeStatus(cluster: FloCluster, observed: Observation, failure: Failure | undefined, now: string): FloClusterStatus {
  const generation = cluster.metadata.generation;
  const spec = withDefaults(cluster.spec);
  // A spec the operator refuses is never Ready, whatever runs (e.g. brokers that would split the data).
  const invalid = failure?.invalidSpec === true;
  const ready = !invalid && observed.readyReplicas >= observed.desiredReplicas && observed.rolledOut;
  const settled = ready && observed.replicas === observed.desiredReplicas;
  const readyMessage = `${observed.readyReplicas}/${observed.desiredReplicas} brokers ready`;
  // Scaling lasts until the brokers are ready, not merely scheduled.
  const scaling = observed.replicas !== observed.desiredReplicas || observed.readyReplicas !== observed.desiredReplicas;
  const progressingReason = !observed.rolledOut ? REASONS.RollingUpdate : scaling ? REASONS.Scaling : REASONS.Reconciled;
  let conditions = cluster.status?.conditions ?? [];
  conditions = setCondition(conditions, ready
    ? condition('Ready', 'True', REASONS.BrokersReady, readyMessage, generation)
    : condition('Ready', 'False', invalid ? REASONS.InvalidSpec : REASONS.BrokersNotReady, invalid ? `the spec is refused: ${failure.message}` : readyMessage, generation), now);
  conditions = setCondition(conditions, condition('Progressing', settled ? 'False' : 'True', settled ? REASONS.Reconciled : progressingReason,
    settled ? 'cluster matches its spec' : `${observed.replicas} of ${observed.desiredReplicas} brokers scheduled, ${readyMessage}`, generation), now);
  conditions = setCondition(conditions, failure === undefined
    ? condition('Degraded', 'False', REASONS.AsExpected, 'no problems observed', generation)
    : condition('Degraded', 'True', failure.invalidSpec === true ? REASONS.InvalidSpec : REASONS.ReconcileFailed,
      `${failure.step}: ${failure.message}`, generation), now);
  const phase: FloPhase = failure !== undefined ? 'Degraded' : ready ? 'Ready' : observed.readyReplicas === 0 ? 'Pending' : 'Progressing';
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
    brokers: observed.brokers,
    conditions,
  };
}
