// A broker with peers, before its event log opens: listen on the peer port
// (authenticated), find or form the cluster's membership, dial the other members,
// and hand the event log what it needs to replicate (voters, transport, how to
// forward to a leader). The same RaftNode / Partition code runs either way; this
// module only decides who the voters are and how they reach each other.
import type { Logger } from 'pino';
import { FloError } from '../../common/errors.js';
import type { ClusterView, MemberView } from '../api/admin.js';
import type { EventLog, ReplicationOptions } from '../event-log.js';
import { NO_PRODUCER } from '../partitions/commands.js';
import type { NodeId } from '../raft/messages.js';
import type { PeerAddress } from '../transport/peer-link.js';
import { TcpTransport } from '../transport/tcp-transport.js';
import { foundCluster, formatPeerAddress, parsePeerAddress, readMembership, type ClusterMembership } from './founding.js';
import { FETCH_BYTES, decodeFetch, decodeSegments, encodeFetch, encodeSegments, isFetch } from './catch-up.js';
import {
  FORWARD_TIMEOUT_MS, decodeForward, decodeForwardedCommand, encodeForwardedCommand, encodeOffsets, forwardAppend, isForwardedCommand, safeToRetry,
} from './forwarding.js';

export const DEFAULT_CLUSTER_ID = 'flo';

export interface ClusterOptions {
  /** This broker's member id: a positive integer, kept in its data dir, never reused. */
  readonly nodeId: number;
  /** The founders' peer addresses, the same list on every founder, this broker's own included. */
  readonly peers: readonly PeerAddress[];
  readonly peerHost?: string | undefined;
  /** 0 = any free port (tests). */
  readonly peerPort: number;
  /** What clients use to reach this broker (default: the address it listens on). */
  readonly advertiseUrl?: string | undefined;
  /** What other brokers dial to reach this one (default: peer host:port). */
  readonly advertisePeer?: string | undefined;
  readonly replicationFactor?: number | undefined;
  readonly clusterId?: string | undefined;
  /** Every member proves it holds this in the peer handshake; without one, anything that reaches the peer port and knows the cluster id may join. */
  readonly secret?: Uint8Array | undefined;
}

export class Peering {
  private log: EventLog | undefined;

  private constructor(readonly transport: TcpTransport, readonly membership: ClusterMembership, private readonly nodeId: NodeId, private readonly ownUrl: () => string | undefined) {}

  /** Listens for peers, then forms (or reads) the membership; rejects if the founders disagree on ids. */
  static async start(options: ClusterOptions & { dataDir: string; host: string; logger: Logger; url: () => string | undefined; partitions: number }): Promise<Peering> {
    checkNodeId(options.nodeId);
    if (options.peers.length === 0) throw new FloError('FLO_ERR_CONFIG_INVALID', '--peers needs at least this broker\'s own peer address');
    const peerHost = options.peerHost ?? options.host;
    const clusterId = options.clusterId ?? DEFAULT_CLUSTER_ID;
    const logger = options.logger.child({ component: 'peers' });
    let advertisedPeer = options.advertisePeer;
    // Told to every prober: founders compare founder counts, formed memberships and partition counts.
    let formed: ClusterMembership | undefined = await readMembership(options.dataDir).catch(() => undefined);
    if (advertisedPeer !== undefined) parsePeerAddress(advertisedPeer, '--advertise-peer');
    const transport = await TcpTransport.listen({
      nodeId: options.nodeId, host: peerHost, port: options.peerPort, acceptProbes: true, logger,
      auth: { clusterId, secret: options.secret },
      selfInfo: () => ({
        // While forming, the store is new: its partition count is the flag's (or the default).
        url: options.advertiseUrl ?? options.url() ?? null, peer: advertisedPeer ?? null, partitions: formed === undefined ? options.partitions : null,
        founders: formed === undefined ? options.peers.length : null, members: formed?.members.map((member) => member.id) ?? null,
      }),
    }).catch((error: unknown) => {
      throw new FloError('FLO_ERR_ADDRESS_IN_USE', `cannot listen for peers on ${peerHost}:${options.peerPort} (--peer-port): ${(error as Error).message}`, { cause: error });
    });
    advertisedPeer ??= formatPeerAddress({ host: peerHost === '0.0.0.0' ? '127.0.0.1' : peerHost, port: transport.port });
    try {
      if (options.secret === undefined) logger.warn('peer port open to any process that knows the cluster id: set --cluster-secret-file (FLO_CLUSTER_SECRET) so only members can join');
      const membership = await foundCluster({
        dataDir: options.dataDir, nodeId: options.nodeId, clusterId, founders: options.peers,
        replicationFactor: options.replicationFactor, transport, logger, partitions: options.partitions,
      });
      formed = membership;
      for (const member of membership.members) {
        if (member.id !== options.nodeId) transport.addPeer(member.id, parsePeerAddress(member.peer, 'cluster.json'));
      }
      const url = (): string | undefined => options.advertiseUrl ?? options.url();
      return new Peering(transport, membership, options.nodeId, url);
    } catch (error) {
      await transport.close();
      throw error;
    }
  }

