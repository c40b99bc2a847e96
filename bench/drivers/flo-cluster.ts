// Flo as a 3-broker cluster: `flo server --node-id N --peer-port P --peers <all three>`
// on loopback, replication factor 3, durability fsync, driven through Flo's own client
// given all three brokers: it learns the partition leaders from /v1/cluster, produces to
// each partition's leader, re-sends what provably stored nothing and moves subscriptions
// to another broker when theirs fails (src/client/topology.ts).

import { existsSync } from 'node:fs';
import { connect } from '../../src/client/index.js';
import { freePort, makeTempDir, startServer, stopServer, waitUntil, type ServerProcess } from '../lib/proc.js';
import { type ClusterDriver, type ClusterNode, type ClusterStartOptions, type FailoverControl, type ProducerOptions } from './cluster.js';
import { type AckHandler, type DeliveryHandler, type LiveSubscription, type Producer, NAMESPACE_COUNT } from './driver.js';
import { checkoutVersion, CLI, liveSubscription } from './flo.js';

export const FLO_CLUSTER_BROKERS = 3;
/** How long the founders get to meet, elect every partition's leader and answer /readyz. */
export const FLO_CLUSTER_FORM_TIMEOUT_MS = 60_000;
/** Each /v1/cluster or /readyz poll gets this long. */
const POLL_TIMEOUT_MS = 1_000;
const NAMESPACES = Array.from({ length: NAMESPACE_COUNT }, (_, n) => `/orders/eu/${n}`);
/** WORKLOADS.md W8: one live subscriber on a glob matching everything. */
const ALL_NAMESPACES = '/**';

/** The part of GET /v1/cluster the bench reads (issue 9's cluster view). */
export interface FloClusterView {
  readonly mode: string;
  readonly brokers: ReadonlyArray<{ readonly nodeId: string; readonly ready: boolean; readonly reachable?: boolean; readonly self?: boolean }>;
  readonly partitions: ReadonlyArray<{ readonly partition: number; readonly leader: string | null; readonly replicas: readonly string[] }>;
}

interface BrokerPlan {
  readonly nodeId: string;
  readonly port: number;
  readonly peerPort: number;
  readonly dataDir: string;
  readonly url: string;
}

async function getJson<T>(url: string): Promise<T | undefined> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(POLL_TIMEOUT_MS) });
    return response.status === 200 ? (await response.json() as T) : undefined;
  } catch {
    return undefined;
  }
}

async function isReady(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(POLL_TIMEOUT_MS) })).status === 200;
  } catch {
    return false;
  }
}

/** Partitions led per node id in one broker's view; null leaders are counted under ''. */
export function leadersByNode(view: FloClusterView): Map<string, number> {
  const counts = new Map<string, number>();
  for (const partition of view.partitions) counts.set(partition.leader ?? '', (counts.get(partition.leader ?? '') ?? 0) + 1);
  return counts;
}

export class FloClusterDriver implements ClusterDriver {
  readonly system = 'flo-r3';
  readonly durability = 'replication factor 3, fsync: acknowledged once a quorum of replicas has fsynced the event';
  readonly version = checkoutVersion();
  readonly failover: FailoverControl;
  private plans: BrokerPlan[] = [];
  private servers: (ServerProcess | undefined)[] = [];
  private partitions: number | undefined;

  /** @param profileDir when set, every broker runs with `node --cpu-prof` and writes its profile there on exit. */
  constructor(private readonly profileDir?: string) {
    this.failover = new FloFailover(this);
  }

