// The client's routing table and its refresh rules, against a fake /v1/cluster:
// bootstrap from the first seed that answers, leaders mapped to URLs, refreshes
// coalesced, rate-bounded, periodic and triggered by the failures that mean the
// table is stale, brokers that failed tried last for a while.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { FloError } from '../../src/common/errors.js';
import { partitionOf } from '../../src/common/namespace.js';
import { buildTable, Topology, type ClusterAnswer } from '../../src/client/topology.js';

const A = 'http://127.0.0.1:3001';
const B = 'http://127.0.0.1:3002';
const C = 'http://127.0.0.1:3003';

/** What broker `self` (1-3) answers when partition p is led by leaders[p] (a node id or null). */
function answer(self: number, leaders: Array<string | null>, term = 2): ClusterAnswer {
  return {
    mode: 'cluster',
    brokers: [1, 2, 3].map((n) => ({ nodeId: String(n), url: `http://127.0.0.1:300${n}`, self: n === self })),
    partitions: leaders.map((leader, partition) => ({ partition, leader, raft: { term } })),
  };
}

function unreachable(url: string): FloError {
  return new FloError('FLO_ERR_CONNECTION', `cannot reach the broker at ${url} (ECONNREFUSED); is it running? (set --url or FLO_URL)`);
}

/** A fake fetch that records each call and answers from `respond`. */
function fakeFetch(respond: (url: string) => ClusterAnswer | Error): { fetchCluster: (url: string) => Promise<ClusterAnswer>; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    fetchCluster: async (url) => {
      calls.push(url);
      const result = respond(url);
      if (result instanceof Error) throw result;
      return result;
    },
  };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('bootstrap', () => {
  it('learns the table from the first seed that answers, skipping one that is down', async () => {
    const fake = fakeFetch((url) => (url === A ? unreachable(url) : answer(2, ['1', '3'])));
    const topology = new Topology({ seeds: [A, B, C], fetchCluster: fake.fetchCluster });
    const table = await topology.load();
    expect(fake.calls).toEqual([A, B]);
    expect(table).toMatchObject({ mode: 'cluster', partitions: 2, leaders: [A, C], answeredBy: B });
    expect(topology.candidates()).toEqual([B, C, A]); // A failed: tried last
  });

  it('fails naming every broker when none answers', async () => {
    const fake = fakeFetch((url) => unreachable(url));
    const topology = new Topology({ seeds: [A, B], fetchCluster: fake.fetchCluster });
    const failure = topology.load();
    await expect(failure).rejects.toMatchObject({ code: 'FLO_ERR_CONNECTION' });
    await expect(failure).rejects.toThrow(new RegExp(`no broker answered.*${A}.*${B}`));
    // The hint once, at the end: not once per broker.
    await expect(failure).rejects.toThrow(/^no broker answered \([^?]*\); is the cluster running\? \(set --url or FLO_URL\)$/);
  });

  it('fails with the one broker\'s own error when only one was asked', async () => {
    const fake = fakeFetch((url) => unreachable(url));
    const topology = new Topology({ seeds: [A], fetchCluster: fake.fetchCluster });
    await expect(topology.load()).rejects.toThrow(/^cannot reach the broker at .*; is it running\? \(set --url or FLO_URL\)$/);
  });

  it('does not try other brokers when one refuses the credentials', async () => {
    const fake = fakeFetch(() => new FloError('FLO_ERR_UNAUTHENTICATED', 'a bearer token is required'));
    const topology = new Topology({ seeds: [A, B], fetchCluster: fake.fetchCluster });
    await expect(topology.load()).rejects.toMatchObject({ code: 'FLO_ERR_UNAUTHENTICATED' });
    expect(fake.calls).toEqual([A]);
  });
});

describe('table', () => {
  it('reaches the answering broker at the URL the client used, whatever it advertises', () => {
    const table = buildTable('http://flo.example:8080', { mode: 'cluster', brokers: [{ nodeId: '1', url: 'http://10.0.0.1:3000', self: true }, { nodeId: '2', url: 'http://10.0.0.2:3000' }], partitions: [{ partition: 0, leader: '1' }, { partition: 1, leader: '2' }] }, undefined);
    expect(table.leaders).toEqual(['http://flo.example:8080', 'http://10.0.0.2:3000']);
    expect(table.brokers).toEqual(['http://flo.example:8080', 'http://10.0.0.2:3000']);
  });

  it('routes every partition of a single-node broker to it, even without an advertised URL', () => {
    const table = buildTable(A, { mode: 'single-node', brokers: [{ nodeId: 'n1', url: null, self: true }], partitions: [{ partition: 0, leader: 'n1' }, { partition: 1, leader: 'n1' }] }, undefined);
    expect(table).toMatchObject({ mode: 'single-node', partitions: 2, leaders: [A, A], brokers: [A] });
  });

  it('keeps a leader seen in a later term over an answer from an older one', () => {
    const newer = buildTable(B, answer(2, ['2', '3'], 5), undefined);
    const older = buildTable(C, { ...answer(3, ['1', '1'], 4), partitions: [{ partition: 0, leader: '1', raft: { term: 4 } }, { partition: 1, leader: '1', raft: { term: 6 } }] }, newer);
    expect(older.leaders).toEqual([B, A]);
  });

  it('maps a namespace to the partition the brokers use, and sends it to that leader', async () => {
    const fake = fakeFetch(() => answer(1, ['1', '2', '3', null]));
    const topology = new Topology({ seeds: [A], fetchCluster: fake.fetchCluster });
    await topology.load();
    const partition = topology.partitionOf('/orders/eu/42');
    expect(partition).toBe(partitionOf('/orders/eu/42', 4));
    expect([0, 1, 2, 3].map((p) => topology.produceTarget(p))).toEqual([A, B, C, A]); // no leader: the first usable broker
    topology.markDown(B);
    expect(topology.produceTarget(1)).toBe(A); // leader down: any other broker forwards
  });

  it('sends anywhere while the partitioning is unknown', async () => {
    const topology = new Topology({ seeds: [A], fetchCluster: async () => ({ mode: 'single-node', brokers: [], partitions: [] }) });
    await topology.load();
    expect(topology.partitionOf('/a')).toBe(-1);
    expect(topology.produceTarget(-1)).toBe(A);
  });
});

