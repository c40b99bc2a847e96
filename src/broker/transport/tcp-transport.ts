// Multi-Raft transport over TCP: one connection per pair of brokers, carrying the
// messages of every Raft group, each frame tagged with its group id. Incoming
// messages are dispatched to the handler registered for their group; messages for
// unknown groups or from unknown peers are counted and dropped. Malformed input
// closes that connection (the peer redials); it never throws into the broker.

import net from 'node:net';
import type { Logger } from 'pino';
import { FloError, isErrorCode, type ErrorCode } from '../../common/errors.js';
import type { Message, NodeId } from '../raft/messages.js';
import {
  FRAME_HELLO, FRAME_INFO, FRAME_PROOF, FRAME_RAFT, FRAME_REPLY, FRAME_REQUEST, FrameDecoder, MAX_HANDSHAKE_FRAME_BYTES, MAX_PEER_FRAME_BYTES, ProtocolError,
  encodeHello, encodeInfo, encodeProof, encodeRaftFrame, encodeReply, encodeRequest, type Frame, type JoinAnswer, type JoinRequest, type MemberInfo,
} from './frame.js';
import { OPEN_CLUSTER, handshakeProof, newNonce, verifyProof, type PeerAuth } from './handshake.js';
import { HANDSHAKE_TIMEOUT_MS, PeerLink, type PeerAddress } from './peer-link.js';
import { routed } from './test-routes.js';

export type MessageHandler = (message: Message) => void;

/** What a RaftNode needs from a transport; the simulator and tests may provide their own. */
export interface RaftTransport {
  readonly nodeId: NodeId;
  send(groupId: number, messages: readonly Message[]): void;
  register(groupId: number, handler: MessageHandler): void;
  unregister(groupId: number): void;
}

export interface TcpTransportOptions {
  readonly nodeId: NodeId;
  readonly host?: string;
  /** 0 picks a free port (see `port` after listen()). */
  readonly port?: number;
  readonly peers?: ReadonlyMap<NodeId, PeerAddress>;
  /** Bytes of frames that may wait per peer (default MAX_PEER_QUEUE_BYTES). */
  readonly maxQueueBytes?: number;
  /** Cluster id and secret every peer must prove (default: cluster "flo", no secret). */
  readonly auth?: PeerAuth;
  /** Refused connections and dropped oversized messages are logged here. */
  readonly logger?: Logger;
  /**
   * Answer discovery probes (a broker that knows our address but not our id) from any node that
   * proves the cluster secret. Such a connection only exchanges INFO; it never carries Raft.
   */
  readonly acceptProbes?: boolean;
  /** What this broker tells peers about itself (its URL may be known only once it listens). */
  readonly selfInfo?: () => Omit<MemberInfo, 'probe'>;
  /** Answers a join asked on a discovery connection (a broker without an id); without it joins are refused. */
  readonly onJoin?: (request: JoinRequest) => Promise<JoinAnswer>;
}

/** Serves a peer's REQUEST; what it throws is sent back as the request's error. */
export type RequestHandler = (from: NodeId, payload: Buffer) => Promise<Uint8Array>;

/** A failed broker-to-broker call. `delivered` false: the request never left, so retrying elsewhere cannot duplicate it. */
export class PeerRequestError extends FloError {
  constructor(code: ErrorCode, message: string, readonly delivered: boolean, readonly remote?: { code: string; details?: Record<string, unknown> }) {
    super(code, message);
  }
}

interface PendingRequest {
  readonly peer: NodeId;
  readonly resolve: (payload: Buffer) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

export interface TransportStats {
  framesReceived: number;
  protocolErrors: number;
  unknownGroup: number;
  dropped: number;
  /** Messages not sent because they exceed the frame limit. */
  oversized: number;
  /** Connections closed for failing the handshake (unknown node, other cluster, wrong secret, garbage). */
  refused: number;
}

export class TcpTransport implements RaftTransport {
  private ownId: NodeId;
  get nodeId(): NodeId {
    return this.ownId;
  }
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly handlers = new Map<number, MessageHandler>();
  private readonly server: net.Server;
  private readonly accepted = new Set<net.Socket>();
  readonly stats: TransportStats = { framesReceived: 0, protocolErrors: 0, unknownGroup: 0, dropped: 0, oversized: 0, refused: 0 };
  port = 0;

