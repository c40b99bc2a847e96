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
// A drain is started only while the cluster is healthy (every broker answers, no leaderless or
// under-replicated partition): a drain moves replicas and quorums, which a degraded cluster may
// not survive.
//
// Scale-up: claims marked as a removed broker's are deleted first (a removed member's data dir
// can never rejoin), then the StatefulSet grows and the new pods join by themselves.
//
// A drain cannot be undone (the cluster has no undrain). A member at an ordinal the spec keeps
// that is draining (a scale-down cancelled by raising replicas) is finished off: once it holds no
// replica it is removed, then its pod's claim and the pod are deleted, so the pod joins again as
// a new member (ids are never reused). The same holds for a pod that runs a removed member.
//
// The StatefulSet's size is the operator's: an ordinal beyond it that still holds a member the
// operator never drained means someone shrank the StatefulSet directly; that is drift, restored,
// never a reason to drain.

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
  | { kind: 'markClaim'; claim: string; member: number }
  /** Delete the pod of an ordinal the StatefulSet keeps: it comes back on a new claim, as a new member. */
  | { kind: 'recreatePod'; ordinal: number; member: number };

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
    // Only members the operator drained are beyond the StatefulSet (ownedSize covers the others).
    if (member.state === 'draining' && (member.partitions ?? 0) === 0) actions.push({ kind: 'remove', member: member.member });
    else if (member.state === 'draining') pending ??= `broker ${member.member} is draining: ${member.partitions ?? '?'} partitions left`;
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

/**
 * Finishes off members at ordinals below `upTo` (pods the StatefulSet keeps) that a drain or a
 * removal made unusable: a draining one is removed once it holds no replica; a pod that runs a
 * removed member gets its claim and itself deleted, so it joins again as a new member.
 */
function rejoin(observation: ScaleObservation, upTo: number): { actions: ScaleAction[]; pending?: string } {
  const members = observation.members ?? [];
  const actions: ScaleAction[] = [];
  let pending: string | undefined;
  for (let ordinal = 0; ordinal < upTo; ordinal++) {
    const claim = observation.claims.find((candidate) => candidate.ordinal === ordinal);
    // A claim the operator marked as a removed broker's, under a pod of the StatefulSet (a FloCluster
    // recreated over kept claims): that pod can only run, or crash as, the removed member.
    const marked = claim?.removedMember !== undefined && observation.podOrdinals.includes(ordinal)
      && [undefined, claim.removedMember].includes(observation.selfIds.get(ordinal)) ? claim.removedMember : undefined;
    const own = observation.selfIds.get(ordinal) ?? marked;
    if (own !== undefined && (own === marked || members.find((member) => member.member === own)?.state === 'removed')) {
      // The claim first: deleted while its pod runs it waits for the pod (pvc-protection), so the recreated pod gets a new one.
      if (claim !== undefined) actions.push({ kind: 'deleteClaim', claim: claim.name, member: own });
      actions.push({ kind: 'recreatePod', ordinal, member: own });
      pending ??= `pod ${ordinal} runs removed broker ${own}: deleting its claim and pod so that it joins again as a new member`;
      continue;
    }
    const member = memberAt(observation, ordinal);
    if (member?.state !== 'draining') continue;
    const partitions = member.partitions ?? 0;
    if (partitions === 0) actions.push({ kind: 'remove', member: member.member });
    pending ??= partitions > 0
      ? `broker ${member.member} (pod ${ordinal}) is draining for a scale-down that was cancelled (a drain cannot be undone): ${partitions} partitions left, then it is removed and its pod joins again as a new member`
      : `broker ${member.member} (pod ${ordinal}) was drained for a scale-down that was cancelled: removing it; its pod then joins again as a new member`;
  }
  return pending === undefined ? { actions } : { actions, pending };
}

/**
 * The StatefulSet's size as the operator left it: the live size, raised over every ordinal that
 * still holds an active or joining member. The operator shrinks only over drained members, so a
 * larger one means someone shrank the StatefulSet directly: drift to restore, not brokers to drain.
 */
function ownedSize(observation: ScaleObservation, live: number, limit: number): number {
  let size = live;
  for (const member of observation.members ?? []) {
    if (member.state !== 'active' && member.state !== 'joining') continue;
    const ordinal = ordinalOfPeer(member, observation, limit);
    if (ordinal !== undefined && ordinal >= size) size = ordinal + 1;
  }
  return size;
}

/** Why a drain must not start now: the cluster is not healthy, or a broker of the StatefulSet does not answer. */
function unhealthy(observation: ScaleObservation, current: number): string | undefined {
  if (observation.health === undefined) return 'cluster health unknown';
  if (!observation.health.healthy) return observation.health.problems[0] ?? 'cluster not healthy';
  for (let ordinal = 0; ordinal < current; ordinal++) {
    if (!observation.podOrdinals.includes(ordinal)) return `pod ${ordinal} does not exist`;
    if (!observation.selfIds.has(ordinal)) return `pod ${ordinal} does not answer`;
  }
  return undefined;
}

export function planScale(observation: ScaleObservation): ScalePlan {
  const wanted = observation.specReplicas;
  const live = observation.statefulSetReplicas;
  if (live === undefined) return { statefulSetReplicas: wanted, actions: [], waiting: false };
  // Without a member table nothing is known about the brokers: keep the StatefulSet as it is,
  // unless growing (new pods cannot hurt; they join when a member answers).
  if (observation.members === undefined) {
    if (wanted > live) return { statefulSetReplicas: wanted, actions: [], waiting: true, operation: { type: 'ScaleUp', fromReplicas: live, toReplicas: wanted, message: `adding ${wanted - live} broker(s)` } };
    return wanted === live ? { statefulSetReplicas: live, actions: [], waiting: false }
      : { statefulSetReplicas: live, actions: [], waiting: true, operation: { type: 'ScaleDown', fromReplicas: live, toReplicas: wanted, message: 'waiting for a broker to report the member table' } };
  }
  const limit = Math.max(live, wanted, ...observation.podOrdinals.map((o) => o + 1), ...observation.claims.map((c) => c.ordinal + 1));
  const current = ownedSize(observation, live, limit);
  const stopping = Math.max(current, ...observation.podOrdinals.map((o) => o + 1));
  const again = rejoin(observation, Math.min(current, wanted));
  if (again.pending !== undefined) {
    // Before anything else: growing or draining another broker waits for the finished-off member.
    return { statefulSetReplicas: current, actions: again.actions, waiting: true, operation: { type: wanted < current ? 'ScaleDown' : 'ScaleUp', fromReplicas: current, toReplicas: wanted, message: again.pending } };
  }
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
    if (wanted === current) {
      // The tail of a scale-down (a stopping pod, a member to remove): an operation, so the cluster is not reported settled meanwhile.
      const tail = left.pending ?? (actions.some((action) => action.kind === 'remove') ? 'removing the last drained broker' : undefined);
      return {
        statefulSetReplicas: current, actions, waiting: left.pending !== undefined || actions.length > 0,
        ...(tail === undefined ? {} : { operation: { type: 'ScaleDown', fromReplicas: stopping, toReplicas: wanted, message: tail } }),
      };
    }
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
    const sick = unhealthy(observation, current);
    if (sick !== undefined) return { statefulSetReplicas: current, actions: left.actions, waiting: true, operation: down(`waiting: the cluster is not healthy: ${sick}`, target.member) };
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
