// NATS JetStream R3: three nats-server processes clustered over loopback routes, file
// storage, stream replicas 3. Produce is the same lean publisher as the R1 driver (with
// Nats-Msg-Id dedupe where W8 re-sends); the W8 subscriber is the client's ordered
// consumer, which re-creates itself from the last sequence it saw when its server goes.

import { connect, DeliverPolicy, StorageType, type NatsConnection } from 'nats';
import { NATS_SERVER, assertJetStreamCapable, peerVersion } from '../lib/install.js';
import { freePort, makeTempDir, startServer, stopServer, waitUntil, type ServerProcess } from '../lib/proc.js';
import { type ClusterDriver, type ClusterNode, type ClusterStartOptions, type FailoverControl, type ProducerOptions } from './cluster.js';
import { type AckHandler, type DeliveryHandler, type LiveSubscription, type Producer } from './driver.js';
import { ALL_SUBJECTS, leanPublisher, NATS_START_TIMEOUT_MS, STREAM } from './nats.js';

export const NATS_CLUSTER_NODES = 3;
/** Every JetStream API call here gets this long (a stream without a leader does not answer). */
export const JS_API_TIMEOUT_MS = 1_000;
/** Time for the cluster to elect a meta leader and accept a stream with 3 replicas. */
export const NATS_CLUSTER_FORM_TIMEOUT_MS = 30_000;
/** W8: a PubAck not received in this long is given up on and the event published again (deduplicated by its message id). */
export const PUBACK_TIMEOUT_MS = 2_000;
/** Client reconnect pause while its server is gone. */
const RECONNECT_WAIT_MS = 100;
/** The ordered consumer pull's expiry and heartbeat: a lost consumer is noticed in about two heartbeats. */
const CONSUME_EXPIRES_MS = 2_000;
const CONSUME_HEARTBEAT_MS = 1_000;
/** Subjects of the idle streams of W7, one stream per Flo partition. */
const IDLE_SUBJECT_PREFIX = 'idle';

interface NodePlan {
  readonly name: string;
  readonly clientPort: number;
  readonly routePort: number;
  readonly dataDir: string;
}

export class NatsClusterDriver implements ClusterDriver {
  readonly system = 'jetstream-r3';
  readonly durability = 'R3 file storage; PubAck once a quorum of the 3 servers has the write in the OS page cache (NATS 2.9 fsyncs every 2 min by default)';
  readonly version: string;
  readonly failover: FailoverControl;
  private plans: NodePlan[] = [];
  private servers: (ServerProcess | undefined)[] = [];
  private control: NatsConnection | undefined;
  /** Node the control connection is attached to (it does not reconnect elsewhere). */
  private controlNode = 0;
  private streams: string[] = [];

  constructor() {
    this.version = peerVersion(NATS_SERVER.command);
    assertJetStreamCapable(this.version);
    this.failover = new NatsFailover(this);
  }

  async start(options: ClusterStartOptions): Promise<void> {
    this.plans = [];
    for (let i = 1; i <= NATS_CLUSTER_NODES; i += 1) {
      this.plans.push({ name: `n${i}`, clientPort: await freePort(), routePort: await freePort(), dataDir: makeTempDir(`nats-r3-${i}`) });
    }
    this.servers = this.plans.map((_, i) => this.spawn(i));
    this.control = await this.connectTo(0, false);
    this.controlNode = 0;
    const control = this.control;
    this.streams = options.groups === undefined ? [STREAM] : Array.from({ length: options.groups }, (_, n) => `IDLE_${n}`);
    for (const [n, name] of this.streams.entries()) {
      const subjects = name === STREAM ? [ALL_SUBJECTS] : [`${IDLE_SUBJECT_PREFIX}.${n}.>`];
      // The first stream waits for the meta group's leader; JetStream does not answer until then.
      await waitUntil(`jetstream-r3 stream ${name}`, async () => {
        try {
          const jsm = await control.jetstreamManager({ timeout: JS_API_TIMEOUT_MS });
          await jsm.streams.add({ name, subjects, storage: StorageType.File, num_replicas: 3 });
          return true;
        } catch {
          return false;
        }
      }, NATS_CLUSTER_FORM_TIMEOUT_MS, 200);
    }
    await waitUntil('jetstream-r3 stream leaders', async () => (await this.leaders()).every((leader) => leader !== undefined), NATS_CLUSTER_FORM_TIMEOUT_MS, 100);
  }

