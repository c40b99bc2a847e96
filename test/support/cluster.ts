// An N-broker cluster of real `flo server` processes (built dist/) on loopback
// with free ports, for the cluster tests and the chaos harness. Each broker can
// be stopped, killed, paused (SIGSTOP) and restarted on the same ports and data
// dir; every signal goes to a PID this module spawned, and `close()` (afterAll)
// ends all of them, so no broker outlives its test file.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { CLI_PATH, freePort } from './server-process.js';
import { tempDir, waitFor } from './temp.js';

export interface ClusterPartitionStatus {
  partition: number;
  leader: string | null;
  leaderUrl: string | null;
  /** Where the balancer moves leadership (every partition led there: the cluster is balanced). */
  preferredLeader?: string | null;
  replicas: string[];
  nextOffset: number;
  raft: { role: string; term: number; leader: number | null; commitIndex: number; appliedIndex: number; voters: number[]; learners?: number[] };
}

export interface ClusterStatus {
  mode: string;
  nodeId: string;
  member?: number;
  brokers: Array<{ nodeId: string; member: number; url: string | null; peer: string | null; reachable: boolean; self: boolean; ready: boolean | null; state?: string; partitions?: number; leaders?: number }>;
  partitions: ClusterPartitionStatus[];
}

export interface ClusterBroker {
  readonly nodeId: number;
  readonly url: string;
  readonly httpPort: number;
  readonly peerPort: number;
  readonly dataDir: string;
  /** Everything the broker printed, across restarts. */
  output(): string;
  /** The running process, or undefined once it exited. */
  readonly child: ChildProcess | undefined;
}

export interface ClusterOptions {
  brokers?: number;
  /** Extra `flo server` flags given to every broker. */
  args?: string[];
  logLevel?: string;
}

/** How long a broker may take to exit after SIGTERM before it is killed. */
const GRACEFUL_STOP_MS = 10_000;
/** Forming needs every founder to answer once, then one election per partition. */
const FORM_TIMEOUT_MS = 30_000;

class Broker implements ClusterBroker {
  child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private log = '';

  /** A broker that joined learns its id from the cluster (0 until then). */
  constructor(public nodeId: number, readonly httpPort: number, readonly peerPort: number, readonly dataDir: string, private readonly args: () => string[]) {}