  async start(options: ClusterStartOptions): Promise<void> {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run npm run build`);
    this.partitions = options.groups;
    this.plans = [];
    for (let i = 1; i <= FLO_CLUSTER_BROKERS; i += 1) {
      const port = await freePort();
      this.plans.push({ nodeId: String(i), port, peerPort: await freePort(), dataDir: makeTempDir(`flo-r3-${i}`), url: `http://127.0.0.1:${port}` });
    }
    this.servers = this.plans.map((_, i) => this.spawn(i));
    await this.waitFormed(FLO_CLUSTER_FORM_TIMEOUT_MS);
  }

  private spawn(index: number): ServerProcess {
    const plan = this.plans[index] as BrokerPlan;
    const peers = this.plans.map((other) => `127.0.0.1:${other.peerPort}`).join(',');
    const partitions = this.partitions === undefined ? [] : ['--partitions', String(this.partitions)];
    const nodeArgs = this.profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${this.profileDir}`];
    return startServer(`flo broker ${plan.nodeId}`, process.execPath, [
      ...nodeArgs, CLI, 'server', '--node-id', plan.nodeId, '-d', plan.dataDir, '-p', String(plan.port), '--host', '127.0.0.1',
      '--peer-port', String(plan.peerPort), '--peers', peers, ...partitions, '--log-level', 'warn',
    ], plan.dataDir);
  }

  /** Every running broker answers /readyz, and each one's view gives every partition a leader. */
  async waitFormed(timeoutMs: number, killed?: string): Promise<void> {
    await waitUntil('flo-r3 brokers ready with every partition led', async () => {
      for (const server of this.servers) if (server?.hasExited()) throw new Error(`${server.name} exited: ${server.output()}`);
      return await this.allLed(killed, true);
    }, timeoutMs, 100);
  }

  /** True when every running broker's view has a leader other than `killed` for every partition (and, if asked, /readyz is 200). */
  async allLed(killed: string | undefined, requireReady: boolean): Promise<boolean> {
    // The killed broker's own view is left out even once it is restarted: the question is whether the survivors serve.
    const live = this.plans.filter((plan, i) => this.servers[i] !== undefined && plan.nodeId !== killed);
    const checks = await Promise.all(live.map(async (plan) => {
      if (requireReady && !(await isReady(plan.url))) return false;
      const view = await getJson<FloClusterView>(`${plan.url}/v1/cluster`);
      if (view === undefined || view.mode !== 'cluster' || view.partitions.length === 0) return false;
      return view.partitions.every((partition) => partition.leader !== null && partition.leader !== killed);
    }));
    return checks.every(Boolean);
  }

  async view(index: number): Promise<FloClusterView> {
    const view = await getJson<FloClusterView>(`${this.plan(index).url}/v1/cluster`);
    if (view === undefined) throw new Error(`flo-r3 broker ${this.plan(index).nodeId}: no /v1/cluster answer`);
    return view;
  }

  plan(index: number): BrokerPlan {
    const plan = this.plans[index];
    if (!plan) throw new Error(`flo-r3 has no broker ${index}`);
    return plan;
  }

  indexOf(nodeId: string): number {
    return this.plans.findIndex((plan) => plan.nodeId === nodeId);
  }

  async stop(): Promise<void> {
    await Promise.all(this.servers.map(async (server) => { if (server) await stopServer(server); }));
    this.servers = [];
  }

  nodes(): readonly ClusterNode[] {
    return this.servers.flatMap((server, i) => (server && !server.hasExited() ? [{ name: `broker ${this.plans[i]?.nodeId}`, pid: server.pid }] : []));
  }

  /** Every broker's URL, comma-separated, `first` first: the client learns the cluster from the first that answers. */
  brokerList(first: number): string {
    const urls = this.plans.map((plan) => plan.url);
    return [...urls.slice(first), ...urls.slice(0, first)].join(',');
  }

  async openProducer(onAck: AckHandler, options: ProducerOptions = {}): Promise<Producer> {
    const client = await connect(this.brokerList(options.attachTo ?? 0));
    return {
      send: (index, namespaceIndex, data) => {
        client.produce({ namespace: NAMESPACES[namespaceIndex] as string, data }).then(() => onAck(index), (error: Error) => onAck(index, error));
      },
      close: () => client.close(),
    };
  }

  killBroker(index: number): Promise<number | null> {
    const server = this.servers[index];
    if (!server) throw new Error(`flo-r3 broker ${index} is not running`);
    process.kill(server.pid, 'SIGKILL');
    this.servers[index] = undefined;
    return server.exited;
  }

  respawn(index: number): void {
    if (this.servers[index]) throw new Error(`flo-r3 broker ${index} is already running`);
    this.servers[index] = this.spawn(index);
  }

  liveIndex(avoid: number): number {
    const index = this.plans.findIndex((_, i) => i !== avoid && this.servers[i] !== undefined);
    if (index < 0) throw new Error('flo-r3 has no live broker');
    return index;
  }
}

class FloFailover implements FailoverControl {
  /** Flo's client has no idempotent producer yet: a re-sent event whose first ack was lost is stored twice. */
  readonly idempotentProducer = false;
  readonly ackTimeoutMs = undefined;

  constructor(private readonly driver: FloClusterDriver) {}

  private async counts(): Promise<Map<string, number>> {
    return leadersByNode(await this.driver.view(this.driver.liveIndex(-1)));
  }

  async pickVictim(): Promise<number> {
    const counts = [...(await this.counts()).entries()].filter(([nodeId]) => nodeId !== '').sort((a, b) => b[1] - a[1]);
    const top = counts[0];
    if (top === undefined) throw new Error('flo-r3: no partition has a leader');
    return this.driver.indexOf(top[0]);
  }

  async pickSurvivor(): Promise<number> {
    const counts = await this.counts();
    const led = (index: number): number => counts.get(this.driver.plan(index).nodeId) ?? 0;
    const indexes = Array.from({ length: FLO_CLUSTER_BROKERS }, (_, i) => i).sort((a, b) => led(a) - led(b));
    return indexes[0] as number;
  }

  nodeName(node: number): string {
    return `broker ${this.driver.plan(node).nodeId}`;
  }

  async kill(node: number): Promise<void> {
    await this.driver.killBroker(node);
  }

  async restart(node: number): Promise<void> {
    this.driver.respawn(node);
    await Promise.resolve();
  }

  async allGroupsLed(killed: number): Promise<boolean> {
    return await this.driver.allLed(this.driver.plan(killed).nodeId, false);
  }

  async subscribeLive(node: number, onEvent: DeliveryHandler): Promise<LiveSubscription> {
    return liveSubscription(await connect(this.driver.brokerList(node)), onEvent);
  }


  async replayAll(node: number, onEvent: DeliveryHandler): Promise<number> {
    const client = await connect(this.driver.brokerList(node));
    try {
      let count = 0;
      for await (const event of client.subscribe({ namespace: ALL_NAMESPACES, from: 'earliest', follow: false })) {
        onEvent(event.data);
        count += 1;
      }
      return count;
    } finally {
      await client.close();
    }
  }
}
