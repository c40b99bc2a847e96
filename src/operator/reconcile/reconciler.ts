// Level-triggered reconcile of one FloCluster, as an ordered list of named steps:
// record the founders, cluster Secret, ConfigMap, peer Service, client Service, observe the
// brokers (pods, member table, health, claims), scale (drain / remove / claims, scaling.ts),
// StatefulSet, PodDisruptionBudget, push retention. The first failing step stops the chain;
// status is always written last from what was observed, so it never claims more than is true.

import type { V1Pod, V1StatefulSet } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { brokerHost, buildClusterSecret, buildDesired, ownedNames, retentionJson } from '../builders/index.js';
import {
  BROKER_HTTP_PORT, BROKER_PEER_PORT, DEFAULT_SETTINGS, FLO_GROUP, FLO_PLURAL, FLO_VERSION, FOUNDERS_ANNOTATION, foundersToKeep, recordedFounders, specProblems, withDefaults,
  type FloCluster, type OperatorSettings,
} from '../crd/types.js';
import { MERGE_PATCH, errorMessage, isConflict, isNotFound, statusCode, type KubeClients } from '../kube/clients.js';
import type { EventRecorder } from '../kube/events.js';
import type { OperatorMetrics } from '../metrics.js';
import { computeStatus, type Failure, type Observation } from '../status/conditions.js';
import { MembershipRefusedError, type BrokerClient } from './broker-client.js';
import { ensureObject, type EnsureResult, type ObjectAccess, type OwnedObject } from './ensure.js';
import { observeCluster, podOrdinal, type ClusterObservation } from './observe.js';
import { configMapAccess, podDisruptionBudgetAccess, serviceAccess, statefulSetAccess } from './owned-kinds.js';
import { nextToRestart, planRoll, type RollPlan } from './rolling.js';
import { planScale, REMOVED_MEMBER_ANNOTATION, type ScalePlan } from './scaling.js';
import { isSubset } from './ensure.js';

/** How soon a cluster that is not yet ready is looked at again (broker readiness is not a Kubernetes event). */
export const DEFAULT_NOT_READY_REQUEUE_MS = 2000;
/** Most retention confirmations remembered (one per broker process). */
export const MAX_REMEMBERED_BROKERS = 10_000;

export interface ReconcileOutcome {
  requeueAfterMs?: number;
  /** The FloCluster no longer exists (its owned objects are left to the garbage collector). */
  gone?: boolean;
}

export interface ReconcilerDeps {
  clients: KubeClients;
  brokers: BrokerClient;
  events: EventRecorder;
  metrics: OperatorMetrics;
  log: Logger;
  notReadyRequeueMs?: number;
  /** Cluster domain and default broker image; DEFAULT_SETTINGS when absent. */
  settings?: OperatorSettings;
}

class StepError extends Error {
  constructor(readonly step: string, override readonly cause: unknown) {
    super(`${step}: ${errorMessage(cause)}`);
  }
}

export class Reconciler {
  private readonly appliedRetention = new Map<string, string>();

  private readonly settings: OperatorSettings;

  constructor(private readonly deps: ReconcilerDeps) {
    this.settings = deps.settings ?? DEFAULT_SETTINGS;
  }

