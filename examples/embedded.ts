// The broker embedded in your own process: the same code as `flo server`.
// Without a port it serves in-process only, so it runs beside `npm start`.
import { Broker } from '@flo-stream/flo/embedded';

const broker = await Broker.start({ dataDir: process.env.FLO_DATA_DIR ?? '.tmp/embedded-data' });
await broker.produce({ namespace: '/jobs/1', data: 'start' });
await broker.produce({ namespace: '/jobs/1', data: 'done' });
// follow: false stops at the end of the log; by default it keeps tailing, as the client does.
for await (const event of broker.subscribe({ namespace: '/jobs/**', from: 'earliest', follow: false })) {
  console.log(event.namespace, event.text());
}
await broker.close();
