// A leader cut off from its peers keeps appending to its own log; when it comes
// back and leads again, its new proposals take the log indexes of those lost
// ones. Each proposal made during the cut must still be answered (stored or
// "outcome unknown"), never left waiting. Chaos seed 402 found a produce request
// that was never answered this way (the new proposal replaced the old waiter).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Broker } from '../../src/broker/broker.js';
import type { Message } from '../../src/broker/raft/messages.js';
import type { TcpTransport } from '../../src/broker/transport/tcp-transport.js';
import { startInProcessCluster, type InProcessCluster } from '../support/in-process-cluster.js';
import { waitFor } from '../support/temp.js';

let cluster: InProcessCluster;
/** Node ids whose Raft messages (both ways) are dropped. */
const isolated = new Set<number>();

function transportOf(broker: Broker): TcpTransport {
  return (broker as unknown as { peering: { transport: TcpTransport } }).peering.transport;
}

beforeAll(async () => {
  cluster = await startInProcessCluster({ partitions: 1 });
  for (const broker of cluster.brokers) {
    const transport = transportOf(broker);
    const send = transport.send.bind(transport);
    transport.send = (groupId: number, messages: readonly Message[]) => send(groupId, messages.filter((m) => !isolated.has(m.from) && !isolated.has(m.to)));
  }
}, 60_000);

afterAll(async () => {
  isolated.clear();
  await cluster?.close();
});

const PARTITION_GROUP = 1; // partition 0 (group 0 is the controller)
const nodeOf = (broker: Broker): number => broker.log.raftStatus()[0]!.member;
const leaderOf = (broker: Broker): number | null => broker.log.raftStatus().find((group) => group.group === PARTITION_GROUP)!.leader;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Produces `count` events one by one (each its own proposal, so each its own log index); the outcomes settle later. */
async function spacedProduce(broker: Broker, count: number, tag: string): Promise<Array<Promise<unknown>>> {
  const outcomes: Array<Promise<unknown>> = [];
  for (let i = 0; i < count; i++) {
    outcomes.push(broker.produce({ namespace: `/reuse/${tag}/${i}`, data: `${tag}-${i}` }).then((id) => ({ id }), (error: Error) => ({ error: error.message })));
    await sleep(5);
  }
  return outcomes;
}

describe('a leader that loses its quorum and leads again', () => {
  it('answers every append it took while cut off, even when its new proposals reuse their log indexes', async () => {
    const brokers = cluster.brokers;
    const leaderId = leaderOf(brokers[0]!)!;
    const old = brokers.find((broker) => nodeOf(broker) === leaderId)!;
    isolated.add(leaderId);
    // Taken by the cut-off leader: in its log only.
    const cutOff = await spacedProduce(old, 20, 'cut');
    await waitFor(() => !old.log.raftGroups()[0]!.isLeader, 'the cut-off leader to step down (check quorum)', 5_000);
    await waitFor(() => brokers.some((broker) => broker !== old && broker.log.raftGroups()[0]!.isLeader), 'a new leader on the majority side', 5_000);
    isolated.clear();
    // Before the step-down grace runs out: the old leader is made leader again, in a newer term.
    await waitFor(() => leaderOf(old) !== null && leaderOf(old) !== leaderId, 'the old leader to follow the new one', 2_000);
    const current = brokers.find((broker) => broker.log.raftGroups()[0]!.isLeader)!;
    if (current !== old) current.log.raftGroups()[0]!.transferLeadership(leaderId);
    await waitFor(() => old.log.raftGroups()[0]!.isLeader, 'the old leader to lead again', 2_000);
    const after = await spacedProduce(old, 20, 'again');
    const deadline = sleep(15_000).then(() => 'unanswered');
    const answers = await Promise.all([...cutOff, ...after].map((outcome) => Promise.race([outcome, deadline])));
    const unanswered = answers.filter((answer) => answer === 'unanswered').length;
    expect(unanswered, JSON.stringify(answers.slice(0, 20))).toBe(0);
    // Those taken after it led again are stored; those of the cut were refused as unknown or stored.
    for (const answer of answers.slice(20)) expect(answer).toHaveProperty('id');
    for (const answer of answers.slice(0, 20)) {
      if ('error' in (answer as object)) expect((answer as { error: string }).error).toMatch(/may or may not be stored|not stored|leader/);
    }
  }, 60_000);
});
