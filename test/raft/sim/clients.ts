// Simulated clients: each runs one operation at a time (a write or a ReadIndex
// read) against the node it believes leads, follows leader hints, gives up after a
// timeout (leaving the outcome unknown, as a real client would), and records the
// history that the linearizability checker judges.

import { checkLinearizable, type ReadOp, type WriteOp } from './linearizability.js';
import type { World } from './world.js';
import { TICK_MS } from './world.js';

const CLIENTS = 3;
const OP_TIMEOUT_MS = 800;
const PROBE_RETRY_MS = 500;

interface ClientState {
  leaderHint: number;
  waitingOn: number | null;
}

export class Clients {
  private readonly writes = new Map<number, WriteOp>();
  private readonly reads = new Map<number, ReadOp>();
  private readonly owner = new Map<number, ClientState>();
  private nextOpId = 1;
  private endMs = 0;
  private probe: { opId: number; index: number | null; settled: boolean; sentAt: number } | null = null;

  constructor(private readonly world: World) {}

  start(endMs: number): void {
    this.endMs = endMs;
    for (let i = 0; i < CLIENTS; i++) {
      const client: ClientState = { leaderHint: 1, waitingOn: null };
      this.world.at(this.world.rng.nextInt(20), () => this.next(client));
    }
  }

  private next(client: ClientState): void {
    const w = this.world;
    if (w.now >= this.endMs) return;
    const ids = [...w.nodes.keys()];
    const target = w.rng.chance(0.8) && w.nodes.has(client.leaderHint) ? client.leaderHint : (ids[w.rng.nextInt(ids.length)] ?? 1);
    const node = w.nodes.get(target);
    const opId = this.nextOpId++;
    const isRead = w.rng.chance(w.profile.readRatio);
    client.waitingOn = opId;
    this.owner.set(opId, client);
    const result = isRead ? this.invokeRead(opId, node) : this.invokeWrite(opId, node);
    if (result !== true) {
      if (typeof result === 'number' && result > 0) client.leaderHint = result;
      else client.leaderHint = ids[w.rng.nextInt(ids.length)] ?? 1;
      this.finish(opId);
      return;
    }
    w.at(w.now + OP_TIMEOUT_MS, () => {
      if (client.waitingOn === opId) this.finish(opId);
    });
  }

  /** True when accepted; otherwise the leader hint (0 when none). */
  private invokeWrite(opId: number, node: ReturnType<World['nodes']['get']>): true | number {
    const op: WriteOp = { opId, invokedAt: this.world.now, ackedAt: null, ackedIndex: null, refused: false };
    this.writes.set(opId, op);
    const result = node?.proposeWrite(opId) ?? null;
    if (result?.ok === true) return true;
    op.refused = true;
    return result?.ok === false ? result.leader : 0;
  }

  private invokeRead(opId: number, node: ReturnType<World['nodes']['get']>): true | number {
    this.reads.set(opId, { opId, invokedAt: this.world.now, completedAt: null, seenIndex: null });
    const result = node?.requestRead(opId) ?? null;
    if (result?.ok === true) return true;
    return result?.ok === false ? result.leader : 0;
  }

  private finish(opId: number): void {
    const client = this.owner.get(opId);
    this.owner.delete(opId);
    if (client === undefined || client.waitingOn !== opId) return;
    client.waitingOn = null;
    const think = 1 + this.world.rng.nextInt(this.world.profile.clientThinkMs);
    this.world.at(this.world.now + think, () => this.next(client));
  }

  writeOutcome(opId: number, index: number | null): void {
    const op = this.writes.get(opId);
    if (this.probe !== null && this.probe.opId === opId) {
      this.probe.index = index;
      this.probe.settled = true;
      if (op !== undefined && index !== null) {
        op.ackedAt = this.world.now;
        op.ackedIndex = index;
      }
      return;
    }
    const client = this.owner.get(opId);
    if (op === undefined || client === undefined || client.waitingOn !== opId) return; // the client gave up: outcome stays unknown
    if (index !== null) {
      op.ackedAt = this.world.now;
      op.ackedIndex = index;
      this.world.stats.writesAcked++;
    }
    this.finish(opId);
  }

  readOutcome(opId: number, appliedIndex: number | null): void {
    const op = this.reads.get(opId);
    const client = this.owner.get(opId);
    if (op === undefined || client === undefined || client.waitingOn !== opId) return;
    if (appliedIndex !== null) {
      op.completedAt = this.world.now;
      op.seenIndex = appliedIndex;
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
        if (members.every((id) => (w.nodes.get(id)?.applied ?? 0) >= (probe.index ?? 0))) {
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
        if (leader.proposeWrite(opId)?.ok !== true) {
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
