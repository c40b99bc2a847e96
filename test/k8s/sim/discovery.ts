// Discovery and OpenAPI documents generated from the registry. kubectl needs /api,
// /apis and each group version's resource list to map kinds to resources, and an
// OpenAPI v3 document whose PATCH operations advertise `fieldValidation` so that it
// delegates validation to the server (strict unknown-field checks happen here).

import type { Registry } from './registry.js';
import { apiVersionOf, type JsonObject, type ResourceType } from './types.js';

const VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export function versionInfo(): JsonObject {
  return {
    major: '1', minor: '32', gitVersion: 'v1.32.0-flo-sim', gitCommit: 'sim', gitTreeState: 'clean',
    buildDate: '2026-01-01T00:00:00Z', goVersion: 'go1.23', compiler: 'gc', platform: 'linux/amd64',
  };
}

export function coreVersions(address: string): JsonObject {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: address }] };
}

export function groupList(registry: Registry): JsonObject {
  const groups = registry.groupVersions().filter((entry) => entry.group !== '').map((entry) => {
    const versions = entry.versions.map((version) => ({ groupVersion: `${entry.group}/${version}`, version }));
    return { name: entry.group, versions, preferredVersion: versions[0] };
  });
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

export function group(registry: Registry, name: string): JsonObject | undefined {
  const entry = registry.groupVersions().find((candidate) => candidate.group === name);
  if (entry === undefined) return undefined;
  const versions = entry.versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
  return { kind: 'APIGroup', apiVersion: 'v1', name, versions, preferredVersion: versions[0] };
}

export function resourceList(registry: Registry, groupName: string, version: string): JsonObject | undefined {
  const types = registry.all().filter((type) => type.group === groupName && type.version === version);
  if (types.length === 0) return undefined;
  const resources: JsonObject[] = [];
  for (const type of types) {
    resources.push({
      name: type.plural, singularName: type.singular, namespaced: type.namespaced, kind: type.kind, verbs: VERBS,
      ...(type.shortNames.length > 0 ? { shortNames: type.shortNames } : {}),
      ...(type.categories.length > 0 ? { categories: type.categories } : {}),
    });
    if (type.status) resources.push({ name: `${type.plural}/status`, singularName: '', namespaced: type.namespaced, kind: type.kind, verbs: ['get', 'patch', 'update'] });
    if (type.scale) {
      resources.push({
        name: `${type.plural}/scale`, singularName: '', namespaced: type.namespaced, group: 'autoscaling', version: 'v1', kind: 'Scale', verbs: ['get', 'patch', 'update'],
      });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: groupName === '' ? version : `${groupName}/${version}`, resources };
}

function gvPath(type: ResourceType): string {
  return type.group === '' ? `api/${type.version}` : `apis/${type.group}/${type.version}`;
}

export function openApiRoot(registry: Registry, revision: number): JsonObject {
  const paths: JsonObject = {};
  for (const type of registry.all()) paths[gvPath(type)] = { serverRelativeURL: `/openapi/v3/${gvPath(type)}?hash=${revision}` };
  return { paths };
}

export function openApiGroupVersion(registry: Registry, path: string): JsonObject | undefined {
  const types = registry.all().filter((type) => gvPath(type) === path);
  if (types.length === 0) return undefined;
  const paths: JsonObject = {};
  const schemas: JsonObject = {};
  for (const type of types) {
    const base = type.namespaced ? `/${path}/namespaces/{namespace}/${type.plural}/{name}` : `/${path}/${type.plural}/{name}`;
    const gvk = { group: type.group, version: type.version, kind: type.kind };
    paths[base] = {
      patch: {
        'x-kubernetes-group-version-kind': gvk,
        parameters: [{ name: 'fieldValidation', in: 'query', schema: { type: 'string', uniqueItems: true } }],
        responses: {},
      },
    };
    const id = `${type.group === '' ? 'io.k8s.api.core' : type.group}.${type.version}.${type.kind}`;
    schemas[id] = { ...(type.schema ?? { type: 'object', 'x-kubernetes-preserve-unknown-fields': true }), 'x-kubernetes-group-version-kind': [gvk] };
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes (flo simulator)', version: 'v1.32.0' }, paths, components: { schemas } };
}

export function apiVersionMatches(type: ResourceType, apiVersion: string): boolean {
  return apiVersionOf(type) === apiVersion;
}
