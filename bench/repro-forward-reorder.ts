// Repro (open finding, 2026-12-03): W4's load — 200,000 events of 256 B, 1,000 in flight, through
// the idempotent client into a fresh 3-broker cluster — has batches refused about 5 s after they
// were sent: a broker that forwards an idempotent chunk to its partition's leader retries a failed
// forward every 20 ms while newer chunks of the same producer are forwarded and stored, so the retry
// is refused as stale ("sequence N is not after its last") until NO_LEADER_WAIT_MS ends it with
// FLO_ERR_UNAVAILABLE; the client then gets the stale refusal. Seen on 057ddac (1 run of 2), 9a8a1f5
// (2 of 2), 35c3e68 and 1e58e8f (every run), not on 1acba4a (1 run). `npx tsx bench/repro-forward-reorder.ts`
// (after npm run build); maxProduceAttempts 1 shows the broker's own answer. Exits 1 when any produce failed.
// Ruled out on 2026-12-03 (each tried, each still failed 4 of 4 runs, none landed): the client holding a
// partition's newer batches while older ones are out to another broker; the follower forwarding a producer's
// batches in sequence order and holding new forwards while its own proposals from its term as leader are
// undecided. Instrumented, the forwarding broker's first forward of the batch was already stale (the leader
// had stored ~1,000 newer sequences of that producer in that partition), and no batch had been lost in a
// leader change (no retryLost). Next: log each attempt of the batch in the client (which broker, which answer).
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
