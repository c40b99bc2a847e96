// A consumer group keeps its position in the broker: a restarted (or another)
// process with the same group starts where the group last committed.
// Needs a broker (npm start); FLO_URL overrides the URL.
import { connect } from '@flo-stream/flo/client';

const flo = await connect(process.env.FLO_URL ?? 'http://127.0.0.1:3000');
await flo.produceBatch(['eggs', 'toast', 'tea'].map((item) => ({ namespace: '/invoices/eu', json: { item } })));

// follow: false stops at the end of the stream instead of tailing.
const first = flo.subscribe({ namespace: '/invoices/**', group: 'billing', from: 'earliest', follow: false });
for await (const invoice of first) {
  console.log('first process billed', (invoice.json() as { item: string }).item);
  await first.commit(); // or commit every N events
  break; // stop after one, as a process that crashed here would
}

const second = flo.subscribe({ namespace: '/invoices/**', group: 'billing', follow: false });
for await (const invoice of second) {
  console.log('second process billed', (invoice.json() as { item: string }).item);
  await second.commit();
}
await flo.close();
