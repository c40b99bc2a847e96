// Scaling a FloCluster without losing an event, decided from what is observed (level
// triggered: an operator restarted in the middle picks up from the member table, the
// StatefulSet and the claims, and never drains twice or skips a step). Pure: observations
// in, one plan out; the reconciler carries the plan out.
//
// Scale-down, one broker at a time, the highest ordinal first: its member id is read from
// the broker (pod k's own /v1/cluster, else the member table entry whose peer address is pod
// k's), never derived from the ordinal; drain it; once it holds no replica and the cluster is
// healthy, shrink the StatefulSet by one; once its pod is gone, remove the member; then its
// claim (deleted when storage.deleteClaim, else marked as a removed broker's). A drain the
// cluster refuses (fewer members than the replication factor would remain) blocks the
// scale-down with the broker's reason and changes nothing.
//
// Scale-up: claims marked as a removed broker's are deleted first (a removed member's data dir
// can never rejoin), then the StatefulSet grows and the new pods join by themselves.

import type { ClusterHealth, ClusterMember } from './broker-client.js';
import type { OperationStatus } from '../crd/types.js';

/** Annotation on a claim whose broker was removed from the cluster (its data dir cannot rejoin). */
export const REMOVED_MEMBER_ANNOTATION = 'flo.dev/removed-member';

export interface ClaimObservation {
  name: string;
  ordinal: number;
  removedMember?: number;
}

export interface ScaleObservation {
  specReplicas: number;
  /** spec.replicas of the live StatefulSet; undefined before it exists. */
  statefulSetReplicas: number | undefined;
  /** Ordinals of broker pods that exist (whatever their state). */
  podOrdinals: number[];
  /** The member table as a broker other than the one being drained reports it; undefined when none answered. */
  members: ClusterMember[] | undefined;
  health: ClusterHealth | undefined;
  /** Member id the broker of each ordinal reports for itself (asked of the pod directly). */
  selfIds: Map<number, number>;
  /** Peer address of the pod with an ordinal, as its broker advertises it. */
  peerOf: (ordinal: number) => string;
  claims: ClaimObservation[];
  deleteClaim: boolean;
}

export type ScaleAction =
  | { kind: 'drain'; member: number }
  | { kind: 'remove'; member: number }
  | { kind: 'deleteClaim'; claim: string; member?: number }
  | { kind: 'markClaim'; claim: string; member: number };

export interface ScalePlan {
  statefulSetReplicas: number;
  actions: ScaleAction[];
  /** Set when the scale-down cannot go on: why, in the broker's words. */
  blocked?: string;
  operation?: OperationStatus;
  /** Something is under way: look again soon. */
  waiting: boolean;
}

function ordinalOfPeer(members: ClusterMember, observation: ScaleObservation, upTo: number): number | undefined {
  for (let ordinal = 0; ordinal < upTo; ordinal++) if (members.peer === observation.peerOf(ordinal)) return ordinal;
  return undefined;
}

/** The member the broker at `ordinal` is (not removed): its own answer first, else the table's entry for its peer address. */
export function memberAt(observation: ScaleObservation, ordinal: number): ClusterMember | undefined {
  const members = observation.members ?? [];
  const own = observation.selfIds.get(ordinal);
  if (own !== undefined) {
    const found = members.find((member) => member.member === own);
    if (found !== undefined) return found;
  }
  const peer = observation.peerOf(ordinal);
  return members.filter((member) => member.peer === peer && member.state !== 'removed').sort((a, b) => b.member - a.member)[0];
}

/** Left over from a scale-down: members (and claims) beyond the StatefulSet whose pod is gone. */
function cleanup(observation: ScaleObservation, current: number, limit: number): { actions: ScaleAction[]; pending?: string } {
  const members = observation.members ?? [];
  const actions: ScaleAction[] = [];
  let pending: string | undefined;
  for (const member of members) {
    const ordinal = ordinalOfPeer(member, observation, limit);
    if (ordinal === undefined || ordinal < current || member.state === 'removed') continue;
    if (observation.podOrdinals.includes(ordinal)) {
      pending ??= `waiting for pod ${ordinal} (broker ${member.member}) to stop`;
      continue;
    }
    if (member.state === 'draining' && (member.partitions ?? 0) === 0) actions.push({ kind: 'remove', member: member.member });
    else if (member.state === 'draining') pending ??= `broker ${member.member} is draining: ${member.partitions ?? '?'} partitions left`;
    else {
      // A member whose pod is gone without a drain (the StatefulSet was shrunk by someone else): drain it now.
      actions.push({ kind: 'drain', member: member.member });
      pending ??= `broker ${member.member} has no pod: draining it`;
    }
  }
  for (const claim of observation.claims) {
    if (claim.ordinal < current || observation.podOrdinals.includes(claim.ordinal)) continue;
    const peer = observation.peerOf(claim.ordinal);
    const atPeer = members.filter((member) => member.peer === peer);
    if (atPeer.length === 0 || atPeer.some((member) => member.state !== 'removed')) continue;
    const removed = Math.max(...atPeer.map((member) => member.member));
    if (observation.deleteClaim) actions.push({ kind: 'deleteClaim', claim: claim.name, member: removed });
    else if (claim.removedMember !== removed) actions.push({ kind: 'markClaim', claim: claim.name, member: removed });
  }
  return pending === undefined ? { actions } : { actions, pending };
}

