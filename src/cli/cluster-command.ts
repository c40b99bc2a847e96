// `flo cluster status`: who the brokers are and how the partitions stand.
import { Command } from 'commander';
import { connect } from '../client/client.js';
import { addBrokerOptions, reportFailure, type BrokerFlags } from './common.js';

export function clusterCommand(): Command {
  const cluster = new Command('cluster').description('inspect the cluster');
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
        const lines = [`mode: ${info.mode}   replication factor: ${info.replicationFactor}   durability: ${info.durability}   answered by: ${info.nodeId}`, 'brokers:'];
        for (const broker of info.brokers) {
          // Readiness is known only for the broker that answered; for the others, whether it reaches them.
          const state = broker.self === false ? (broker.reachable ? 'reachable' : 'UNREACHABLE') : broker.ready ? 'ready' : 'not ready';
          lines.push(`  ${broker.nodeId.padEnd(4)}  ${(broker.url ?? '-').padEnd(26)}  peer ${(broker.peer ?? '-').padEnd(22)}  ${state}${broker.self ? '  (this broker)' : ''}`);
        }
        lines.push('partition  leader          next offset      events        bytes  role        term      commit  replicas (lag)');
        for (const p of info.partitions) {
          const raft = p.raft ? `  ${p.raft.role.padEnd(10)}  ${String(p.raft.term).padStart(4)}  ${String(p.raft.commitIndex).padStart(10)}` : '';
          // The leader knows each replica's lag; a follower knows only who the replicas are.
          const progress = (p.raft as { replicas?: Array<{ member: number; lag: number }> | null } | undefined)?.replicas;
          const replicas = progress ? progress.map((r) => `${r.member}(${r.lag})`).join(' ') : p.replicas.join(' ');
          lines.push(`${String(p.partition).padStart(9)}  ${(p.leader ?? 'none').padEnd(14)}  ${String(p.nextOffset).padStart(11)}  ${String(p.events).padStart(10)}  ${String(p.bytes).padStart(11)}${raft}  ${replicas}`);
        }
        process.stdout.write(lines.join('\n') + '\n');
      } catch (error) {
        reportFailure(error);
      }
    });
  return cluster;
}
