// One command line for every pod of a StatefulSet: the same flags (--ordinal-node-id,
// --peers naming the founders, --join naming pod 0) make the pod named in --peers a
// founder with id ordinal + 1, and any other pod a member that joins and is given an
// id; a restart of either keeps its id. Real brokers on loopback.
import { afterEach, describe, expect, it } from 'vitest';
import { distinctFreePorts } from '../support/cluster.js';
import { startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp.js';

const started: ServerProcess[] = [];
let dir: Awaited<ReturnType<typeof tempDir>> | undefined;
afterEach(async () => {
  await Promise.all(started.splice(0).map((server) => server.stop('SIGKILL')));
  await dir?.remove();
});

async function memberOf(server: ServerProcess): Promise<number> {
  return ((await (await fetch(`${server.url}/v1/cluster`)).json()) as { member: number }).member;
}

describe('the same flags on every pod', () => {
  it('found the cluster on the pod named in --peers and join it from the others, ids kept across a restart', { timeout: 90_000 }, async () => {
    dir = await tempDir();
    const [peer0, peer1] = await distinctFreePorts(2);
    const flags = (peerPort: number): string[] => ['--ordinal-node-id', '--peers', `127.0.0.1:${peer0}`, '--join', `127.0.0.1:${peer0}`,
      '--peer-port', String(peerPort), '--advertise-peer', `127.0.0.1:${peerPort}`, '--partitions', '2'];
    const start = (ordinal: number, peerPort: number, port?: number): Promise<ServerProcess> =>
      startServer(`${dir!.path}/pod-${ordinal}`, flags(peerPort), port, { FLO_POD_NAME: `flo-${ordinal}` }).then((server) => {
        started.push(server);
        return server;
      });
    const [pod0, pod1] = await Promise.all([start(0, peer0!), start(1, peer1!)]);
    expect(await memberOf(pod0)).toBe(1);
    expect(await memberOf(pod1)).toBe(2);
    await pod1.stop('SIGTERM');
    started.splice(started.indexOf(pod1), 1);
    const again = await start(1, peer1!, pod1.port);
    expect(await memberOf(again)).toBe(2);
  });
});