export function planScale(observation: ScaleObservation): ScalePlan {
  const wanted = observation.specReplicas;
  const current = observation.statefulSetReplicas;
  if (current === undefined) return { statefulSetReplicas: wanted, actions: [], waiting: false };
  // Without a member table nothing is known about the brokers: keep the StatefulSet as it is,
  // unless growing (new pods cannot hurt; they join when a member answers).
  if (observation.members === undefined) {
    if (wanted > current) return { statefulSetReplicas: wanted, actions: [], waiting: true };
    return wanted === current ? { statefulSetReplicas: current, actions: [], waiting: false }
      : { statefulSetReplicas: current, actions: [], waiting: true, operation: { type: 'ScaleDown', fromReplicas: current, toReplicas: wanted, message: 'waiting for a broker to report the member table' } };
  }
  const limit = Math.max(current, wanted, ...observation.podOrdinals.map((o) => o + 1), ...observation.claims.map((c) => c.ordinal + 1));
  const left = cleanup(observation, current, limit);
  if (wanted >= current) {
    // Growing over an ordinal whose claim belonged to a removed broker: delete that claim first.
    const reused = (claim: string): boolean => {
      const found = observation.claims.find((candidate) => candidate.name === claim);
      return found !== undefined && found.ordinal < wanted;
    };
    const actions = left.actions.map((action): ScaleAction => (action.kind === 'markClaim' && reused(action.claim) ? { kind: 'deleteClaim', claim: action.claim, member: action.member } : action));
    const stale = observation.claims.filter((claim) => claim.ordinal >= current && claim.ordinal < wanted && claim.removedMember !== undefined);
    for (const claim of stale) {
      if (!actions.some((action) => action.kind === 'deleteClaim' && action.claim === claim.name)) actions.push({ kind: 'deleteClaim', claim: claim.name, member: claim.removedMember! });
    }
    const blockedByCleanup = left.pending !== undefined || actions.some((action) => action.kind !== 'markClaim' && (action.kind !== 'deleteClaim' || reused(action.claim)));
    if (wanted === current) return { statefulSetReplicas: current, actions, waiting: left.pending !== undefined || actions.length > 0 };
    if (blockedByCleanup) {
      return { statefulSetReplicas: current, actions, waiting: true, operation: { type: 'ScaleUp', fromReplicas: current, toReplicas: wanted, message: left.pending ?? 'clearing what the last scale-down left before growing' } };
    }
    return { statefulSetReplicas: wanted, actions, waiting: true, operation: { type: 'ScaleUp', fromReplicas: current, toReplicas: wanted, message: `adding ${wanted - current} broker(s)` } };
  }
  // Shrinking: finish the last broker's removal first, one broker at a time.
  const down = (message: string, member?: number): OperationStatus => ({ type: 'ScaleDown', fromReplicas: current, toReplicas: wanted, ...(member === undefined ? {} : { member }), message });
  if (left.pending !== undefined || left.actions.some((action) => action.kind === 'remove' || action.kind === 'drain')) {
    return { statefulSetReplicas: current, actions: left.actions, waiting: true, operation: down(left.pending ?? 'removing the last drained broker') };
  }
  const ordinal = current - 1;
  const target = memberAt(observation, ordinal);
  if (target === undefined) {
    // No member on that pod (it never joined): nothing to drain.
    return { statefulSetReplicas: ordinal, actions: left.actions, waiting: true, operation: down(`pod ${ordinal} holds no member: removing it`) };
  }
  if (target.state === 'active' || target.state === 'joining') {
    return { statefulSetReplicas: current, actions: [...left.actions, { kind: 'drain', member: target.member }], waiting: true, operation: down(`draining broker ${target.member} (pod ${ordinal})`, target.member) };
  }
  if ((target.partitions ?? 0) > 0) {
    return { statefulSetReplicas: current, actions: left.actions, waiting: true, operation: down(`draining broker ${target.member} (pod ${ordinal}): ${target.partitions} partitions left`, target.member) };
  }
  if (observation.health?.healthy !== true) {
    const why = observation.health === undefined ? 'cluster health unknown' : observation.health.problems[0] ?? 'cluster not healthy';
    return { statefulSetReplicas: current, actions: left.actions, waiting: true, operation: down(`broker ${target.member} drained; waiting for a healthy cluster: ${why}`, target.member) };
  }
  return { statefulSetReplicas: ordinal, actions: left.actions, waiting: true, operation: down(`broker ${target.member} drained: stopping pod ${ordinal}`, target.member) };
}
