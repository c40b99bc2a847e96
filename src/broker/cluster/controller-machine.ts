// The controller's replicated state: who the members are and what state each is
// in. Raft group 0 carries its commands; every broker applies them in the same
// order and so holds the same table. Pure: no I/O, no clock, every decision made
// from the state and the command alone, so a command that is refused is refused
// on every broker alike (a drain racing another drain cannot both pass).
//
// Member states: joining (registered, its replicas still learners catching up),
// active, draining (its replicas are being removed), removed (kept as a tombstone:
// ids only grow, a removed id never comes back).
import type { NodeId } from '../raft/messages.js';

export type MemberState = 'joining' | 'active' | 'draining' | 'removed';

export interface MemberRecord {
  readonly id: NodeId;
  /** host:port other brokers dial. */
  readonly peer: string;
  /** HTTP base URL it advertised when it joined (founders: learned from the peer connection). */
  readonly url: string | null;
  readonly state: MemberState;
  /** Random token a joining broker keeps in its data dir: a retried join gets the same id, a wiped disk a new one. */
  readonly incarnation: string | null;
}

export type ControllerCommand =
  | { readonly op: 'join'; readonly incarnation: string; readonly peer: string; readonly url: string | null; readonly replaces?: NodeId }
  | { readonly op: 'activate'; readonly id: NodeId }
  | { readonly op: 'drain'; readonly id: NodeId }
  | { readonly op: 'remove'; readonly id: NodeId; readonly force: boolean };

/** A command's result; `index` is the controller log entry it was decided at (set by the proposer). */
export type ControllerOutcome =
  | { readonly ok: true; readonly id: NodeId; readonly index?: number }
  | { readonly ok: false; readonly reason: string; readonly code: 'FLO_ERR_MEMBER_NOT_FOUND' | 'FLO_ERR_MEMBERSHIP_REFUSED'; readonly index?: number };

/** Members that hold (or are gaining) replicas: the desired voters of every group. */
export function holdsReplicas(state: MemberState): boolean {
  return state === 'joining' || state === 'active';
}

const SNAPSHOT_FORMAT = 1;

export class ControllerMachine {
  private readonly members = new Map<NodeId, MemberRecord>();
  private nextId: NodeId;

  /** The state every founder starts from: the founders active, ids after theirs. */
  constructor(founders: ReadonlyArray<{ id: NodeId; peer: string }>, readonly replicationFactor: number) {
    for (const founder of founders) this.members.set(founder.id, { id: founder.id, peer: founder.peer, url: null, state: 'active', incarnation: null });
    this.nextId = Math.max(0, ...founders.map((founder) => founder.id)) + 1;
  }

  list(): MemberRecord[] {
    return [...this.members.values()].sort((a, b) => a.id - b.id);
  }

  get(id: NodeId): MemberRecord | undefined {
    return this.members.get(id);
  }

  /** Ids of the members every group should have as voters. */
  replicaHolders(): NodeId[] {
    return this.list().filter((member) => holdsReplicas(member.state)).map((member) => member.id);
  }

  apply(command: ControllerCommand): ControllerOutcome {
    switch (command.op) {
      case 'join': {
        const again = this.list().find((member) => member.incarnation === command.incarnation);
        if (again !== undefined) {
          if (again.state === 'removed') return refused(`node ${again.id} was removed from the cluster; start the broker with an empty data dir to join as a new member`);
          return { ok: true, id: again.id };
        }
        const id = this.nextId++;
        this.members.set(id, { id, peer: command.peer, url: command.url, state: 'joining', incarnation: command.incarnation });
        // A broker that lost its store comes back as a new member and retires its old id in the same step.
        const replaced = command.replaces === undefined || command.replaces === id ? undefined : this.members.get(command.replaces);
        if (replaced !== undefined && replaced.state !== 'removed') this.members.set(replaced.id, { ...replaced, state: 'removed' });
        return { ok: true, id };
      }
      case 'activate': {
        const member = this.members.get(command.id);
        if (member === undefined) return notFound(command.id);
        if (member.state === 'joining') this.members.set(member.id, { ...member, state: 'active' });
        return member.state === 'joining' || member.state === 'active' ? { ok: true, id: member.id } : refused(`node ${member.id} is ${member.state}`);
      }
      case 'drain': {
        const member = this.members.get(command.id);
        if (member === undefined) return notFound(command.id);
        if (member.state === 'removed') return { ok: false, code: 'FLO_ERR_MEMBER_NOT_FOUND', reason: `node ${member.id} was removed from the cluster` };
        if (member.state === 'draining') return { ok: true, id: member.id };
        const remaining = this.replicaHolders().filter((id) => id !== member.id).length;
        if (remaining < this.replicationFactor) {
          return refused(`draining node ${member.id} would leave ${remaining} broker${remaining === 1 ? '' : 's'} to hold ${this.replicationFactor} replicas of every partition (the replication factor): add a broker first`);
        }
        this.members.set(member.id, { ...member, state: 'draining' });
        return { ok: true, id: member.id };
      }
      case 'remove': {
        const member = this.members.get(command.id);
        if (member === undefined) return notFound(command.id);
        if (member.state === 'removed') return { ok: true, id: member.id };
        if (!command.force && member.state !== 'draining') {
          return refused(`node ${member.id} is ${member.state}: drain it first (POST /v1/admin/members/${member.id}/drain), or remove it with force=true if it is gone for good`);
        }
        if (this.replicaHolders().filter((id) => id !== member.id).length === 0) return refused(`node ${member.id} is the last member holding replicas`);
        this.members.set(member.id, { ...member, state: 'removed' });
        return { ok: true, id: member.id };
      }
    }
  }