  private spawn(index: number): ServerProcess {
    const plan = this.plans[index] as NodePlan;
    const routes = this.plans.filter((_, i) => i !== index).map((other) => `nats://127.0.0.1:${other.routePort}`).join(',');
    return startServer(`nats-server ${plan.name}`, NATS_SERVER.command, [
      '-a', '127.0.0.1', '-p', String(plan.clientPort), '-n', plan.name, '--cluster_name', 'flo-bench',
      '--cluster', `nats://127.0.0.1:${plan.routePort}`, '--routes', routes, '-js', '-sd', plan.dataDir,
    ], plan.dataDir);
  }

  /** A connection to node `index` first, with the others as the reconnect list when `reconnect`. */
  async connectTo(index: number, reconnect: boolean): Promise<NatsConnection> {
    const order = [index, ...this.plans.map((_, i) => i).filter((i) => i !== index)];
    const servers = order.map((i) => `127.0.0.1:${(this.plans[i] as NodePlan).clientPort}`);
    let connection: NatsConnection | undefined;
    await waitUntil(`nats-server ${this.plans[index]?.name} to accept connections`, async () => {
      const server = this.servers[index];
      if (server?.hasExited()) throw new Error(`nats-server exited: ${server.output()}`);
      try {
        connection = await connect({
          servers: reconnect ? servers : servers[0], noRandomize: true, reconnect,
          maxReconnectAttempts: -1, reconnectTimeWait: RECONNECT_WAIT_MS,
        });
        return true;
      } catch {
        return false;
      }
    }, NATS_START_TIMEOUT_MS);
    return connection as NatsConnection;
  }

  /** Each stream's leader as a node index, undefined while it has none (or does not answer). */
  async leaders(via: NatsConnection | undefined = this.control): Promise<(number | undefined)[]> {
    if (!via) throw new Error('jetstream-r3 is not running');
    const jsm = await via.jetstreamManager({ timeout: JS_API_TIMEOUT_MS });
    return await Promise.all(this.streams.map(async (name) => {
      try {
        const leader = (await jsm.streams.info(name)).cluster?.leader;
        const index = this.plans.findIndex((plan) => plan.name === leader);
        return index >= 0 ? index : undefined;
      } catch {
        return undefined;
      }
    }));
  }

  async stop(): Promise<void> {
    await this.control?.close().catch(() => undefined);
    this.control = undefined;
    await Promise.all(this.servers.map(async (server) => { if (server) await stopServer(server); }));
    this.servers = [];
  }

  nodes(): readonly ClusterNode[] {
    return this.servers.flatMap((server, i) => (server && !server.hasExited() ? [{ name: `nats ${this.plans[i]?.name}`, pid: server.pid }] : []));
  }

  async openProducer(onAck: AckHandler, options: ProducerOptions = {}): Promise<Producer> {
    const failover = options.failover === true;
    const nc = await this.connectTo(options.attachTo ?? 0, failover);
    return leanPublisher(nc, onAck, failover ? `w8-${Date.now()}-` : undefined);
  }

  nodeLabel(index: number): string {
    return this.plans[index]?.name ?? String(index);
  }

  killServer(index: number): Promise<number | null> {
    const server = this.servers[index];
    if (!server) throw new Error(`jetstream-r3 node ${index} is not running`);
    process.kill(server.pid, 'SIGKILL');
    this.servers[index] = undefined;
    return server.exited;
  }

  respawn(index: number): void {
    if (this.servers[index]) throw new Error(`jetstream-r3 node ${index} is already running`);
    this.servers[index] = this.spawn(index);
  }

