// The StatefulSet controller of the simulated control plane: ordinal pods named
// <sts>-<n> with hostname/subdomain for per-pod DNS, one PVC per claim template and
// ordinal kept across pod restarts (deleted only as persistentVolumeClaimRetentionPolicy
// says), scale up and down, rolling update from the highest ordinal one pod at a time
// once the rest are ready, and status. OrderedReady and Parallel pod management.

import { createHash } from 'node:crypto';
import type { Api } from '../sim/api.js';
import { ApiError, isObject, type JsonObject, type KObject, type ResourceType } from '../sim/types.js';
import { podReady } from './network.js';

export const REVISION_LABEL = 'controller-revision-hash';

function ordinalOf(pod: KObject, setName: string): number {
  const match = new RegExp(`^${setName}-(\\d+)$`).exec(pod.metadata.name ?? '');
  return match ? Number(match[1]) : -1;
}

function revisionOf(sts: KObject): string {
  const template = isObject(sts.spec) ? sts.spec['template'] : {};
  return `${sts.metadata.name}-${createHash('sha256').update(JSON.stringify(template)).digest('hex').slice(0, 10)}`;
}

function owner(object: KObject, kind: string, apiVersion: string): JsonObject {
  return { apiVersion, kind, name: object.metadata.name, uid: object.metadata.uid, controller: true, blockOwnerDeletion: true };
}

export class StatefulSetController {
  private readonly sts: ResourceType;
  private readonly pods: ResourceType;
  private readonly pvcs: ResourceType;

  constructor(private readonly api: Api) {
    this.sts = api.type('apps', 'v1', 'statefulsets');
    this.pods = api.type('', 'v1', 'pods');
    this.pvcs = api.type('', 'v1', 'persistentvolumeclaims');
  }

  syncAll(): void {
    for (const sts of this.api.list(this.sts, undefined)) {
      if (sts.metadata.deletionTimestamp !== undefined) continue;
      try {
        this.sync(sts);
      } catch (error) {
        if (!(error instanceof ApiError && (error.code === 404 || error.code === 409))) throw error;
      }
    }
  }

  private owned(sts: KObject): KObject[] {
    return this.api.list(this.pods, sts.metadata.namespace)
      .filter((pod) => (pod.metadata.ownerReferences ?? []).some((ref) => ref.uid === sts.metadata.uid));
  }

  private sync(sts: KObject): void {
    const spec = sts.spec as JsonObject;
    const name = sts.metadata.name!;
    const replicas = Number(spec['replicas'] ?? 1);
    const parallel = spec['podManagementPolicy'] === 'Parallel';
    const revision = revisionOf(sts);
    const pods = this.owned(sts);
    const byOrdinal = new Map(pods.map((pod) => [ordinalOf(pod, name), pod]));
    for (let ordinal = 0; ordinal < replicas; ordinal += 1) {
      if (byOrdinal.has(ordinal)) continue;
      const lowerReady = [...Array(ordinal).keys()].every((lower) => { const pod = byOrdinal.get(lower); return pod !== undefined && podReady(pod); });
      if (!parallel && !lowerReady) break;
      // A pod onto a claim being deleted would be left pending once the claim is gone: wait for it to go.
      if (this.claimNames(sts, ordinal).some((claim) => this.api.store.get(this.pvcs, sts.metadata.namespace, claim)?.metadata.deletionTimestamp !== undefined)) {
        if (!parallel) break;
        continue;
      }
      this.ensureClaims(sts, ordinal);
      byOrdinal.set(ordinal, this.api.create(this.pods, sts.metadata.namespace, this.podFor(sts, ordinal, revision)));
      if (!parallel) break;
    }
    const extra = [...byOrdinal].filter(([ordinal]) => ordinal >= replicas).sort(([a], [b]) => b - a);
    for (const [ordinal, pod] of parallel ? extra : extra.slice(0, 1)) this.removeOrdinal(sts, ordinal, pod);
    this.rollingUpdate(sts, byOrdinal, replicas, revision);
    this.writeStatus(sts, [...byOrdinal.values()].filter((pod) => ordinalOf(pod, name) < replicas), revision);
  }

  private removeOrdinal(sts: KObject, ordinal: number, pod: KObject): void {
    if (pod.metadata.deletionTimestamp === undefined) this.api.delete(this.pods, pod.metadata.namespace, pod.metadata.name!);
    const policy = isObject((sts.spec as JsonObject)['persistentVolumeClaimRetentionPolicy']) ? (sts.spec as JsonObject)['persistentVolumeClaimRetentionPolicy'] as JsonObject : {};
    if (policy['whenScaled'] !== 'Delete') return;
    for (const claim of this.claimNames(sts, ordinal)) {
      try {
        this.api.delete(this.pvcs, sts.metadata.namespace, claim);
      } catch (error) {
        if (!(error instanceof ApiError && error.code === 404)) throw error;
      }
    }
  }

