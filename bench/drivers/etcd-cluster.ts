// etcd as W4's Raft reference: the 3-member cluster of bench/raft/etcd.ts, written to
// with one put per event through the official etcd3 (gRPC) client, attached to one
// member (which forwards to the leader). etcd fsyncs its WAL before acknowledging.

import { Etcd3 } from 'etcd3';
import { ETCD_SERVER, peerVersion } from '../lib/install.js';
import { startEtcdCluster, type EtcdCluster } from '../raft/etcd.js';
import { type ClusterDriver, type ClusterNode, type ProducerOptions } from './cluster.js';
import { type AckHandler, type Producer } from './driver.js';

export class EtcdClusterDriver implements ClusterDriver {
  readonly system = 'etcd-3';
  readonly durability = '3 members; a put is acknowledged once a quorum has fsynced it to the WAL';
  readonly version = peerVersion(ETCD_SERVER.command);
  private cluster: EtcdCluster | undefined;

  async start(): Promise<void> {
    this.cluster = await startEtcdCluster(ETCD_SERVER.command);
    // A put fails until the members have elected a leader; one that succeeds proves they have.
    const probe = new Etcd3({ hosts: this.cluster.members.map((member) => member.clientUrl) });
    try {
      await probe.put('flo-bench-ready').value('1').exec();
    } finally {
      probe.close();
    }
  }

  async stop(): Promise<void> {
    await this.cluster?.stop();
    this.cluster = undefined;
  }

  nodes(): readonly ClusterNode[] {
    return (this.cluster?.members ?? []).map((member) => ({ name: `etcd ${member.name}`, pid: member.server.pid }));
  }

  async openProducer(onAck: AckHandler, options: ProducerOptions = {}): Promise<Producer> {
    const member = this.cluster?.members[options.attachTo ?? 0];
    if (!member) throw new Error('etcd-3 is not running');
    const client = new Etcd3({ hosts: member.clientUrl });
    return {
      send: (index, namespaceIndex, data) => {
        client.put(`/orders/eu/${namespaceIndex}/${index}`).value(Buffer.from(data.buffer, data.byteOffset, data.byteLength)).exec()
          .then(() => onAck(index), (error: Error) => onAck(index, error));
      },
      close: async () => client.close(),
    };
  }
}
