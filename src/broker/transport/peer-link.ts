// One TCP connection to one peer, carrying every Raft group's messages both ways.
// The member with the lower id dials (and redials with capped exponential backoff);
// the other accepts. Outgoing frames wait in a bounded queue and are written in
// coalesced batches; when the queue is full new frames are dropped (Raft tolerates
// loss and retries), never buffered without bound.

import net from 'node:net';
import type { NodeId } from '../raft/messages.js';
import { FRAME_HELLO, FRAME_PROOF, FrameDecoder, ProtocolError, encodeHello, encodeInfo, encodeProof, type Frame, type MemberInfo } from './frame.js';
import { handshakeProof, newNonce, verifyProof, type PeerAuth } from './handshake.js';
import { routed } from './test-routes.js';

/** Bytes of frames that may wait for one peer before new ones are dropped. */
export const MAX_PEER_QUEUE_BYTES = 64 * 1024 * 1024;
/** First and largest pause between reconnection attempts. */
export const RECONNECT_MIN_MS = 50;
export const RECONNECT_MAX_MS = 2000;
/** A dialled connection must complete its HELLO exchange within this time. */
export const HANDSHAKE_TIMEOUT_MS = 5000;

export interface PeerAddress {
  readonly host: string;
  readonly port: number;
}

export interface LinkEvents {
  onFrame(peer: NodeId, frame: Frame): void;
  onProtocolError(peer: NodeId, error: ProtocolError): void;
  onDropped(peer: NodeId, frames: number): void;
  /** The link lost its connection (frames written on it may or may not have arrived). */
  onDisconnected?(peer: NodeId): void;
  /** What this broker tells the peer about itself once connected. */
  selfInfo?(): MemberInfo;
}

export interface LinkStats {
  connects: number;
  framesSent: number;
  bytesSent: number;
  framesDropped: number;
}

export class PeerLink {
  private socket: net.Socket | null = null;
  private queue: Buffer[] = [];
  private queuedBytes = 0;
  private flushScheduled = false;
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private closed = false;
  readonly stats: LinkStats = { connects: 0, framesSent: 0, bytesSent: 0, framesDropped: 0 };

  constructor(
    readonly selfId: NodeId,
    readonly peerId: NodeId,
    private address: PeerAddress | null,
    private readonly events: LinkEvents,
    private readonly auth: PeerAuth,
    private readonly maxQueueBytes = MAX_PEER_QUEUE_BYTES,
  ) {}

  /** Whether this side dials (lower id) or waits for the peer to dial in. */
  get dials(): boolean {
    return this.selfId < this.peerId;
  }

  get connected(): boolean {
    return this.socket !== null;
  }

  start(): void {
    if (this.dials) this.dial();
  }

  setAddress(address: PeerAddress): void {
    this.address = address;
  }

