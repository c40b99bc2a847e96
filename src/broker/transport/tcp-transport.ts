// Multi-Raft transport over TCP: one connection per pair of brokers, carrying the
// messages of every Raft group, each frame tagged with its group id. Incoming
// messages are dispatched to the handler registered for their group; messages for
// unknown groups or from unknown peers are counted and dropped. Malformed input
// closes that connection (the peer redials); it never throws into the broker.

import net from 'node:net';
import type { Logger } from 'pino';
import { FloError } from '../../common/errors.js';
import type { Message, NodeId } from '../raft/messages.js';
import { FRAME_HELLO, FRAME_PROOF, FRAME_RAFT, FrameDecoder, ProtocolError, encodeHello, encodeProof, encodeRaftFrame, type Frame } from './frame.js';
import { OPEN_CLUSTER, handshakeProof, newNonce, verifyProof, type PeerAuth } from './handshake.js';
import { HANDSHAKE_TIMEOUT_MS, PeerLink, type PeerAddress } from './peer-link.js';

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
  readonly nodeId: NodeId;
  private readonly links = new Map<NodeId, PeerLink>();
  private readonly handlers = new Map<number, MessageHandler>();
  private readonly server: net.Server;
  private readonly accepted = new Set<net.Socket>();
  readonly stats: TransportStats = { framesReceived: 0, protocolErrors: 0, unknownGroup: 0, dropped: 0, oversized: 0, refused: 0 };
  port = 0;

  private readonly maxQueueBytes: number | undefined;
  private readonly auth: PeerAuth;
  private readonly logger: Logger | undefined;

  private constructor(options: TcpTransportOptions) {
    this.nodeId = options.nodeId;
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

  private onFrame(peer: NodeId, frame: Frame): void {
    if (frame.kind !== FRAME_RAFT) return;
    this.stats.framesReceived++;
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
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, () => this.refuse(socket, 'handshake timed out'));
    const decoder = new FrameDecoder();
    // A known peer (that dials us) sends HELLO, we answer HELLO + PROOF, it answers PROOF; only then Raft.
    let link: PeerLink | null = null;
    let pending: { peer: PeerLink; dialerNonce: Buffer; acceptorNonce: Buffer } | null = null;
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
        if (pending === null) {
          const peer = frame.kind === FRAME_HELLO ? this.links.get(frame.nodeId) : undefined;
          const refusal = frame.kind !== FRAME_HELLO ? 'no HELLO'
            : frame.clusterId !== this.auth.clusterId ? `cluster "${frame.clusterId}" is not "${this.auth.clusterId}"`
              // Only a known peer with a lower id dials us; anything else is refused.
              : peer === undefined || peer.dials ? `node ${frame.nodeId} is not a peer that dials this broker` : null;
          if (refusal !== null || peer === undefined || frame.kind !== FRAME_HELLO) {
            this.refuse(socket, refusal ?? 'no HELLO');
            return;
          }
          pending = { peer, dialerNonce: frame.nonce, acceptorNonce: newNonce() };
          const transcript = { dialer: peer.peerId, acceptor: this.nodeId, dialerNonce: pending.dialerNonce, acceptorNonce: pending.acceptorNonce };
          socket.write(Buffer.concat([encodeHello(this.nodeId, pending.acceptorNonce, this.auth.clusterId), encodeProof(handshakeProof(this.auth, 'acceptor', transcript))]));
          continue;
        }
        const transcript = { dialer: pending.peer.peerId, acceptor: this.nodeId, dialerNonce: pending.dialerNonce, acceptorNonce: pending.acceptorNonce };
        if (frame.kind !== FRAME_PROOF || !verifyProof(this.auth, 'dialer', transcript, frame.proof)) {
          this.refuse(socket, `node ${pending.peer.peerId} failed authentication (different cluster secret?)`);
          return;
        }
        link = pending.peer;
        socket.setTimeout(0);
        link.attach(socket);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.accepted.delete(socket);
      link?.detach(socket);
    });
  }

  private refuse(socket: net.Socket, reason: string): void {
    this.stats.protocolErrors++;
    this.stats.refused++;
    this.logger?.warn({ remote: `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`, reason }, 'peer connection refused');
    socket.destroy();
  }

  async close(): Promise<void> {
    for (const link of this.links.values()) link.close();
    for (const socket of this.accepted) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
