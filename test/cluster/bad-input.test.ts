// A client's bad input gets the same 4xx problem whichever broker it reaches
// (leader or not, forwarded or not), and with one broker down the others keep
// answering problems, never a 500.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestCluster } from '../support/cluster.js';
import { failureLabel, isRetryableUnavailable, postEvents, request, type Answer } from './http.js';

let cluster: TestCluster;
const MAX_EVENT_BYTES = 4096;

beforeAll(async () => {
  cluster = await TestCluster.start({ brokers: 3, args: ['--max-event-bytes', String(MAX_EVENT_BYTES)] });
});
afterAll(async () => {
  await cluster?.close();
});

interface BadRequest {
  name: string;
  status: number;
  code: string;
  send: (brokerUrl: string) => Promise<Answer>;
}

const BAD_REQUESTS: BadRequest[] = [
  { name: 'namespace without a leading slash', status: 400, code: 'FLO_ERR_NAMESPACE_INVALID', send: (url) => postEvents(url, { namespace: 'orders', data: 'x' }) },
  { name: 'namespace with a glob character', status: 400, code: 'FLO_ERR_NAMESPACE_INVALID', send: (url) => postEvents(url, { events: [{ namespace: '/ok', data: 'x' }, { namespace: '/a/*', data: 'x' }] }) },
  { name: 'extglob in a read', status: 400, code: 'FLO_ERR_GLOB_INVALID', send: (url) => request(`${url}/v1/events?namespace=${encodeURIComponent('/a/@(b|c)')}`) },
  { name: 'event over --max-event-bytes', status: 413, code: 'FLO_ERR_EVENT_TOO_LARGE', send: (url) => postEvents(url, { namespace: '/big', data: 'x'.repeat(MAX_EVENT_BYTES + 1) }) },
  { name: 'malformed cursor', status: 400, code: 'FLO_ERR_POSITION_INVALID', send: (url) => request(`${url}/v1/events?from=c1.not-a-cursor`) },
  { name: 'cursor beyond the log', status: 400, code: 'FLO_ERR_POSITION_INVALID', send: (url) => request(`${url}/v1/events?from=${'c1.' + Array(8).fill('zzzz').join('.')}`) },
];

/** The problem without `instance` (the path, the same anyway): what a client acts on. */
function problem(answer: Answer): Record<string, unknown> {
  const { instance: _instance, ...rest } = answer.body as Record<string, unknown>;
  return { status: answer.status, contentType: answer.contentType.split(';')[0], ...rest };
}

/** While events are written, a detail may name the log's changing end; the kind of problem stays. */
function kind(answer: Answer): Record<string, unknown> {
  const { detail: _detail, ...rest } = problem(answer);
  return rest;
}

async function answersOfEveryBroker(bad: BadRequest, brokerUrls: string[]): Promise<unknown[]> {
  return Promise.all(brokerUrls.map(async (url) => problem(await bad.send(url))));
}

describe('bad input on a cluster', () => {
  it.each(BAD_REQUESTS)('answers the same $status $code problem from every broker: $name', async (bad) => {
    const answers = await answersOfEveryBroker(bad, cluster.brokers.map((b) => b.url));
    expect(answers[0]).toMatchObject({ status: bad.status, code: bad.code, retryable: false, contentType: 'application/problem+json' });
    for (const answer of answers) expect(answer).toEqual(answers[0]);
  });

  it('answers the same problems, and no 500 to anything, with one broker down', async () => {
    const expected = await Promise.all(BAD_REQUESTS.map((bad) => bad.send(cluster.brokers[0]!.url).then(kind)));
    const leader = await cluster.leaderOfMost();
    await cluster.kill(leader.nodeId);
    const survivors = cluster.running().map((b) => b.url);
    // Right after the kill, while the survivors elect new leaders: bad input, good writes and reads together.
    const answers: Answer[] = [];
    for (let round = 0; round < 3; round++) {
      await Promise.all(survivors.flatMap((url) => [
        ...BAD_REQUESTS.map(async (bad, i) => {
          const answer = await bad.send(url);
          answers.push(answer);
          expect(kind(answer), `${bad.name} on ${url}`).toEqual(expected[i]);
        }),
        ...Array.from({ length: 8 }, async (_, i) => {
          const answer = await postEvents(url, { namespace: `/down/${i}`, data: String(round) });
          answers.push(answer);
          if (answer.status !== 201) expect(isRetryableUnavailable(answer), `${failureLabel(answer)}: ${JSON.stringify(answer.body)}`).toBe(true);
        }),
        request(`${url}/v1/events?namespace=/down/**`).then((answer) => {
          answers.push(answer);
          expect(answer.status).toBe(200);
        }),
        request(`${url}/v1/cluster`).then((answer) => {
          answers.push(answer);
          expect(answer.status).toBe(200);
        }),
      ]));
    }
    const statuses = new Map<string, number>();
    for (const answer of answers) statuses.set(failureLabel(answer), (statuses.get(failureLabel(answer)) ?? 0) + 1);
    console.log(`one broker down: ${answers.length} answers ${JSON.stringify(Object.fromEntries(statuses))}`);
    expect(answers.filter((a) => typeof a.status !== 'number' || a.status >= 500 && a.status !== 503).map(failureLabel)).toEqual([]);
  });
});
