// Shapes shared by the Kubernetes API simulator: stored objects, resource types and
// the API error that becomes a metav1.Status body. Objects are plain JSON; only the
// metadata the simulator acts on is typed.

export type JsonObject = Record<string, unknown>;

export interface OwnerRef {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: OwnerRef[];
  [key: string]: unknown;
}

export interface KObject {
  apiVersion?: string;
  kind?: string;
  metadata: ObjectMeta;
  spec?: unknown;
  status?: unknown;
  [key: string]: unknown;
}

export interface ScaleSpec {
  specReplicasPath: string;
  statusReplicasPath: string;
  labelSelectorPath?: string;
}

export interface PrinterColumn {
  name: string;
  type: string;
  jsonPath: string;
  description?: string;
  priority?: number;
  format?: string;
}

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  status: boolean;
  scale?: ScaleSpec;
  /** Structural schema of a custom resource (openAPIV3Schema). */
  schema?: JsonObject;
  printerColumns?: PrinterColumn[];
}

export function apiVersionOf(type: ResourceType): string {
  return type.group === '' ? type.version : `${type.group}/${type.version}`;
}

/** `plural.group` as Kubernetes prints it in messages (`pods`, `floclusters.flo.dev`). */
export function qualifiedName(type: ResourceType): string {
  return type.group === '' ? type.plural : `${type.plural}.${type.group}`;
}

export function typeKey(type: ResourceType): string {
  return `${type.group}/${type.plural}`;
}

export interface StatusCause {
  reason: string;
  message: string;
  field: string;
}

/** An API failure; the server renders it as a metav1.Status with the same code. */
export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details: { name?: string; group?: string; kind?: string; causes?: StatusCause[] } = {},
  ) {
    super(message);
  }

  toStatus(): JsonObject {
    return {
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure',
      message: this.message, reason: this.reason, details: this.details, code: this.code,
    };
  }
}

export function notFound(type: ResourceType, name: string): ApiError {
  return new ApiError(404, 'NotFound', `${qualifiedName(type)} "${name}" not found`, { name, group: type.group, kind: type.plural });
}

export function conflict(type: ResourceType, name: string): ApiError {
  return new ApiError(409, 'Conflict',
    `Operation cannot be fulfilled on ${qualifiedName(type)} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
    { name, group: type.group, kind: type.plural });
}

export function invalid(type: ResourceType, name: string, causes: StatusCause[]): ApiError {
  const kind = type.group === '' ? type.kind : `${type.kind}.${type.group}`;
  const list = causes.map((cause) => (cause.field === '' ? cause.message : `${cause.field}: ${cause.message}`));
  const joined = list.length === 1 ? list[0] : `[${list.join(', ')}]`;
  return new ApiError(422, 'Invalid', `${kind} "${name}" is invalid: ${joined}`, { name, group: type.group, kind: type.kind, causes });
}

export function badRequest(message: string): ApiError {
  return new ApiError(400, 'BadRequest', message);
}

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function clone<T>(value: T): T {
  return structuredClone(value);
}

/** Deep equality of JSON values (object key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, i) => jsonEqual(item, b[i]));
  if (isObject(a) && isObject(b)) {
    const keysA = Object.keys(a).filter((key) => a[key] !== undefined);
    const keysB = Object.keys(b).filter((key) => b[key] !== undefined);
    return keysA.length === keysB.length && keysA.every((key) => jsonEqual(a[key], b[key]));
  }
  return false;
}