  snapshot(): Uint8Array {
    return Buffer.from(JSON.stringify({ format: SNAPSHOT_FORMAT, nextId: this.nextId, members: this.list() }), 'utf8');
  }

  restore(data: Uint8Array): void {
    const parsed = JSON.parse(Buffer.from(data).toString('utf8')) as { format: number; nextId: number; members: MemberRecord[] };
    if (parsed.format !== SNAPSHOT_FORMAT) throw new Error(`controller snapshot format ${parsed.format} is not one this broker reads`);
    this.members.clear();
    for (const member of parsed.members) this.members.set(member.id, member);
    this.nextId = parsed.nextId;
  }
}

function notFound(id: NodeId): ControllerOutcome {
  return { ok: false, code: 'FLO_ERR_MEMBER_NOT_FOUND', reason: `no member ${id} in this cluster` };
}

function refused(reason: string): ControllerOutcome {
  return { ok: false, code: 'FLO_ERR_MEMBERSHIP_REFUSED', reason };
}

const OPS = new Set(['join', 'activate', 'drain', 'remove']);

export function encodeControllerCommand(command: ControllerCommand): Buffer {
  return Buffer.from(JSON.stringify(command), 'utf8');
}

/** A command from the log or from a peer; anything else is refused rather than applied. */
export function decodeControllerCommand(data: Uint8Array): ControllerCommand {
  const parsed = JSON.parse(Buffer.from(data).toString('utf8')) as Record<string, unknown>;
  const id = (value: unknown): boolean => Number.isSafeInteger(value) && (value as number) > 0;
  const text = (value: unknown, max: number): boolean => typeof value === 'string' && value.length > 0 && value.length <= max;
  const valid = typeof parsed === 'object' && parsed !== null && OPS.has(parsed.op as string) && (
    parsed.op === 'join' ? text(parsed.incarnation, 64) && text(parsed.peer, 1024) && (parsed.url === null || text(parsed.url, 1024)) && (parsed.replaces === undefined || id(parsed.replaces))
      : parsed.op === 'remove' ? id(parsed.id) && typeof parsed.force === 'boolean'
        : id(parsed.id));
  if (!valid) throw new Error('not a controller command');
  return parsed as unknown as ControllerCommand;
}

/** New members that may catch up at once: each is a learner every leader copies the whole log to. */
export const MAX_JOINING = 3;
/** A joiner the controller's leader has not heard for this long (while leading all that time) holds no slot. */
export const JOINER_GONE_MS = 60_000;

/** Whether a joiner is gone, judged by a leader that has led `ledForMs` and last heard it `silentMs` ago (never: undefined). */
export function joinerGone(ledForMs: number, silentMs: number | undefined): boolean {
  return ledForMs >= JOINER_GONE_MS && (silentMs === undefined || silentMs >= JOINER_GONE_MS);
}

/**
 * Why a new join must wait (undefined: it may go ahead). Asked by the controller's leader before it
 * proposes a join, counting the joins it proposed that are not applied yet: a limit against a flood
 * of joins, never applied to a join asked again (the same incarnation) nor in apply(), which must
 * replay old logs (and stay the same across versions) as they ran.
 */
export function joinBackpressure(members: readonly MemberRecord[], incarnation: string, inFlight: ReadonlySet<string> = new Set(), isGone: (id: NodeId) => boolean = () => false): string | undefined {
  if (inFlight.has(incarnation) || members.some((member) => member.incarnation === incarnation)) return undefined;
  const known = new Set(members.map((member) => member.incarnation));
  // A joiner that died copies nothing: it keeps its row (and its id) until removed, but not a slot.
  const joining = members.filter((member) => member.state === 'joining' && !isGone(member.id)).map((member) => `${member.id}`);
  const proposed = [...inFlight].filter((other) => !known.has(other)).length;
  if (joining.length + proposed < MAX_JOINING) return undefined;
  const who = [...joining, ...(proposed > 0 ? [`${proposed} being registered`] : [])].join(', ');
  return `${who} still joining (at most ${MAX_JOINING} catch up at once); this join is asked again shortly. A joiner gone for good: DELETE /v1/admin/members/<id>?force=true`;
}

/**
 * The id a rejoining broker retires. It names the id it started with (a founder's comes from its
 * ordinal); if that id was retired already (the same volume lost a second time), the member now at
 * the joiner's peer address is the one it replaces. Resolved before the join is proposed, like
 * joinBackpressure, so apply() stays as it ran.
 */
export function replacedMember(members: readonly MemberRecord[], join: { readonly incarnation: string; readonly peer: string; readonly replaces?: number | undefined }): number | undefined {
  if (join.replaces === undefined) return undefined;
  const named = members.find((member) => member.id === join.replaces);
  if (named === undefined || named.state !== 'removed') return join.replaces;
  const atPeer = members.filter((member) => member.state !== 'removed' && member.peer === join.peer && member.incarnation !== join.incarnation);
  return atPeer.length === 1 ? atPeer[0]!.id : join.replaces;
}