  private readonly maxQueueBytes: number | undefined;
  private readonly auth: PeerAuth;
  private readonly logger: Logger | undefined;
  private readonly options: TcpTransportOptions;
  private readonly infos = new Map<NodeId, MemberInfo>();
  /** Peers that sent this broker Raft messages since it started (a probe from one of them after a wipe is told so). */
  private readonly everConnected = new Set<NodeId>();
  /** When a frame from each peer last arrived (performance.now()). */
  private readonly heardAt = new Map<NodeId, number>();
  private requestHandler: RequestHandler | undefined;
  private readonly requests = new Map<number, PendingRequest>();
  private nextRequestId = 1;

  private constructor(options: TcpTransportOptions) {
    this.options = options;
    this.ownId = options.nodeId;
    this.maxQueueBytes = options.maxQueueBytes;
    this.auth = options.auth ?? OPEN_CLUSTER;
    this.logger = options.logger;
    this.server = net.createServer({ noDelay: true }, (socket) => this.accept(socket));
    for (const [id, address] of options.peers ?? []) this.addPeer(id, address);
  }

  static async listen(options: TcpTransportOptions): Promise<TcpTransport> {
    const transport = new TcpTransport(options);
    await new Promise<void>((resolve, reject) => {
      transport.server.once('error', (cause) => reject(new FloError('FLO_ERR_CONNECTION', `cannot listen for peers on port ${options.port ?? 0}`, { cause })));
      transport.server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
    });
    const address = transport.server.address();
    if (address !== null && typeof address === 'object') transport.port = address.port;
    return transport;
  }

  /** A broker that joined learns its id after listening (it answered only probes until now, as node 0). */
  assignNodeId(id: NodeId): void {
    if (this.nodeId !== 0 || this.links.size > 0) throw new FloError('FLO_ERR_INTERNAL', 'the node id is set once, before any peer is added');
    this.ownId = id;
  }

  addPeer(id: NodeId, address: PeerAddress): void {
    if (id === this.nodeId) return;
    const existing = this.links.get(id);
    if (existing !== undefined) {
      existing.setAddress(address);
      return;
    }
    const link = new PeerLink(this.nodeId, id, address, {
      onFrame: (peer, frame) => this.onFrame(peer, frame),
      onProtocolError: (peer, error) => {
        this.stats.protocolErrors++;
        this.logger?.warn({ peer, reason: error.message }, 'peer connection closed');
      },
      onDropped: (_peer, frames) => {
        this.stats.dropped += frames;
      },
      onDisconnected: (peer) => this.failRequestsTo(peer),
      selfInfo: () => this.selfInfo(false),
    }, this.auth, this.maxQueueBytes);
    this.links.set(id, link);
    link.start();
  }

  removePeer(id: NodeId): void {
    this.links.get(id)?.close();
    this.links.delete(id);
  }

  connected(id: NodeId): boolean {
    return this.links.get(id)?.connected ?? false;
  }

  /** Milliseconds since the last frame from `id` arrived (a live member's leader hears it every heartbeat); undefined if never. */
  msSinceHeard(id: NodeId): number | undefined {
    const at = this.heardAt.get(id);
    return at === undefined ? undefined : performance.now() - at;
  }

  register(groupId: number, handler: MessageHandler): void {
    this.handlers.set(groupId, handler);
  }

  unregister(groupId: number): void {
    this.handlers.delete(groupId);
  }

  send(groupId: number, messages: readonly Message[]): void {
    for (const m of messages) {
      const link = this.links.get(m.to);
      if (link === undefined) {
        this.stats.dropped++;
        continue;
      }
      let frame: Buffer;
      try {
        frame = encodeRaftFrame(groupId, m);
      } catch (error) {
        // Too big for one frame: dropping it is safe (Raft retries); throwing would reach the broker's ready loop.
        if (!(error instanceof ProtocolError)) throw error;
        this.stats.oversized++;
        this.stats.dropped++;
        this.logger?.warn({ groupId, peer: m.to, type: m.type, reason: error.message }, 'raft message dropped');
        continue;
      }
      link.send(frame);
    }
  }

  /** What the peer told us about itself (its URL and peer address), once it connected. */
  memberInfo(id: NodeId): MemberInfo | undefined {
    return this.infos.get(id);
  }

  /** Tells every peer again how to reach this broker (its URL is known only once it listens). */
  announce(): void {
    const frame = encodeInfo(this.selfInfo(false));
    for (const link of this.links.values()) link.send(frame);
  }

