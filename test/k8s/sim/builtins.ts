// Kind-specific behaviour of the built-in types we serve: the defaults the real API
// server fills in that controllers rely on (Service cluster IPs, StatefulSet policies,
// pod phase) and the immutable fields that make an update fail.

import { ApiError, isObject, jsonEqual, type JsonObject, type KObject, type ResourceType, type StatusCause } from './types.js';

export interface BuiltinHooks {
  /** Allocates a cluster IP for a new non-headless Service. */
  allocateClusterIp(): string;
}

const STS_MUTABLE = new Set(['replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy', 'minReadySeconds', 'revisionHistoryLimit']);

function spec(object: KObject): JsonObject {
  if (!isObject(object.spec)) object.spec = {};
  return object.spec as JsonObject;
}

function defaultService(object: KObject, old: KObject | undefined, hooks: BuiltinHooks): StatusCause[] {
  const serviceSpec = spec(object);
  const oldIp = old !== undefined && isObject(old.spec) ? old.spec['clusterIP'] : undefined;
  serviceSpec['type'] ??= 'ClusterIP';
  serviceSpec['sessionAffinity'] ??= 'None';
  if (Array.isArray(serviceSpec['ports'])) {
    for (const port of serviceSpec['ports'] as JsonObject[]) {
      port['protocol'] ??= 'TCP';
      port['targetPort'] ??= port['port'];
    }
  }
  if (serviceSpec['clusterIP'] === undefined || serviceSpec['clusterIP'] === '') {
    serviceSpec['clusterIP'] = oldIp ?? hooks.allocateClusterIp();
  } else if (oldIp !== undefined && serviceSpec['clusterIP'] !== oldIp) {
    return [{ reason: 'FieldValueInvalid', field: 'spec.clusterIP', message: `Invalid value: "${String(serviceSpec['clusterIP'])}": field is immutable` }];
  }
  serviceSpec['clusterIPs'] = [serviceSpec['clusterIP']];
  return [];
}

function defaultStatefulSet(object: KObject, old: KObject | undefined): StatusCause[] {
  const stsSpec = spec(object);
  stsSpec['replicas'] ??= 1;
  stsSpec['podManagementPolicy'] ??= 'OrderedReady';
  stsSpec['updateStrategy'] ??= { type: 'RollingUpdate', rollingUpdate: { partition: 0 } };
  stsSpec['revisionHistoryLimit'] ??= 10;
  stsSpec['persistentVolumeClaimRetentionPolicy'] ??= { whenDeleted: 'Retain', whenScaled: 'Retain' };
  if (old === undefined || !isObject(old.spec)) return [];
  const oldSpec = old.spec;
  const changed = [...new Set([...Object.keys(stsSpec), ...Object.keys(oldSpec)])]
    .filter((key) => !STS_MUTABLE.has(key) && !jsonEqual(stsSpec[key], oldSpec[key]));
  if (changed.length === 0) return [];
  return [{
    reason: 'FieldValueForbidden', field: 'spec',
    message: "Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden",
  }];
}

/** Finalizer that keeps a deleted claim while a pod names it (test/k8s/node/pvc-protection-controller.ts lifts it). */
export const PVC_PROTECTION = 'kubernetes.io/pvc-protection';

function defaultPod(object: KObject, old: KObject | undefined): void {
  const podSpec = spec(object);
  podSpec['restartPolicy'] ??= 'Always';
  podSpec['terminationGracePeriodSeconds'] ??= 30;
  if (old === undefined && object.status === undefined) object.status = { phase: 'Pending' };
}

/** Applies defaults and immutability checks for one built-in kind; returns validation causes. */
export function prepareBuiltin(type: ResourceType, object: KObject, old: KObject | undefined, hooks: BuiltinHooks): StatusCause[] {
  switch (`${type.group}/${type.kind}`) {
    case '/Service': return defaultService(object, old, hooks);
    case 'apps/StatefulSet': return defaultStatefulSet(object, old);
    case 'apps/Deployment':
      spec(object)['replicas'] ??= 1;
      return [];
    case '/Pod':
      defaultPod(object, old);
      return [];
    case '/PersistentVolumeClaim':
      if (old === undefined) {
        object.status = { phase: 'Bound', accessModes: isObject(object.spec) ? object.spec['accessModes'] : [] };
        // The StorageObjectInUseProtection admission plugin: a claim is not removed while a pod uses it.
        const finalizers = object.metadata.finalizers ?? [];
        if (!finalizers.includes(PVC_PROTECTION)) object.metadata.finalizers = [...finalizers, PVC_PROTECTION];
      }
      return [];
    case '/Namespace':
      if (old === undefined) object.status = { phase: 'Active' };
      return [];
    default: return [];
  }
}

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function nameCauses(name: string): StatusCause[] {
  if (name.length <= 253 && NAME.test(name)) return [];
  return [{
    reason: 'FieldValueInvalid', field: 'metadata.name',
    message: `Invalid value: "${name}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`,
  }];
}

export function assertKindMatches(type: ResourceType, object: KObject): void {
  if (object.kind !== undefined && object.kind !== type.kind) {
    throw new ApiError(400, 'BadRequest', `the kind ${object.kind} does not match the resource ${type.plural}`);
  }
}
