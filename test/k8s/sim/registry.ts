// The resource types the simulator serves: the built-in kinds Flo's operator, chart and
// tests touch, plus one type per established CustomResourceDefinition version.
// Discovery documents and OpenAPI are generated from this one table.

import { ApiError, isObject, typeKey, type JsonObject, type PrinterColumn, type ResourceType } from './types.js';

function builtin(group: string, version: string, kind: string, plural: string, options: Partial<ResourceType> = {}): ResourceType {
  return {
    group, version, kind, plural, singular: kind.toLowerCase(), namespaced: true,
    shortNames: [], categories: [], status: false, ...options,
  };
}

const SCALE = { specReplicasPath: '.spec.replicas', statusReplicasPath: '.status.replicas', labelSelectorPath: '.status.selector' };

export const BUILTIN_TYPES: readonly ResourceType[] = [
  builtin('', 'v1', 'Namespace', 'namespaces', { namespaced: false, shortNames: ['ns'], status: true }),
  builtin('', 'v1', 'Pod', 'pods', { shortNames: ['po'], categories: ['all'], status: true }),
  builtin('', 'v1', 'Service', 'services', { shortNames: ['svc'], categories: ['all'], status: true }),
  builtin('', 'v1', 'Endpoints', 'endpoints', { shortNames: ['ep'] }),
  builtin('', 'v1', 'ConfigMap', 'configmaps', { shortNames: ['cm'] }),
  builtin('', 'v1', 'Secret', 'secrets'),
  builtin('', 'v1', 'ServiceAccount', 'serviceaccounts', { shortNames: ['sa'] }),
  builtin('', 'v1', 'Event', 'events', { shortNames: ['ev'] }),
  builtin('', 'v1', 'PersistentVolumeClaim', 'persistentvolumeclaims', { shortNames: ['pvc'], status: true }),
  builtin('apps', 'v1', 'StatefulSet', 'statefulsets', { shortNames: ['sts'], categories: ['all'], status: true, scale: SCALE }),
  builtin('apps', 'v1', 'Deployment', 'deployments', { shortNames: ['deploy'], categories: ['all'], status: true, scale: SCALE }),
  builtin('apps', 'v1', 'ReplicaSet', 'replicasets', { shortNames: ['rs'], categories: ['all'], status: true, scale: SCALE }),
  builtin('policy', 'v1', 'PodDisruptionBudget', 'poddisruptionbudgets', { shortNames: ['pdb'], status: true }),
  builtin('coordination.k8s.io', 'v1', 'Lease', 'leases'),
  builtin('apiextensions.k8s.io', 'v1', 'CustomResourceDefinition', 'customresourcedefinitions',
    { namespaced: false, shortNames: ['crd', 'crds'], status: true }),
  builtin('rbac.authorization.k8s.io', 'v1', 'Role', 'roles'),
  builtin('rbac.authorization.k8s.io', 'v1', 'RoleBinding', 'rolebindings'),
  builtin('rbac.authorization.k8s.io', 'v1', 'ClusterRole', 'clusterroles', { namespaced: false }),
  builtin('rbac.authorization.k8s.io', 'v1', 'ClusterRoleBinding', 'clusterrolebindings', { namespaced: false }),
];

export class Registry {
  private readonly types = new Map<string, ResourceType>();

  constructor() {
    for (const type of BUILTIN_TYPES) this.add(type);
  }

  add(type: ResourceType): void {
    this.types.set(`${type.group}/${type.version}/${type.plural}`, type);
  }

  removeGroupResource(group: string, plural: string): void {
    for (const [key, type] of this.types) if (type.group === group && type.plural === plural) this.types.delete(key);
  }

  find(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.get(`${group}/${version}/${plural}`);
  }

  byKind(apiVersion: string, kind: string): ResourceType | undefined {
    return this.all().find((type) => (type.group === '' ? type.version : `${type.group}/${type.version}`) === apiVersion && type.kind === kind);
  }

  byTypeKey(key: string): ResourceType | undefined {
    return this.all().find((type) => typeKey(type) === key);
  }

  all(): ResourceType[] {
    return [...this.types.values()];
  }

  groupVersions(): { group: string; versions: string[] }[] {
    const groups = new Map<string, string[]>();
    for (const type of this.types.values()) {
      const versions = groups.get(type.group) ?? [];
      if (!versions.includes(type.version)) versions.push(type.version);
      groups.set(type.group, versions);
    }
    return [...groups].map(([group, versions]) => ({ group, versions }));
  }
}

/** The served resource types a CustomResourceDefinition object declares. */
export function typesFromCrd(crd: JsonObject): ResourceType[] {
  const spec = crd['spec'];
  if (!isObject(spec) || !isObject(spec['names']) || !Array.isArray(spec['versions'])) {
    throw new ApiError(422, 'Invalid', 'CustomResourceDefinition spec.names and spec.versions are required');
  }
  const names = spec['names'];
  const out: ResourceType[] = [];
  for (const version of spec['versions'] as JsonObject[]) {
    if (version['served'] === false) continue;
    const subresources = isObject(version['subresources']) ? version['subresources'] : {};
    const schema = isObject(version['schema']) && isObject(version['schema']['openAPIV3Schema']) ? version['schema']['openAPIV3Schema'] : undefined;
    const scale = subresources['scale'];
    out.push({
      group: String(spec['group']),
      version: String(version['name']),
      kind: String(names['kind']),
      plural: String(names['plural']),
      singular: String(names['singular'] ?? String(names['kind']).toLowerCase()),
      namespaced: spec['scope'] !== 'Cluster',
      shortNames: (names['shortNames'] as string[] | undefined) ?? [],
      categories: (names['categories'] as string[] | undefined) ?? [],
      status: subresources['status'] !== undefined,
      ...(isObject(scale) ? { scale: scale as unknown as ResourceType['scale'] } : {}),
      ...(schema === undefined ? {} : { schema }),
      printerColumns: (version['additionalPrinterColumns'] as PrinterColumn[] | undefined) ?? [],
    });
  }
  return out;
}
