// The cluster part of `npm run bench`: which 3-node systems run which of W4, W7 and W8,
// each workload on a freshly started cluster (W7 measures a cluster that has just
// settled; W8 must not inherit a cluster another workload has moved leaders in).

import { type ClusterDriver } from './drivers/cluster.js';
import { type ClusterRun } from './cluster-report.js';
import { idleWorkload, replicatedProduceWorkload } from './cluster-workloads.js';
import { failoverWorkload, type FailoverTimeline } from './failover-workload.js';

export const CLUSTER_WORKLOADS = ['W4', 'W7', 'W8'] as const;
export type ClusterWorkload = (typeof CLUSTER_WORKLOADS)[number];

export interface ClusterParameters {
  readonly events: number;
  readonly maxInFlight: number;
  /** W7: Raft groups (Flo partitions; JetStream R3 streams) and the quiet before and during the measurement. */
  readonly idleGroups: number;
  readonly idleSettleMs: number;
  readonly idleMs: number;
  readonly failover: FailoverTimeline;
}

export function clusterParameters(quick: boolean, events: number, maxInFlight: number): ClusterParameters {
  return {
    events,
    maxInFlight,
    idleGroups: 64,
    idleSettleMs: quick ? 2_000 : 5_000,
    idleMs: quick ? 5_000 : 30_000,
    failover: quick
      ? { ratePerSecond: 5_000, killAtMs: 3_000, restartAtMs: 8_000, endAtMs: 12_000 }
      : { ratePerSecond: 5_000, killAtMs: 5_000, restartAtMs: 15_000, endAtMs: 25_000 },
  };
}

/** Whether `driver` takes part in `workload`: etcd is W4's Raft reference only. */
export function covers(driver: ClusterDriver, workload: ClusterWorkload): boolean {
  return workload === 'W4' || driver.failover !== undefined;
}

/** Starts `driver` for one workload, runs it, stops it; an error is kept in the run, not thrown. */
async function once<T>(driver: ClusterDriver, groups: number | undefined, body: () => Promise<T>): Promise<T> {
  await driver.start({ groups });
  try {
    return await body();
  } finally {
    await driver.stop();
  }
}

export async function runClusterSystem(driver: ClusterDriver, run: number, workloads: ReadonlySet<ClusterWorkload>, p: ClusterParameters): Promise<ClusterRun> {
  const result: ClusterRun = { system: driver.system, run };
  const errors: string[] = [];
  const attempt = async (workload: ClusterWorkload, body: () => Promise<void>): Promise<void> => {
    if (!workloads.has(workload) || !covers(driver, workload)) return;
    try {
      await body();
    } catch (error) {
      errors.push(`${workload}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  await attempt('W4', async () => {
    result.w4 = await once(driver, undefined, () => replicatedProduceWorkload(driver, p.events, p.maxInFlight));
  });
  await attempt('W7', async () => {
    result.w7 = await once(driver, p.idleGroups, () => idleWorkload(driver, p.idleGroups, p.idleSettleMs, p.idleMs));
  });
  await attempt('W8', async () => {
    result.w8 = await once(driver, undefined, () => failoverWorkload(driver, p.failover));
  });
  if (errors.length > 0) result.error = errors.join('; ');
  return result;
}

export function clusterProgressLine(result: ClusterRun): string {
  const parts: string[] = [];
  if (result.w4) parts.push(`W4 ${(result.w4.eventsPerSecond / 1e3).toFixed(1)}k/s p99 ${result.w4.ackP99Ms.toFixed(1)} ms`);
  if (result.w7) parts.push(`W7 max ${Math.max(...Object.values(result.w7.nodeCores)).toFixed(3)} cores/node`);
  if (result.w8) {
    parts.push(`W8 ack gap ${result.w8.longestAckGapMs.toFixed(0)} ms, delivery gap ${result.w8.longestDeliveryGapMs.toFixed(0)} ms, `
      + `led after ${result.w8.leaderlessMs.toFixed(0)} ms, lost ${result.w8.ackedLost}, dup ${result.w8.duplicatesStored}`);
  }
  return `bench: run ${result.run} ${result.system}: ${parts.join(', ') || '–'}${result.error ? ` ERROR ${result.error}` : ''}\n`;
}
