// A second broker started by mistake with a live member's flags (its --node-id, --peers and peer
// address) on an empty data dir looks to the cluster like that founder after a lost volume. Where
// its founding probe reaches the live member answering as its own id, it stops at once with a
// configuration error. Where it cannot (the member paused, or away), it takes itself for a lost
// founder and, with --rebuild-when-damaged, asks to join in its place: the cluster must not retire
// the running member for it. The join is asked again while the member is heard from, then refused
// for good, and the impostor stops saying why.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TestCluster } from '../support/cluster.js';
import { CLI_PATH, freePort } from '../support/server-process.js';
import { tempDir, waitFor } from '../support/temp.js';
import { produceContinuously } from './failover.js';
import { checkEverywhere } from './membership-support.js';

let cluster: TestCluster | undefined;
let impostor: ChildProcess | undefined;
afterEach(async () => {
  if (impostor?.exitCode === null) {
    const exited = new Promise((resolve) => impostor!.once('exit', resolve));
    impostor.kill('SIGKILL');
    await exited;
  }
  impostor = undefined;
  await cluster?.close();
  cluster = undefined;
});

/** A founder's flags (node 1's unless named) on an empty dir, on another loopback address with its peer port, advertising its address. */
async function startImpostor(running: TestCluster, dataDir: string, onLog: (text: string) => void, nodeId = 1, peerPort?: number): Promise<ChildProcess> {
  const founder = running.broker(nodeId);
  const seed = running.brokers.find((broker) => broker.nodeId !== nodeId)!;
  const peers = running.brokers.map((broker) => `127.0.0.1:${broker.peerPort}`).join(',');
  const child = spawn(process.execPath, [CLI_PATH, 'server',
    '--node-id', String(nodeId), '--peers', peers, '--partitions', '4', '-d', dataDir, '--host', '127.0.0.2', '-p', String(await freePort()),
    ...(peerPort === undefined ? ['--peer-port', String(founder.peerPort), '--advertise-peer', `127.0.0.1:${founder.peerPort}`] : ['--peer-port', String(peerPort)]),
    '--rebuild-when-damaged', '--join', `127.0.0.1:${seed.peerPort}`, '--log-level', 'info',
  ], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FLO_PRETTY: '' } });
  child.stdout!.on('data', (chunk: Buffer) => onLog(chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => onLog(chunk.toString()));
  return child;
}

describe('a second broker started with a live founder\'s flags', () => {
  it('stops at once, saying the member runs, and no member is added or retired (also when its peer port differs)', { timeout: 90_000 }, async () => {
    cluster = await TestCluster.start({ brokers: 3, args: ['--partitions', '4'] });
    const run = produceContinuously(cluster.broker(2).url);
    const dir = await tempDir('flo-impostor-');
    let log = '';
    try {
      await waitFor(() => run.acked.size >= 500, 'events acknowledged before the impostor starts', 30_000);
      impostor = await startImpostor(cluster, join(dir.path, 'data'), (text) => void (log += text));
      await waitFor(() => impostor!.exitCode !== null, 'the impostor to stop', 30_000);
      expect(log, log.slice(-3000)).toMatch(/node 1 is running at 127\.0\.0\.1:\d+, a member of the formed cluster: this broker was started with its --node-id on another data dir/);
      expect(log).not.toMatch(/joining as a new member/);

      // The README walk-through's case: node 1's flags on another peer port (its own was taken), with --join.
      log = '';
      impostor = await startImpostor(cluster, join(dir.path, 'data-2'), (text) => void (log += text), 1, await freePort());
      await waitFor(() => impostor!.exitCode !== null, 'the second impostor to stop', 30_000);
      expect(log, log.slice(-3000)).toMatch(/--node-id 1 names a founder, but this broker's peer address .* is not in --peers/);
      expect(log).not.toMatch(/joined the cluster|FLO_ERR_INTERNAL/);

      const acked = run.acked.size;
      await waitFor(() => run.acked.size >= acked + 300, 'appends acknowledged after the impostors stopped', 20_000);
      const states = (await cluster.status(2)).brokers.map((b) => `${b.member}:${b.state}`).join(',');
      expect(states, 'node 1 stays a member, nobody joined').toBe('1:active,2:active,3:active');
    } finally {
      await run.stop();
      await dir.remove();
    }
    await checkEverywhere(cluster.brokers, run, 'the three members');
  });

  it('is not let in while the live founder is paused for 6 s (silent, but its address still takes connections)', { timeout: 90_000 }, async () => {
    cluster = await TestCluster.start({ brokers: 3, args: ['--partitions', '4'] });
    const dir = await tempDir('flo-impostor-');
    let log = '';
    try {
      // Paused before the impostor probes it: node 1 cannot answer, node 2 says the cluster formed long ago.
      cluster.pause(1);
      impostor = await startImpostor(cluster, join(dir.path, 'data'), (text) => void (log += text));
      await waitFor(() => /data dir is empty but the cluster formed long ago/.test(log), 'the impostor to ask to replace node 1', 30_000);
      await new Promise((resolve) => setTimeout(resolve, 6_000));
      cluster.resume(1);
      const exited = new Promise((resolve) => impostor!.once('exit', resolve));
      await waitFor(() => impostor!.exitCode !== null, 'the impostor to be refused and stop', 60_000);
      await exited;
      expect(log, log.slice(-3000)).toMatch(/refusing to retire a running member: node 1 /);
      const states = (await cluster.status(2)).brokers.map((b) => `${b.member}:${b.state}`).join(',');
      expect(states, 'node 1 stays a member, nobody joined').toBe('1:active,2:active,3:active');
    } finally {
      await dir.remove();
    }
  });

  it('is not let in across a graceful restart of the controller\'s leader it claims to be', { timeout: 90_000 }, async () => {
    cluster = await TestCluster.start({ brokers: 3, args: ['--partitions', '4'] });
    const dir = await tempDir('flo-impostor-');
    let log = '';
    try {
      const leader = await waitFor(async () => (await cluster!.status(1) as { controllerLeader?: number | null }).controllerLeader ?? false, 'a controller leader', 20_000);
      const other = cluster.brokers.find((broker) => broker.nodeId !== leader)!.nodeId;
      cluster.pause(leader);
      impostor = await startImpostor(cluster, join(dir.path, 'data'), (text) => void (log += text), leader);
      await waitFor(() => /data dir is empty but the cluster formed long ago/.test(log), `the impostor to ask to replace node ${leader}`, 30_000);
      // The controller moves to a broker that has not heard the old leader for a while (it was
      // paused, then restarts): a new leader must not take that silence for a dead member.
      await cluster.stop(leader);
      cluster.restart(leader);
      await cluster.waitFormed();
      const exited = new Promise((resolve) => impostor!.once('exit', resolve));
      await waitFor(() => impostor!.exitCode !== null, 'the impostor to be refused and stop', 60_000);
      await exited;
      expect(log, log.slice(-3000)).toMatch(new RegExp(`refusing to retire a running member: node ${leader} `));
      const states = (await cluster.status(other)).brokers.map((b) => `${b.member}:${b.state}`).join(',');
      expect(states, `node ${leader} stays a member, nobody joined`).toBe('1:active,2:active,3:active');
    } finally {
      await dir.remove();
    }
  });
});
