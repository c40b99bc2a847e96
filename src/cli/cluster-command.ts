// `flo cluster status | health | drain | remove | restart-check`: who the brokers
// are, how the partitions stand, and the membership operations of the admin API.
import { Command } from 'commander';
import { connect, type ClusterInfo, type FloClient } from '../client/client.js';
import { addBrokerOptions, parsePositiveInt, reportFailure, type BrokerFlags } from './common.js';

/** How often `drain --wait` looks at the drain's progress, and for how long at most. */
const DRAIN_POLL_MS = 1000;
const DRAIN_WAIT_MS = 30 * 60_000;

async function withClient(flags: BrokerFlags, work: (client: FloClient) => Promise<void>): Promise<void> {
  let client: FloClient | undefined;
  try {
    client = await connect(flags.url, { token: flags.token });
    await work(client);
  } catch (error) {
    reportFailure(error);
  } finally {
    await client?.close().catch(() => undefined);
  }
}

function print(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

export function clusterCommand(): Command {
  const cluster = new Command('cluster').description('inspect and change the cluster: status, health, restart checks, drain and remove members');
  addBrokerOptions(cluster.command('status').description('print brokers and partitions').option('--json', 'print the raw JSON'))
    .action(async (flags: BrokerFlags & { json?: boolean }) => {
      try {
        const client = await connect(flags.url, { token: flags.token });
        const info = await client.cluster();
        await client.close();
        if (flags.json) {
          process.stdout.write(JSON.stringify(info, null, 2) + '\n');
          return;
        }
        process.stdout.write(formatStatus(info));
      } catch (error) {
        reportFailure(error);
      }
    });

  addBrokerOptions(cluster.command('health').description('every member answering, every partition led and fully replicated, a controller leader; exits 1 when not').option('--json', 'print the raw JSON'))
    .action((flags: BrokerFlags & { json?: boolean }) => withClient(flags, async (client) => {
      const health = await client.clusterHealth();
      if (flags.json) print(health);
      else {
        const { total, leaderless, underReplicated } = health.partitions;
        const info = await client.cluster();
        const controller = info.mode === 'cluster' ? `controller leader ${health.controllerLeader ?? 'none'}` : 'a one-member cluster (no controller)';
        const active = info.brokers.filter((broker) => broker.state === 'active').map((broker) => broker.member);
        const members = info.mode === 'cluster' ? `; members active: ${active.join(', ') || 'none'}` : '';
        process.stdout.write(`${health.healthy ? 'healthy' : 'NOT HEALTHY'}: ${total} partitions, ${leaderless} without a leader, ${underReplicated} under-replicated; ${controller}${members}\n`);
        for (const problem of health.problems) process.stdout.write(`  - ${problem}\n`);
      }
      if (!health.healthy) process.exitCode = 1;
    }));

  addBrokerOptions(cluster.command('drain').description('move every replica and leadership off a member (it stays, holding nothing, until removed)')
    .argument('<id>', 'the member id (see flo cluster status)', parsePositiveInt)
    .option('--wait', 'wait until it holds no replica, printing progress'))
    .action((id: number, flags: BrokerFlags & { wait?: boolean }) => withClient(flags, async (client) => {
      const { member } = await client.drainMember(id);
      process.stdout.write(`node ${id}: draining (${member.partitions} partitions to move)\n`);
      if (!flags.wait) return;
      const deadline = Date.now() + DRAIN_WAIT_MS;
      let last = -1;
      for (;;) {
        const info = await client.cluster();
        const now = info.brokers.find((broker) => broker.member === id);
        const left = now?.partitions ?? 0;
        if (left !== last) process.stderr.write(`flo: node ${id}: ${left} partition${left === 1 ? '' : 's'} left, leads ${now?.leaders ?? 0}\n`);
        last = left;
        if (left === 0 && (now?.leaders ?? 0) === 0) break;
        if (Date.now() > deadline) throw new Error(`node ${id} still holds ${left} partitions after ${DRAIN_WAIT_MS / 60_000} minutes (see flo cluster health)`);
        await new Promise((resolve) => setTimeout(resolve, DRAIN_POLL_MS));
      }
      process.stdout.write(`node ${id}: drained; remove it with: flo cluster remove ${id} --url ${flags.url}\n`);
    }));

  addBrokerOptions(cluster.command('remove').description('remove a drained member for good (its id is never used again)')
    .argument('<id>', 'the member id', parsePositiveInt)
    .option('--force', 'remove a member that is gone for good although it still holds replicas (the others drop it)'))
    .action((id: number, flags: BrokerFlags & { force?: boolean }) => withClient(flags, async (client) => {
      await client.removeMember(id, { force: flags.force });
      process.stdout.write(`node ${id}: removed\n`);
    }));

  addBrokerOptions(cluster.command('restart-check').description('whether restarting a member now keeps every partition\'s quorum; ask the member itself (--url) after its restart whether it caught up; exits 1 when not safe')
    .argument('<id>', 'the member id', parsePositiveInt)
    .option('--json', 'print the raw JSON'))
    .action((id: number, flags: BrokerFlags & { json?: boolean }) => withClient(flags, async (client) => {
      const check = await client.restartCheck(id);
      if (flags.json) print(check);
      else {
        const caughtUp = check.caughtUp === null ? 'unknown here' : check.caughtUp ? 'yes' : 'no';
        process.stdout.write(`node ${id}: restart ${check.safe ? 'safe' : 'NOT SAFE'}; caught up: ${caughtUp}\n`);
        for (const problem of check.problems) process.stdout.write(`  - ${problem}\n`);
      }
      if (!check.safe) process.exitCode = 1;
    }));
  return cluster;
}

/** The status table a person reads: brokers (state, replicas held and led), then partitions. */
function formatStatus(info: ClusterInfo): string {
  const lines = [`mode: ${info.mode}   replication factor: ${info.replicationFactor}   durability: ${info.durability}   answered by: ${info.nodeId}`, 'brokers:'];
  for (const broker of info.brokers) {
    // Readiness is known only for the broker that answered; for the others, whether it reaches them.
    // A removed member is no longer dialled, so "unreachable" would say nothing about it.
    const state = broker.state === 'removed' ? '-' : broker.self === false ? (broker.reachable ? 'reachable' : 'UNREACHABLE') : broker.ready ? 'ready' : 'not ready';
    const shown = broker.state === 'draining' && (broker.partitions ?? 0) === 0 ? 'drained' : broker.state;
    const member = shown === undefined ? '' : `  ${shown.padEnd(8)}  ${String(broker.partitions ?? 0).padStart(3)} replicas  ${String(broker.leaders ?? 0).padStart(3)} led`;
    lines.push(`  ${broker.nodeId.padEnd(4)}  ${(broker.url ?? '-').padEnd(26)}  peer ${(broker.peer ?? '-').padEnd(22)}  ${state.padEnd(11)}${member}${broker.self ? '  (this broker)' : ''}`);
  }
  lines.push('partition  leader          next offset      events        bytes  role        term      commit  replicas (lag)');
  for (const p of info.partitions) {
    const raft = p.raft ? `  ${p.raft.role.padEnd(10)}  ${String(p.raft.term).padStart(4)}  ${String(p.raft.commitIndex).padStart(10)}` : '';
    // The leader knows each replica's lag; a follower knows only who the replicas are.
    const progress = (p.raft as { replicas?: Array<{ member: number; lag: number }> | null } | undefined)?.replicas;
    const replicas = progress ? progress.map((r) => `${r.member}(${r.lag})`).join(' ') : p.replicas.join(' ');
    lines.push(`${String(p.partition).padStart(9)}  ${(p.leader ?? 'none').padEnd(14)}  ${String(p.nextOffset).padStart(11)}  ${String(p.events).padStart(10)}  ${String(p.bytes).padStart(11)}${raft}  ${replicas}`);
  }
  return lines.join('\n') + '\n';}
