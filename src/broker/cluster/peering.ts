// A broker with peers, before its event log opens: listen on the peer port
// (authenticated), form the cluster (founders), join it (--join) or read the
// membership saved in the data dir, dial the other members, and hand the event
// log what it needs to replicate (founders, transport, how to forward to a
// leader, the controller to start beside the partitions). Once running, the
// controller's table decides who is dialled, and the reconciler changes each
// group's members to match it. The same RaftNode / Partition code runs either
// way; this module only decides who the members are and how they reach each other.
import type { Logger } from 'pino';
import { FloError } from '../../common/errors.js';
import type { ClusterView, MemberView } from '../api/admin.js';
import type { EventLog, ReplicationOptions } from '../event-log.js';
import { listenError } from '../listen-error.js';
import { NO_PRODUCER } from '../partitions/commands.js';
import { groupIdOf } from '../partitions/partition-keys.js';
import type { NodeId } from '../raft/messages.js';
import type { PeerAddress } from '../transport/peer-link.js';
import { TcpTransport } from '../transport/tcp-transport.js';
import type { JoinAnswer, JoinRequest } from '../transport/frame.js';
import { ClusterAdmin } from './cluster-admin.js';
import { CONTROLLER_GROUP, CONTROLLER_REQUEST_MS, Controller, outcomeError } from './controller.js';
import { replacedMember, type MemberRecord } from './controller-machine.js';
import { decodeControllerReply, decodeControllerRequest, encodeControllerReply, encodeControllerRequest, isControllerRequest } from './controller-requests.js';
import { peerDiscovery } from './discovery.js';
import { foundCluster, formatPeerAddress, parsePeerAddress, readMembership, type ClusterMembership } from './founding.js';
import { joinCluster, joinedMembership } from './joining.js';
import { Reconciler, preferredLeader, type ReconciledGroup } from './reconciler.js';
import { decodeLaggingReply, encodeLaggingReply, encodeLaggingRequest, isLaggingRequest } from './lag-requests.js';
import { decodeReadIndexReply, decodeReadIndexRequest, encodeReadIndexReply, encodeReadIndexRequest, isReadIndexRequest } from './read-index-requests.js';
import { StartCatchUp } from './start-catch-up.js';
import { FETCH_BYTES, answerFetch, decodeFetch, decodeSegments, encodeFetch, isFetch } from './catch-up.js';
import { TransferBudget } from './transfer-budget.js';
import { RUNNING_MEMBER_REFUSAL, type AddressAnswer } from './retire-guard.js';
import { peersKnownBefore } from './rejoin.js';
import {
  FORWARD_TIMEOUT_MS, decodeForward, decodeForwardedCommand, encodeForwardedCommand, encodeOffsets, forwardAppend, isForwardedCommand, safeToRetry,
} from './forwarding.js';

export const DEFAULT_CLUSTER_ID = 'flo';
/** How long a graceful stop waits for the groups it leads to take another leader. */
const HAND_OFF_MS = 3_000;
/** How long a stopping broker lets its "stopping" reach the peers before it picks heirs. */
const STOPPING_NOTICE_MS = 100;
/** How long health waits for another leader to say which of its replicas lag (a broker that does not answer is reported). */
const LAG_REQUEST_MS = 2_000;

export interface ClusterOptions {
  /** This broker's member id: a positive integer, kept in its data dir, never reused. A broker that joins is given one. */
  readonly nodeId?: number | undefined;
  /** The founders' peer addresses, the same list on every founder, this broker's own included (empty when joining). */
  readonly peers: readonly PeerAddress[];
  /** A store found damaged at start is moved aside and this broker joins anew through --join, retiring its old id. */
  readonly rebuildWhenDamaged?: boolean | undefined;
  /** Set by the broker when it rebuilds: the id it had. */
  readonly replaces?: number | undefined;
  /** Ids this data dir had before a rebuild (rejoin.ts): --node-id may name one of them. */
  readonly formerIds?: readonly number[] | undefined;
  /** The id came from the pod's ordinal: it names this broker only if it is a founder (a joiner is given another). */
  readonly nodeIdFromOrdinal?: boolean | undefined;
  /** Join the running cluster of the member at this peer address (an empty data dir gets a new id). */
  readonly join?: PeerAddress | undefined;
  /** A DNS name resolving to every member's pod (host or host:port; --peers-service): asked whether the cluster formed, and to join through. */
  readonly peersService?: string | undefined;
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
  /** Bytes per second this broker sends to replicas catching up, all of them together (default 100 MiB). */
  readonly catchUpBytesPerSecond?: number | undefined;
}

