// W8's bookkeeping (bench/failover-workload.ts) against an in-memory cluster whose faults
// are known exactly, so the figures the bench prints for real clusters are shown to
// count what they claim: loss, duplicates, re-sends and silences.
import { describe, expect, it } from 'vitest';
import { type ClusterDriver, type FailoverControl } from '../../bench/drivers/cluster.js';
import { type AckHandler, type DeliveryHandler, type LiveSubscription, type Producer } from '../../bench/drivers/driver.js';
import { failoverWorkload, type FailoverTimeline } from '../../bench/failover-workload.js';

const TIMELINE: FailoverTimeline = { ratePerSecond: 1_000, killAtMs: 200, restartAtMs: 500, endAtMs: 700 };

interface Faults {
  /** While the victim is down, a send fails after the event was stored (outcome unknown). */
  readonly storeBeforeFailing: boolean;
  /** Events acknowledged without being stored (a broken system). */
  readonly ackWithoutStoring: ReadonlySet<number>;
}

/** A cluster in one process: sends fail while the victim is down; what is stored is replayed. */
class FakeCluster implements ClusterDriver, FailoverControl {
  readonly system = 'fake';
  readonly durability = 'memory';
  readonly version = '0';
  readonly failover = this;
  readonly idempotentProducer = false;
  readonly ackTimeoutMs = undefined;
  readonly stored: Uint8Array[] = [];
  failedSends = 0;
  storedThenFailed = 0;
  private down = false;
  private readonly subscribers = new Set<DeliveryHandler>();

  constructor(private readonly faults: Faults) {}

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
  nodes(): [] {
    return [];
  }

  async openProducer(onAck: AckHandler): Promise<Producer> {
    return {
      send: (index, _namespace, data) => {
        const copy = Uint8Array.from(data);
        setImmediate(() => {
          if (this.down) {
            this.failedSends += 1;
            if (this.faults.storeBeforeFailing && index >= 0) {
              this.store(copy);
              this.storedThenFailed += 1;
            }
            onAck(index, Object.assign(new Error('connection lost'), { code: 'FLO_ERR_CONNECTION' }));
            return;
          }
          if (!this.faults.ackWithoutStoring.has(index)) this.store(copy);
          onAck(index);
        });
      },
      close: async () => undefined,
    };
  }

  private store(data: Uint8Array): void {
    this.stored.push(data);
    for (const deliver of this.subscribers) deliver(data);
  }

  async pickVictim(): Promise<number> {
    return 0;
  }

  async pickSurvivor(): Promise<number> {
    return 1;
  }

  nodeName(node: number): string {
    return `node ${node}`;
  }

  async kill(): Promise<void> {
    this.down = true;
  }

  async restart(): Promise<void> {
    this.down = false;
  }

  async allGroupsLed(): Promise<boolean> {
    return !this.down;
  }

  async subscribeLive(_node: number, onEvent: DeliveryHandler): Promise<LiveSubscription> {
    this.subscribers.add(onEvent);
    return { close: async () => { this.subscribers.delete(onEvent); } };
  }

  async replayAll(_node: number, onEvent: DeliveryHandler): Promise<number> {
    for (const data of this.stored) onEvent(data);
    return this.stored.length;
  }
}

describe('W8 failover bookkeeping', () => {
  it('re-sends what failed until acknowledged, with nothing lost or stored twice when failures store nothing', async () => {
    const cluster = new FakeCluster({ storeBeforeFailing: false, ackWithoutStoring: new Set() });
    const result = await failoverWorkload(cluster, TIMELINE);
    expect(result.events).toBe(700);
    expect(cluster.failedSends).toBeGreaterThan(0);
    expect(result.resends).toBe(cluster.failedSends);
    expect(result.ackedLost).toBe(0);
    expect(result.duplicatesStored).toBe(0);
    expect(result.duplicatesDelivered).toBe(0);
    // Nothing was acknowledged while the victim was down (from 200 ms to 500 ms).
    expect(result.longestAckGapMs).toBeGreaterThan(250);
    expect(result.leaderlessMs).toBeGreaterThan(250);
  });

  it('counts as duplicates the re-sends of events a failed send had stored after all', async () => {
    const cluster = new FakeCluster({ storeBeforeFailing: true, ackWithoutStoring: new Set() });
    const result = await failoverWorkload(cluster, TIMELINE);
    expect(cluster.storedThenFailed).toBeGreaterThan(0);
    expect(result.duplicatesStored).toBe(cluster.storedThenFailed);
    expect(result.duplicatesDelivered).toBe(cluster.storedThenFailed);
    expect(result.ackedLost).toBe(0);
  });

  it('reports acknowledged events that the store does not hold as lost', async () => {
    const cluster = new FakeCluster({ storeBeforeFailing: false, ackWithoutStoring: new Set([10, 11, 650]) });
    const result = await failoverWorkload(cluster, TIMELINE);
    expect(result.ackedLost).toBe(3);
    expect(result.ackedNotDelivered).toBe(3);
  });
});