describe('refresh', () => {
  it('shares one request among concurrent callers', async () => {
    const fake = fakeFetch(() => answer(1, ['1']));
    const topology = new Topology({ seeds: [A, B], fetchCluster: fake.fetchCluster });
    await Promise.all([topology.refresh(), topology.refresh(), topology.load()]);
    expect(fake.calls).toEqual([A]);
  });

  it('asks at most once per minRefreshIntervalMs however many failures ask', async () => {
    vi.useFakeTimers();
    const fake = fakeFetch(() => answer(1, ['1']));
    const topology = new Topology({ seeds: [A], fetchCluster: fake.fetchCluster, minRefreshIntervalMs: 1_000 });
    await topology.load();
    for (let i = 0; i < 50; i++) topology.noteFailure(A, new FloError('FLO_ERR_NOT_LEADER', 'partition 0 is led by another broker'));
    await vi.advanceTimersByTimeAsync(999);
    expect(fake.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(fake.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(5_000);
    expect(fake.calls).toHaveLength(2); // the 50 failures cost one refresh
  });

  it.each([
    ['FLO_ERR_NOT_LEADER', true], ['FLO_ERR_UNAVAILABLE', true], ['FLO_ERR_CONNECTION', true],
    ['FLO_ERR_REQUEST_INVALID', false], ['FLO_ERR_EVENT_TOO_LARGE', false], ['FLO_ERR_OVERLOADED', false],
  ] as const)('after %s refreshes: %s', async (code, refreshes) => {
    vi.useFakeTimers();
    const fake = fakeFetch(() => answer(1, ['1']));
    const topology = new Topology({ seeds: [A], fetchCluster: fake.fetchCluster });
    await topology.load();
    topology.noteFailure(A, new FloError(code, 'refused'));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(fake.calls.length).toBe(refreshes ? 2 : 1);
  });

  it('refreshes every refreshIntervalMs while started, and not after stop()', async () => {
    vi.useFakeTimers();
    const fake = fakeFetch(() => answer(1, ['1']));
    const topology = new Topology({ seeds: [A], fetchCluster: fake.fetchCluster, refreshIntervalMs: 30_000 });
    await topology.load();
    topology.startPeriodicRefresh();
    await vi.advanceTimersByTimeAsync(29_000);
    expect(fake.calls).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(fake.calls).toHaveLength(2);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(fake.calls).toHaveLength(4);
    topology.stop();
    await vi.advanceTimersByTimeAsync(120_000);
    expect(fake.calls).toHaveLength(4);
  });

  it('asks again while the answer still names as leader a broker that is down, then stops', async () => {
    vi.useFakeTimers();
    let elected = false;
    const fake = fakeFetch((url) => (url === A ? unreachable(url) : answer(2, [elected ? '2' : '1'])));
    const topology = new Topology({ seeds: [A, B], fetchCluster: fake.fetchCluster, minRefreshIntervalMs: 1_000 });
    await topology.load(); // A is down, B still believes A leads
    expect(topology.table!.leaders).toEqual([A]);
    await vi.advanceTimersByTimeAsync(1_000);
    elected = true;
    await vi.advanceTimersByTimeAsync(1_000);
    expect(topology.table!.leaders).toEqual([B]);
    const calls = fake.calls.length;
    await vi.advanceTimersByTimeAsync(10_000);
    expect(fake.calls.length).toBe(calls);
  });

  it('tries a broker that failed again once downForMs has passed', async () => {
    vi.useFakeTimers();
    const topology = new Topology({ seeds: [A, B], fetchCluster: async () => answer(1, ['1']), downForMs: 3_000 });
    topology.markDown(A);
    expect(topology.candidates()).toEqual([B, A]);
    await vi.advanceTimersByTimeAsync(3_000);
    expect(topology.candidates()).toEqual([A, B]);
  });
});