export class Peering {
  private log: EventLog | undefined;
  private controller: Controller | undefined;
  private reconciler: Reconciler | undefined;
  private admin: ClusterAdmin | undefined;
  /** Set once this broker applied its own removal: it serves nothing more. */
  private removed = false;
  /** Until each partition applied its leader's ReadIndex after the start, this broker serves no reads. */
  private startCatchUp: StartCatchUp | undefined;
  /** Set by prepareStop(): told to peers in INFO. */
  private stopping = false;

  private constructor(
    readonly transport: TcpTransport, readonly membership: ClusterMembership, readonly nodeId: NodeId,
    private readonly ownUrl: () => string | undefined, private readonly founder: boolean, private readonly logger: Logger,
    private readonly catchUpBudget: TransferBudget,
  ) {}

  /** Listens for peers, then forms, joins or reads the membership; rejects if the founders disagree on ids. */
  static async start(options: ClusterOptions & { dataDir: string; host: string; logger: Logger; url: () => string | undefined; partitions: number }): Promise<Peering> {
    if (options.nodeId !== undefined) checkNodeId(options.nodeId);
    const joined = await joinedMembership(options.dataDir, options.nodeIdFromOrdinal ? undefined : options.nodeId);
    if (joined === undefined && options.join === undefined) {
      if (options.peers.length === 0) throw new FloError('FLO_ERR_CONFIG_INVALID', '--peers needs at least this broker\'s own peer address');
      if (options.nodeId === undefined) throw new FloError('FLO_ERR_CONFIG_INVALID', '--peers needs --node-id (FLO_NODE_ID): each founder\'s own positive integer; a broker that joins a running cluster (--join) is given one');
    }
    const peerHost = options.peerHost ?? options.host;
    const clusterId = options.clusterId ?? DEFAULT_CLUSTER_ID;
    const logger = options.logger.child({ component: 'peers' });
    let advertisedPeer = options.advertisePeer;
    // Told to every prober: founders compare founder counts, formed memberships and partition counts.
    let formed: ClusterMembership | undefined = joined ?? await readMembership(options.dataDir).catch(() => undefined);
    if (advertisedPeer !== undefined) parsePeerAddress(advertisedPeer, '--advertise-peer');
    const auth = { clusterId, secret: options.secret };
    const discover = options.peersService === undefined ? undefined : peerDiscovery(options.peersService, options.peerPort);
    const started: { peering?: Peering } = {};
    const transport = await TcpTransport.listen({
      // A broker that may join listens as node 0 until it is given an id (or knows it founds).
      nodeId: joined?.self ?? (options.join !== undefined && options.nodeIdFromOrdinal ? 0 : options.nodeId ?? 0), host: peerHost, port: options.peerPort, acceptProbes: true, logger, auth,
      selfInfo: () => ({
        // While forming, the store is new: its partition count is the flag's (or the default).
        url: options.advertiseUrl ?? options.url() ?? null, peer: advertisedPeer ?? null, partitions: formed === undefined ? options.partitions : null,
        founders: formed === undefined ? options.peers.length : null, members: formed?.members.map((member) => member.id) ?? null,
        formedAgoMs: formed === undefined ? null : formed.formedAt === undefined ? null : Math.max(0, Date.now() - formed.formedAt),
        stopping: started.peering?.stopping ?? false,
      }),
      onJoin: (request) => {
        const peering = started.peering;
        if (peering === undefined) return Promise.reject(new FloError('FLO_ERR_UNAVAILABLE', 'this broker is still starting; ask again shortly'));
        return peering.answerJoin(request);
      },
    }).catch((error: unknown) => {
      // The transport wraps the socket error; its code says whether the port is taken, the address foreign, or privileged.
      throw listenError((error as Error).cause ?? error, options.peerPort, peerHost, '--peer-port');
    });
    advertisedPeer ??= formatPeerAddress({ host: peerHost === '0.0.0.0' ? '127.0.0.1' : peerHost, port: transport.port });
    try {
      if (options.secret === undefined) logger.warn('peer port open to any process that knows the cluster id: set --cluster-secret-file (FLO_CLUSTER_SECRET) so only members can join');
      let membership: ClusterMembership;
      let nodeId: NodeId;
      let dial: Array<{ id: NodeId; peer: string }>;
      if (joined !== undefined) {
        membership = joined;
        nodeId = joined.self!;
        dial = [...joined.members];
      } else if (options.join !== undefined && formed === undefined && (options.replaces !== undefined || !options.peers.map(formatPeerAddress).includes(advertisedPeer))) {
        // Given both (one command line for every pod of a StatefulSet): a broker named in --peers founds, any other joins.
        if (options.replaces === undefined && options.nodeId !== undefined && !options.nodeIdFromOrdinal) {
          // It would join under a new id while its flags name one: that is a founder's command line with the wrong address.
          throw new FloError('FLO_ERR_CONFIG_INVALID', `--node-id ${options.nodeId} names a founder, but this broker's peer address ${advertisedPeer} is not in --peers, so it would join as a new member under another id. A founder lists its own peer address in --peers (check --peer-port, --peer-host and --advertise-peer); a broker that joins a running cluster takes no --node-id (it is given one)`);
        }
        const known = await peersKnownBefore(options.dataDir);
        const answer = await joinCluster({ dataDir: options.dataDir, seeds: joinSeeds(options.join, [...options.peers, ...known], advertisedPeer), discover, auth, peer: advertisedPeer, url: options.advertiseUrl ?? null, logger, replaces: options.replaces, formerIds: options.formerIds });
        membership = answer;
        nodeId = answer.self;
        dial = answer.dial;
        transport.assignNodeId(nodeId);
      } else {
        if (options.nodeId === undefined) throw new FloError('FLO_ERR_CONFIG_INVALID', `this broker (${advertisedPeer}) is one of --peers, a founder: it needs --node-id (FLO_NODE_ID)`);
        if (transport.nodeId === 0) transport.assignNodeId(options.nodeId);
        membership = await foundCluster({
          dataDir: options.dataDir, nodeId: options.nodeId!, clusterId, founders: options.peers,
          replicationFactor: options.replicationFactor, transport, logger, partitions: options.partitions, discover,
        });
        nodeId = options.nodeId!;
        dial = [...membership.members];
      }
      formed = membership;
      for (const member of dial) {
        if (member.id !== nodeId) transport.addPeer(member.id, parsePeerAddress(member.peer, 'cluster.json'));
      }
      const url = (): string | undefined => options.advertiseUrl ?? options.url();
      const peering = new Peering(transport, membership, nodeId, url, membership.self === undefined, logger, new TransferBudget(options.catchUpBytesPerSecond));
      started.peering = peering;
      return peering;
    } catch (error) {
      await transport.close();
      throw error;
    }
  }

