// The scale subresource (autoscaling/v1 Scale) over any type that declares one:
// StatefulSets and custom resources with `subresources.scale` paths.

import { labelSelectorObjectToString } from './selectors.js';
import { badRequest, isObject, type JsonObject, type KObject, type ResourceType } from './types.js';

function read(object: unknown, path: string): unknown {
  let current = object;
  for (const part of path.replace(/^\./, '').split('.')) current = isObject(current) ? current[part] : undefined;
  return current;
}

function write(object: JsonObject, path: string, value: unknown): void {
  const parts = path.replace(/^\./, '').split('.');
  let current = object;
  for (const part of parts.slice(0, -1)) {
    if (!isObject(current[part])) current[part] = {};
    current = current[part] as JsonObject;
  }
  current[parts[parts.length - 1]!] = value;
}

export function toScale(type: ResourceType, object: KObject): JsonObject {
  const scale = type.scale!;
  const selectorValue = scale.labelSelectorPath === undefined ? undefined : read(object, scale.labelSelectorPath);
  const selector = type.schema === undefined ? labelSelectorObjectToString(read(object, '.spec.selector')) : selectorValue;
  const { name, namespace, uid, resourceVersion, creationTimestamp } = object.metadata;
  return {
    kind: 'Scale', apiVersion: 'autoscaling/v1',
    metadata: { name, namespace, uid, resourceVersion, creationTimestamp },
    spec: { replicas: Number(read(object, scale.specReplicasPath) ?? 0) },
    status: { replicas: Number(read(object, scale.statusReplicasPath) ?? 0), ...(selector ? { selector } : {}) },
  };
}

/** The object with the Scale's desired replicas written into its spec path. */
export function fromScale(type: ResourceType, object: KObject, scale: unknown): KObject {
  if (!isObject(scale) || !isObject(scale['spec']) || typeof scale['spec']['replicas'] !== 'number') {
    throw badRequest('a Scale needs spec.replicas');
  }
  const updated = structuredClone(object);
  write(updated as JsonObject, type.scale!.specReplicasPath, scale['spec']['replicas']);
  const meta = isObject(scale['metadata']) ? scale['metadata'] : {};
  if (typeof meta['resourceVersion'] === 'string') updated.metadata.resourceVersion = meta['resourceVersion'];
  return updated;
}
