// Simulated clients: each runs one operation at a time (a write or a ReadIndex
// read) against the node it believes leads and follows leader hints. Each client is
// an idempotent producer: a write whose outcome is unknown (timeout, crash, leader
// change) is sent again with the same producer id and sequence, up to WRITE_ATTEMPTS
// times, as Flo's client does; the partition machine must store it once. Then it gives
// up (the outcome stays unknown). The history is what the linearizability checker judges.

import { checkLinearizable, type ReadOp, type WriteOp } from './linearizability.js';
import type { World } from './world.js';
import { TICK_MS } from './world.js';

const CLIENTS = 3;
const OP_TIMEOUT_MS = 800;
/** Sends of one write, the first included. */
const WRITE_ATTEMPTS = 3;
/** Chance that the answer to a send is lost on the way back: the client sends the write again later. */
const LOST_ANSWER_CHANCE = 0.15;
/** How long a client whose answer was lost waits before sending again (a timeout shorter than OP_TIMEOUT_MS). */
const LOST_ANSWER_WAIT_MS = [50, 400] as const;
const PROBE_RETRY_MS = 500;

interface ClientState {
  /** The producer id of its writes. */
  readonly producerId: number;
  leaderHint: number;
  waitingOn: number | null;
  /** Sequence of its next new write. */
  nextSequence: number;
}

interface PendingWrite {
  readonly sequence: number;
  attempts: number;
  /** No send was accepted into any log (so the write must not appear). */
  everAccepted: boolean;
  /** Bumped per send, so an old send's timeout does not end a newer one. */
  send: number;
  /** The current send's answer will not reach the client (it may still be stored). */
  answerLost: boolean;
}

export class Clients {
  private readonly writes = new Map<number, WriteOp>();
  private readonly reads = new Map<number, ReadOp>();
  private readonly owner = new Map<number, ClientState>();
  private readonly pendingWrites = new Map<number, PendingWrite>();
  private nextOpId = 1;
  private endMs = 0;
  private probe: { opId: number; index: number | null; settled: boolean; sentAt: number } | null = null;

  constructor(private readonly world: World) {}

  start(endMs: number): void {
    this.endMs = endMs;
    for (let i = 0; i < CLIENTS; i++) {
      const client: ClientState = { producerId: i + 1, leaderHint: 1, waitingOn: null, nextSequence: 0 };
      this.world.at(this.world.rng.nextInt(20), () => this.next(client));
    }
  }

  private pickTarget(client: ClientState): ReturnType<World['nodes']['get']> {
    const w = this.world;
    const ids = [...w.nodes.keys()];
    const target = w.rng.chance(0.8) && w.nodes.has(client.leaderHint) ? client.leaderHint : (ids[w.rng.nextInt(ids.length)] ?? 1);
    return w.nodes.get(target);
  }

  private hinted(client: ClientState, result: number): void {
    const ids = [...this.world.nodes.keys()];
    client.leaderHint = result > 0 ? result : (ids[this.world.rng.nextInt(ids.length)] ?? 1);
  }

  private next(client: ClientState): void {
    const w = this.world;
    if (w.now >= this.endMs) return;
    const opId = this.nextOpId++;
    client.waitingOn = opId;
    this.owner.set(opId, client);
    if (w.rng.chance(w.profile.readRatio)) {
      this.reads.set(opId, { opId, invokedAt: w.now, completedAt: null, seenIndex: null });
      const result = this.pickTarget(client)?.requestRead(opId) ?? 0;
      if (result !== true) {
        this.hinted(client, result);
        this.finish(opId);
        return;
      }
      w.at(w.now + OP_TIMEOUT_MS, () => {
        if (client.waitingOn === opId) this.finish(opId);
      });
      return;
    }
    this.writes.set(opId, { opId, invokedAt: w.now, ackedAt: null, ackedIndex: null, refused: false });
    this.pendingWrites.set(opId, { sequence: client.nextSequence++, attempts: 0, everAccepted: false, send: 0, answerLost: false });
    this.sendWrite(client, opId);
  }

  /** One send of a write; an unknown outcome sends it again (same sequence) until the attempts run out. */
  private sendWrite(client: ClientState, opId: number): void {
    const w = this.world;
    const pending = this.pendingWrites.get(opId);
    const op = this.writes.get(opId);
    if (pending === undefined || op === undefined) return;
    pending.attempts++;
    const send = ++pending.send;
    pending.answerLost = false;
    const result = this.pickTarget(client)?.proposeWrite(opId, client.producerId, pending.sequence, w.now) ?? 0;
    if (result === true) {
      pending.everAccepted = true;
      if (pending.attempts < WRITE_ATTEMPTS && w.rng.chance(LOST_ANSWER_CHANCE)) {
        // Exercises deduplication: the write is likely stored, and is sent again after snapshots, restarts and leader changes.
        pending.answerLost = true;
        const [least, most] = LOST_ANSWER_WAIT_MS;
        w.at(w.now + least + w.rng.nextInt(most - least + 1), () => {
          if (client.waitingOn === opId && pending.send === send) this.retryOrGiveUp(client, opId);
        });
        return;
      }
      w.at(w.now + OP_TIMEOUT_MS, () => {
        if (client.waitingOn === opId && pending.send === send) this.retryOrGiveUp(client, opId);
      });
      return;
    }
    this.hinted(client, result);
    this.retryOrGiveUp(client, opId);
  }

