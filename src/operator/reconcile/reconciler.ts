// Level-triggered reconcile of one FloCluster, as an ordered list of named steps:
// ConfigMap, peer Service, client Service, StatefulSet, PodDisruptionBudget, observe
// brokers, push retention. The first failing step stops the chain; status is always
// written last from what was observed, so it never claims more than is true.

import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { brokerHost, buildDesired, ownedNames, retentionJson, selectorString } from '../builders/index.js';
import {
  BROKER_HTTP_PORT, DEFAULT_SETTINGS, FLO_GROUP, FLO_PLURAL, FLO_VERSION, specProblems, withDefaults, type BrokerStatus, type FloCluster, type OperatorSettings,
} from '../crd/types.js';
import { MERGE_PATCH, errorMessage, isConflict, isNotFound, type KubeClients } from '../kube/clients.js';
import type { EventRecorder } from '../kube/events.js';
import type { OperatorMetrics } from '../metrics.js';
import { computeStatus, type Failure, type Observation } from '../status/conditions.js';
import type { BrokerClient } from './broker-client.js';
import { ensureObject, type EnsureResult, type ObjectAccess, type OwnedObject } from './ensure.js';
import { configMapAccess, podDisruptionBudgetAccess, serviceAccess, statefulSetAccess } from './owned-kinds.js';

/** How soon a cluster that is not yet ready is looked at again (broker readiness is not a Kubernetes event). */
export const DEFAULT_NOT_READY_REQUEUE_MS = 2000;
/** Most broker identities and retention confirmations remembered (one per broker process). */
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

function podOrdinal(pod: V1Pod): number {
  return Number(/-(\d+)$/.exec(pod.metadata?.name ?? '')?.[1] ?? -1);
}

function podReady(pod: V1Pod): boolean {
  return pod.metadata?.deletionTimestamp === undefined
    && (pod.status?.conditions ?? []).some((condition) => condition.type === 'Ready' && condition.status === 'True');
}

/** Identity of one broker process: the pod and how often its container has restarted. */
function processKey(pod: V1Pod): string {
  return `${pod.metadata?.uid ?? ''}:${pod.status?.containerStatuses?.[0]?.restartCount ?? 0}`;
}

function remember<V>(map: Map<string, V>, key: string, value: V): void {
  if (map.size >= MAX_REMEMBERED_BROKERS) map.delete(map.keys().next().value!);
  map.set(key, value);
}