  get url(): string {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  output(): string {
    return this.log;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  spawn(extraArgs: string[] = []): void {
    if (this.child !== undefined) throw new Error(`broker ${this.nodeId} is already running (pid ${this.child.pid})`);
    const child = spawn(process.execPath, [CLI_PATH, 'server', ...this.args(), ...extraArgs], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FLO_PRETTY: '' } });
    const append = (chunk: Buffer): void => void (this.log += chunk.toString());
    child.stdout!.on('data', append);
    child.stderr!.on('data', append);
    this.child = child;
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => {
      this.log += `\n[broker ${this.nodeId} exited: ${signal ?? code}]\n`;
      if (this.child === child) this.child = undefined;
      resolve();
    }));
  }

  signal(signal: NodeJS.Signals): void {
    if (this.child === undefined) throw new Error(`broker ${this.nodeId} is not running`);
    this.child.kill(signal);
  }

  /** SIGTERM (after SIGCONT, in case it is paused), then SIGKILL if it has not exited in time. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (child === undefined) return;
    child.kill('SIGCONT');
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), GRACEFUL_STOP_MS);
    await this.exited;
    clearTimeout(timer);
  }
}

export class TestCluster {
  private joined = 0;

  private constructor(private readonly all: Broker[], private readonly dir: string, private readonly removeDir: () => Promise<void>, private readonly options: ClusterOptions) {}

  get brokers(): readonly ClusterBroker[] {
    return this.all;
  }

  static async start(options: ClusterOptions = {}): Promise<TestCluster> {
    const count = options.brokers ?? 3;
    const dir = await tempDir('flo-cluster-');
    const ports = await distinctFreePorts(count * 2);
    const peers = Array.from({ length: count }, (_, i) => `127.0.0.1:${ports[count + i]}`).join(',');
    const brokers = Array.from({ length: count }, (_, i) => {
      const nodeId = i + 1;
      const dataDir = join(dir.path, `node-${nodeId}`);
      return new Broker(nodeId, ports[i]!, ports[count + i]!, dataDir, () => [
        '--node-id', String(nodeId), '-d', dataDir, '-p', String(ports[i]), '--peer-port', String(ports[count + i]),
        '--peers', peers, '--log-level', options.logLevel ?? 'warn', ...(options.args ?? []),
      ]);
    });
    const cluster = new TestCluster(brokers, dir.path, dir.remove, options);
    liveClusters.add(cluster);
    for (const broker of brokers) broker.spawn();
    try {
      await cluster.waitFormed(undefined, FORM_TIMEOUT_MS, { balanced: true });
    } catch (error) {
      await cluster.close();
      throw error;
    }
    return cluster;
  }

  broker(nodeId: number): ClusterBroker {
    const broker = this.all.find((b) => b.nodeId === nodeId);
    if (broker === undefined) throw new Error(`no broker ${nodeId}`);
    return broker;
  }

  running(): ClusterBroker[] {
    return this.all.filter((b) => b.running);
  }

  /** Graceful stop (SIGTERM), killed after GRACEFUL_STOP_MS. */
  stop(nodeId: number): Promise<void> {
    return this.own(nodeId).stop('SIGTERM');
  }

  /** kill -9: no shutdown code runs. */
  kill(nodeId: number): Promise<void> {
    return this.own(nodeId).stop('SIGKILL');
  }

  pause(nodeId: number): void {
    this.own(nodeId).signal('SIGSTOP');
  }

  resume(nodeId: number): void {
    this.own(nodeId).signal('SIGCONT');
  }

  /**
   * Starts a new broker with an empty data dir and `--join` to a running member (the first running one
   * unless named); resolves once it knows the id the cluster gave it (it is still catching up then).
   */
  async join(options: { seed?: number; args?: string[] } = {}): Promise<ClusterBroker> {
    const seed = this.own(options.seed ?? this.running()[0]!.nodeId);
    const [httpPort, peerPort] = await distinctFreePorts(2);
    const dataDir = join(this.dir, `joined-${++this.joined}`);
    const broker = new Broker(0, httpPort!, peerPort!, dataDir, () => [
      '-d', dataDir, '-p', String(httpPort), '--peer-port', String(peerPort), '--join', `127.0.0.1:${seed.peerPort}`,
      '--log-level', this.options.logLevel ?? 'warn', ...(this.options.args ?? []), ...(options.args ?? []),
    ]);
    this.all.push(broker);
    broker.spawn();
    broker.nodeId = await waitFor(async () => {
      if (broker.child === undefined) throw new Error(`the joining broker exited:\n${broker.output()}`);
      try {
        const response = await fetch(`${broker.url}/v1/cluster`, { signal: AbortSignal.timeout(2000) });
        return response.ok ? ((await response.json()) as { member: number }).member : false;
      } catch {
        return false;
      }
    }, 'the joining broker to be given an id', FORM_TIMEOUT_MS);
    return broker;
  }

  /** Starts a stopped broker again on its ports and data dir; does not wait (see waitFormed). */
  restart(nodeId: number, extraArgs: string[] = []): void {
    this.own(nodeId).spawn(extraArgs);
  }

  async status(nodeId: number): Promise<ClusterStatus> {
    const response = await fetch(`${this.broker(nodeId).url}/v1/cluster`, { signal: AbortSignal.timeout(5000) });
    if (!response.ok) throw new Error(`GET /v1/cluster on broker ${nodeId}: ${response.status} ${await response.text()}`);
    return (await response.json()) as ClusterStatus;
  }

  /** Every running broker (or those named) ready, and seeing the same leader, one of them, for every partition. */
  async waitFormed(nodeIds: number[] = this.running().map((b) => b.nodeId), timeoutMs = FORM_TIMEOUT_MS, options: { balanced?: boolean } = {}): Promise<ClusterStatus[]> {
    return waitFor(async () => {
      for (const id of nodeIds) {
        const child = (this.own(id)).child;
        if (child === undefined) throw new Error(`broker ${id} exited while the cluster formed:\n${this.broker(id).output()}`);
      }
      const statuses = await Promise.all(nodeIds.map((id) => this.readyStatus(id)));
      if (statuses.some((status) => status === undefined)) return false;
      const formed = statuses as ClusterStatus[];
      const leaders = formed[0]!.partitions.map((p) => p.leader);
      const agreed = leaders.every((leader, partition) => leader !== null && nodeIds.includes(Number(leader))
        && formed.every((status) => status.partitions[partition]!.leader === leader)
        // A new cluster first settles its leaders where the balancer wants them, so a test starts from leaders that stay put.
        && (!options.balanced || formed[0]!.partitions[partition]!.preferredLeader === leader));
      return agreed ? formed : false;
    }, `brokers ${nodeIds.join(', ')} to be ready with one leader per partition${options.balanced ? ', each partition\'s preferred one' : ''}`, timeoutMs);
  }

  /** The broker leading the most partitions, and how many it leads. */
  async leaderOfMost(askNodeId = this.running()[0]!.nodeId): Promise<{ nodeId: number; partitions: number[] }> {
    const status = await this.status(askNodeId);
    const byLeader = new Map<number, number[]>();
    for (const p of status.partitions) {
      if (p.leader === null) continue;
      byLeader.set(Number(p.leader), [...(byLeader.get(Number(p.leader)) ?? []), p.partition]);
    }
    const [nodeId, partitions] = [...byLeader].sort((a, b) => b[1].length - a[1].length)[0]!;
    return { nodeId, partitions };
  }

  /** The output of every broker, each line prefixed by its id: for assertion messages. */
  logs(): string {
    return this.brokers.map((b) => b.output().split('\n').map((line) => `[${b.nodeId}] ${line}`).join('\n')).join('\n');
  }

  /** Each ERROR/FATAL a broker logged, with the few lines after it (pretty logs put fields there), prefixed by its id. */
  errors(linesAfter = 8): string {
    const found: string[] = [];
    for (const broker of this.brokers) {
      const lines = broker.output().split('\n');
      lines.forEach((line, i) => {
        if (/\b(ERROR|FATAL)\b|"level":(50|60)/.test(line)) found.push(...lines.slice(i, i + 1 + linesAfter).map((l) => `[${broker.nodeId}] ${l}`));
      });
    }
    return found.join('\n');
  }

  async close(): Promise<void> {
    liveClusters.delete(this);
    await Promise.all(this.all.map((b) => b.stop('SIGKILL')));
    await this.removeDir();
  }

  private own(nodeId: number): Broker {
    return this.broker(nodeId) as Broker;
  }

  private async readyStatus(nodeId: number): Promise<ClusterStatus | undefined> {
    try {
      const url = this.broker(nodeId).url;
      if (!(await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(2000) })).ok) return undefined;
      return await this.status(nodeId);
    } catch {
      return undefined;
    }
  }
}

/** Clusters a crashed test left running: their brokers are killed when this process exits. */
const liveClusters = new Set<TestCluster>();
process.once('exit', () => {
  for (const cluster of liveClusters) for (const broker of cluster.brokers) broker.child?.kill('SIGKILL');
});

/** Free ports, no two alike (freePort may hand out a port it handed out a moment ago). */
export async function distinctFreePorts(count: number): Promise<number[]> {
  const ports = new Set<number>();
  for (let attempt = 0; ports.size < count && attempt < count * 10; attempt++) ports.add(await freePort());
  if (ports.size < count) throw new Error(`found only ${ports.size} free ports of ${count}`);
  return [...ports];
}
