// One produce WebSocket to one broker: batches are sent with a request id and
// settled by the broker's reply to that id. Every failure says whether the
// batch had left the client (`sent`): a connection that never opened sent
// nothing, while one lost after sending leaves the outcome unknown — the broker
// may have stored the batch. Deciding what to do about it is the producer's job.
import WebSocket from 'ws';
import { MAX_FRAME_BYTES } from '../common/bounds.js';
import { FloError } from '../common/errors.js';
import { decodeProduceReply, encodeProduceRequest, type FrameProducer } from '../common/frames.js';
import { formatEventId } from '../common/ids.js';
import { encodeBatch, type EventInput } from '../common/wire.js';
import { authHeaders, connectionError, onUpgradeRefused, problemToError, toWebSocketUrl } from './http.js';

/** Why a batch failed, and whether the broker may have it. */
export class SendFailure extends Error {
  override name = 'SendFailure';
  constructor(readonly error: FloError, readonly sent: boolean, readonly brokerUrl: string) {
    super(error.message);
  }
}

interface InFlight {
  resolve: (ids: string[]) => void;
  reject: (failure: SendFailure) => void;
  deadline: NodeJS.Timeout;
}

export class ProduceConnection {
  private socket: WebSocket | undefined;
  private opening: Promise<WebSocket> | undefined;
  private readonly inFlight = new Map<number, InFlight>();
  private nextRequestId = 1;
  private closed = false;

  constructor(readonly url: string, private readonly options: { connectTimeoutMs: number; ackTimeoutMs: number; token?: string | undefined }) {}

  get inFlightBatches(): number {
    return this.inFlight.size;
  }

  /** Sends one batch; resolves with its event ids once the broker made them durable. */
  async send(events: readonly EventInput[], producer?: FrameProducer): Promise<string[]> {
    let socket: WebSocket;
    try {
      socket = await this.connection();
    } catch (error) {
      throw new SendFailure(connectionError(this.url, error), false, this.url);
    }
    // Closed between opening and now: ws would drop the send silently, so it provably went nowhere.
    if (socket.readyState !== WebSocket.OPEN) throw new SendFailure(new FloError('FLO_ERR_CONNECTION', `the connection to ${this.url} closed before the events were sent`), false, this.url);
    const requestId = this.nextRequestId++;
    return new Promise<string[]>((resolve, reject) => {
      // A broker that keeps the socket open and never answers must not hold the batch for ever: its outcome becomes unknown.
      const deadline = setTimeout(() => this.settle(requestId, undefined, new SendFailure(new FloError('FLO_ERR_TIMEOUT',
        `no acknowledgement from ${this.url} in ${this.options.ackTimeoutMs} ms; the events may or may not be stored (outcome unknown)`), true, this.url)), this.options.ackTimeoutMs);
      deadline.unref();
      this.inFlight.set(requestId, { resolve, reject, deadline });
      socket.send(encodeProduceRequest(requestId, encodeBatch(events), producer), (error) => {
        // Part of the frame may have reached the broker: the outcome is unknown.
        if (error) this.settle(requestId, undefined, new SendFailure(connectionError(this.url, error), true, this.url));
      });
    });
  }

  close(): void {
    this.closed = true;
    this.socket?.close(1000);
  }

  private connection(): Promise<WebSocket> {
    if (this.closed) return Promise.reject(new FloError('FLO_ERR_CLOSED', 'the client is closed'));
    if (this.socket?.readyState === WebSocket.OPEN) return Promise.resolve(this.socket);
    this.opening ??= this.open().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private open(): Promise<WebSocket> {
    return new Promise<WebSocket>((resolve, reject) => {
      const socket = new WebSocket(toWebSocketUrl(this.url, '/v1/produce', {}), {
        perMessageDeflate: false,
        handshakeTimeout: this.options.connectTimeoutMs,
        maxPayload: MAX_FRAME_BYTES,
        headers: authHeaders(this.options.token),
      });
      socket.binaryType = 'nodebuffer';
      socket.once('open', () => {
        this.socket = socket;
        resolve(socket);
      });
      // on, not once: a second error (a reset after a failed upgrade) must not become an uncaught exception.
      socket.on('error', (error) => reject(connectionError(this.url, error)));
      onUpgradeRefused(socket, reject);
      socket.on('message', (data: Buffer) => this.onReply(data));
      socket.on('close', () => {
        if (this.socket === socket) this.socket = undefined;
        const lost = new FloError('FLO_ERR_CONNECTION', `the connection to ${this.url} closed before it acknowledged; the events may or may not be stored (outcome unknown)`);
        for (const requestId of [...this.inFlight.keys()]) this.settle(requestId, undefined, new SendFailure(lost, true, this.url));
      });
    });
  }

  private onReply(data: Buffer): void {
    const reply = decodeProduceReply(data);
    if (reply.ok) {
      const ids: string[] = [];
      for (let i = 0; i < reply.offsets.length; i++) ids.push(formatEventId(reply.partitions[i]!, reply.offsets[i]!));
      this.settle(reply.requestId, ids, undefined);
    } else {
      this.settle(reply.requestId, undefined, new SendFailure(problemToError(reply.problemJson, 400), true, this.url));
    }
  }

  private settle(requestId: number, ids: string[] | undefined, failure: SendFailure | undefined): void {
    const waiter = this.inFlight.get(requestId);
    if (!waiter) return;
    this.inFlight.delete(requestId);
    clearTimeout(waiter.deadline);
    if (failure) waiter.reject(failure);
    else waiter.resolve(ids!);
  }
}
