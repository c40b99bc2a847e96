// What the membership tests share: the cluster's health, waiting for a settled
// membership, and every acknowledged event on every remaining broker.
import { expect } from 'vitest';
import type { ClusterBroker, ClusterStatus, TestCluster } from '../support/cluster.js';
import { waitFor } from '../support/temp.js';
import { checkStored, holdsEvery, type ProduceRun } from './failover.js';
import { byPartition, readAll, request, type Answer } from './http.js';

/** A move is a learner catching up, a promotion and the activation: seconds on a loaded machine. */
export const SETTLE_MS = 60_000;

export interface Health {
  healthy: boolean;
  controllerLeader: number | null;
  partitions: { total: number; leaderless: number; underReplicated: number };
  problems: string[];
}

export async function health(broker: ClusterBroker): Promise<Health | undefined> {
  const answer = await request(`${broker.url}/v1/cluster/health`);
  return answer.status === 200 ? answer.body as Health : undefined;
}

/** Healthy as `broker` sees it, with exactly `members` active and holding replicas of every partition. */
export async function settled(cluster: TestCluster, broker: ClusterBroker, members: number[], what: string): Promise<ClusterStatus> {
  let last: unknown;
  try {
    return await waitFor(async () => {
      const seen = await health(broker);
      last = seen;
      if (!seen?.healthy) return false;
      const status = await cluster.status(broker.nodeId);
      last = status.brokers.map((b) => [b.member, b.state, b.partitions]);
      const active = status.brokers.filter((b) => b.state === 'active').map((b) => b.member).sort((a, b) => a - b);
      if (active.join() !== [...members].sort((a, b) => a - b).join()) return false;
      const placed = status.partitions.every((p) => p.replicas.map(Number).sort((a, b) => a - b).join() === active.join() && (p.raft.learners ?? []).length === 0);
      return placed ? status : false;
    }, what, SETTLE_MS);
  } catch (error) {
    throw new Error(`${(error as Error).message}; last seen: ${JSON.stringify(last)}\nerrors logged:\n${cluster.errors()}`);
  }
}

/** Every broker in `brokers` holds every acknowledged event, and each partition's sequence is the same on all of them. */
export async function checkEverywhere(brokers: readonly ClusterBroker[], run: ProduceRun, label: string): Promise<void> {
  const stored = await Promise.all(brokers.map((broker) => waitFor(async () => {
    const page = await readAll(broker.url, { namespace: '/failover/**' });
    return holdsEvery(page.events, run.acked) ? page.events : false;
  }, `broker ${broker.nodeId} to hold every acknowledged event`, 30_000)
    .catch(async (error: Error) => (await readAll(broker.url, { namespace: '/failover/**' }).catch(() => { throw error; })).events)));
  stored.forEach((events, i) => checkStored(events, run.acked, `${label}: broker ${brokers[i]!.nodeId}`));
  for (const events of stored) expect(byPartition(events)).toEqual(byPartition(stored[0]!));
}

export async function admin(broker: ClusterBroker, method: string, path: string): Promise<Answer> {
  return request(`${broker.url}${path}`, { method });
}

