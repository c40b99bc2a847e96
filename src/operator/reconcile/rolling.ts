// Health-gated rolling restarts, through the StatefulSet's partition (the operator owns the
// order; Kubernetes only restarts pods at or above the partition). A template change is
// written with the partition at the replica count, so nothing restarts by itself; then one
// broker at a time, highest ordinal first, the partition is lowered to the next pod only when
// every pod already restarted is ready and has caught up (asked of that broker itself), the
// cluster is healthy, and the cluster says stopping that broker leaves every partition a
// quorum (restart-check). The one exception: when the next pod to restart is itself not ready
// and its broker does not answer (a bad image fixed back, a crash loop), no quorum depends on it
// and the StatefulSet controller would never replace it (it waits for ready pods): the operator
// deletes it, and it comes back on the new template. Pure: observations in, the partition out.

import type { OperationStatus } from '../crd/types.js';

export interface RollPod {
  ordinal: number;
  /** controller-revision-hash of the pod. */
  revision?: string;
  ready: boolean;
  /** Its broker answered /v1/cluster (a pod that does not answer takes part in no quorum). */
  answering?: boolean;
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
  /** Delete this pod (once the StatefulSet has the partition): it is outdated, not ready and silent. */
  deletePod?: number;
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
  const pod = observation.pods.find((candidate) => candidate.ordinal === next);
  const stuck = pod !== undefined && !pod.ready && pod.answering !== true;
  // Pod `next` was released already: the StatefulSet controller is restarting it (unless it is stuck, below).
  if (observation.partition <= next && !stuck) return { partition: observation.partition, waiting: true, operation: roll(`restarting pod ${next}`) };
  const hold = (why: string): RollPlan => ({ partition: observation.partition, waiting: true, operation: roll(`pod ${next} waits: ${why}`) });
  if (observation.scaling) return hold('a scale is under way');
  // Not ready, silent and outdated: the health gate would wait for this very pod for ever.
  if (stuck) return { partition: Math.min(observation.partition, next), deletePod: next, waiting: true, operation: roll(`restarting pod ${next}: it is not ready on an outdated template and its broker does not answer`) };
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
