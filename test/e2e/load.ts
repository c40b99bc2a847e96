// Load for the end-to-end tests of a FloCluster of real brokers: an idempotent producer
// through the client Service, and reads of what each broker holds from its own replica.
import { randomInt } from 'node:crypto';
import { request } from 'node:http';
import type { Lookup } from '../k8s/node/network.js';
import { clusterHttp } from './support.js';

export interface ReadEvent { id: string; namespace: string; data: string }

/** One idempotent produce through a cluster DNS name: the same producer id and sequence on every retry. */
function produce(lookup: Lookup, cluster: string, run: string, producerId: number, sequence: number): Promise<number> {
  const payload = JSON.stringify({ namespace: `/orders/${sequence % 8}`, data: `${run}-${sequence}` });
  return new Promise((resolve) => {
    const req = request({
      host: `${cluster}.default.svc`, port: 3000, path: '/v1/events', method: 'POST', lookup: lookup as never, timeout: 5000,
      headers: { 'content-type': 'application/json', 'flo-producer-id': String(producerId), 'flo-producer-sequence': String(sequence) },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', () => resolve(0));
    req.end(payload);
  });
}

/** Writes one event after another until stopped; an event counts as acknowledged only once answered 201. */
export function startProducer(lookup: Lookup, cluster: string, run: string): { acknowledged: Set<number>; attempts: () => number; stop: () => Promise<void> } {
  const producerId = randomInt(1, 2 ** 40);
  const acknowledged = new Set<number>();
  let stopped = false;
  let attempts = 0;
  const loop = (async () => {
    for (let sequence = 0; !stopped; sequence++) {
      // Bounded retries of one event: 600 × ~50 ms covers any leader change or pod restart here.
      for (let attempt = 0; attempt < 600; attempt++) {
        attempts++;
        const status = await produce(lookup, cluster, run, producerId, sequence);
        if (status === 201) {
          acknowledged.add(sequence);
          break;
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      if (!acknowledged.has(sequence)) throw new Error(`event ${sequence} never acknowledged`);
      await new Promise((resolve) => setTimeout(resolve, 15));
    }
  })();
  return { acknowledged, attempts: () => attempts, stop: async () => { stopped = true; await loop; } };
}

/** Every event one broker holds, read from its own replica (its pod DNS name), page by page. */
export async function readAll(lookup: Lookup, cluster: string, pod: string): Promise<ReadEvent[]> {
  const events: ReadEvent[] = [];
  let from = 'earliest';
  for (let page = 0; page < 1000; page++) {
    const reply = await clusterHttp(lookup, `http://${pod}.${cluster}-peers.default.svc.cluster.local:3000/v1/events?namespace=/orders/**&from=${encodeURIComponent(from)}&limit=1000`);
    const body = reply.body as { events: ReadEvent[]; cursor: string; endOfStream: boolean };
    if (reply.status !== 200) throw new Error(`read from ${pod}: ${reply.status} ${JSON.stringify(reply.body)}`);
    events.push(...body.events);
    if (body.events.length === 0 || body.endOfStream) break;
    from = body.cursor;
  }
  return events;
}

/** The sequence numbers of one producer run's events (data `<run>-<sequence>`). */
export function sequences(events: readonly ReadEvent[], run: string): number[] {
  return events.filter((event) => event.data.startsWith(`${run}-`)).map((event) => Number(event.data.slice(run.length + 1)));
}
