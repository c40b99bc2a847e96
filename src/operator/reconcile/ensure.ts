// Idempotent apply of one owned object: create it when missing; when present, compare
// the desired fields only (the server's defaults and other writers' extra fields are
// not drift) and replace it when they differ, keeping fields the server assigns or
// forbids changing. An object of that name that another controller owns is refused.

import type { V1ObjectMeta } from '@kubernetes/client-node';
import { isNotFound } from '../kube/clients.js';

export interface OwnedObject {
  metadata?: V1ObjectMeta;
  [key: string]: unknown;
}

export interface ObjectAccess<T extends OwnedObject> {
  kind: string;
  read(name: string, namespace: string): Promise<T>;
  create(namespace: string, body: T): Promise<T>;
  replace(name: string, namespace: string, body: T): Promise<T>;
  /** Builds the object to write from the live one and the desired one (keeps immutable/assigned fields). */
  merge(live: T, desired: T): T;
  /** Optional: the desired object as it can be, given the live one (immutable fields), and what was left out. */
  adjust?(live: T, desired: T): { object: T; notes: string[] };
}

export interface EnsureResult {
  action: 'created' | 'updated' | 'unchanged';
  /** Desired changes that cannot be applied to the live object (for a Warning event). */
  notes: string[];
}

const QUANTITY = /^([0-9]+(?:\.[0-9]+)?)(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$/;
const QUANTITY_FACTORS: Record<string, number> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** Numeric value of a Kubernetes quantity ("500m", "1Gi"), or undefined. */
export function quantityValue(text: string): number | undefined {
  const match = QUANTITY.exec(text);
  return match === null ? undefined : Number(match[1]) * QUANTITY_FACTORS[match[2] ?? '']!;
}

/** Resource lists hold quantities, which the API server rewrites in canonical form ("0.5" → "500m"). */
const QUANTITY_PARENTS = new Set(['requests', 'limits', 'capacity']);

function sameScalar(desired: unknown, actual: unknown, parentKey: string): boolean {
  if (desired === actual) return true;
  if (actual instanceof Date && typeof desired === 'string') return actual.toISOString() === desired;
  if (QUANTITY_PARENTS.has(parentKey) && typeof desired === 'string' && typeof actual === 'string') {
    const a = quantityValue(desired);
    return a !== undefined && a === quantityValue(actual);
  }
  return false;
}

/** True when every field set in `desired` has the same value in `actual` (arrays element-wise, same length). */
export function isSubset(desired: unknown, actual: unknown, parentKey = ''): boolean {
  if (desired === undefined) return true;
  if (desired === null || typeof desired !== 'object') return sameScalar(desired, actual, parentKey);
  if (Array.isArray(desired)) {
    return Array.isArray(actual) && actual.length === desired.length && desired.every((item, i) => isSubset(item, actual[i], parentKey));
  }
  if (actual === null || typeof actual !== 'object' || Array.isArray(actual)) {
    return Object.values(desired).every((value) => value === undefined);
  }
  return Object.entries(desired).every(([key, value]) => isSubset(value, (actual as Record<string, unknown>)[key], key === 'requests' || key === 'limits' || key === 'capacity' ? key : parentKey));
}

export class OwnershipConflictError extends Error {
  override name = 'OwnershipConflictError';
}

function desiredView(object: OwnedObject): OwnedObject {
  const { metadata, ...rest } = object;
  return {
    ...rest,
    metadata: { labels: metadata?.labels, annotations: metadata?.annotations, ownerReferences: metadata?.ownerReferences },
  };
}

export async function ensureObject<T extends OwnedObject>(access: ObjectAccess<T>, desired: T): Promise<EnsureResult> {
  const name = desired.metadata?.name ?? '';
  const namespace = desired.metadata?.namespace ?? '';
  let live: T;
  try {
    live = await access.read(name, namespace);
  } catch (error) {
    if (!isNotFound(error)) throw error;
    await access.create(namespace, desired);
    return { action: 'created', notes: [] };
  }
  const ourUid = desired.metadata?.ownerReferences?.[0]?.uid;
  const controller = live.metadata?.ownerReferences?.find((ref) => ref.controller === true);
  if (controller === undefined || controller.uid !== ourUid) {
    throw new OwnershipConflictError(`${access.kind} ${namespace}/${name} exists and is not controlled by this FloCluster; rename or remove it`);
  }
  const adjusted = access.adjust?.(live, desired) ?? { object: desired, notes: [] };
  const target = adjusted.object;
  const comparable = { ...desiredView(target), metadata: { ...desiredView(target).metadata, annotations: nonEmpty(target.metadata?.annotations) } };
  if (isSubset(comparable, live)) return { action: 'unchanged', notes: adjusted.notes };
  await access.replace(name, namespace, access.merge(live, target));
  return { action: 'updated', notes: adjusted.notes };
}

function nonEmpty(map: Record<string, string> | undefined): Record<string, string> | undefined {
  return map === undefined || Object.keys(map).length === 0 ? undefined : map;
}

/** Metadata of the object to write: live metadata (resourceVersion, uid, others' labels) plus ours. */
export function mergeMetadata(live: OwnedObject, desired: OwnedObject): V1ObjectMeta {
  return {
    ...live.metadata,
    labels: { ...live.metadata?.labels, ...desired.metadata?.labels },
    annotations: { ...live.metadata?.annotations, ...desired.metadata?.annotations },
    ownerReferences: desired.metadata?.ownerReferences ?? [],
  };
}
