// The etcd load generator, in its own process so its CPU is measured apart from
// the servers: a closed loop of `inflight` puts of `size`-byte values through the
// Node etcd3 (gRPC) client, reporting puts/s and latency over the measured window.

import { Etcd3 } from 'etcd3';

interface Command {
  hosts: string[];
  warmupSeconds: number;
  seconds: number;
  inflight: number;
  size: number;
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
}

process.once('message', (c: Command) => {
  void (async () => {
    const client = new Etcd3({ hosts: c.hosts });
    const value = Buffer.alloc(c.size, 7);
    const latencies = new Float64Array(5_000_000);
    let recorded = 0;
    let measuring = false;
    let stopping = false;
    let done = 0;
    let errors = 0;
    let outstanding = 0;
    let n = 0;
    const one = (): void => {
      const started = performance.now();
      outstanding++;
      client.put(`k${n++ % 100_000}`).value(value).then(
        () => {
          outstanding--;
          if (measuring) {
            done++;
            if (recorded < latencies.length) latencies[recorded++] = performance.now() - started;
          }
          if (!stopping) one();
        },
        () => {
          outstanding--;
          errors++;
          if (!stopping) setTimeout(one, 10);
        },
      );
    };
    for (let i = 0; i < c.inflight; i++) one();
    await new Promise((resolve) => setTimeout(resolve, c.warmupSeconds * 1000));
    const cpuStart = process.cpuUsage();
    const t0 = performance.now();
    measuring = true;
    process.send?.({ measuring: true });
    await new Promise((resolve) => setTimeout(resolve, c.seconds * 1000));
    measuring = false;
    const elapsedMs = performance.now() - t0;
    const cpu = process.cpuUsage(cpuStart);
    stopping = true;
    for (let i = 0; i < 2000 && outstanding > 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    const sorted = latencies.slice(0, recorded).sort();
    process.send?.({ done, elapsedMs, errors, p50: percentile(sorted, 0.5), p99: percentile(sorted, 0.99), cpuMs: (cpu.user + cpu.system) / 1000 });
    client.close();
    process.exit(0);
  })();
});