  async reconcile(key: string): Promise<ReconcileOutcome> {
    const [namespace, name] = key.split('/') as [string, string];
    let cluster: FloCluster;
    try {
      cluster = await this.deps.clients.custom.getNamespacedCustomObject({ group: FLO_GROUP, version: FLO_VERSION, namespace, plural: FLO_PLURAL, name }) as FloCluster;
    } catch (error) {
      if (isNotFound(error)) return { gone: true };
      throw error;
    }
    if (cluster.metadata.deletionTimestamp !== undefined) return { gone: true };
    let failure: Failure | undefined;
    let plan: ScalePlan | undefined;
    let rollPlan: RollPlan | undefined;
    let observed: ClusterObservation | undefined;
    let retentionApplied = false;
    try {
      const statefulSet = await this.step('RecordFounders', () => this.recordFounders(cluster));
      const problems = specProblems(withDefaults(cluster.spec, this.settings), recordedFounders(cluster), cluster.spec.replicationFactor);
      if (problems.length > 0) {
        failure = { step: 'ValidateSpec', message: problems.join('; '), invalidSpec: true };
        await this.deps.events.record(cluster, 'Warning', 'InvalidSpec', problems.join('; '));
      } else {
        await this.applyBase(cluster);
        observed = await this.step('Observe', () => this.observe(cluster, { statefulSet }));
        plan = planScale(observed.scale);
        await this.step('Scale', () => this.carryOut(cluster, observed!, plan!));
        const running = observed.scale.statefulSetReplicas;
        if (running !== undefined && plan.statefulSetReplicas > running) {
          // Growing without a ScaleUp: the StatefulSet was shrunk outside the operator (scaling.ts ownedSize).
          if (plan.operation?.type !== 'ScaleUp') await this.deps.events.record(cluster, 'Warning', 'StatefulSetRestored', `StatefulSet was scaled to ${running} outside the operator: restored to ${plan.statefulSetReplicas} (its brokers are still members; scale the FloCluster instead)`);
          else await this.deps.events.record(cluster, 'Normal', 'ScalingUp', `Scaling up from ${running} to ${plan.statefulSetReplicas} brokers: the new ones join the cluster`);
        }
        const roll = await this.step('RollingRestart', () => this.planRoll(cluster, observed!, plan!));
        rollPlan = roll;
        const voters = observed.scale.members?.filter((member) => member.state === 'active').length;
        const desired = buildDesired(cluster, this.settings, plan.statefulSetReplicas, roll.partition, voters === 0 ? undefined : voters);
        await this.ensure(cluster, 'StatefulSet', statefulSetAccess(this.deps.clients), desired.statefulSet as OwnedObject);
        if (roll.deletePod !== undefined) await this.step('RollingRestart', () => this.restartStuckPod(cluster, observed!, roll.deletePod!));
        await this.ensure(cluster, 'PodDisruptionBudget', podDisruptionBudgetAccess(this.deps.clients), desired.podDisruptionBudget as OwnedObject);
        retentionApplied = await this.pushRetention(cluster, observed);
      }
    } catch (error) {
      if (error instanceof StepError && isConflict(error.cause)) throw error.cause;
      failure = this.stepFailure(error);
      await this.deps.events.record(cluster, 'Warning', 'ReconcileFailed', failure.message);
    }
    observed ??= await this.observe(cluster).catch(() => undefined);
    const observation: Observation = observed === undefined
      ? { desiredReplicas: withDefaults(cluster.spec).replicas, replicas: 0, readyReplicas: 0, rolledOut: false, brokers: [], retentionApplied: false }
      : { ...observed.status, retentionApplied };
    if (plan !== undefined) {
      const operation = plan.operation ?? rollPlan?.operation;
      if (operation !== undefined) observation.operation = operation;
      if (plan.blocked !== undefined) observation.scaleDownBlocked = plan.blocked;
    }
    await this.writeStatus(cluster, computeStatus(cluster, observation, failure, new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')));
    if (failure !== undefined && failure.invalidSpec !== true) throw new Error(`${failure.step}: ${failure.message}`);
    const settled = observation.readyReplicas >= observation.desiredReplicas && observation.rolledOut && observation.retentionApplied
      && plan?.waiting !== true && rollPlan?.waiting !== true && observation.healthy !== false;
    return settled ? {} : { requeueAfterMs: this.deps.notReadyRequeueMs ?? DEFAULT_NOT_READY_REQUEUE_MS };
  }

  private stepFailure(error: unknown): Failure {
    const step = error instanceof StepError ? error.step : 'Reconcile';
    this.deps.metrics.inc('flo_operator_reconcile_errors_total', { step });
    return { step, message: errorMessage(error instanceof StepError ? error.cause : error) };
  }

  private async step<T>(name: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (error) {
      throw new StepError(name, error);
    }
  }

  private async ensure<T extends OwnedObject>(cluster: FloCluster, step: string, access: ObjectAccess<T>, desired: T): Promise<void> {
    await this.step(step, async () => {
      const result: EnsureResult = await ensureObject(access, desired);
      const name = desired.metadata?.name ?? '';
      if (result.action === 'created') await this.deps.events.record(cluster, 'Normal', 'Created', `Created ${access.kind} ${name}`);
      if (result.action === 'updated') await this.deps.events.record(cluster, 'Normal', 'Updated', `Updated ${access.kind} ${name} to match the FloCluster`);
      for (const note of result.notes) await this.deps.events.record(cluster, 'Warning', 'ChangeNotApplied', note);
      if (result.action !== 'unchanged') this.deps.log.info({ cluster: `${cluster.metadata.namespace}/${cluster.metadata.name}`, kind: access.kind, name, action: result.action }, 'owned object applied');
    });
  }

  /**
   * Writes the founders' count on the FloCluster once: the replicas at creation, or, for a cluster
   * whose StatefulSet already exists, what its pods were started with (0: single-node brokers). An
   * annotation edited later is set back to what the pods run with (foundersToKeep).
   */
  private async recordFounders(cluster: FloCluster): Promise<V1StatefulSet | null> {
    const { namespace, name } = cluster.metadata;
    const recorded = recordedFounders(cluster);
    let sts: V1StatefulSet | null = null;
    try {
      sts = await this.deps.clients.apps.readNamespacedStatefulSet({ name: ownedNames(name).statefulSet, namespace });
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
    const peers = sts?.spec?.template.spec?.containers[0]?.env?.find((variable) => variable.name === 'FLO_PEERS')?.value;
    const fromStatefulSet = sts === null ? undefined : peers === undefined || peers === '' ? 0 : peers.split(',').length;
    const { founders, write } = foundersToKeep(recorded, fromStatefulSet, withDefaults(cluster.spec).replicas);
    if (!write) return sts;
    if (recorded !== undefined) this.deps.log.warn({ cluster: `${namespace}/${name}`, annotation: recorded, founders }, `${FOUNDERS_ANNOTATION} is the operator's record of the founders and cannot change once the brokers run: set back`);
    const annotations = { ...cluster.metadata.annotations, [FOUNDERS_ANNOTATION]: String(founders) };
    await this.deps.clients.custom.patchNamespacedCustomObject({
      group: FLO_GROUP, version: FLO_VERSION, namespace, plural: FLO_PLURAL, name, body: { metadata: { annotations: { [FOUNDERS_ANNOTATION]: String(founders) } } },
    }, MERGE_PATCH);
    cluster.metadata.annotations = annotations;
    this.deps.log.info({ cluster: `${namespace}/${name}`, founders }, 'founders recorded');
    return sts;
  }

  /** Everything but the StatefulSet and PDB, which wait for the scale decision. */
  private async applyBase(cluster: FloCluster): Promise<void> {
    const desired = buildDesired(cluster, this.settings);
    const clients = this.deps.clients;
    await this.step('ClusterSecret', () => this.ensureClusterSecret(cluster));
    await this.ensure(cluster, 'ConfigMap', configMapAccess(clients), desired.configMap as OwnedObject);
    await this.ensure(cluster, 'PeerService', serviceAccess(clients), desired.peerService as OwnedObject);
    await this.ensure(cluster, 'ClientService', serviceAccess(clients), desired.clientService as OwnedObject);
  }

  /** Creates the generated cluster secret unless the spec names one; never reads it (409: it exists). */
  private async ensureClusterSecret(cluster: FloCluster): Promise<void> {
    if (cluster.spec.clusterSecret !== undefined || recordedFounders(cluster) === 0) return;
    try {
      await this.deps.clients.core.createNamespacedSecret({ namespace: cluster.metadata.namespace, body: buildClusterSecret(cluster) });
      await this.deps.events.record(cluster, 'Normal', 'Created', `Created Secret ${ownedNames(cluster.metadata.name).clusterSecret} (the brokers' cluster secret)`);
    } catch (error) {
      if (statusCode(error) !== 409) throw error;
    }
  }

  private brokerHost(cluster: FloCluster, podName: string): string {
    return brokerHost(cluster, podName, this.settings.clusterDomain);
  }

  private observe(cluster: FloCluster, known?: { statefulSet: V1StatefulSet | null }): Promise<ClusterObservation> {
    return observeCluster({
      clients: this.deps.clients, brokers: this.deps.brokers, log: this.deps.log,
      host: (podName) => this.brokerHost(cluster, podName),
      peerOf: (ordinal) => `${this.brokerHost(cluster, `${cluster.metadata.name}-${ordinal}`)}:${BROKER_PEER_PORT}`,
    }, cluster, known);
  }

  /** Decides the StatefulSet's partition: which brokers may restart onto a changed template now (rolling.ts). */
  private async planRoll(cluster: FloCluster, observed: ClusterObservation, plan: ScalePlan): Promise<RollPlan> {
    const live = observed.statefulSet;
    const desired = buildDesired(cluster, this.settings, plan.statefulSetReplicas).statefulSet;
    const pods = observed.pods.map((pod) => ({
      ordinal: podOrdinal(pod), ready: observed.status.brokers.find((broker) => broker.pod === pod.metadata?.name)?.ready === true,
      answering: observed.scale.selfIds.has(podOrdinal(pod)),
      ...(pod.metadata?.labels?.['controller-revision-hash'] === undefined ? {} : { revision: pod.metadata.labels['controller-revision-hash'] }),
    }));
    const base = {
      templateChanged: live !== undefined && !isSubset(desired.spec?.template, live.spec?.template),
      replicas: plan.statefulSetReplicas, partition: live?.spec?.updateStrategy?.rollingUpdate?.partition ?? 0,
      updateRevision: live?.status?.updateRevision, pods, caughtUp: new Map<number, boolean>(),
      healthy: observed.status.healthy, members: observed.status.activeMembers ?? 0, scaling: plan.operation !== undefined,
    };
    const next = live === undefined || base.templateChanged ? undefined : nextToRestart(base);
    if (next === undefined || base.partition <= next) return planRoll(base);
    // Only while a roll waits to release the next broker: ask the restarted ones whether they caught up, and the cluster whether `next` may stop.
    const idOf = (ordinal: number): number | undefined => observed.scale.selfIds.get(ordinal);
    for (const pod of observed.pods.filter((candidate) => podOrdinal(candidate) > next && podOrdinal(candidate) < plan.statefulSetReplicas)) {
      const id = idOf(podOrdinal(pod));
      if (id === undefined) continue;
      const check = await this.deps.brokers.restartCheck(this.brokerHost(cluster, pod.metadata?.name ?? ''), BROKER_HTTP_PORT, id).catch(() => undefined);
      if (check?.caughtUp === true) base.caughtUp.set(podOrdinal(pod), true);
    }
    const nextId = idOf(next);
    const nextSafe = nextId === undefined || observed.witness === undefined ? undefined
      : await this.deps.brokers.restartCheck(observed.witness, BROKER_HTTP_PORT, nextId).catch(() => undefined);
    const rolled = planRoll({ ...base, ...(nextSafe === undefined ? {} : { nextSafe: { safe: nextSafe.safe, problems: nextSafe.problems } }) });
    if (rolled.partition === next && rolled.deletePod === undefined) await this.deps.events.record(cluster, 'Normal', 'RestartingBroker', `Restarting pod ${cluster.metadata.name}-${next} (broker ${nextId ?? '?'}) onto the new pod template: every restarted broker caught up and the cluster keeps a quorum without it`);
    return rolled;
  }

  /** Deletes an outdated pod that is not ready and silent (after the StatefulSet got the partition, so it comes back on the new template). */
  private async restartStuckPod(cluster: FloCluster, observed: ClusterObservation, ordinal: number): Promise<void> {
    const name = `${cluster.metadata.name}-${ordinal}`;
    // Already going (deleted by a previous reconcile or the StatefulSet controller): once is enough.
    if (observed.pods.find((pod) => pod.metadata?.name === name)?.metadata?.deletionTimestamp !== undefined) return;
    try {
      await this.deps.clients.core.deleteNamespacedPod({ name, namespace: cluster.metadata.namespace });
      await this.deps.events.record(cluster, 'Normal', 'RestartingBroker', `Restarting pod ${name} onto the new pod template at once: it is not ready on an outdated one and its broker does not answer (the StatefulSet controller would wait for it for ever)`);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }

  /** Carries out the scale plan's membership and claim actions; a refused drain blocks the scale-down. */
  private async carryOut(cluster: FloCluster, observed: ClusterObservation, plan: ScalePlan): Promise<void> {
    const witness = observed.witness;
    const { namespace } = cluster.metadata;
    for (const action of plan.actions) {
      if (action.kind === 'drain' || action.kind === 'remove') {
        if (witness === undefined) return;
        try {
          if (action.kind === 'drain') await this.deps.brokers.drain(witness, BROKER_HTTP_PORT, action.member);
          else await this.deps.brokers.removeMember(witness, BROKER_HTTP_PORT, action.member);
        } catch (error) {
          if (!(error instanceof MembershipRefusedError)) throw error;
          plan.blocked = error.detail;
          // The status must not go on saying "draining broker N" for a drain the cluster refused.
          if (plan.operation !== undefined) plan.operation = { ...plan.operation, message: `blocked: the cluster refused to ${action.kind} broker ${action.member}: ${error.detail}` };
          plan.statefulSetReplicas = Math.max(plan.statefulSetReplicas, observed.scale.statefulSetReplicas ?? 0);
          await this.deps.events.record(cluster, 'Warning', 'ScaleDownBlocked', `${action.kind} of broker ${action.member} refused: ${error.detail}`);
          return;
        }
        await this.deps.events.record(cluster, 'Normal', action.kind === 'drain' ? 'DrainStarted' : 'BrokerRemoved',
          action.kind === 'drain' ? `Draining broker ${action.member}: its replicas and leaderships move to the others` : `Removed broker ${action.member} from the cluster (its id is never reused)`);
      } else if (action.kind === 'recreatePod') {
        const pod = `${cluster.metadata.name}-${action.ordinal}`;
        try {
          await this.deps.clients.core.deleteNamespacedPod({ name: pod, namespace });
          await this.deps.events.record(cluster, 'Normal', 'BrokerRecreated', `Deleted pod ${pod}: it ran removed broker ${action.member}, whose data dir cannot rejoin; it comes back on a new claim as a new member`);
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      } else if (action.kind === 'deleteClaim') {
        try {
          await this.deps.clients.core.deleteNamespacedPersistentVolumeClaim({ name: action.claim, namespace });
          await this.deps.events.record(cluster, 'Normal', 'ClaimDeleted', `Deleted PersistentVolumeClaim ${action.claim} of removed broker ${action.member ?? '?'}`);
        } catch (error) {
          if (!isNotFound(error)) throw error;
        }
      } else {
        await this.deps.clients.core.patchNamespacedPersistentVolumeClaim({
          name: action.claim, namespace, body: { metadata: { annotations: { [REMOVED_MEMBER_ANNOTATION]: String(action.member) } } },
        }, MERGE_PATCH);
        await this.deps.events.record(cluster, 'Normal', 'ClaimKept', `Kept PersistentVolumeClaim ${action.claim} of removed broker ${action.member} (storage.deleteClaim is false); it is deleted before its ordinal is used again`);
      }
    }
  }

  /** Sends the spec's retention rules to every ready broker that has not confirmed them; true when all have. */
  private async pushRetention(cluster: FloCluster, observed: ClusterObservation): Promise<boolean> {
    const rules = withDefaults(cluster.spec).retention;
    const wanted = retentionJson(rules);
    const pods = observed.pods;
    let pushed = 0;
    let allApplied = true;
    // A new broker starts with the ConfigMap's rules; confirming "no rules" to it is not news.
    const newsworthy = rules.length > 0 || pods.some((pod) => (this.appliedRetention.get(processKey(pod)) ?? '[]') !== '[]');
    for (const pod of pods) {
      const broker = observed.status.brokers.find((candidate) => candidate.pod === pod.metadata?.name);
      if (broker?.ready !== true) {
        allApplied = false;
        continue;
      }
      if (this.appliedRetention.get(processKey(pod)) === wanted) continue;
      try {
        await this.deps.brokers.putRetention(this.brokerHost(cluster, pod.metadata?.name ?? ''), BROKER_HTTP_PORT, JSON.parse(wanted) as typeof rules);
        remember(this.appliedRetention, processKey(pod), wanted);
        pushed += 1;
      } catch (error) {
        allApplied = false;
        this.deps.log.warn({ err: error, pod: pod.metadata?.name }, 'could not apply retention rules');
      }
    }
    if (pushed > 0 && newsworthy) await this.deps.events.record(cluster, 'Normal', 'RetentionApplied', `Applied ${rules.length} retention rule(s) to ${pushed} broker(s) without a restart`);
    return allApplied;
  }

  private async writeStatus(cluster: FloCluster, status: FloCluster['status']): Promise<void> {
    if (JSON.stringify(sortKeys(cluster.status ?? {})) === JSON.stringify(sortKeys(status))) return;
    try {
      await this.deps.clients.custom.patchNamespacedCustomObjectStatus({
        group: FLO_GROUP, version: FLO_VERSION, namespace: cluster.metadata.namespace, plural: FLO_PLURAL, name: cluster.metadata.name,
        // A merge patch keeps fields it does not name: a field now absent is sent as null.
        body: { status: { operation: null, controllerLeader: null, partitions: null, ...status } },
      }, MERGE_PATCH);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

/** Identity of one broker process: the pod and how often its container has restarted. */
function processKey(pod: V1Pod): string {
  return `${pod.metadata?.uid ?? ''}:${pod.status?.containerStatuses?.[0]?.restartCount ?? 0}`;
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_REMEMBERED_BROKERS) map.delete(map.keys().next().value!);
  map.set(key, value);
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, sortKeys(v)]));
}
