// The cluster table: W4, W7 and W8 per system (flo-r3, jetstream-r3, etcd-3), printed
// in the same style as the single-server table with Flo's ratio to each peer. Nodes are
// ranked by CPU within each run (which node leads differs between systems and runs).

import { type IdleResult, type NodeCores, type ReplicatedProduceResult } from './cluster-workloads.js';
import { type FailoverResult } from './failover-workload.js';
import { summarizeRows, type Row, type Summary } from './report.js';

export interface ClusterRun {
  readonly system: string;
  readonly run: number;
  w4?: ReplicatedProduceResult;
  w7?: IdleResult;
  w8?: FailoverResult;
  error?: string;
}

/** The reference column of the cluster table. */
export const CLUSTER_REFERENCE = 'flo-r3';

/** The `rank`-th busiest node's cores (0 = busiest). */
function ranked(cores: NodeCores | undefined, rank: number): number | undefined {
  if (!cores) return undefined;
  return Object.values(cores).sort((a, b) => b - a)[rank];
}

const total = (values: Record<string, number> | undefined): number | undefined => values && Object.values(values).reduce((sum, v) => sum + v, 0);
const largest = (values: Record<string, number> | undefined): number | undefined => values && Math.max(...Object.values(values));
const mean = (values: Record<string, number> | undefined): number | undefined => {
  if (!values) return undefined;
  const all = Object.values(values);
  return all.reduce((sum, v) => sum + v, 0) / all.length;
};

const ROWS: readonly Row<ClusterRun>[] = [
  { workload: 'W4 replicated produce', metric: 'events/s', unit: 'rate', value: (r) => r.w4?.eventsPerSecond },
  { workload: 'W4 replicated produce', metric: 'MB/s (payload)', unit: 'mb', value: (r) => r.w4?.megabytesPerSecond },
  { workload: 'W4 replicated produce', metric: 'ack p50 ms', unit: 'ms', value: (r) => r.w4?.ackP50Ms },
  { workload: 'W4 replicated produce', metric: 'ack p99 ms', unit: 'ms', value: (r) => r.w4?.ackP99Ms },
  { workload: 'W4 replicated produce', metric: 'CPU busiest node (cores)', unit: 'cores', value: (r) => ranked(r.w4?.nodeCores, 0) },
  { workload: 'W4 replicated produce', metric: 'CPU 2nd node (cores)', unit: 'cores', value: (r) => ranked(r.w4?.nodeCores, 1) },
  { workload: 'W4 replicated produce', metric: 'CPU 3rd node (cores)', unit: 'cores', value: (r) => ranked(r.w4?.nodeCores, 2) },
  { workload: 'W4 replicated produce', metric: 'CPU all nodes (cores)', unit: 'cores', value: (r) => total(r.w4?.nodeCores) },
  { workload: 'W4 replicated produce', metric: 'CPU client (cores)', unit: 'cores', value: (r) => r.w4?.clientCores },
  { workload: 'W4 replicated produce', metric: 'server CPU µs/event (all nodes)', unit: 'plain', value: (r) => r.w4?.serverCpuMicrosPerEvent },
  { workload: 'W4 replicated produce', metric: 'peak RSS largest node MB', unit: 'mb', value: (r) => r.w4 && (largest(r.w4.nodePeakRssBytes) as number) / 1e6 },
  { workload: 'W7 idle cluster', metric: 'CPU per node, max (cores)', unit: 'cores', value: (r) => largest(r.w7?.nodeCores) },
  { workload: 'W7 idle cluster', metric: 'CPU per node, mean (cores)', unit: 'cores', value: (r) => mean(r.w7?.nodeCores) },
  { workload: 'W7 idle cluster', metric: 'RSS per node, max MB', unit: 'mb', value: (r) => r.w7 && (largest(r.w7.nodeRssBytes) as number) / 1e6 },
  { workload: 'W8 failover', metric: 'longest gap between acks ms', unit: 'ms', value: (r) => r.w8?.longestAckGapMs },
  { workload: 'W8 failover', metric: 'longest gap between deliveries ms', unit: 'ms', value: (r) => r.w8?.longestDeliveryGapMs },
  { workload: 'W8 failover', metric: 'longest send→ack wait ms', unit: 'ms', value: (r) => r.w8?.longestAckWaitMs },
  { workload: 'W8 failover', metric: 'kill → every group led again ms', unit: 'ms', value: (r) => r.w8?.leaderlessMs },
  { workload: 'W8 failover', metric: 'acknowledged events lost', unit: 'count', value: (r) => r.w8?.ackedLost },
  { workload: 'W8 failover', metric: 'acknowledged, never delivered live', unit: 'count', value: (r) => r.w8?.ackedNotDelivered },
  { workload: 'W8 failover', metric: 'duplicates stored', unit: 'count', value: (r) => r.w8?.duplicatesStored },
  { workload: 'W8 failover', metric: 'duplicates delivered', unit: 'count', value: (r) => r.w8?.duplicatesDelivered },
  { workload: 'W8 failover', metric: 'events re-sent by the producer', unit: 'count', value: (r) => r.w8?.resends },
];

export function summarizeCluster(runs: readonly ClusterRun[], systems: readonly string[]): Summary[] {
  return summarizeRows(ROWS, runs, systems, CLUSTER_REFERENCE);
}

/** Cores other processes used during the cluster workloads that measured it (W4, W7). */
export function clusterOtherCores(runs: readonly ClusterRun[]): number[] {
  return runs.flatMap((run) => [run.w4?.otherCores, run.w7?.otherCores].filter((value): value is number => value !== undefined));
}
