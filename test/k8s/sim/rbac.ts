// Authentication and RBAC authorization for the simulator. A request without credentials
// is the administrator, like the API server's old localhost insecure port (kubectl and helm
// do not send bearer tokens over plain http); so is the admin token of the generated
// kubeconfig; a token `system:serviceaccount:<ns>:<name>` (what
// the simulated kubelet gives pods) is authorized by the Roles, ClusterRoles and bindings
// stored in the simulator, as the API server's RBAC authorizer would: so a chart's
// least-privilege RBAC is tested, not assumed. Discovery and OpenAPI are open to all.

import type { Api } from './api.js';
import { ApiError, isObject, type JsonObject, type KObject } from './types.js';

export const ADMIN_TOKEN = 'flo-sim';
/** The user of admin requests (no token, or the admin token): allowed everything. */
export const ADMIN_USER = 'admin';
const SERVICE_ACCOUNT = /^system:serviceaccount:([^:]+):([^:]+)$/;

export interface RequestAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  namespace?: string;
  name?: string;
}

function allows(rule: JsonObject, request: RequestAttributes): boolean {
  const has = (list: unknown, value: string): boolean => Array.isArray(list) && (list.includes('*') || list.includes(value));
  const resource = request.subresource === undefined ? request.resource : `${request.resource}/${request.subresource}`;
  const names = rule['resourceNames'];
  const nameOk = !Array.isArray(names) || names.length === 0 || (request.name !== undefined && names.includes(request.name));
  return has(rule['apiGroups'], request.group) && has(rule['resources'], resource) && has(rule['verbs'], request.verb) && nameOk;
}

function boundTo(binding: KObject, namespace: string, name: string): boolean {
  const subjects = Array.isArray(binding['subjects']) ? binding['subjects'] as JsonObject[] : [];
  return subjects.some((subject) => subject['kind'] === 'ServiceAccount' && subject['name'] === name && (subject['namespace'] ?? binding.metadata.namespace) === namespace);
}

export class Authorizer {
  constructor(private readonly api: Api) {}

  private rulesOf(kind: string, name: string, namespace: string | undefined): JsonObject[] {
    const type = this.api.type('rbac.authorization.k8s.io', 'v1', kind === 'Role' ? 'roles' : 'clusterroles');
    const role = this.api.store.get(type, namespace, name);
    return role !== undefined && Array.isArray(role['rules']) ? role['rules'] as JsonObject[] : [];
  }

  /** Throws 401/403 as the API server would; returns the user name. */
  check(authorization: string | undefined, request: RequestAttributes | undefined): string {
    const token = authorization?.replace(/^Bearer\s+/i, '') ?? '';
    if (token === ADMIN_TOKEN || token === '') return ADMIN_USER;
    if (!SERVICE_ACCOUNT.test(token)) throw new ApiError(401, 'Unauthorized', 'Unauthorized');
    if (request === undefined || this.allowed(token, request)) return token;
    throw new ApiError(403, 'Forbidden',
      `${resourceOf(request)}${request.group === '' ? '' : `.${request.group}`}${request.name ? ` "${request.name}"` : ''} is forbidden: ${denial(token, request)}`,
      { kind: request.resource, group: request.group, ...(request.name ? { name: request.name } : {}) });
  }

  /** Whether `user` may make `request` (the RBAC authorizer's decision). */
  allowed(user: string, request: RequestAttributes): boolean {
    if (user === ADMIN_USER) return true;
    const match = SERVICE_ACCOUNT.exec(user);
    if (match === null) return false;
    const [, accountNamespace, accountName] = match as unknown as [string, string, string];
    const rbac = (plural: string): ReturnType<Api['type']> => this.api.type('rbac.authorization.k8s.io', 'v1', plural);
    const rules: JsonObject[] = [];
    for (const binding of this.api.store.list(rbac('clusterrolebindings'))) {
      if (boundTo(binding, accountNamespace, accountName) && isObject(binding['roleRef'])) rules.push(...this.rulesOf('ClusterRole', String(binding['roleRef']['name']), undefined));
    }
    if (request.namespace !== undefined) {
      for (const binding of this.api.store.list(rbac('rolebindings'), request.namespace)) {
        if (!boundTo(binding, accountNamespace, accountName) || !isObject(binding['roleRef'])) continue;
        const ref = binding['roleRef'];
        rules.push(...this.rulesOf(String(ref['kind']), String(ref['name']), ref['kind'] === 'Role' ? request.namespace : undefined));
      }
    }
    return rules.some((rule) => allows(rule, request));
  }
}

function resourceOf(request: RequestAttributes): string {
  return request.subresource === undefined ? request.resource : `${request.resource}/${request.subresource}`;
}

/** The authorizer's reason for a refusal, as the API server words it. */
export function denial(user: string, request: RequestAttributes): string {
  const scope = request.namespace === undefined ? 'at the cluster scope' : `in the namespace "${request.namespace}"`;
  return `User "${user}" cannot ${request.verb} resource "${resourceOf(request)}" in API group "${request.group}" ${scope}`;
}

export function verbOf(method: string, hasName: boolean, watch: boolean): string {
  switch (method) {
    case 'GET': return hasName ? 'get' : watch ? 'watch' : 'list';
    case 'POST': return 'create';
    case 'PUT': return 'update';
    case 'PATCH': return 'patch';
    case 'DELETE': return hasName ? 'delete' : 'deletecollection';
    default: return method.toLowerCase();
  }
}