  /** The control connection, moved to a node other than `avoid` if it sits on that one. */
  async controlAvoiding(avoid: number): Promise<NatsConnection> {
    const target = this.plans.findIndex((_, i) => i !== avoid && this.servers[i] !== undefined);
    if (this.control === undefined || this.controlNode === avoid) {
      await this.control?.close().catch(() => undefined);
      this.control = await this.connectTo(target, false);
      this.controlNode = target;
    }
    return this.control;
  }

  streamMessages(): Promise<number> {
    return this.requireControl().jetstreamManager({ timeout: JS_API_TIMEOUT_MS })
      .then(async (jsm) => (await jsm.streams.info(STREAM)).state.messages);
  }

  private requireControl(): NatsConnection {
    if (!this.control) throw new Error('jetstream-r3 is not running');
    return this.control;
  }
}

class NatsFailover implements FailoverControl {
  readonly idempotentProducer = true;
  /** A core publish whose stream has no leader is never answered: like js.publish(), give up on a PubAck and send again. */
  readonly ackTimeoutMs = PUBACK_TIMEOUT_MS;

  constructor(private readonly driver: NatsClusterDriver) {}

  async pickVictim(): Promise<number> {
    const [leader] = await this.driver.leaders();
    if (leader === undefined) throw new Error('jetstream-r3: the stream has no leader to kill');
    return leader;
  }

  async pickSurvivor(): Promise<number> {
    const victim = await this.pickVictim();
    return (victim + 1) % NATS_CLUSTER_NODES;
  }

  nodeName(node: number): string {
    return `nats ${this.driver.nodeLabel(node)}`;
  }

  async kill(node: number): Promise<void> {
    await this.driver.controlAvoiding(node);
    await this.driver.killServer(node);
  }

  async restart(node: number): Promise<void> {
    this.driver.respawn(node);
    await Promise.resolve();
  }

  async allGroupsLed(killed: number): Promise<boolean> {
    const leaders = await this.driver.leaders(await this.driver.controlAvoiding(killed));
    return leaders.every((leader) => leader !== undefined && leader !== killed);
  }

  async subscribeLive(node: number, onEvent: DeliveryHandler): Promise<LiveSubscription> {
    return await this.orderedReader(node, DeliverPolicy.New, onEvent, () => false);
  }

  async replayAll(node: number, onEvent: DeliveryHandler): Promise<number> {
    const expected = await this.driver.streamMessages();
    let count = 0;
    let finish: () => void = () => undefined;
    const done = new Promise<void>((resolve) => { finish = resolve; });
    const reader = await this.orderedReader(node, DeliverPolicy.All, (data) => {
      onEvent(data);
      count += 1;
    }, () => {
      if (count >= expected) finish();
      return count >= expected;
    });
    try {
      if (expected === 0) finish();
      await done;
      return count;
    } finally {
      await reader.close();
    }
  }

  /** The client's ordered consumer, read until `enough()` holds or it is closed. */
  private async orderedReader(node: number, deliverPolicy: DeliverPolicy, onEvent: DeliveryHandler, enough: () => boolean): Promise<LiveSubscription> {
    const nc = await this.driver.connectTo(node, true);
    // The ordered consumer starts from sequence 1 unless told otherwise, and refuses DeliverPolicy.All beside its own start sequence.
    const policy = deliverPolicy === DeliverPolicy.All ? {} : { deliver_policy: deliverPolicy };
    const consumer = await nc.jetstream().consumers.get(STREAM, { filterSubjects: ALL_SUBJECTS, ...policy });
    const messages = await consumer.consume({ expires: CONSUME_EXPIRES_MS, idle_heartbeat: CONSUME_HEARTBEAT_MS });
    const loop = (async (): Promise<void> => {
      for await (const message of messages) {
        onEvent(message.data);
        if (enough()) break;
      }
    })();
    return {
      close: async () => {
        await messages.close().catch(() => undefined);
        await loop.catch(() => undefined);
        await nc.close();
      },
    };
  }
}
