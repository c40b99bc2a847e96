// Health-gated rolling restarts, through the StatefulSet's partition (the operator owns the
// order; Kubernetes only restarts pods at or above the partition). A template change is
// written with the partition at the replica count, so nothing restarts by itself; then one
// broker at a time, highest ordinal first, the partition is lowered to the next pod only when
// every pod already restarted is ready and has caught up (asked of that broker itself), the
// cluster is healthy, and the cluster says stopping that broker leaves every partition a
// quorum (restart-check). Pure: observations in, the partition out.

import type { OperationStatus } from '../crd/types.js';

export interface RollPod {
  ordinal: number;
  /** controller-revision-hash of the pod. */
  revision?: string;
  ready: boolean;
}

export interface RollObservation {
  /** The desired pod template differs from the live StatefulSet's (this reconcile writes it). */
  templateChanged: boolean;
  /** Replicas the StatefulSet will run (the scale plan's). */
  replicas: number;
  /** The live partition (0 when unset). */
  partition: number;
  updateRevision: string | undefined;
  pods: RollPod[];
  /** Restarted pods: has the broker caught up (its own restart-check)? */
  caughtUp: Map<number, boolean>;
  /** The cluster's restart-check for the next broker to restart, when asked. */
  nextSafe?: { safe: boolean; problems: string[] };
  healthy: boolean | undefined;
  /** Active members: with fewer than 3 a quorum cannot survive any restart, so it is not asked for. */
  members: number;
  /** A scale is under way: a roll waits for it. */
  scaling: boolean;
}

export interface RollPlan {
  partition: number;
  operation?: OperationStatus;
  waiting: boolean;
}

/** The highest ordinal whose pod still runs an older revision, or undefined when none does. */
export function nextToRestart(observation: Pick<RollObservation, 'pods' | 'replicas' | 'updateRevision'>): number | undefined {
  if (observation.updateRevision === undefined) return undefined;
  const outdated = observation.pods.filter((pod) => pod.ordinal < observation.replicas && pod.revision !== observation.updateRevision);
  return outdated.length === 0 ? undefined : Math.max(...outdated.map((pod) => pod.ordinal));
}

export function planRoll(observation: RollObservation): RollPlan {
  const { replicas } = observation;
  const roll = (message: string): OperationStatus => ({ type: 'RollingRestart', fromReplicas: replicas, toReplicas: replicas, message });
  if (observation.templateChanged) return { partition: replicas, waiting: true, operation: roll('pod template changed: restarting brokers one at a time') };
  const next = nextToRestart(observation);
  if (next === undefined) return { partition: 0, waiting: false };
  // Pod `next` was released already: the StatefulSet controller is restarting it.
  if (observation.partition <= next) return { partition: observation.partition, waiting: true, operation: roll(`restarting pod ${next}`) };
  const hold = (why: string): RollPlan => ({ partition: observation.partition, waiting: true, operation: roll(`pod ${next} waits: ${why}`) });
  if (observation.scaling) return hold('a scale is under way');
  const restarted = observation.pods.filter((pod) => pod.ordinal > next && pod.ordinal < replicas);
  const notReady = restarted.find((pod) => !pod.ready);
  if (notReady !== undefined) return hold(`pod ${notReady.ordinal} is not ready yet`);
  const behind = restarted.find((pod) => observation.caughtUp.get(pod.ordinal) !== true);
  if (behind !== undefined) return hold(`pod ${behind.ordinal} has not caught up yet`);
  if (replicas > 1 && observation.healthy !== true) return hold('the cluster is not healthy');
  if (observation.members >= 3) {
    if (observation.nextSafe === undefined) return hold('restart check unavailable');
    if (!observation.nextSafe.safe) return hold(observation.nextSafe.problems[0] ?? 'restart check says no');
  }
  return { partition: next, waiting: true, operation: roll(`restarting pod ${next}`) };
}
