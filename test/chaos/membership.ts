// The member-replace nemesis: the cluster's spare slot joins as a new member, then
// a member is drained, removed and its data dir wiped, and that slot becomes the
// spare for the next time, as an operator replaces a broker (join first, so the
// drain never goes below the replication factor). Every broker holds every
// group here, so a drain needs one member more than the replication factor.
import { rm } from 'node:fs/promises';
import { waitFor } from '../support/temp.js';
import type { BrokerProcess } from './brokers.js';
import type { ProxyMesh } from './mesh.js';

/** The slots of a cluster run and which of them is not a member now. */
export interface MemberSlots {
  readonly brokers: readonly BrokerProcess[];
  readonly mesh: ProxyMesh;
  spare: BrokerProcess | undefined;
}

interface ClusterBody {
  member: number;
  brokers: Array<{ member: number; state: string; partitions: number }>;
}

const JOIN_TIMEOUT_MS = 60_000;
const DRAIN_TIMEOUT_MS = 60_000;

async function call(method: string, url: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { method, signal: AbortSignal.timeout(5_000) });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // a plain-text answer stays as it is
  }
  return { status: response.status, body };
}

async function clusterView(broker: BrokerProcess): Promise<ClusterBody | undefined> {
  const answer = await call('GET', `${broker.url}/v1/cluster`).catch(() => undefined);
  return answer?.status === 200 ? (answer.body as ClusterBody) : undefined;
}

/** The member id a running broker says it is. */
async function memberId(broker: BrokerProcess): Promise<number> {
  const view = await waitFor(() => clusterView(broker), `${broker.name} to answer /v1/cluster`, 10_000);
  return view.member;
}

/** Wipes a slot's data dir and its fsync ledger (whose entries name the old store's log files). */
async function wipe(broker: BrokerProcess): Promise<void> {
  await rm(broker.dataDir, { recursive: true, force: true });
  await rm(broker.syncLedger, { force: true });
}

/**
 * Replaces `victim` with the spare: join, wait until active, drain the victim, remove it, stop it and
 * wipe its data dir. Returns what was done, for the timeline; throws (a liveness finding) when a step
 * does not finish in time.
 */
export async function replaceMember(slots: MemberSlots, victim: BrokerProcess): Promise<string> {
  const spare = slots.spare;
  if (spare === undefined) throw new Error('no spare slot to join');
  const seed = slots.brokers.find((broker) => broker !== victim && broker !== spare && broker.running);
  if (seed === undefined) throw new Error('no running member to join through');
  spare.rejoinThrough(slots.mesh.address(spare.index, seed.index));
  slots.spare = undefined;
  await spare.start();
  const joined = await memberId(spare);
  await waitFor(async () => (await clusterView(seed))?.brokers.find((b) => b.member === joined)?.state === 'active',
    `node ${joined} (${spare.name}) to become active`, JOIN_TIMEOUT_MS);

  const leaving = await memberId(victim);
  const drain = await call('POST', `${seed.url}/v1/admin/members/${leaving}/drain`);
  if (drain.status !== 202) throw new Error(`drain of node ${leaving} answered ${drain.status} ${JSON.stringify(drain.body)}`);
  await waitFor(async () => (await clusterView(seed))?.brokers.find((b) => b.member === leaving)?.partitions === 0,
    `node ${leaving} (${victim.name}) to hold no replica`, DRAIN_TIMEOUT_MS);
  const removed = await call('DELETE', `${seed.url}/v1/admin/members/${leaving}`);
  if (removed.status !== 200) throw new Error(`removal of node ${leaving} answered ${removed.status} ${JSON.stringify(removed.body)}`);
  await victim.kill();
  await wipe(victim);
  slots.spare = victim;
  return `${spare.name} joined as node ${joined} through ${seed.name}; ${victim.name} (node ${leaving}) drained, removed and wiped: the next spare`;
}