  /** A joined broker's partition count (the cluster's); undefined for a founder (its flags decide). */
  get partitions(): number | undefined {
    return this.membership.partitions;
  }

  /** What the event log needs to run every partition as a group of all members, and the controller beside them. */
  replication(): ReplicationOptions {
    return {
      nodeId: this.nodeId,
      // A broker that joined starts its groups empty: their leaders add it as a learner, then a voter.
      founders: this.founder ? this.membership.members.map((member) => member.id) : undefined,
      transport: this.transport,
      forward: (leader, partition, command, events) => forwardAppend(this.transport, leader, partition, command, events),
      safeToRetry,
      forwardCommand: async (leader, partition, command) => {
        await this.transport.request(leader, encodeForwardedCommand(partition, command), FORWARD_TIMEOUT_MS);
      },
      readIndexAt: async (leader, partition) => decodeReadIndexReply(await this.transport.request(leader, encodeReadIndexRequest(partition), FORWARD_TIMEOUT_MS)),
      fetchEvents: async (from, request) => decodeSegments(await this.transport.request(from, encodeFetch({ ...request, maxBytes: FETCH_BYTES }), FORWARD_TIMEOUT_MS)),
      startController: async (shared) => {
        const controller = this.controller = await Controller.start(shared, {
          founders: this.membership.members, replicationFactor: this.membership.replicationFactor, bootstrap: this.founder,
          forward: async (leader, command) => decodeControllerReply(await this.transport.request(leader, encodeControllerRequest(command), CONTROLLER_REQUEST_MS)),
          onChange: (members) => this.onMembersChanged(members),
          msSinceHeard: (id) => this.transport.msSinceHeard(id),
          whoAnswersAt: (peer, joinerPeer) => whoAnswersAt(this.transport, peer, joinerPeer),
        });
        const groups = (): ReconciledGroup[] => [controller.group, ...(this.log?.raftGroups() ?? [])];
        this.admin = new ClusterAdmin({
          nodeId: this.nodeId, controller, groups, reachable: (id) => this.transport.connected(id), urlOf: (id) => this.transport.memberInfo(id)?.url ?? null,
          askLagging: async (leader) => decodeLaggingReply(await this.transport.request(leader, encodeLaggingRequest(), LAG_REQUEST_MS)),
        });
        this.reconciler = new Reconciler({
          groups, desired: () => controller.replicaHolders(), balanced: (groupId) => groupId !== CONTROLLER_GROUP, logger: this.logger,
          mayLead: (id) => this.transport.memberInfo(id)?.stopping !== true,
          afterPass: () => this.activateJoined(groups()),
        });
        return {
          close: async () => {
            this.reconciler?.close();
            await controller.close();
          },
        };
      },
    };
  }