  /** Replaces outdated pods from the highest ordinal down, one at a time, once every pod is ready. */
  private rollingUpdate(sts: KObject, byOrdinal: Map<number, KObject>, replicas: number, revision: string): void {
    const strategy = isObject((sts.spec as JsonObject)['updateStrategy']) ? (sts.spec as JsonObject)['updateStrategy'] as JsonObject : {};
    if (strategy['type'] === 'OnDelete') return;
    const partition = Number((isObject(strategy['rollingUpdate']) ? strategy['rollingUpdate']['partition'] : 0) ?? 0);
    const current = [...Array(replicas).keys()].map((ordinal) => byOrdinal.get(ordinal));
    if (current.some((pod) => pod === undefined || !podReady(pod))) return;
    for (let ordinal = replicas - 1; ordinal >= partition; ordinal -= 1) {
      const pod = current[ordinal]!;
      if (pod.metadata.labels?.[REVISION_LABEL] !== revision) {
        this.api.delete(this.pods, pod.metadata.namespace, pod.metadata.name!);
        return;
      }
    }
  }

  private claimTemplates(sts: KObject): JsonObject[] {
    const templates = (sts.spec as JsonObject)['volumeClaimTemplates'];
    return Array.isArray(templates) ? templates as JsonObject[] : [];
  }

  private claimNames(sts: KObject, ordinal: number): string[] {
    return this.claimTemplates(sts).map((template) => `${String((template['metadata'] as JsonObject)['name'])}-${sts.metadata.name}-${ordinal}`);
  }

  private ensureClaims(sts: KObject, ordinal: number): void {
    const policy = (sts.spec as JsonObject)['persistentVolumeClaimRetentionPolicy'] as JsonObject | undefined;
    for (const template of this.claimTemplates(sts)) {
      const meta = (template['metadata'] ?? {}) as JsonObject;
      const name = `${String(meta['name'])}-${sts.metadata.name}-${ordinal}`;
      if (this.api.store.get(this.pvcs, sts.metadata.namespace, name) !== undefined) continue;
      const selector = isObject((sts.spec as JsonObject)['selector']) ? ((sts.spec as JsonObject)['selector'] as JsonObject)['matchLabels'] : {};
      this.api.create(this.pvcs, sts.metadata.namespace, {
        metadata: {
          name, labels: { ...(meta['labels'] as object | undefined), ...(selector as object | undefined) },
          ...(policy?.['whenDeleted'] === 'Delete' ? { ownerReferences: [owner(sts, 'StatefulSet', 'apps/v1')] } : {}),
        },
        spec: template['spec'],
      });
    }
  }

  private podFor(sts: KObject, ordinal: number, revision: string): KObject {
    const spec = sts.spec as JsonObject;
    const template = (spec['template'] ?? {}) as JsonObject;
    const meta = (template['metadata'] ?? {}) as JsonObject;
    const podSpec = structuredClone((template['spec'] ?? {}) as JsonObject);
    const name = `${sts.metadata.name}-${ordinal}`;
    const claims = this.claimTemplates(sts).map((claim) => {
      const claimName = String((claim['metadata'] as JsonObject)['name']);
      return { name: claimName, persistentVolumeClaim: { claimName: `${claimName}-${name}` } };
    });
    podSpec['volumes'] = [...((podSpec['volumes'] as JsonObject[] | undefined) ?? []), ...claims];
    podSpec['hostname'] = name;
    podSpec['subdomain'] = spec['serviceName'];
    return {
      metadata: {
        name, namespace: sts.metadata.namespace,
        labels: {
          ...(meta['labels'] as Record<string, string> | undefined), [REVISION_LABEL]: revision,
          'statefulset.kubernetes.io/pod-name': name, 'apps.kubernetes.io/pod-index': String(ordinal),
        },
        ...(meta['annotations'] === undefined ? {} : { annotations: meta['annotations'] as Record<string, string> }),
        ownerReferences: [owner(sts, 'StatefulSet', 'apps/v1') as never],
      },
      spec: podSpec,
    };
  }

  private writeStatus(sts: KObject, pods: KObject[], revision: string): void {
    const live = pods.filter((pod) => pod.metadata.deletionTimestamp === undefined);
    const ready = live.filter(podReady).length;
    const updated = live.filter((pod) => pod.metadata.labels?.[REVISION_LABEL] === revision).length;
    const replicas = Number((sts.spec as JsonObject)['replicas'] ?? 1);
    const previous = isObject(sts.status) ? sts.status : {};
    const status = {
      observedGeneration: sts.metadata.generation, replicas: live.length, readyReplicas: ready, availableReplicas: ready,
      currentReplicas: updated === live.length ? live.length : live.length - updated, updatedReplicas: updated,
      currentRevision: updated === replicas && live.length === replicas ? revision : (previous['currentRevision'] ?? revision),
      updateRevision: revision, collisionCount: 0,
    };
    if (JSON.stringify(status) === JSON.stringify(previous)) return;
    this.api.updateStatus(this.sts, sts.metadata.namespace, sts.metadata.name!, { status });
  }
}