  /** What the event log needs to run every partition as a group of all members. */
  replication(): ReplicationOptions {
    return {
      nodeId: this.nodeId,
      voters: this.membership.members.map((member) => member.id),
      transport: this.transport,
      forward: (leader, partition, command, events) => forwardAppend(this.transport, leader, partition, command, events),
      safeToRetry,
      forwardCommand: async (leader, partition, command) => {
        await this.transport.request(leader, encodeForwardedCommand(partition, command), FORWARD_TIMEOUT_MS);
      },
      fetchEvents: async (from, request) => decodeSegments(await this.transport.request(from, encodeFetch({ ...request, maxBytes: FETCH_BYTES }), FORWARD_TIMEOUT_MS)),
    };
  }

  /** From now on forwarded appends are served by `log`. */
  serve(log: EventLog): void {
    this.log = log;
    this.transport.serve(async (_from, payload) => {
      if (this.log === undefined) throw new FloError('FLO_ERR_SHUTTING_DOWN', 'the broker is not serving');
      if (isFetch(payload)) {
        const request = decodeFetch(payload);
        return encodeSegments(await this.log.exportEvents(request.partition, request.from, request.to, Math.min(request.maxBytes, FETCH_BYTES)));
      }
      if (isForwardedCommand(payload)) {
        const forwarded = decodeForwardedCommand(payload);
        await this.log.proposeForwarded(forwarded.partition, forwarded.command);
        return Buffer.alloc(0);
      }
      const { partition, command } = decodeForward(payload);
      const producer = command.producerId === NO_PRODUCER ? undefined : { id: command.producerId, firstSequence: command.firstSequence };
      return encodeOffsets(await this.log.acceptForwarded(partition, command.events, producer));
    });
  }

  /** The broker listens now: its URL goes to every peer. */
  announce(): void {
    this.transport.announce();
  }

  view(): ClusterView {
    return {
      clusterId: this.membership.clusterId,
      member: this.nodeId,
      replicationFactor: this.membership.replicationFactor,
      members: (): MemberView[] => this.membership.members.map((member) => {
        const self = member.id === this.nodeId;
        const info = self ? undefined : this.transport.memberInfo(member.id);
        return {
          nodeId: String(member.id), member: member.id, self, peer: info?.peer ?? member.peer,
          url: self ? this.ownUrl() ?? null : info?.url ?? null,
          reachable: self || this.transport.connected(member.id),
        };
      }),
    };
  }

  async close(): Promise<void> {
    this.log = undefined;
    await this.transport.close();
  }
}

function checkNodeId(id: number): void {
  if (!Number.isSafeInteger(id) || id < 1 || id > 0xffffffff) throw new FloError('FLO_ERR_CONFIG_INVALID', '--node-id must be a whole number from 1 to 4294967295');
}