  private retryOrGiveUp(client: ClientState, opId: number): void {
    const pending = this.pendingWrites.get(opId);
    const op = this.writes.get(opId);
    if (pending === undefined || op === undefined) return;
    if (pending.attempts < WRITE_ATTEMPTS && this.world.now < this.endMs) {
      // A moment later, as a client backs off before trying another broker.
      this.world.at(this.world.now + 1 + this.world.rng.nextInt(20), () => {
        if (client.waitingOn === opId) this.sendWrite(client, opId);
      });
      return;
    }
    op.refused = !pending.everAccepted;
    this.pendingWrites.delete(opId);
    this.finish(opId);
  }

  private finish(opId: number): void {
    const client = this.owner.get(opId);
    this.owner.delete(opId);
    if (client === undefined || client.waitingOn !== opId) return;
    client.waitingOn = null;
    const think = 1 + this.world.rng.nextInt(this.world.profile.clientThinkMs);
    this.world.at(this.world.now + think, () => this.next(client));
  }

  /** `offset`: where the write's event is, or null when this send's outcome is unknown. */
  writeOutcome(opId: number, offset: number | null): void {
    const op = this.writes.get(opId);
    const position = offset === null ? null : offset + 1;
    if (this.probe !== null && this.probe.opId === opId) {
      this.probe.index = position;
      this.probe.settled = true;
      if (op !== undefined && position !== null) {
        op.ackedAt = this.world.now;
        op.ackedIndex = position;
      }
      return;
    }
    const client = this.owner.get(opId);
    if (op === undefined || client === undefined || client.waitingOn !== opId) return; // the client gave up: outcome stays unknown
    const pending = this.pendingWrites.get(opId);
    if (pending?.answerLost === true) return; // never heard: the client sends again when its wait ends
    if (position === null) {
      if (pending !== undefined) pending.send++; // this send is over; its timeout must not end the next
      this.retryOrGiveUp(client, opId);
      return;
    }
    op.ackedAt = this.world.now;
    op.ackedIndex = position;
    this.world.stats.writesAcked++;
    this.pendingWrites.delete(opId);
    this.finish(opId);
  }

  /** `seen`: how many of the partition's events the read saw. */
  readOutcome(opId: number, seen: number | null): void {
    const op = this.reads.get(opId);
    const client = this.owner.get(opId);
    if (op === undefined || client === undefined || client.waitingOn !== opId) return;
    if (seen !== null) {
      op.completedAt = this.world.now;
      op.seenIndex = seen;
      this.world.stats.readsServed++;
    }
    this.finish(opId);
  }

  /**
   * After the heal: keep proposing one write to whoever leads until it commits
   * (liveness), then wait until every member of the leader's configuration has
   * applied it (convergence). A probe that
   * is lost (or hangs for PROBE_RETRY_MS) is replaced by a new one.
   */
  startLivenessProbe(onCommitted: () => void, onDone: () => void): void {
    const w = this.world;
    let committed = false;
    const check = (): void => {
      const leader = w.leader();
      const probe = this.probe;
      const core = leader?.core ?? null;
      if (probe !== null && probe.index !== null && !committed) {
        committed = true;
        onCommitted();
      }
      if (probe !== null && probe.index !== null && core !== null) {
        const members = [...core.conf.voters, ...core.conf.learners];
        if (members.every((id) => (w.nodes.get(id)?.nextOffset ?? 0) >= (probe.index ?? 0))) {
          onDone();
          return;
        }
      }
      const stale = probe === null || (probe.index === null && (probe.settled || w.now - probe.sentAt > PROBE_RETRY_MS));
      if (leader !== null && stale) {
        const opId = this.nextOpId++;
        const op: WriteOp = { opId, invokedAt: w.now, ackedAt: null, ackedIndex: null, refused: false };
        this.writes.set(opId, op);
        this.probe = { opId, index: null, settled: false, sentAt: w.now };
        if (leader.proposeWrite(opId) !== true) {
          op.refused = true;
          this.probe.settled = true;
        }
      }
      w.at(w.now + TICK_MS, check);
    };
    check();
  }

  check(positionOf: ReadonlyMap<number, number>): string | null {
    return checkLinearizable({ writes: [...this.writes.values()], reads: [...this.reads.values()] }, positionOf);
  }
}
