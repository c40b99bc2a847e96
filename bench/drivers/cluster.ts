// The surface a 3-node system implements for the cluster workloads (W4, W7, W8 in
// bench/cluster-workloads.ts): start a fresh cluster, name its processes so CPU and
// RSS can be read per node, produce through the same Producer as the single-server
// drivers, and, for failover, find the node to kill, kill it, restart it, and tell
// when every replicated group has a live leader again.

import { type AckHandler, type DeliveryHandler, type LiveSubscription, type Producer } from './driver.js';

export interface ClusterNode {
  /** Name in the report, e.g. "broker 2" or "etcd n1". */
  readonly name: string;
  readonly pid: number;
}

export interface ClusterStartOptions {
  /** Replicated groups to create: Flo partitions, JetStream streams. Undefined: the system's default for a W1-like run. */
  readonly groups?: number;
}

export interface ProducerOptions {
  /**
   * Node the producer attaches to first (index into nodes()); with `failover` it moves
   * to the next node when that one is unreachable.
   */
  readonly attachTo?: number;
  /** True in W8: the producer may lose its node, so it may move to another one. */
  readonly failover?: boolean;
}

export interface ClusterDriver {
  /** Short name for the table columns: flo-r3, jetstream-r3, etcd-3. */
  readonly system: string;
  readonly durability: string;
  readonly version: string;
  /** Starts a fresh 3-node cluster and waits until every node serves and every group has a leader. */
  start(options: ClusterStartOptions): Promise<void>;
  stop(): Promise<void>;
  /** The node processes running now (a killed node is absent until restarted). */
  nodes(): readonly ClusterNode[];
  openProducer(onAck: AckHandler, options?: ProducerOptions): Promise<Producer>;
  /** Present for systems that W8 covers. */
  readonly failover?: FailoverControl;
}

export interface FailoverControl {
  /** Index of the node W8 kills: the one leading the most groups right now. */
  pickVictim(): Promise<number>;
  /** Index of a node clients should attach to so that they survive the kill (leading the fewest groups). */
  pickSurvivor(): Promise<number>;
  /** The node's name in the report (as nodes() gives it). */
  nodeName(node: number): string;
  /** kill -9 the node; its data stays for the restart. */
  kill(node: number): Promise<void>;
  /** Starts the killed node again on the same ports and data; resolves once its process runs. */
  restart(node: number): Promise<void>;
  /** True once every group has a leader that is not `killed` (asked of a live node). */
  allGroupsLed(killed: number): Promise<boolean>;
  /** A live subscriber on every namespace from now on, attached to `node`, surviving failover as the system's client does. */
  subscribeLive(node: number, onEvent: DeliveryHandler): Promise<LiveSubscription>;
  /** Reads every stored event from the start (through `node`); resolves with the count read. */
  replayAll(node: number, onEvent: DeliveryHandler): Promise<number>;
  /** Whether a second publish of the same event is dropped by the server (JetStream's Nats-Msg-Id). */
  readonly idempotentProducer: boolean;
  /**
   * How long W8's producer waits for an acknowledgement before sending again; undefined
   * where the client settles every send itself (Flo's fails what a lost connection held),
   * so that a re-send follows only an error and never races a late acknowledgement.
   */
  readonly ackTimeoutMs: number | undefined;
}
