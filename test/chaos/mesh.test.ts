// The proxy mesh turns a schedule's directed cuts into proxy faults: with
// three echo servers standing in for brokers, a cut a→b stops what a sends to b
// on both a's and b's connections, leaves b→a and every other link working,
// and heal restores it.
import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/temp.js';
import { ProxyMesh } from './mesh.js';
import { dial, startTarget, type Client, type Target } from './sockets.js';

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setUp(): Promise<{ targets: Target[]; mesh: ProxyMesh }> {
  const targets = [await startTarget(), await startTarget(), await startTarget()];
  for (const target of targets) cleanups.push(() => new Promise<void>((resolve) => target.server.close(() => resolve())));
  const mesh = await ProxyMesh.start(targets.map((target) => target.port));
  cleanups.push(() => mesh.close());
  return { targets, mesh };
}

async function connectLink(mesh: ProxyMesh, from: number, to: number): Promise<Client> {
  const client = await dial(mesh.link(from, to).port);
  cleanups.push(() => void client.socket.destroy());
  return client;
}

describe('proxy mesh', () => {
  it('a one-way cut stops a→b on both connections and nothing else', async () => {
    const { targets, mesh } = await setUp();
    mesh.apply([[0, 1]]);
    // 0 dials 1: 0's bytes are held, 1's greeting still reaches 0.
    const zeroToOne = await connectLink(mesh, 0, 1);
    zeroToOne.socket.write('from0');
    await waitFor(() => zeroToOne.received() === 'hi\n', 'the greeting from 1');
    // 1 dials 0: 1's bytes arrive at 0, 0's answers are held.
    const oneToZero = await connectLink(mesh, 1, 0);
    oneToZero.socket.write('from1');
    await waitFor(() => targets[0]!.received[0]?.toString() === 'from1', 'bytes from 1 at 0');
    // An uncut link works end to end, which also shows the held bytes had time to arrive.
    const twoToOne = await connectLink(mesh, 2, 1);
    twoToOne.socket.write('from2');
    await waitFor(() => twoToOne.received() === 'hi\nfrom2', 'the echo over 2→1');
    expect(targets[1]!.received[0]!.toString()).toBe('');
    expect(oneToZero.received()).toBe('');

    mesh.heal();
    await waitFor(() => zeroToOne.received() === 'hi\nfrom0', 'the echo over 0→1 after heal');
    await waitFor(() => oneToZero.received() === 'hi\nfrom1', 'the echo over 1→0 after heal');
  });

  it('gives every broker its own address for every peer', async () => {
    const { mesh } = await setUp();
    const addresses = new Set<string>();
    for (let from = 0; from < 3; from++) for (let to = 0; to < 3; to++) if (from !== to) addresses.add(mesh.address(from, to));
    expect(addresses.size).toBe(6);
    expect(() => mesh.link(1, 1)).toThrow(/no link/);
  });
});
