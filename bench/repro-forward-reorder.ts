// Repro of bench W4's failure on Flo (2026-12-03, fixed in the commit that added ForwardOrder): W4's load —
// 200,000 events of 256 B, 1,000 in flight, through the idempotent client into a fresh 3-broker cluster —
// had a few batches refused as stale ("sequence N is not after its last") about 5 s after they were sent.
// Instrumented: the broker the client sent them to had just handed a partition's leadership over; the
// chunk taken then found no leader at its first look and slept its 20 ms retry pause, while a newer chunk
// of the same producer, taken a moment later, was forwarded first, so the new leader stored the newer
// batch and refused the older one (retried until NO_LEADER_WAIT_MS, then refused to the client as well).
// Before the fix: every run on 1e58e8f failed (4 of 4, and the bench's 2 of 2), 1 of 2 on 057ddac; after:
// 0 of 4. `npx tsx bench/repro-forward-reorder.ts` after npm run build; exits 1 when any produce failed.
import { FloClusterDriver } from './drivers/flo-cluster.js';
import { connect } from '../src/client/index.js';
const driver = new FloClusterDriver();
await driver.start({});
const client = await connect(driver.brokerList(0), { ackTimeoutMs: Number(process.env.ACK ?? 600_000), maxProduceAttempts: 1 });
const total = 200_000, window = 1000;
const data = Buffer.alloc(256, 97);
let sent = 0, acked = 0, errors = 0;
const started = performance.now();
const slow: string[] = [];
await new Promise<void>((resolve) => {
  const pump = (): void => {
    while (sent < total && sent - acked - errors < window) {
      const index = sent++;
      const at = performance.now();
      client.produce({ namespace: `/bench/${index % 8}`, data }).then(() => {
        const ms = performance.now() - at;
        if (ms > 3000) slow.push(`#${index} acked after ${ms.toFixed(0)} ms at t=${((performance.now() - started) / 1000).toFixed(1)} s`);
        acked++; if (acked + errors === total) resolve(); else pump();
      }, (error: Error) => {
        errors++; if (errors < 5) console.log(`#${index} error after ${(performance.now() - at).toFixed(0)} ms: ${error.message}`);
        if (acked + errors === total) resolve(); else pump();
      });
    }
  };
  pump();
});
console.log(`acked ${acked} errors ${errors} in ${((performance.now() - started) / 1000).toFixed(1)} s; slow acks ${slow.length}`);
console.log(slow.slice(0, 15).join('\n'));
await client.close();
await driver.stop();
process.exitCode = errors > 0 ? 1 : 0;
