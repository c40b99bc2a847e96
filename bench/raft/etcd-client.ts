// The etcd load generator, in its own process so its CPU is measured apart from
// the servers: a closed loop of `inflight` puts of `size`-byte values through the
// Node etcd3 (gRPC) client, reporting puts/s and latency over the measured window.

import { Etcd3 } from 'etcd3';
import { runClosedLoop } from './closed-loop.js';

interface Command {
  hosts: string[];
  warmupSeconds: number;
  seconds: number;
  inflight: number;
  size: number;
}

process.once('message', (c: Command) => {
  void (async () => {
    const client = new Etcd3({ hosts: c.hosts });
    const value = Buffer.alloc(c.size, 7);
    let n = 0;
    const result = await runClosedLoop({
      ...c,
      maxSamples: 5_000_000,
      operation: () => client.put(`k${n++ % 100_000}`).value(value).exec(),
      onMeasureStart: () => process.send?.({ measuring: true }),
    });
    process.send?.({ ...result });
    client.close();
    process.exit(0);
  })();
});
