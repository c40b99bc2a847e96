// Deployment and ReplicaSet controllers for the simulator, enough to run an operator
// Deployment and satisfy `helm --wait` / `kubectl wait`: a Deployment owns one ReplicaSet
// per pod-template hash; the current one is scaled to `replicas`, older ones to zero once
// the current pods are ready; a ReplicaSet keeps `replicas` pods; both keep status.

import { createHash, randomBytes } from 'node:crypto';
import type { Api } from '../sim/api.js';
import { ApiError, isObject, type JsonObject, type KObject, type ResourceType } from '../sim/types.js';
import { podReady } from './network.js';

const HASH_LABEL = 'pod-template-hash';

function ownedBy(object: KObject, owner: KObject): boolean {
  return (object.metadata.ownerReferences ?? []).some((ref) => ref.uid === owner.metadata.uid);
}

function ownerRef(owner: KObject, kind: string): JsonObject {
  return { apiVersion: 'apps/v1', kind, name: owner.metadata.name ?? '', uid: owner.metadata.uid ?? '', controller: true, blockOwnerDeletion: true };
}

function tolerate(run: () => void): void {
  try {
    run();
  } catch (error) {
    if (!(error instanceof ApiError && (error.code === 404 || error.code === 409))) throw error;
  }
}

export class DeploymentController {
  private readonly deployments: ResourceType;
  private readonly replicaSets: ResourceType;
  private readonly pods: ResourceType;

  constructor(private readonly api: Api) {
    this.deployments = api.type('apps', 'v1', 'deployments');
    this.replicaSets = api.type('apps', 'v1', 'replicasets');
    this.pods = api.type('', 'v1', 'pods');
  }

  syncAll(): void {
    for (const deployment of this.api.list(this.deployments, undefined)) {
      if (deployment.metadata.deletionTimestamp === undefined) tolerate(() => this.syncDeployment(deployment));
    }
    for (const set of this.api.list(this.replicaSets, undefined)) {
      if (set.metadata.deletionTimestamp === undefined) tolerate(() => this.syncReplicaSet(set));
    }
  }

  private syncDeployment(deployment: KObject): void {
    const spec = deployment.spec as JsonObject;
    const template = (spec['template'] ?? {}) as JsonObject;
    const hash = createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10);
    const replicas = Number(spec['replicas'] ?? 1);
    const sets = this.api.list(this.replicaSets, deployment.metadata.namespace).filter((set) => ownedBy(set, deployment));
    let current = sets.find((set) => set.metadata.labels?.[HASH_LABEL] === hash);
    if (current === undefined) {
      const meta = (template['metadata'] ?? {}) as JsonObject;
      const labels = { ...(meta['labels'] as Record<string, string> | undefined), [HASH_LABEL]: hash };
      current = this.api.create(this.replicaSets, deployment.metadata.namespace, {
        metadata: { name: `${deployment.metadata.name}-${hash}`, labels, ownerReferences: [ownerRef(deployment, 'Deployment') as never] },
        spec: { replicas, selector: { matchLabels: labels }, template: { ...template, metadata: { ...meta, labels } } },
      });
    } else if ((current.spec as JsonObject)['replicas'] !== replicas) {
      this.api.patch(this.replicaSets, current.metadata.namespace, current.metadata.name ?? '', 'application/merge-patch+json', { spec: { replicas } });
    }
    const currentStatus = (isObject(current.status) ? current.status : {}) as JsonObject;
    const readyNew = Number(currentStatus['readyReplicas'] ?? 0);
    if (readyNew >= replicas) {
      for (const old of sets.filter((set) => set.metadata.uid !== current!.metadata.uid && (set.spec as JsonObject)['replicas'] !== 0)) {
        this.api.patch(this.replicaSets, old.metadata.namespace, old.metadata.name ?? '', 'application/merge-patch+json', { spec: { replicas: 0 } });
      }
    }
    const all = sets.map((set) => (isObject(set.status) ? set.status : {}) as JsonObject);
    const sum = (key: string): number => all.reduce((total, status) => total + Number(status[key] ?? 0), 0);
    const available = sum('readyReplicas') >= Math.min(1, replicas);
    const condition = (type: string, value: boolean, reason: string): JsonObject => ({ type, status: value ? 'True' : 'False', reason, message: reason });
    const status = {
      observedGeneration: deployment.metadata.generation, replicas: sum('replicas'), updatedReplicas: Number(currentStatus['replicas'] ?? 0),
      readyReplicas: sum('readyReplicas'), availableReplicas: sum('readyReplicas'),
      conditions: [condition('Available', available, available ? 'MinimumReplicasAvailable' : 'MinimumReplicasUnavailable'),
        condition('Progressing', true, readyNew >= replicas ? 'NewReplicaSetAvailable' : 'ReplicaSetUpdated')],
    };
    if (JSON.stringify(status) !== JSON.stringify(deployment.status ?? {})) this.api.updateStatus(this.deployments, deployment.metadata.namespace, deployment.metadata.name ?? '', { status });
  }

  private syncReplicaSet(set: KObject): void {
    const spec = set.spec as JsonObject;
    const template = (spec['template'] ?? {}) as JsonObject;
    const replicas = Number(spec['replicas'] ?? 1);
    const pods = this.api.list(this.pods, set.metadata.namespace).filter((pod) => ownedBy(pod, set) && pod.metadata.deletionTimestamp === undefined);
    for (let i = pods.length; i < replicas; i += 1) pods.push(this.api.create(this.pods, set.metadata.namespace, this.podFor(set, template)));
    for (const extra of pods.slice(replicas)) this.api.delete(this.pods, extra.metadata.namespace, extra.metadata.name ?? '');
    const live = pods.slice(0, replicas);
    const ready = live.filter(podReady).length;
    const status = { observedGeneration: set.metadata.generation, replicas: live.length, fullyLabeledReplicas: live.length, readyReplicas: ready, availableReplicas: ready };
    if (JSON.stringify(status) !== JSON.stringify(set.status ?? {})) this.api.updateStatus(this.replicaSets, set.metadata.namespace, set.metadata.name ?? '', { status });
  }

  private podFor(set: KObject, template: JsonObject): KObject {
    const meta = (template['metadata'] ?? {}) as JsonObject;
    return {
      metadata: {
        name: `${set.metadata.name}-${randomBytes(3).toString('hex').slice(0, 5)}`,
        labels: { ...(meta['labels'] as Record<string, string> | undefined) },
        ...(meta['annotations'] === undefined ? {} : { annotations: meta['annotations'] as Record<string, string> }),
        ownerReferences: [ownerRef(set, 'ReplicaSet') as never],
      },
      spec: structuredClone((template['spec'] ?? {}) as JsonObject),
    };
  }
}
