// The three patch kinds of the Kubernetes API: JSON patch (RFC 6902), JSON merge patch
// (RFC 7386) and strategic merge patch, the last with the merge keys of the built-in
// list fields we serve and the directives kubectl sends ($patch, $retainKeys,
// $setElementOrder, $deleteFromPrimitiveList).

import { ApiError, clone, isObject, jsonEqual, type JsonObject } from './types.js';

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new ApiError(422, 'Invalid', `invalid JSON pointer ${path}`);
  return path.slice(1).split('/').map((part) => part.replaceAll('~1', '/').replaceAll('~0', '~'));
}

function parentOf(root: unknown, parts: string[]): { parent: unknown; key: string } {
  let current = root;
  for (const part of parts.slice(0, -1)) {
    current = Array.isArray(current) ? current[Number(part)] : isObject(current) ? current[part] : undefined;
    if (current === undefined) throw new ApiError(422, 'Invalid', `path /${parts.join('/')} does not exist`);
  }
  return { parent: current, key: parts[parts.length - 1]! };
}

function getAt(root: unknown, path: string): unknown {
  let current = root;
  for (const part of pointer(path)) current = Array.isArray(current) ? current[Number(part)] : isObject(current) ? current[part] : undefined;
  return current;
}

function removeAt(root: unknown, path: string): unknown {
  const { parent, key } = parentOf(root, pointer(path));
  if (Array.isArray(parent)) return parent.splice(Number(key), 1)[0];
  if (!isObject(parent) || !Object.hasOwn(parent, key)) throw new ApiError(422, 'Invalid', `cannot remove missing ${path}`);
  const value = parent[key];
  delete parent[key];
  return value;
}

function addAt(root: unknown, path: string, value: unknown, replace: boolean): unknown {
  const parts = pointer(path);
  if (parts.length === 0) return clone(value);
  const { parent, key } = parentOf(root, parts);
  if (Array.isArray(parent)) {
    const index = key === '-' ? parent.length : Number(key);
    if (replace) parent[index] = clone(value);
    else parent.splice(index, 0, clone(value));
  } else if (isObject(parent)) {
    if (replace && !Object.hasOwn(parent, key)) throw new ApiError(422, 'Invalid', `cannot replace missing ${path}`);
    parent[key] = clone(value);
  } else {
    throw new ApiError(422, 'Invalid', `cannot add at ${path}`);
  }
  return root;
}

export function applyJsonPatch(document: unknown, operations: unknown): unknown {
  if (!Array.isArray(operations)) throw new ApiError(400, 'BadRequest', 'a JSON patch must be an array of operations');
  let root = clone(document);
  for (const operation of operations as JsonObject[]) {
    const path = String(operation['path']);
    switch (operation['op']) {
      case 'add': root = addAt(root, path, operation['value'], false); break;
      case 'replace': root = addAt(root, path, operation['value'], true); break;
      case 'remove': removeAt(root, path); break;
      case 'move': root = addAt(root, path, removeAt(root, String(operation['from'])), false); break;
      case 'copy': root = addAt(root, path, getAt(root, String(operation['from'])), false); break;
      case 'test':
        if (!jsonEqual(getAt(root, path), operation['value'])) throw new ApiError(422, 'Invalid', `test operation failed at ${path}`);
        break;
      default: throw new ApiError(400, 'BadRequest', `unknown JSON patch operation ${String(operation['op'])}`);
    }
  }
  return root;
}

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const result: JsonObject = isObject(target) ? clone(target) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = applyMergePatch(result[key], value);
  }
  return result;
}

/** Merge keys of built-in list fields (patchMergeKey in the Kubernetes API types). */
const MERGE_KEYS: Readonly<Record<string, string>> = {
  containers: 'name', initContainers: 'name', ephemeralContainers: 'name', env: 'name', volumes: 'name',
  volumeMounts: 'mountPath', imagePullSecrets: 'name', conditions: 'type', ownerReferences: 'uid',
  volumeClaimTemplates: 'name', hostAliases: 'ip', topologySpreadConstraints: 'topologyKey',
};
/** Primitive lists merged as sets. */
const SET_LISTS = new Set(['finalizers']);

function mergeKeyFor(field: string, items: unknown[]): string | undefined {
  if (field === 'ports') return items.some((item) => isObject(item) && 'containerPort' in item) ? 'containerPort' : 'port';
  return MERGE_KEYS[field];
}

function mergeList(field: string, target: unknown, patch: unknown[]): unknown {
  const current = Array.isArray(target) ? clone(target) : [];
  if (SET_LISTS.has(field)) return [...new Set([...current, ...patch])];
  const key = mergeKeyFor(field, [...current, ...patch]);
  if (key === undefined) return clone(patch);
  if (patch.some((item) => isObject(item) && item['$patch'] === 'replace')) {
    return patch.filter((item) => !(isObject(item) && item['$patch'] === 'replace'));
  }
  for (const item of patch) {
    if (!isObject(item)) continue;
    const index = current.findIndex((existing) => isObject(existing) && existing[key] === item[key]);
    if (item['$patch'] === 'delete') {
      if (index >= 0) current.splice(index, 1);
    } else if (index >= 0) {
      current[index] = applyStrategicMergePatch(current[index], item);
    } else {
      current.push(applyStrategicMergePatch({}, item));
    }
  }
  return current;
}

export function applyStrategicMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  if (patch['$patch'] === 'replace') {
    const { $patch: _ignored, ...rest } = patch;
    return clone(rest);
  }
  let result: JsonObject = isObject(target) ? clone(target) : {};
  if (Array.isArray(patch['$retainKeys'])) {
    const keep = new Set(patch['$retainKeys'] as string[]);
    result = Object.fromEntries(Object.entries(result).filter(([key]) => keep.has(key)));
  }
  for (const [key, value] of Object.entries(patch)) {
    if (key === '$patch' || key === '$retainKeys' || key.startsWith('$setElementOrder/')) continue;
    if (key.startsWith('$deleteFromPrimitiveList/')) {
      const field = key.slice('$deleteFromPrimitiveList/'.length);
      const remove = new Set(value as unknown[]);
      const list = result[field];
      if (Array.isArray(list)) result[field] = list.filter((item) => !remove.has(item));
      continue;
    }
    if (value === null) delete result[key];
    else if (Array.isArray(value)) result[key] = mergeList(key, result[key], value);
    else if (isObject(value)) result[key] = applyStrategicMergePatch(result[key], value);
    else result[key] = value;
  }
  return result;
}