  send(frame: Buffer): void {
    if (this.closed) return;
    if (this.queuedBytes + frame.byteLength > this.maxQueueBytes) {
      this.stats.framesDropped++;
      this.events.onDropped(this.peerId, 1);
      return;
    }
    this.queue.push(frame);
    this.queuedBytes += frame.byteLength;
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.socket === null) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const socket = this.socket;
    if (socket === null || this.queue.length === 0 || socket.writableNeedDrain) return;
    const batch = this.queue.length === 1 ? (this.queue[0] as Buffer) : Buffer.concat(this.queue, this.queuedBytes);
    this.stats.framesSent += this.queue.length;
    this.stats.bytesSent += batch.byteLength;
    this.queue = [];
    this.queuedBytes = 0;
    socket.write(batch);
  }

  private dial(): void {
    if (this.closed || this.address === null || this.socket !== null) return;
    const target = routed(this.address);
    const socket = net.connect({ host: target.host, port: target.port, noDelay: true });
    socket.setTimeout(HANDSHAKE_TIMEOUT_MS, () => socket.destroy());
    const dialerNonce = newNonce();
    socket.once('connect', () => socket.write(encodeHello(this.selfId, dialerNonce, this.auth.clusterId)));
    const decoder = new FrameDecoder();
    // HELLO, then PROOF from the acceptor; only then do we prove ourselves and carry Raft frames.
    let acceptorNonce: Buffer | null = null;
    let authenticated = false;
    socket.on('data', (chunk: Buffer) => {
      let frames: Frame[];
      try {
        frames = decoder.push(chunk);
      } catch (error) {
        this.protocolError(socket, error);
        return;
      }
      for (const frame of frames) {
        if (authenticated) {
          this.events.onFrame(this.peerId, frame);
          continue;
        }
        if (acceptorNonce === null) {
          const refusal = frame.kind !== FRAME_HELLO ? `expected HELLO from ${this.peerId}`
            : frame.nodeId !== this.peerId ? `expected node ${this.peerId}, reached node ${frame.nodeId}`
              : frame.clusterId !== this.auth.clusterId ? `peer belongs to cluster "${frame.clusterId}", not "${this.auth.clusterId}"` : null;
          if (refusal !== null || frame.kind !== FRAME_HELLO) {
            this.protocolError(socket, new ProtocolError(refusal ?? 'expected HELLO'));
            return;
          }
          acceptorNonce = frame.nonce;
          continue;
        }
        const transcript = { dialer: this.selfId, acceptor: this.peerId, dialerNonce, acceptorNonce };
        if (frame.kind !== FRAME_PROOF || !verifyProof(this.auth, 'acceptor', transcript, frame.proof)) {
          this.protocolError(socket, new ProtocolError(`node ${this.peerId} failed authentication (different cluster secret?)`));
          return;
        }
        authenticated = true;
        socket.setTimeout(0);
        socket.write(encodeProof(handshakeProof(this.auth, 'dialer', transcript)));
        const info = this.events.selfInfo?.();
        if (info !== undefined) socket.write(encodeInfo(info));
        this.attach(socket);
      }
    });
    socket.on('error', () => undefined); // 'close' follows; the redial handles it
    socket.on('close', () => {
      if (this.socket === socket) this.lost();
      this.scheduleReconnect();
    });
  }

  private scheduleReconnect(): void {
    if (this.closed || !this.dials || this.reconnectTimer !== null) return;
    const delay = Math.min(RECONNECT_MAX_MS, RECONNECT_MIN_MS * 2 ** Math.min(this.attempt, 10));
    this.attempt++;
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.dial();
    }, delay);
    this.reconnectTimer.unref();
  }

  /** An established, greeted connection (dialled by us or accepted from the peer). */
  attach(socket: net.Socket): void {
    if (this.closed) {
      socket.destroy();
      return;
    }
    const previous = this.socket;
    this.socket = socket;
    if (previous !== null && previous !== socket) {
      previous.destroy();
      this.dropQueued();
      this.events.onDisconnected?.(this.peerId);
    }
    this.attempt = 0;
    this.stats.connects++;
    socket.on('drain', () => this.flush());
    this.scheduleFlush();
  }

  /** The accepting side: frames from an accepted socket arrive here after its HELLO. */
  detach(socket: net.Socket): void {
    if (this.socket === socket) this.lost();
  }

  /**
   * The connection went: what it had not written yet is dropped with it. The requests among those frames
   * are failed as lost (onDisconnected), so writing them on the next connection would deliver a request
   * its caller was told may not have arrived (a forwarded append stored seconds later, out of order);
   * Raft messages are resent as needed anyway.
   */
  private lost(): void {
    this.socket = null;
    this.dropQueued();
    this.events.onDisconnected?.(this.peerId);
  }

  private dropQueued(): void {
    this.queue = [];
    this.queuedBytes = 0;
  }

  private protocolError(socket: net.Socket, error: unknown): void {
    const err = error instanceof ProtocolError ? error : new ProtocolError(String(error));
    this.events.onProtocolError(this.peerId, err);
    socket.destroy();
  }

  close(): void {
    this.closed = true;
    if (this.reconnectTimer !== null) clearTimeout(this.reconnectTimer);
    this.socket?.destroy();
    this.socket = null;
    this.dropQueued();
  }
}