export class Reconciler {
  private readonly nodeIds = new Map<string, string>();
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
    const problems = specProblems(withDefaults(cluster.spec, this.settings));
    if (problems.length > 0) {
      failure = { step: 'ValidateSpec', message: problems.join('; '), invalidSpec: true };
      await this.deps.events.record(cluster, 'Warning', 'InvalidSpec', problems.join('; '));
    } else {
      try {
        await this.applyOwned(cluster);
      } catch (error) {
        if (error instanceof StepError && isConflict(error.cause)) throw error.cause;
        failure = this.stepFailure(error);
        await this.deps.events.record(cluster, 'Warning', 'ReconcileFailed', failure.message);
      }
    }
    const observed = await this.observe(cluster, failure === undefined);
    await this.writeStatus(cluster, computeStatus(cluster, observed, failure, new Date().toISOString().replace(/\.\d{3}Z$/, 'Z')));
    if (failure !== undefined && failure.invalidSpec !== true) throw new Error(`${failure.step}: ${failure.message}`);
    const settled = observed.readyReplicas >= observed.desiredReplicas && observed.rolledOut && observed.retentionApplied;
    return settled ? {} : { requeueAfterMs: this.deps.notReadyRequeueMs ?? DEFAULT_NOT_READY_REQUEUE_MS };
  }

  private stepFailure(error: unknown): Failure {
    const step = error instanceof StepError ? error.step : 'Reconcile';
    this.deps.metrics.inc('flo_operator_reconcile_errors_total', { step });
    return { step, message: errorMessage(error instanceof StepError ? error.cause : error) };
  }

  private async step(name: string, run: () => Promise<void>): Promise<void> {
    try {
      await run();
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

  private async applyOwned(cluster: FloCluster): Promise<void> {
    const desired = buildDesired(cluster, this.settings);
    const clients = this.deps.clients;
    await this.ensure(cluster, 'ConfigMap', configMapAccess(clients), desired.configMap as OwnedObject);
    await this.ensure(cluster, 'PeerService', serviceAccess(clients), desired.peerService as OwnedObject);
    await this.ensure(cluster, 'ClientService', serviceAccess(clients), desired.clientService as OwnedObject);
    await this.ensure(cluster, 'StatefulSet', statefulSetAccess(clients), desired.statefulSet as OwnedObject);
    await this.ensure(cluster, 'PodDisruptionBudget', podDisruptionBudgetAccess(clients), desired.podDisruptionBudget as OwnedObject);
  }

  private brokerHost(cluster: FloCluster, pod: V1Pod): string {
    return brokerHost(cluster, pod.metadata?.name ?? '', this.settings.clusterDomain);
  }

  /** Reads the StatefulSet and pods, asks each ready pod's broker whether it is ready, and pushes retention. */
  private async observe(cluster: FloCluster, pushRetention: boolean): Promise<Observation> {
    const spec = withDefaults(cluster.spec);
    const { namespace } = cluster.metadata;
    const names = ownedNames(cluster.metadata.name);
    const observation: Observation = { desiredReplicas: spec.replicas, replicas: 0, readyReplicas: 0, rolledOut: false, brokers: [], retentionApplied: false };
    try {
      const sts = await this.deps.clients.apps.readNamespacedStatefulSet({ name: names.statefulSet, namespace });
      const status = sts.status;
      observation.replicas = status?.replicas ?? 0;
      observation.rolledOut = (status?.observedGeneration ?? 0) >= (sts.metadata?.generation ?? 0)
        && (status?.updatedReplicas ?? 0) >= spec.replicas && (status?.currentRevision ?? '') === (status?.updateRevision ?? '');
      const pods = (await this.deps.clients.core.listNamespacedPod({ namespace, labelSelector: selectorString(cluster) })).items
        .filter((pod) => podOrdinal(pod) >= 0).sort((a, b) => podOrdinal(a) - podOrdinal(b));
      observation.brokers = await Promise.all(pods.map((pod) => this.observeBroker(cluster, pod)));
      observation.readyReplicas = observation.brokers.filter((broker) => broker.ready).length;
      observation.retentionApplied = pushRetention && await this.pushRetention(cluster, pods, observation.brokers);
    } catch (error) {
      if (!isNotFound(error)) this.deps.log.warn({ err: error, cluster: `${namespace}/${cluster.metadata.name}` }, 'could not observe brokers');
    }
    return observation;
  }

  private async observeBroker(cluster: FloCluster, pod: V1Pod): Promise<BrokerStatus> {
    const podName = pod.metadata?.name ?? '';
    if (!podReady(pod)) return { pod: podName, ready: false, ...this.knownNodeId(pod) };
    const host = this.brokerHost(cluster, pod);
    const ready = await this.deps.brokers.ready(host, BROKER_HTTP_PORT);
    if (ready && !this.nodeIds.has(processKey(pod))) {
      try {
        const nodeId = await this.deps.brokers.nodeId(host, BROKER_HTTP_PORT);
        if (nodeId !== undefined) remember(this.nodeIds, processKey(pod), nodeId);
      } catch (error) {
        this.deps.log.debug({ err: error, pod: podName }, 'broker identity not available yet');
      }
    }
    return { pod: podName, ready, ...this.knownNodeId(pod) };
  }

  private knownNodeId(pod: V1Pod): { nodeId?: string } {
    const nodeId = this.nodeIds.get(processKey(pod));
    return nodeId === undefined ? {} : { nodeId };
  }

  /** Sends the spec's retention rules to every ready broker that has not confirmed them; true when all have. */
  private async pushRetention(cluster: FloCluster, pods: V1Pod[], brokers: BrokerStatus[]): Promise<boolean> {
    const rules = withDefaults(cluster.spec).retention;
    const wanted = retentionJson(rules);
    let pushed = 0;
    let allApplied = true;
    // A new broker starts with the ConfigMap's rules; confirming "no rules" to it is not news.
    const newsworthy = rules.length > 0 || pods.some((pod) => (this.appliedRetention.get(processKey(pod)) ?? '[]') !== '[]');
    for (const pod of pods) {
      const broker = brokers.find((candidate) => candidate.pod === pod.metadata?.name);
      if (broker?.ready !== true) {
        allApplied = false;
        continue;
      }
      if (this.appliedRetention.get(processKey(pod)) === wanted) continue;
      try {
        await this.deps.brokers.putRetention(this.brokerHost(cluster, pod), BROKER_HTTP_PORT, JSON.parse(wanted) as typeof rules);
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
        body: { status },
      }, MERGE_PATCH);
    } catch (error) {
      if (!isNotFound(error)) throw error;
    }
  }
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => [k, sortKeys(v)]));
}
