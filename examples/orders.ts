// Request and response: place orders, answer each one with a confirmation that
// names its order as parentId. Needs a broker (npm start); FLO_URL overrides the URL.
import { connect } from '@flo-stream/flo/client';

const flo = await connect(process.env.FLO_URL ?? 'http://127.0.0.1:3000');
const since = new Date();
await flo.produce({ namespace: '/orders/eu/42', json: { item: 'eggs' } });
await flo.produce({ namespace: '/orders/us/7', json: { item: 'toast' } });

// Replay from a position (earliest, latest, an event id, a cursor or a time), then tail.
// Confirmations go to /confirmations/..., so this loop never reads its own answers.
const orders = flo.subscribe({ namespace: '/orders/**', from: since });
let answered = 0;
for await (const order of orders) {
  const { item } = order.json() as { item: string };
  const confirmation = await flo.respond(order, { namespace: `/confirmations${order.namespace}`, json: { item, ok: true } }); // sets parentId
  console.log(`order ${order.id} (${item}) confirmed by ${confirmation}`);
  if (++answered === 2) break; // breaking out of the loop closes the subscription
}
// orders.cursor can be stored and passed back as `from` to resume exactly there.
await flo.close();