  /** Answers peers' REQUEST frames (one handler: the broker's). */
  serve(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  /**
   * Calls a peer: resolves with its reply's payload. Refused at once, with `delivered` false, when there is
   * no connection to it (nothing was sent); a connection lost or a timeout after sending leaves the outcome
   * unknown (`delivered` true).
   */
  request(peer: NodeId, payload: Uint8Array, timeoutMs: number): Promise<Buffer> {
    const link = this.links.get(peer);
    if (link === undefined || !link.connected) {
      return Promise.reject(new PeerRequestError('FLO_ERR_CONNECTION', `broker ${peer} is not connected`, false));
    }
    const requestId = this.nextRequestId;
    this.nextRequestId = this.nextRequestId >= 0xffffffff ? 1 : this.nextRequestId + 1;
    let frame: Buffer;
    try {
      frame = encodeRequest(requestId, payload);
    } catch (error) {
      return Promise.reject(new PeerRequestError('FLO_ERR_REQUEST_INVALID', (error as Error).message, false));
    }
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.requests.delete(requestId);
        reject(new PeerRequestError('FLO_ERR_TIMEOUT', `broker ${peer} did not answer within ${timeoutMs} ms (outcome unknown)`, true));
      }, timeoutMs);
      this.requests.set(requestId, { peer, resolve, reject, timer });
      link.send(frame);
    });
  }

  private failRequestsTo(peer: NodeId): void {
    for (const [id, pending] of this.requests) {
      if (pending.peer !== peer) continue;
      this.requests.delete(id);
      clearTimeout(pending.timer);
      pending.reject(new PeerRequestError('FLO_ERR_CONNECTION', `the connection to broker ${peer} was lost before it answered (outcome unknown)`, true));
    }
  }

  private onRequest(peer: NodeId, requestId: number, payload: Buffer): void {
    const link = this.links.get(peer);
    const handler = this.requestHandler;
    const answer = (ok: boolean, body: Uint8Array): void => {
      try {
        link?.send(encodeReply(requestId, ok, body));
      } catch (error) {
        this.logger?.warn({ peer, reason: (error as Error).message }, 'reply not sent');
      }
    };
    if (handler === undefined) {
      answer(false, Buffer.from(JSON.stringify({ code: 'FLO_ERR_SHUTTING_DOWN', message: 'this broker serves no requests' })));
      return;
    }
    handler(peer, payload).then((reply) => answer(true, reply), (error: unknown) => {
      const err = error as { code?: unknown; message?: unknown; details?: unknown };
      answer(false, Buffer.from(JSON.stringify({
        code: typeof err.code === 'string' && err.code.startsWith('FLO_ERR_') ? err.code : 'FLO_ERR_INTERNAL',
        message: typeof err.message === 'string' ? err.message : String(error),
        ...(typeof err.details === 'object' && err.details !== null ? { details: err.details } : {}),
      })));
    });
  }

  private onReply(peer: NodeId, requestId: number, ok: boolean, payload: Buffer): void {
    const pending = this.requests.get(requestId);
    if (pending === undefined || pending.peer !== peer) return; // late (timed out) or not ours
    this.requests.delete(requestId);
    clearTimeout(pending.timer);
    if (ok) {
      pending.resolve(payload);
      return;
    }
    let remote: { code: string; message: string; details?: Record<string, unknown> };
    try {
      remote = JSON.parse(payload.toString('utf8')) as typeof remote;
    } catch {
      remote = { code: 'FLO_ERR_INTERNAL', message: 'unreadable error reply' };
    }
    pending.reject(new PeerRequestError(isErrorCode(remote.code) ? remote.code : 'FLO_ERR_INTERNAL', String(remote.message), true, remote));
  }

  private selfInfo(probe: boolean): MemberInfo {
    const own = this.options.selfInfo?.();
    return { ...own, url: own?.url ?? null, peer: own?.peer ?? null, probe };
  }

  /**
   * Discovery: dials `address`, proves the cluster secret both ways and learns which broker answers
   * there and how to reach it. The connection is closed after; it carries no Raft.
   */
  probe(address: PeerAddress, timeoutMs: number): Promise<{ id: NodeId; info: MemberInfo }> {
    return dialForInfo(address, this.nodeId, this.auth, this.selfInfo(true), timeoutMs);
  }

  private onFrame(peer: NodeId, frame: Frame): void {
    this.heardAt.set(peer, performance.now());
    if (frame.kind === FRAME_INFO) {
      this.infos.set(peer, frame.info);
      return;
    }
    if (frame.kind === FRAME_REQUEST) {
      this.onRequest(peer, frame.requestId, frame.payload);
      return;
    }
    if (frame.kind === FRAME_REPLY) {
      this.onReply(peer, frame.requestId, frame.ok, frame.payload);
      return;
    }
    if (frame.kind !== FRAME_RAFT) return;
    this.stats.framesReceived++;
    this.everConnected.add(peer);
    const m = frame.message;
    if (m.from !== peer || m.to !== this.nodeId) {
      // A message must come from the connection's authenticated peer and be for us.
      this.stats.protocolErrors++;
      return;
    }
    const handler = this.handlers.get(frame.groupId);
    if (handler === undefined) {
      this.stats.unknownGroup++;
      return;
    }
    handler(m);
  }

  private accept(socket: net.Socket): void {
    this.accepted.add(socket);
    // A deadline, not an idle timer: a stranger trickling a byte a second must not stay connected.
    const handshakeDeadline = setTimeout(() => this.refuse(socket, 'handshake timed out'), HANDSHAKE_TIMEOUT_MS);
    handshakeDeadline.unref();
    // Until it has authenticated, a connection may send only handshake-sized frames.
    const decoder = new FrameDecoder(MAX_HANDSHAKE_FRAME_BYTES);
    // A known peer (that dials us) sends HELLO, we answer HELLO + PROOF, it answers PROOF; only then Raft.
    let link: PeerLink | null = null;
    /** Authenticated; its INFO (probe or not) decides what the connection is. */
    let proven: { peerId: NodeId; peer: PeerLink | null } | null = null;
    let pending: { peerId: NodeId; peer: PeerLink | null; dialerNonce: Buffer; acceptorNonce: Buffer } | null = null;
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch (error) {
        this.refuse(socket, error instanceof ProtocolError ? error.message : String(error));
        return;
      }
      for (const frame of frames) {
        if (link !== null) {
          this.onFrame(link.peerId, frame);
          continue;
        }
        if (proven !== null) {
          // The dialer's first frame after its PROOF says what the connection is for.
          if (frame.kind !== FRAME_INFO) {
            this.refuse(socket, `node ${proven.peerId} sent no INFO after its proof`);
            return;
          }
          if (frame.info.probe) {
            if (frame.info.join == null) {
              socket.end(encodeInfo({ ...this.selfInfo(false), seen: this.everConnected.has(proven.peerId) }));
            } else {
              // The controller may take a few seconds (an election): the handshake deadline no longer applies.
              clearTimeout(handshakeDeadline);
              this.answerJoin(socket, frame.info.join);
            }
            return;
          }
          this.infos.set(proven.peerId, frame.info);
          if (proven.peer === null) {
            // While a cluster forms, a founder may dial before this broker has taken it as a member: it redials.
            this.refuse(socket, `node ${proven.peerId} is not (yet) a member that dials this broker; it will dial again`, 'info');
            return;
          }
          link = proven.peer;
          clearTimeout(handshakeDeadline);
          decoder.setLimit(MAX_PEER_FRAME_BYTES);
          socket.write(encodeInfo(this.selfInfo(false)));
          link.attach(socket);
          continue;
        }
        if (pending === null) {
          const known = frame.kind === FRAME_HELLO ? this.links.get(frame.nodeId) : undefined;
          // A known peer with a lower id dials us for Raft; with acceptProbes anyone may ask who we are.
          const dialsUs = known !== undefined && !known.dials;
          const refusal = frame.kind !== FRAME_HELLO ? 'no HELLO'
            : frame.clusterId !== this.auth.clusterId ? `cluster "${frame.clusterId}" is not "${this.auth.clusterId}"`
              : !dialsUs && this.options.acceptProbes !== true ? `node ${frame.nodeId} is not a peer that dials this broker` : null;
          if (refusal !== null || frame.kind !== FRAME_HELLO) {
            // Another cluster's broker learns which cluster answered (the id is no secret): its dialer then
            // says "belongs to cluster X", where a bare close left it retrying without a reason.
            const otherCluster = frame.kind === FRAME_HELLO && frame.clusterId !== this.auth.clusterId;
            this.refuse(socket, refusal ?? 'no HELLO', 'warn', otherCluster ? encodeHello(this.nodeId, newNonce(), this.auth.clusterId) : undefined);
            return;
          }
          pending = { peerId: frame.nodeId, peer: dialsUs ? known : null, dialerNonce: frame.nonce, acceptorNonce: newNonce() };
          const transcript = { dialer: frame.nodeId, acceptor: this.nodeId, dialerNonce: pending.dialerNonce, acceptorNonce: pending.acceptorNonce };
          socket.write(Buffer.concat([encodeHello(this.nodeId, pending.acceptorNonce, this.auth.clusterId), encodeProof(handshakeProof(this.auth, 'acceptor', transcript))]));
          continue;
        }
        const transcript = { dialer: pending.peerId, acceptor: this.nodeId, dialerNonce: pending.dialerNonce, acceptorNonce: pending.acceptorNonce };
        if (frame.kind !== FRAME_PROOF || !verifyProof(this.auth, 'dialer', transcript, frame.proof)) {
          this.refuse(socket, `node ${pending.peerId} failed authentication (different cluster secret?)`);
          return;
        }
        proven = { peerId: pending.peerId, peer: pending.peer };
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      clearTimeout(handshakeDeadline);
      this.accepted.delete(socket);
      link?.detach(socket);
    });
  }

  /** A broker without an id asked to join: the controller decides; the answer (or refusal) ends the connection. */
  private answerJoin(socket: net.Socket, request: JoinRequest): void {
    const onJoin = this.options.onJoin;
    const answer = onJoin === undefined
      ? Promise.reject(new FloError('FLO_ERR_MEMBERSHIP_REFUSED', 'this broker takes no joins (it is not a cluster member)'))
      : onJoin(request);
    answer.then(
      (joined) => socket.end(encodeInfo({ ...this.selfInfo(false), joined })),
      (error: unknown) => {
        const code = error instanceof FloError ? error.code : 'FLO_ERR_INTERNAL';
        socket.end(encodeInfo({ ...this.selfInfo(false), refusal: { code, message: ((error as Error).message || 'join refused').slice(0, 2000) } }));
      },
    );
  }

  private refuse(socket: net.Socket, reason: string, level: 'warn' | 'info' = 'warn', farewell?: Buffer): void {
    this.stats.protocolErrors++;
    this.stats.refused++;
    this.logger?.[level]({ remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`, reason }, 'peer connection refused');
    if (farewell === undefined) {
      socket.destroy();
      return;
    }
    socket.end(farewell);
    // end() waits for the other side; a dialer that never reads must not keep the socket.
    setTimeout(() => socket.destroy(), 1_000).unref();
  }

  async close(): Promise<void> {
    for (const peer of [...new Set([...this.requests.values()].map((request) => request.peer))]) this.failRequestsTo(peer);
    for (const link of this.links.values()) link.close();
    for (const socket of this.accepted) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/**
 * Dials `address` once as node `nodeId` (0: a broker that has no id yet), proves the cluster secret both
 * ways, sends `info` and resolves with the id and INFO of the broker that answers. A discovery or join
 * connection: it carries no Raft and is closed after the answer.
 */
export function dialForInfo(address: PeerAddress, nodeId: NodeId, auth: PeerAuth, info: MemberInfo, timeoutMs: number): Promise<{ id: NodeId; info: MemberInfo }> {
  return new Promise((resolve, reject) => {
    const target = routed(address);
    const socket = net.connect({ host: target.host, port: target.port, noDelay: true });
    let settled = false;
    const fail = (reason: string, code: ErrorCode = 'FLO_ERR_CONNECTION'): void => {
      socket.destroy();
      if (settled) return;
      settled = true;
      reject(new FloError(code, `peer ${address.host}:${address.port}: ${reason}`));
    };
    socket.setTimeout(timeoutMs, () => fail('no answer in time'));
    socket.on('error', (error) => fail(error.message));
    const dialerNonce = newNonce();
    socket.once('connect', () => socket.write(encodeHello(nodeId, dialerNonce, auth.clusterId)));
    const decoder = new FrameDecoder();
    let acceptor: { id: NodeId; nonce: Buffer } | null = null;
    let proven = false;
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch (error) {
        fail((error as Error).message);
        return;
      }
      for (const frame of frames) {
        if (acceptor === null) {
          if (frame.kind !== FRAME_HELLO) return fail('expected HELLO');
          // Not a transient failure: asking again gets the same answer (a wrong --cluster-id).
          if (frame.clusterId !== auth.clusterId) return fail(`belongs to cluster "${frame.clusterId}", not "${auth.clusterId}" (--cluster-id)`, 'FLO_ERR_CONFIG_INVALID');
          acceptor = { id: frame.nodeId, nonce: frame.nonce };
          continue;
        }
        const transcript = { dialer: nodeId, acceptor: acceptor.id, dialerNonce, acceptorNonce: acceptor.nonce };
        if (!proven) {
          if (frame.kind !== FRAME_PROOF || !verifyProof(auth, 'acceptor', transcript, frame.proof)) return fail('failed authentication (different cluster secret?)');
          proven = true;
          socket.write(Buffer.concat([encodeProof(handshakeProof(auth, 'dialer', transcript)), encodeInfo(info)]));
          continue;
        }
        if (frame.kind !== FRAME_INFO) continue;
        settled = true;
        socket.setTimeout(0);
        socket.removeAllListeners('error');
        socket.on('error', () => undefined);
        socket.end();
        resolve({ id: acceptor.id, info: frame.info });
        return;
      }
    });
    socket.on('close', () => fail('closed during discovery'));
  });
}
