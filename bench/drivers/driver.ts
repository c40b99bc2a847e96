// The narrow surface every benchmarked system implements, so that the workloads in
// bench/workloads.ts are written once and drive Flo, JetStream and Redis identically.
// Callbacks rather than promises on the produce path: the harness adds no per-event
// promise of its own, so each system pays only for what its client does.

/** Called once per produced event, with the harness's index of that event. */
export type AckHandler = (index: number, error?: Error) => void;

/** Called once per delivered event; `data` is the payload as sent. */
export type DeliveryHandler = (data: Uint8Array) => void;

export interface Producer {
  /** Sends event `index` to namespace number `namespaceIndex` (0..15); acks arrive via the handler. */
  send(index: number, namespaceIndex: number, data: Uint8Array): void;
  close(): Promise<void>;
}

export interface LiveSubscription {
  close(): Promise<void>;
}

export interface SystemDriver {
  /** Short name used in the table: flo, jetstream, redis-everysec, redis-always. */
  readonly system: string;
  /** What an acknowledgement means for this system, printed with the results. */
  readonly durability: string;
  /** Server version, for the parameters block. */
  readonly version: string;
  /** Starts a fresh server (new temp data dir) and waits until it serves. */
  start(): Promise<void>;
  stop(): Promise<void>;
  serverPid(): number;
  openProducer(onAck: AckHandler): Promise<Producer>;
  /**
   * Reads from the beginning every stored event of namespace number `namespaceIndex`
   * (or of all 16 when null), calling `onEvent` for each; resolves with the count once
   * `expected` events have been read (or, for systems that signal it, the end of the stream).
   */
  replay(namespaceIndex: number | null, expected: number, onEvent: DeliveryHandler): Promise<number>;
  /** Subscribes from "now" to every namespace; resolves once the subscription is open. */
  subscribeLive(onEvent: DeliveryHandler): Promise<LiveSubscription>;
  /** Cumulative server-side counters, where the system exposes them (Flo's /metrics). */
  counters?(): Promise<ServerCounters>;
}

export interface ServerCounters {
  /** Bytes read from the log so far, storage and cache together. */
  readonly logReadBytes: number;
  /** Group commits so far, the seconds they took (write + fsync) and the events they held. */
  readonly commits: number;
  readonly commitSeconds: number;
  readonly commitEvents: number;
}

export const NAMESPACE_COUNT = 16;
