// A subscription resumes from its cursor on the next broker when its broker goes
// away, and takes a broker's refusal of that cursor (its replica is behind the
// one that was lost) as "try another", not as the end. Three fake brokers speak
// the subscribe protocol: one serves and drops the connection, one is behind, one
// serves the rest.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocketServer } from 'ws';
import { FloClient } from '../../src/client/index.js';
import { encodeTextFrame, FrameType } from '../../src/common/frames.js';
import { formatCursor } from '../../src/common/ids.js';

type Behaviour = 'serve-then-drop' | 'behind' | 'serve-to-end';

interface FakeBroker {
  url: string;
  server: Server;
  /** The `from` of every subscribe that reached it. */
  froms: Array<string | null>;
}

const CURSOR = formatCursor([5, 7]);

async function fakeBroker(behaviour: Behaviour): Promise<FakeBroker> {
  const server = createServer((_request, response) => response.writeHead(404).end());
  const broker: FakeBroker = { url: '', server, froms: [] };
  server.on('upgrade', (request, socket, head) => {
    const from = new URL(request.url!, 'http://x').searchParams.get('from');
    broker.froms.push(from);
    if (behaviour === 'behind') {
      const problem = JSON.stringify({ code: 'FLO_ERR_POSITION_INVALID', detail: "the cursor is ahead of this broker's log" });
      socket.end(`HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: ${Buffer.byteLength(problem)}\r\nconnection: close\r\n\r\n${problem}`);
      return;
    }
    sockets.handleUpgrade(request, socket, head, (ws) => {
      ws.send(encodeTextFrame(FrameType.START, from ?? CURSOR));
      if (behaviour === 'serve-then-drop') setTimeout(() => ws.terminate(), 50);
      else ws.send(encodeTextFrame(FrameType.END, from ?? CURSOR));
    });
  });
  const sockets = new WebSocketServer({ noServer: true });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  broker.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return broker;
}

let brokers: FakeBroker[];
beforeAll(async () => {
  brokers = [await fakeBroker('serve-then-drop'), await fakeBroker('behind'), await fakeBroker('serve-to-end')];
});
afterAll(async () => {
  await Promise.all(brokers.map((broker) => new Promise((resolve) => broker.server.close(resolve))));
});

describe('a subscription whose broker goes away', () => {
  it('resumes from its cursor at the next broker, passing over one that is behind it', async () => {
    const [first, behind, caughtUp] = brokers as [FakeBroker, FakeBroker, FakeBroker];
    const client = new FloClient(brokers.map((broker) => broker.url));
    let resumed = 0;
    const subscription = client.subscribe({ follow: false, reconnectTimeoutMs: 5_000, onResumed: () => resumed++ });
    for await (const _event of subscription) throw new Error('no events were served');
    expect(first.froms).toEqual([null]);
    expect(behind.froms).toEqual([CURSOR]);
    expect(caughtUp.froms).toEqual([CURSOR]);
    expect(resumed).toBe(1);
    expect(subscription.cursor).toBe(CURSOR);
    await client.close();
  });
});