  /** From now on forwarded appends are served by `log`. */
  serve(log: EventLog): void {
    this.log = log;
    this.startCatchUp = new StartCatchUp({ partitions: log.partitions, catchUp: (partition, timeoutMs) => log.catchUpToCommitted(partition, timeoutMs), logger: this.logger });
    this.transport.serve(async (_from, payload) => {
      if (this.log === undefined) throw new FloError('FLO_ERR_SHUTTING_DOWN', 'the broker is not serving');
      if (isControllerRequest(payload)) {
        if (this.controller === undefined) throw new FloError('FLO_ERR_UNAVAILABLE', 'the controller is not running here');
        return encodeControllerReply(await this.controller.requestAsLeader(decodeControllerRequest(payload)));
      }
      if (isLaggingRequest(payload)) {
        if (this.admin === undefined) throw new FloError('FLO_ERR_UNAVAILABLE', 'the controller is not running here');
        return encodeLaggingReply(this.admin.laggingLed());
      }
      if (isReadIndexRequest(payload)) return encodeReadIndexReply(await this.log.leaderReadIndex(decodeReadIndexRequest(payload)));
      if (isFetch(payload)) {
        return answerFetch(decodeFetch(payload), this.catchUpBudget, this.log.exportEvents.bind(this.log));
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

  /**
   * A graceful stop: tell the peers this broker is stopping (they hand it no leadership), then hand
   * every group it leads to another voter, so producers wait a leader transfer, not an election timeout.
   */
  async prepareStop(timeoutMs = HAND_OFF_MS): Promise<void> {
    if (this.reconciler === undefined) return;
    this.stopping = true;
    this.transport.announce();
    // When the whole cluster stops at once (Ctrl-C on `npm run cluster`), each broker first hears the
    // others say so, and hands nothing to a broker that is stopping too.
    await new Promise((resolve) => setTimeout(resolve, STOPPING_NOTICE_MS));
    const started = performance.now();
    const left = await this.reconciler.handOff(timeoutMs);
    this.logger.info({ ms: Math.round(performance.now() - started), stillLeading: left }, 'stopping: leadership handed off');
  }

  /** The broker listens now: its URL goes to every peer. */
  announce(): void {
    this.transport.announce();
  }

  /** Joining: registered, but its replicas are still learners catching up (not ready for clients yet). */
  get isJoining(): boolean {
    return this.controller?.member(this.nodeId)?.state === 'joining';
  }

  view(): ClusterView {
    return {
      clusterId: this.membership.clusterId,
      member: this.nodeId,
      replicationFactor: this.membership.replicationFactor,
      members: (): MemberView[] => {
        const summaries = this.admin?.members();
        if (summaries === undefined) {
          return this.membership.members.map((member) => this.memberView(member.id, member.peer, null));
        }
        return summaries.map((summary) => ({
          ...this.memberView(summary.member, summary.peer, summary.url),
          state: summary.state, partitions: summary.partitions, leaders: summary.leaders,
          reachable: summary.reachable,
        }));
      },
      admin: () => this.admin,
      controllerLeader: () => this.controller?.leader ?? null,
      preferredLeader: (partition) => (this.controller === undefined ? null : preferredLeader(groupIdOf(partition), this.controller.replicaHolders()) ?? null),
      unready: () => (this.removed ? `node ${this.nodeId} was removed from the cluster`
        : this.isJoining ? `node ${this.nodeId} is joining the cluster: its replicas are catching up`
          : this.controller?.member(this.nodeId)?.state === 'draining' ? this.drainingReason()
            : this.startCatchUp?.done === false ? `node ${this.nodeId} is catching up with the cluster since its start (partitions ${this.startCatchUp.pending.join(', ')})` : null),
    };
  }

  /** Why a draining member serves no reads: still moving replicas off, or done and waiting to be removed. */
  private drainingReason(): string {
    const held = this.admin?.members().find((summary) => summary.member === this.nodeId)?.partitions;
    return held === 0 ? `node ${this.nodeId} is drained (it holds no replica): remove it from the cluster (flo cluster remove ${this.nodeId})`
      : `node ${this.nodeId} is draining: its replicas are moving off it`;
  }

  private memberView(id: NodeId, peer: string, url: string | null): MemberView {
    const self = id === this.nodeId;
    const info = self ? undefined : this.transport.memberInfo(id);
    return {
      nodeId: String(id), member: id, self, peer: info?.peer ?? peer,
      url: self ? this.ownUrl() ?? null : info?.url ?? url,
      reachable: self || this.transport.connected(id),
    };
  }

  /** A broker asked to join on a discovery connection: the controller registers it. */
  private async answerJoin(request: JoinRequest): Promise<JoinAnswer> {
    const controller = this.controller;
    if (controller === undefined || this.log === undefined) throw new FloError('FLO_ERR_UNAVAILABLE', 'this broker is still starting; ask again shortly');
    parsePeerAddress(request.peer, 'the joining broker\'s peer address');
    const replaces = replacedMember(controller.members(), { incarnation: request.incarnation, peer: request.peer, replaces: request.replaces ?? undefined });
    const outcome = await controller.request({ op: 'join', incarnation: request.incarnation, peer: request.peer, url: request.url, ...(replaces === undefined ? {} : { replaces }) })
      .catch((error: unknown) => {
        // The request asked again for 15 s; a member heard from all that time is running, and the joiner stops.
        if (error instanceof FloError && error.code === 'FLO_ERR_UNAVAILABLE' && error.message.includes(RUNNING_MEMBER_REFUSAL)) throw new FloError('FLO_ERR_MEMBERSHIP_REFUSED', error.message.slice(error.message.indexOf(RUNNING_MEMBER_REFUSAL)).replace(/\)$/, ''));
        throw error;
      });
    if (!outcome.ok) throw outcomeError(outcome);
    const members = controller.members().filter((member) => member.state !== 'removed' && member.id !== outcome.id).map((member) => ({ id: member.id, peer: member.peer }));
    this.logger.info({ id: outcome.id, peer: request.peer, replaces }, 'a broker joined the cluster');
    return { id: outcome.id, founders: this.membership.members, members, replicationFactor: controller.replicationFactor, partitions: this.log.partitions };
  }

  /** The table changed: dial new members, hang up on removed ones, stop serving if this broker was removed. */
  private onMembersChanged(members: readonly MemberRecord[]): void {
    for (const member of members) {
      if (member.id === this.nodeId) {
        if (member.state === 'removed' && !this.removed) {
          this.removed = true;
          this.logger.error({ id: this.nodeId }, 'this broker was removed from the cluster: it serves nothing more; stop it (its data dir cannot rejoin)');
        }
        continue;
      }
      if (member.state === 'removed') this.transport.removePeer(member.id);
      else {
        try {
          this.transport.addPeer(member.id, parsePeerAddress(member.peer, 'the controller\'s table'));
        } catch (error) {
          this.logger.warn({ member: member.id, peer: member.peer, err: error }, 'member with an address this broker cannot dial');
        }
      }
    }
  }

  /** On the controller's leader: a joining member that is a voter of every group becomes active. */
  private activateJoined(groups: readonly ReconciledGroup[]): void {
    const controller = this.controller;
    if (controller === undefined || !controller.leads) return;
    for (const member of controller.members()) {
      if (member.state !== 'joining') continue;
      if (!groups.every((group) => group.status().conf.voters.includes(member.id))) continue;
      void controller.request({ op: 'activate', id: member.id })
        .then(() => this.logger.info({ id: member.id }, 'member active: a voter of every group'))
        .catch((error: unknown) => this.logger.info({ id: member.id, err: error }, 'activation not made (retried next pass)'));
    }
  }

  async close(): Promise<void> {
    this.startCatchUp?.close();
    this.log = undefined;
    await this.transport.close();
  }
}

function checkNodeId(id: number): void {
  if (!Number.isSafeInteger(id) || id < 1 || id > 0xffffffff) throw new FloError('FLO_ERR_CONFIG_INVALID', '--node-id must be a whole number from 1 to 4294967295');
}

/**
 * Members to ask for a join: --join, then the founders, never this broker itself (on Kubernetes every
 * pod has the same FLO_JOIN, pod 0, and pod 0 may be the one joining again after its volume was lost).
 */
export function joinSeeds(join: PeerAddress, founders: readonly PeerAddress[], self: string): PeerAddress[] {
  const seeds = new Map<string, PeerAddress>();
  for (const address of [join, ...founders]) {
    const text = formatPeerAddress(address);
    if (text !== self && !seeds.has(text)) seeds.set(text, address);
  }
  return [...seeds.values()];
}

/** How long the controller's leader waits for an answer at a replaced member's address. */
const ADDRESS_PROBE_MS = 2_000;

/** Who answers at a member's peer address: the joiner itself (an id-less broker advertising the joiner's address), a member, nobody. */
async function whoAnswersAt(transport: TcpTransport, peer: string, joinerPeer: string): Promise<AddressAnswer> {
  try {
    const { id, info } = await transport.probe(parsePeerAddress(peer, 'the controller\'s table'), ADDRESS_PROBE_MS);
    if (id === 0 && info.peer === joinerPeer) return 'the-joiner';
    return id === 0 ? 'no-answer' : { member: id };
  } catch (error) {
    return /ECONNREFUSED/.test((error as Error).message) ? 'nobody-listens' : 'no-answer';
  }
}
