// Operations endpoints: health and readiness probes, Prometheus metrics, cluster
// and partition information, and retention rules (read, replace at run time).
import type { FastifyInstance } from 'fastify';
import { FloError } from '../../common/errors.js';
import type { ClusterAdmin } from '../cluster/cluster-admin.js';
import { membershipRoutes } from './membership-routes.js';
import type { MemberState } from '../cluster/controller-machine.js';
import type { EventLog } from '../event-log.js';
import { parseRetentionRules, type RetentionRule } from '../partitions/retention.js';

/** One member as this broker sees it (GET /v1/cluster). */
export interface MemberView {
  readonly nodeId: string;
  readonly member: number;
  readonly url: string | null;
  readonly peer: string;
  readonly self: boolean;
  /** This broker has a live peer connection to it (always true for itself). */
  readonly reachable: boolean;
  /** joining | active | draining | removed (from the controller's table). */
  readonly state?: MemberState;
  /** Partitions it holds a replica of, and leads, as this broker sees them. */
  readonly partitions?: number;
  readonly leaders?: number;
}

export interface ClusterView {
  readonly clusterId: string;
  readonly member: number;
  readonly replicationFactor: number;
  members(): MemberView[];
  /** Drain, remove, health and restart checks (once the controller runs). */
  admin(): ClusterAdmin | undefined;
  controllerLeader(): number | null;
  /** The member leadership of a partition's group is balanced to (null before the controller runs). */
  preferredLeader(partition: number): number | null;
  /** Why this member should not get client traffic yet (joining, removed), or null. */
  unready(): string | null;
}

export interface AdminContext {
  readonly log: EventLog;
  /** A broker with peers; absent for a one-broker cluster. */
  readonly cluster?: ClusterView | undefined;
  /** Persists rules so they survive a restart (the broker stores them in its data dir). */
  readonly saveRetention: (rules: RetentionRule[]) => Promise<void>;
  readonly advertisedUrl: () => string | undefined;
}

export function adminRoutes(app: FastifyInstance, context: AdminContext): void {
  const { log } = context;
  // Liveness fails once the store has failed: only a restart verifies it, so an orchestrator should restart us.
  app.get('/healthz', async () => {
    const failure = log.storageFailure;
    if (failure) throw new FloError('FLO_ERR_STORAGE_FAILED', failure.message);
    return { status: 'ok' };
  });
  app.get('/readyz', async () => {
    if (log.isClosing) throw new FloError('FLO_ERR_SHUTTING_DOWN', 'the broker is shutting down');
    // A failed write or damage found: not ready until a restart has verified the store.
    const failure = log.storageFailure;
    if (failure) throw new FloError('FLO_ERR_STORAGE_FAILED', failure.message);
    const unready = context.cluster?.unready();
    if (unready) throw new FloError('FLO_ERR_UNAVAILABLE', unready);
    return { status: 'ready' };
  });
  app.get('/metrics', async (_request, reply) => {
    await reply.type(log.metrics.registry.contentType).send(await log.metrics.exposition());
  });

  app.get('/v1/cluster', async () => {
    const head = log.head();
    const sizes = log.partitionSizes();
    const raft = log.raftStatus();
    const ready = !log.isClosing && !log.storageFailure;
    const cluster = context.cluster;
    if (cluster === undefined) {
      return {
        mode: 'single-node',
        nodeId: log.nodeId,
        member: raft[0]?.member ?? 1,
        replicationFactor: 1,
        durability: log.durability,
        brokers: [{ nodeId: log.nodeId, member: raft[0]?.member ?? 1, url: context.advertisedUrl() ?? null, peer: null, ready, reachable: true, self: true }],
        partitions: head.map((nextOffset, partition) => ({
          partition, leader: log.nodeId, replicas: [log.nodeId], nextOffset,
          events: sizes[partition]!.events, bytes: sizes[partition]!.bytes, raft: raft[partition],
        })),
      };
    }
    const members = cluster.members();
    const nodeIdOf = (member: number | null): string | null => (member === null ? null : members.find((m) => m.member === member)?.nodeId ?? String(member));
    return {
      mode: 'cluster',
      clusterId: cluster.clusterId,
      nodeId: log.nodeId,
      member: cluster.member,
      controllerLeader: cluster.controllerLeader(),
      replicationFactor: cluster.replicationFactor,
      durability: log.durability,
      // Only this broker's readiness is known here; for the others, whether this broker reaches them.
      brokers: members.map((m) => ({ ...m, ready: m.self ? ready : null })),
      partitions: head.map((nextOffset, partition) => {
        const status = raft[partition]!;
        const leaderUrl = status.leader === null ? null : members.find((m) => m.member === status.leader)?.url ?? null;
        return {
          partition, leader: nodeIdOf(status.leader), leaderUrl, preferredLeader: nodeIdOf(cluster.preferredLeader(partition)), replicas: status.voters.map((v) => nodeIdOf(v)!), nextOffset,
          events: sizes[partition]!.events, bytes: sizes[partition]!.bytes, raft: status,
        };
      }),
    };
  });

  membershipRoutes(app, context);

  app.get('/v1/admin/retention', async () => ({ rules: log.retentionRules.map((rule) => rule.input) }));
  app.put<{ Body: { rules: unknown } }>('/v1/admin/retention', {
    // --retention takes a bare array: the likeliest mistake here, answered with what to send instead.
    preValidation: async (request) => {
      if (Array.isArray(request.body)) throw new FloError('FLO_ERR_RETENTION_INVALID', 'send the rules as {"rules": [...]}: the body is an object (a bare array is what --retention takes)');
    },
    schema: { body: { type: 'object', required: ['rules'], additionalProperties: false, properties: { rules: { type: 'array' } } } },
  }, async (request) => {
    const rules = parseRetentionRules(request.body.rules);
    await context.saveRetention(rules);
    await log.setRetentionRules(rules);
    request.log.info({ rules: rules.length }, 'retention rules replaced');
    return { rules: rules.map((rule) => rule.input) };
  });
}
