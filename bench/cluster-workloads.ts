// The cluster workloads of WORKLOADS.md that need no broker to die: W4 (W1 against a
// 3-node cluster, CPU read per node) and W7 (a 3-node cluster left idle, CPU and RSS
// per node). W8, failover, is in failover-workload.ts. Each takes a started cluster.

import { performance } from 'node:perf_hooks';
import { type ClusterDriver, type ClusterNode } from './drivers/cluster.js';
import { machineBusySeconds, processCpuSeconds, processRssBytes, RssSampler } from './lib/proc.js';
import { produceWorkload, type ProduceResult } from './workloads.js';

/** CPU of each node over a window, in cores (1.0 = one core busy throughout). */
export type NodeCores = Record<string, number>;

export interface ReplicatedProduceResult {
  readonly events: number;
  readonly seconds: number;
  readonly eventsPerSecond: number;
  readonly megabytesPerSecond: number;
  readonly ackP50Ms: number;
  readonly ackP99Ms: number;
  readonly ackMaxMs: number;
  readonly clientCores: number;
  readonly nodeCores: NodeCores;
  /** All nodes' CPU per acknowledged event. */
  readonly serverCpuMicrosPerEvent: number;
  readonly nodePeakRssBytes: Record<string, number>;
  /** Cores other processes on the machine used meanwhile. */
  readonly otherCores: number;
}

export interface IdleResult {
  readonly groups: number;
  readonly settleSeconds: number;
  readonly seconds: number;
  readonly nodeCores: NodeCores;
  readonly nodeRssBytes: Record<string, number>;
  readonly otherCores: number;
}

/** CPU seconds per node so far, keyed by node name. */
function cpuByNode(nodes: readonly ClusterNode[]): Record<string, number> {
  return Object.fromEntries(nodes.map((node) => [node.name, processCpuSeconds(node.pid)]));
}

function coresBetween(before: Record<string, number>, after: Record<string, number>, seconds: number): NodeCores {
  return Object.fromEntries(Object.keys(before).map((name) => [name, ((after[name] ?? Number.NaN) - (before[name] as number)) / seconds]));
}

const sum = (values: Iterable<number>): number => [...values].reduce((total, value) => total + value, 0);

/** W4: W1's events, payloads and in-flight window against a cluster, producing through node 0. */
export async function replicatedProduceWorkload(driver: ClusterDriver, events: number, window: number): Promise<ReplicatedProduceResult> {
  const nodes = driver.nodes();
  const first = nodes[0];
  if (!first) throw new Error(`${driver.system}: no node running`);
  const samplers = nodes.map((node) => new RssSampler(node.pid));
  let windowStart: { cpu: Record<string, number>; machine: number; client: NodeJS.CpuUsage; at: number } | undefined;
  // produceWorkload asks for the pid last as its measured window opens (after the producer
  // connected), so each call restarts the per-node window and the last one stands.
  const target = {
    system: driver.system,
    serverPid: () => {
      windowStart = { cpu: cpuByNode(nodes), machine: machineBusySeconds(), client: process.cpuUsage(), at: performance.now() };
      return first.pid;
    },
    openProducer: (onAck: Parameters<ClusterDriver['openProducer']>[0]) => driver.openProducer(onAck, { attachTo: 0 }),
  };
  let produced: ProduceResult;
  try {
    produced = await produceWorkload(target, events, window);
  } finally {
    for (const sampler of samplers) sampler.stop();
  }
  const start = windowStart as NonNullable<typeof windowStart>;
  const seconds = (performance.now() - start.at) / 1000;
  const client = process.cpuUsage(start.client);
  const clientSeconds = (client.user + client.system) / 1e6;
  const nodeCores = coresBetween(start.cpu, cpuByNode(nodes), seconds);
  const serverSeconds = sum(Object.values(nodeCores)) * seconds;
  return {
    events,
    seconds: produced.seconds,
    eventsPerSecond: produced.eventsPerSecond,
    megabytesPerSecond: produced.megabytesPerSecond,
    ackP50Ms: produced.ackP50Ms,
    ackP99Ms: produced.ackP99Ms,
    ackMaxMs: produced.ackMaxMs,
    clientCores: clientSeconds / seconds,
    nodeCores,
    serverCpuMicrosPerEvent: (serverSeconds * 1e6) / events,
    nodePeakRssBytes: Object.fromEntries(nodes.map((node, i) => [node.name, samplers[i]?.stop() ?? Number.NaN])),
    otherCores: Math.max(0, machineBusySeconds() - start.machine - clientSeconds - serverSeconds) / seconds,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** W7: after `settleMs` of quiet for start-up work to finish, CPU and RSS per node over `idleMs` with no traffic. */
export async function idleWorkload(driver: ClusterDriver, groups: number, settleMs: number, idleMs: number): Promise<IdleResult> {
  await sleep(settleMs);
  const nodes = driver.nodes();
  const before = cpuByNode(nodes);
  const machineBefore = machineBusySeconds();
  const startedAt = performance.now();
  await sleep(idleMs);
  const seconds = (performance.now() - startedAt) / 1000;
  const after = cpuByNode(nodes);
  const nodeCores = coresBetween(before, after, seconds);
  const serverSeconds = sum(Object.values(nodeCores)) * seconds;
  return {
    groups,
    settleSeconds: settleMs / 1000,
    seconds,
    nodeCores,
    nodeRssBytes: Object.fromEntries(nodes.map((node) => [node.name, processRssBytes(node.pid)])),
    otherCores: Math.max(0, machineBusySeconds() - machineBefore - serverSeconds) / seconds,
  };
}
