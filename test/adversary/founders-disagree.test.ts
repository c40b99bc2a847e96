// Adversary: founders whose --peers lists disagree. Founder 3 lists only itself (it forms a
// one-member cluster and answers probes); founders 1 and 2 list all three, probe 3, get its id
// and form {1,2,3}. Today all three start and serve: broker 3 is a separate cluster that 1 and 2
// count as a member, and one id names different events on different brokers. Expected: a
// founder refuses (or waits), never a split.
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp.js';

const running: ServerProcess[] = [];
const dirs: Array<{ remove: () => Promise<void> }> = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((server) => server.stop('SIGKILL')));
  await Promise.all(dirs.splice(0).map((dir) => dir.remove()));
});

async function post(url: string, data: string): Promise<string> {
  const answer = await fetch(`${url}/v1/events`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ namespace: '/split', data }) });
  expect(answer.status).toBe(201);
  return ((await answer.json()) as { id: string }).id;
}

async function dataOf(url: string, id: string): Promise<string | undefined> {
  const answer = await fetch(`${url}/v1/events/${id}`);
  return answer.ok ? ((await answer.json()) as { data: string }).data : undefined;
}

describe('founders with different --peers lists', () => {
  it('never serve two different events under one id', async () => {
    const peerPorts = [await freePort(), await freePort(), await freePort()];
    const all = peerPorts.map((port) => `127.0.0.1:${port}`).join(',');
    const args = (node: number, peers: string): string[] => ['--node-id', String(node), '--peer-port', String(peerPorts[node - 1]), '--peers', peers];
    const made = await Promise.all([tempDir(), tempDir(), tempDir()]);
    dirs.push(...made);
    const third = await startServer(made[2]!.path, args(3, `127.0.0.1:${peerPorts[2]}`));
    running.push(third);
    // Both settle (started, or refused and stopped) before the test goes on: none is left running.
    const started = await Promise.allSettled([startServer(made[0]!.path, args(1, all)), startServer(made[1]!.path, args(2, all))]);
    const founders = started.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    running.push(...founders);
    if (founders.length < 2) return; // refusing to form with a broker of another membership is a correct outcome
    const idAtThird = await post(third.url, 'written at 3');
    const idAtFirst = await post(founders[0]!.url, 'written at 1');
    for (const id of new Set([idAtThird, idAtFirst])) {
      expect(await dataOf(founders[0]!.url, id), id).toBe(await dataOf(third.url, id));
    }
  }, 60_000);
});
