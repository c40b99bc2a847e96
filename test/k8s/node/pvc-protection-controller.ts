// Storage-object-in-use protection, as a real control plane has it: every claim is created
// with the `kubernetes.io/pvc-protection` finalizer (admission), and a deleted claim stays,
// terminating, while a pod that is not finished names it; the controller lifts the finalizer
// once none does. The StatefulSet controller creates no pod onto a terminating claim, so a
// claim deleted with its pod comes back empty (kubernetes/kubernetes#93457).
import type { Api } from '../sim/api.js';
import { PVC_PROTECTION } from '../sim/builtins.js';
import { ApiError, isObject, type JsonObject, type KObject, type ResourceType } from '../sim/types.js';

function claimsOf(pod: KObject): string[] {
  const volumes = isObject(pod.spec) ? (pod.spec as JsonObject)['volumes'] : undefined;
  if (!Array.isArray(volumes)) return [];
  return volumes.flatMap((volume) => (isObject(volume) && isObject(volume['persistentVolumeClaim']) ? [String(volume['persistentVolumeClaim']['claimName'])] : []));
}

function finished(pod: KObject): boolean {
  const phase = isObject(pod.status) ? (pod.status as JsonObject)['phase'] : undefined;
  return phase === 'Succeeded' || phase === 'Failed';
}

export class PvcProtectionController {
  private readonly pods: ResourceType;
  private readonly pvcs: ResourceType;

  constructor(private readonly api: Api) {
    this.pods = api.type('', 'v1', 'pods');
    this.pvcs = api.type('', 'v1', 'persistentvolumeclaims');
  }

  syncAll(): void {
    for (const claim of this.api.list(this.pvcs, undefined)) {
      const finalizers = claim.metadata.finalizers ?? [];
      if (claim.metadata.deletionTimestamp === undefined || !finalizers.includes(PVC_PROTECTION)) continue;
      const inUse = this.api.list(this.pods, claim.metadata.namespace).some((pod) => !finished(pod) && claimsOf(pod).includes(claim.metadata.name!));
      if (inUse) continue;
      try {
        this.api.update(this.pvcs, claim.metadata.namespace, claim.metadata.name!, { ...claim, metadata: { ...claim.metadata, finalizers: finalizers.filter((name) => name !== PVC_PROTECTION) } });
      } catch (error) {
        if (!(error instanceof ApiError && (error.code === 404 || error.code === 409))) throw error;
      }
    }
  }
}
