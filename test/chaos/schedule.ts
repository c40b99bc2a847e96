// The nemesis schedule: every fault of a run, derived from one printed seed
// (same seed, same schedule). Like swarm testing, each seed first picks its own
// mix (which fault kinds, how often), so different seeds stress different
// things. Faults run one at a time, each followed by a quiet gap, and the last
// part of the run is fault-free so the healed system must converge and serve.
// Partitions are given as the directed broker links to cut, ready for the
// proxy mesh of a cluster run.
import { SeededRandom } from '../../src/broker/raft/random.js';

export const FAULT_KINDS = [
  'kill', // kill -9, restart after a while
  'kill-lose-unsynced', // kill -9 and drop what was written after the last fsync (needs a broker hook)
  'pause', // SIGSTOP, SIGCONT after a while
  'partition-isolate', // one broker cut off from all others
  'partition-halves', // a majority and a minority
  'partition-bridge', // two halves, one broker in the middle talking to both
  'partition-one-way', // some links cut in one direction only
  'link-delay', // every peer link of one broker delayed (both ways)
  'link-drop', // every peer connection of one broker reset after a few KiB, mid-frame, again after each redial
  'link-blackhole', // every peer link of one broker accepts and discards (its streams lose bytes)
  'damage-truncate', // on a stopped minority broker: cut the tail off a log file
  'damage-bitflip', // on a stopped minority broker: flip one bit in a data file
  'member-replace', // the spare slot joins, one member is drained, removed and wiped (membership.ts)
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface Topology {
  brokers: number;
  /** Brokers replicate one log (issue 9); false: each is an independent single-node broker. */
  replicated: boolean;
  /** The broker offers the lose-unsynced-writes test hook. */
  loseUnsyncedHook?: boolean;
  /** The cluster can have one slot more than its members, for member-replace. */
  spareSlot?: boolean;
}

export interface FaultStep {
  /** Nominal start, if every earlier fault took exactly its duration. */
  atMs: number;
  /** Quiet time before this fault, counted from the real end of the previous one (a restart takes time). */
  gapMs: number;
  kind: FaultKind;
  /**
   * Brokers acted on (killed, paused, damaged, replaced); for partitions, every broker with a cut link.
   * The k-th member now, by slot order: with a spare slot, member k is not always slot k.
   */
  targets: number[];
  durationMs: number;
  /** Partitions: directed links [from, to] over which nothing is delivered. */
  cuts?: Array<[number, number]>;
  /** Damage: a seeded number the executor turns into a file and an offset. */
  damagePick?: number;
  /** link-delay: the delay in ms; link-drop: the bytes a connection forwards before it is reset. */
  magnitude?: number;
}

export interface Schedule {
  seed: number;
  durationMs: number;
  /** No fault starts unless it can end by then; the rest of the run is quiet. */
  faultWindowEndMs: number;
  /** Weight of each kind this seed chose (0: not used). */
  mix: Record<FaultKind, number>;
  steps: FaultStep[];
}

export interface ScheduleOptions {
  seed: number;
  durationMs: number;
  topology: Topology;
  /** Only these kinds (still weighted by the seed). */
  kinds?: readonly FaultKind[];
  /** Fault-free tail in which the system must converge. Default: 15% of the run, at least 2 s. */
  quietTailMs?: number;
}

/** Kinds that make sense for a topology: partitions and damage need replicas to heal from. */
export function availableKinds(topology: Topology): FaultKind[] {
  return FAULT_KINDS.filter((kind) => {
    if (kind === 'kill-lose-unsynced') return topology.loseUnsyncedHook === true;
    if (kind === 'member-replace') return topology.replicated && topology.brokers >= 3 && topology.spareSlot === true;
    if (kind.startsWith('partition-') || kind.startsWith('damage-') || kind.startsWith('link-')) return topology.replicated && topology.brokers >= 3;
    return true;
  });
}

/** How long each kind lasts: ms range [min, max). */
const DURATION_MS: Record<FaultKind, [number, number]> = {
  'kill': [100, 1_500],
  'kill-lose-unsynced': [100, 1_500],
  'pause': [200, 2_500],
  'partition-isolate': [1_000, 6_000],
  'partition-halves': [1_000, 6_000],
  'partition-bridge': [1_000, 6_000],
  'partition-one-way': [1_000, 6_000],
  'link-delay': [1_000, 6_000],
  'link-drop': [1_000, 5_000],
  'link-blackhole': [1_000, 6_000],
  'damage-truncate': [200, 1_000],
  'damage-bitflip': [200, 1_000],
  // Nominal: a join and a drain take as long as they take (seconds); the quiet gap follows.
  'member-replace': [500, 2_000],
};

const GAP_MS: [number, number] = [300, 2_000];

function between(random: SeededRandom, [min, max]: [number, number]): number {
  return min + random.nextInt(max - min);
}

function chooseMix(random: SeededRandom, kinds: readonly FaultKind[]): Record<FaultKind, number> {
  const mix = Object.fromEntries(FAULT_KINDS.map((kind) => [kind, 0])) as Record<FaultKind, number>;
  for (const kind of kinds) mix[kind] = random.chance(0.7) ? 1 + random.nextInt(4) : 0;
  if (kinds.length > 0 && kinds.every((kind) => mix[kind] === 0)) mix[kinds[random.nextInt(kinds.length)]!] = 1;
  return mix;
}

function pickKind(random: SeededRandom, mix: Record<FaultKind, number>): FaultKind {
  const total = FAULT_KINDS.reduce((sum, kind) => sum + mix[kind], 0);
  let ticket = random.nextInt(total);
  for (const kind of FAULT_KINDS) {
    if (ticket < mix[kind]) return kind;
    ticket -= mix[kind];
  }
  throw new Error('unreachable: a ticket beyond the total weight');
}

function shuffled(random: SeededRandom, count: number): number[] {
  const order = Array.from({ length: count }, (_, i) => i);
  for (let i = order.length - 1; i > 0; i--) {
    const j = random.nextInt(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

/** link-delay: ms per chunk; link-drop: bytes a connection forwards before its reset. */
const MAGNITUDE: Partial<Record<FaultKind, [number, number]>> = {
  'link-delay': [20, 500],
  'link-drop': [256, 64 * 1024],
};

/** Every directed link between the two sides, both ways unless oneWay. */
function cutBetween(a: readonly number[], b: readonly number[], oneWay = false): Array<[number, number]> {
  const cuts: Array<[number, number]> = [];
  for (const from of a) for (const to of b) {
    cuts.push([from, to]);
    if (!oneWay) cuts.push([to, from]);
  }
  return cuts;
}

function partitionStep(random: SeededRandom, kind: FaultKind, brokers: number): Pick<FaultStep, 'targets' | 'cuts'> {
  const order = shuffled(random, brokers);
  const minority = Math.floor((brokers - 1) / 2);
  let cuts: Array<[number, number]>;
  if (kind === 'partition-isolate') cuts = cutBetween([order[0]!], order.slice(1));
  else if (kind === 'partition-halves') cuts = cutBetween(order.slice(0, minority), order.slice(minority));
  else if (kind === 'partition-bridge') {
    // order[0] is the bridge: it keeps both sides, which cannot reach each other.
    const rest = order.slice(1);
    const half = Math.floor(rest.length / 2);
    cuts = cutBetween(rest.slice(0, half), rest.slice(half));
  } else {
    // One-way: what one side sends never reaches the other; the other way works.
    const split = 1 + random.nextInt(brokers - 1);
    cuts = cutBetween(order.slice(0, split), order.slice(split), true);
  }
  const targets = [...new Set(cuts.flat())].sort((x, y) => x - y);
  return { targets, cuts };
}

function stepFor(random: SeededRandom, kind: FaultKind, atMs: number, gapMs: number, topology: Topology): FaultStep {
  const durationMs = between(random, DURATION_MS[kind]);
  if (kind.startsWith('partition-')) return { atMs, gapMs, kind, durationMs, ...partitionStep(random, kind, topology.brokers) };
  // Damage goes to one broker of a minority only, so the others can rebuild it.
  const target = random.nextInt(topology.brokers);
  const step: FaultStep = { atMs, gapMs, kind, durationMs, targets: [target] };
  if (kind.startsWith('damage-')) step.damagePick = random.nextUint32();
  const magnitude = MAGNITUDE[kind];
  if (magnitude) step.magnitude = between(random, magnitude);
  return step;
}

export function buildSchedule(options: ScheduleOptions): Schedule {
  const random = new SeededRandom(options.seed);
  const allowed = availableKinds(options.topology).filter((kind) => !options.kinds || options.kinds.includes(kind));
  const mix = chooseMix(random, allowed);
  const quietTailMs = options.quietTailMs ?? Math.max(2_000, Math.floor(options.durationMs * 0.15));
  const faultWindowEndMs = options.durationMs - quietTailMs;
  const steps: FaultStep[] = [];
  let freeAtMs = 0;
  for (let bound = 0; bound < 100_000 && allowed.length > 0; bound++) {
    const gapMs = between(random, GAP_MS);
    const step = stepFor(random, pickKind(random, mix), freeAtMs + gapMs, gapMs, options.topology);
    if (step.atMs + step.durationMs > faultWindowEndMs) break;
    steps.push(step);
    freeAtMs = step.atMs + step.durationMs;
  }
  return { seed: options.seed, durationMs: options.durationMs, faultWindowEndMs, mix, steps };
}

/** Faults per kind, for the figures. */
export function countByKind(steps: readonly FaultStep[]): Partial<Record<FaultKind, number>> {
  const counts: Partial<Record<FaultKind, number>> = {};
  for (const step of steps) counts[step.kind] = (counts[step.kind] ?? 0) + 1;
  return counts;
}
