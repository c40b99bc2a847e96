// The API server's object semantics over the store: create/update/patch/delete with
// resourceVersion preconditions (409 on a stale write), generation bumped only by spec
// changes, status and scale subresources, finalizers and deletionTimestamp, graceful pod
// deletion, ownerReference garbage collection, CRD installation and schema enforcement.

import { randomUUID } from 'node:crypto';
import { assertKindMatches, nameCauses, prepareBuiltin, type BuiltinHooks } from './builtins.js';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from './patch.js';
import { Registry, typesFromCrd } from './registry.js';
import { applyDefaults, prune, validate } from './schema.js';
import { schemaErrors } from './structural.js';
import { Store } from './store.js';
import {
  ApiError, apiVersionOf, badRequest, clone, conflict, invalid, isObject, jsonEqual, notFound,
  type JsonObject, type KObject, type ResourceType,
} from './types.js';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteOptions {
  dryRun?: boolean;
  fieldValidation?: FieldValidation;
  /** Warnings for the response's Warning header (unknown fields under Warn). */
  warnings?: string[];
  /** Admission of the requesting user (throws to refuse), run after validation. */
  admit?: (type: ResourceType, old: KObject | undefined, object: KObject) => void;
}

export interface DeleteOptions {
  propagationPolicy?: 'Background' | 'Foreground' | 'Orphan';
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export const BUILTIN_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

function now(): string {
  return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function withoutMetaAndStatus(object: KObject): JsonObject {
  const { metadata: _metadata, status: _status, ...rest } = object;
  return rest;
}

export class Api {
  readonly registry = new Registry();

  constructor(readonly store: Store, private readonly hooks: BuiltinHooks) {
    const namespaces = this.type('', 'v1', 'namespaces');
    for (const name of BUILTIN_NAMESPACES) this.create(namespaces, undefined, { metadata: { name } });
  }

  type(group: string, version: string, plural: string): ResourceType {
    const type = this.registry.find(group, version, plural);
    if (type === undefined) throw new ApiError(404, 'NotFound', 'the server could not find the requested resource');
    return type;
  }

  get(type: ResourceType, namespace: string | undefined, name: string): KObject {
    const found = this.store.get(type, namespace, name);
    if (found === undefined) throw notFound(type, name);
    return this.decorate(type, found);
  }

  list(type: ResourceType, namespace: string | undefined): KObject[] {
    return this.store.list(type, namespace).map((object) => this.decorate(type, object));
  }

  /** Adds apiVersion, kind and schema defaults, as a read from storage does. */
  decorate(type: ResourceType, object: KObject): KObject {
    object.apiVersion = apiVersionOf(type);
    object.kind = type.kind;
    if (type.schema !== undefined) applyDefaults(object, type.schema);
    return object;
  }

  private checkNamespace(type: ResourceType, namespace: string | undefined): void {
    if (!type.namespaced) return;
    if (namespace === undefined || namespace === '') throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    const namespaces = this.type('', 'v1', 'namespaces');
    const found = this.store.get(namespaces, undefined, namespace);
    if (found === undefined) throw new ApiError(404, 'NotFound', `namespaces "${namespace}" not found`, { name: namespace, kind: 'namespaces' });
    if (found.metadata.deletionTimestamp !== undefined && type.plural !== 'events') {
      throw new ApiError(403, 'Forbidden', `${type.plural} is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`);
    }
  }

  /** Schema (custom resources) or kind-specific (built-ins) preparation and validation. */
  private prepare(type: ResourceType, object: KObject, old: KObject | undefined, options: WriteOptions): void {
    assertKindMatches(type, object);
    const name = object.metadata.name ?? '';
    const causes = old === undefined ? nameCauses(name) : [];
    if (type.schema !== undefined) {
      const unknown = prune(object, type.schema, '');
      const unknownMessages = unknown.map((path) => `unknown field "${path}"`);
      if (unknown.length > 0 && options.fieldValidation === 'Strict') {
        throw badRequest(`${type.kind} in version "${type.version}" cannot be handled as a ${type.kind}: strict decoding error: ${unknownMessages.join(', ')}`);
      }
      if (options.fieldValidation === 'Warn') options.warnings?.push(...unknownMessages);
      applyDefaults(object, type.schema);
      const oldForRules = old === undefined ? undefined : this.decorate(type, clone(old));
      causes.push(...validate(object, type.schema, oldForRules));
    } else {
      causes.push(...prepareBuiltin(type, object, old, this.hooks));
    }
    if (type.kind === 'CustomResourceDefinition' && type.group === 'apiextensions.k8s.io') {
      const versions = isObject(object.spec) && Array.isArray(object.spec['versions']) ? object.spec['versions'] as JsonObject[] : [];
      versions.forEach((version, i) => {
        const schema = isObject(version['schema']) ? version['schema']['openAPIV3Schema'] : undefined;
        for (const message of schemaErrors(schema, `spec.versions[${i}].schema.openAPIV3Schema`)) causes.push({ reason: 'FieldValueInvalid', field: '', message });
      });
    }
    if (causes.length > 0) throw invalid(type, name, causes);
    options.admit?.(type, old, object);
  }

  create(type: ResourceType, namespace: string | undefined, body: unknown, options: WriteOptions = {}): KObject {
    if (!isObject(body) || !isObject(body['metadata'])) throw badRequest('the body of the request was in an unknown format: object with metadata expected');
    const object = clone(body) as KObject;
    const meta = object.metadata;
    if (type.namespaced) {
      if (meta.namespace !== undefined && namespace !== undefined && meta.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      meta.namespace = namespace ?? meta.namespace;
    } else {
      delete meta.namespace;
    }
    if ((meta.name === undefined || meta.name === '') && typeof meta.generateName === 'string') {
      meta.name = `${meta.generateName}${randomUUID().slice(0, 5)}`;
    }
    if (meta.name === undefined || meta.name === '') {
      throw invalid(type, '', [{ reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' }]);
    }
    this.checkNamespace(type, meta.namespace);
    if (this.store.get(type, meta.namespace, meta.name) !== undefined) {
      throw new ApiError(409, 'AlreadyExists', `${type.group === '' ? type.plural : `${type.plural}.${type.group}`} "${meta.name}" already exists`,
        { name: meta.name, group: type.group, kind: type.plural });
    }
    if (type.status && type.schema !== undefined) delete object.status;
    this.prepare(type, object, undefined, options);
    object.apiVersion = apiVersionOf(type);
    object.kind = type.kind;
    Object.assign(meta, { uid: randomUUID(), creationTimestamp: now(), generation: 1 });
    delete meta.resourceVersion;
    delete meta.deletionTimestamp;
    if (options.dryRun === true) return object;
    const stored = this.store.write(type, object, 'ADDED');
    if (type.kind === 'CustomResourceDefinition') this.installCrd(stored);
    return this.decorate(type, stored);
  }

  private installCrd(crd: KObject): void {
    const crdType = this.type('apiextensions.k8s.io', 'v1', 'customresourcedefinitions');
    const types = typesFromCrd(crd);
    for (const type of types) {
      this.registry.removeGroupResource(type.group, type.plural);
    }
    for (const type of types) this.registry.add(type);
    const names = isObject(crd.spec) ? crd.spec['names'] : {};
    const conditions = ['NamesAccepted', 'Established'].map((condition) => ({
      type: condition, status: 'True', reason: condition === 'Established' ? 'InitialNamesAccepted' : 'NoConflicts',
      message: condition === 'Established' ? 'the initial names have been accepted' : 'no conflicts found', lastTransitionTime: now(),
    }));
    const latest = this.store.get(crdType, undefined, crd.metadata.name ?? '');
    if (latest === undefined) return;
    latest.status = { conditions, acceptedNames: names, storedVersions: types.map((type) => type.version) };
    this.store.write(crdType, latest, 'MODIFIED');
  }

  /** PUT of the main resource: status is kept from storage when the type has a status subresource. */
  update(type: ResourceType, namespace: string | undefined, name: string, body: unknown, options: WriteOptions = {}): KObject {
    if (!isObject(body) || !isObject(body['metadata'])) throw badRequest('the body of the request was in an unknown format');
    const old = this.store.get(type, namespace, name);
    if (old === undefined) throw notFound(type, name);
    const object = clone(body) as KObject;
    if (object.metadata.name !== undefined && object.metadata.name !== name) {
      throw badRequest(`the name of the object (${object.metadata.name}) does not match the name on the URL (${name})`);
    }
    if (object.metadata.resourceVersion !== undefined && object.metadata.resourceVersion !== old.metadata.resourceVersion) {
      throw conflict(type, name);
    }
    if (type.status) object.status = old.status;
    this.prepare(type, object, old, options);
    return this.commitUpdate(type, old, object, options);
  }

  /** PUT of the status subresource: only status changes. */
  updateStatus(type: ResourceType, namespace: string | undefined, name: string, body: unknown, options: WriteOptions = {}): KObject {
    if (!isObject(body)) throw badRequest('the body of the request was in an unknown format');
    const old = this.store.get(type, namespace, name);
    if (old === undefined) throw notFound(type, name);
    const meta = isObject(body['metadata']) ? body['metadata'] : {};
    if (meta['resourceVersion'] !== undefined && meta['resourceVersion'] !== old.metadata.resourceVersion) throw conflict(type, name);
    const object = clone(old);
    object.status = clone(body['status']);
    if (type.schema !== undefined) {
      prune(object, type.schema, '');
      const causes = validate(object, type.schema);
      if (causes.length > 0) throw invalid(type, name, causes);
    }
    return this.commitUpdate(type, old, object, options);
  }

  private commitUpdate(type: ResourceType, old: KObject, object: KObject, options: WriteOptions): KObject {
    const meta = object.metadata;
    for (const key of ['uid', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'generation', 'namespace', 'name'] as const) {
      if (old.metadata[key] === undefined) delete meta[key];
      else (meta as Record<string, unknown>)[key] = old.metadata[key];
    }
    object.apiVersion = apiVersionOf(type);
    object.kind = type.kind;
    if (!jsonEqual(withoutMetaAndStatus(object), { ...withoutMetaAndStatus(old), apiVersion: object.apiVersion, kind: object.kind })) {
      meta.generation = (old.metadata.generation ?? 1) + 1;
    }
    meta.resourceVersion = old.metadata.resourceVersion;
    if (jsonEqual(object, { ...old, apiVersion: object.apiVersion, kind: object.kind })) return this.decorate(type, old);
    if (options.dryRun === true) return object;
    if (meta.deletionTimestamp !== undefined && (meta.finalizers ?? []).length === 0 && !this.awaitingKubelet(type, object)) {
      return this.decorate(type, this.removeNow(type, object));
    }
    const stored = this.store.write(type, object, 'MODIFIED');
    if (type.kind === 'CustomResourceDefinition') this.installCrd(stored);
    return this.decorate(type, stored);
  }

  patch(type: ResourceType, namespace: string | undefined, name: string, contentType: string, patch: unknown,
    options: WriteOptions & { subresource?: 'status' } = {}): KObject {
    const old = this.store.get(type, namespace, name);
    if (old === undefined) throw notFound(type, name);
    const current = this.decorate(type, clone(old));
    const patched = this.applyPatch(type, current, contentType, patch);
    if (!isObject(patched)) throw badRequest('patch produced a non-object');
    const meta = isObject(patched['metadata']) ? patched['metadata'] : {};
    patched['metadata'] = meta;
    if (!isObject(patch) || !isObject(patch['metadata']) || patch['metadata']['resourceVersion'] === undefined) {
      meta['resourceVersion'] = old.metadata.resourceVersion;
    }
    return options.subresource === 'status'
      ? this.updateStatus(type, namespace, name, patched, options)
      : this.update(type, namespace, name, patched, options);
  }

  applyPatch(type: ResourceType, current: unknown, contentType: string, patch: unknown): unknown {
    const kind = contentType.split(';')[0]!.trim();
    switch (kind) {
      case 'application/json-patch+json': return applyJsonPatch(current, patch);
      case 'application/merge-patch+json': return applyMergePatch(current, patch);
      case 'application/apply-patch+yaml': return applyMergePatch(current, patch);
      case 'application/strategic-merge-patch+json':
        if (type.schema !== undefined) throw new ApiError(415, 'UnsupportedMediaType', 'strategic merge patch is not supported for custom resources; use a JSON merge patch');
        return applyStrategicMergePatch(current, patch);
      default: throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got ${kind})`);
    }
  }

  /** Pods bound to the simulated kubelet stay, terminating, until the kubelet has stopped them. */
  private awaitingKubelet(type: ResourceType, object: KObject): boolean {
    return type.group === '' && type.kind === 'Pod' && isObject(object.spec) && typeof object.spec['nodeName'] === 'string'
      && object.metadata.deletionGracePeriodSeconds !== 0;
  }

  delete(type: ResourceType, namespace: string | undefined, name: string, options: DeleteOptions = {}): KObject {
    const old = this.store.get(type, namespace, name);
    if (old === undefined) throw notFound(type, name);
    const pre = options.preconditions;
    if ((pre?.uid !== undefined && pre.uid !== old.metadata.uid) || (pre?.resourceVersion !== undefined && pre.resourceVersion !== old.metadata.resourceVersion)) {
      throw conflict(type, name);
    }
    if (options.dryRun === true) return this.decorate(type, old);
    if (options.propagationPolicy === 'Orphan') this.orphanDependents(old);
    if (options.propagationPolicy === 'Foreground' && this.dependentsOf(old.metadata.uid ?? '').length > 0) return this.deleteForeground(type, old);
    const grace = options.gracePeriodSeconds;
    const graceful = this.awaitingKubelet(type, old) && grace !== 0;
    if ((old.metadata.finalizers ?? []).length > 0 || graceful) {
      if (old.metadata.deletionTimestamp !== undefined && !(grace === 0 && graceful)) return this.decorate(type, old);
      old.metadata.deletionTimestamp = now();
      if (type.kind === 'Pod') {
        const podGrace = isObject(old.spec) ? Number(old.spec['terminationGracePeriodSeconds'] ?? 30) : 30;
        old.metadata.deletionGracePeriodSeconds = grace ?? podGrace;
      }
      if ((old.metadata.finalizers ?? []).length > 0 || old.metadata.deletionGracePeriodSeconds !== 0) {
        return this.decorate(type, this.store.write(type, old, 'MODIFIED'));
      }
    }
    return this.decorate(type, this.removeNow(type, old));
  }

  private removeNow(type: ResourceType, object: KObject): KObject {
    const removed = this.store.remove(type, object);
    if (type.kind === 'CustomResourceDefinition') this.uninstallCrd(removed);
    if (type.kind === 'Namespace' && type.group === '') this.emptyNamespace(removed.metadata.name ?? '');
    setImmediate(() => this.collectGarbage(removed.metadata.uid ?? ''));
    return removed;
  }

  private uninstallCrd(crd: KObject): void {
    for (const type of typesFromCrd(crd)) {
      for (const object of this.store.list(type)) this.store.remove(type, object);
      this.registry.removeGroupResource(type.group, type.plural);
    }
  }

  private emptyNamespace(namespace: string): void {
    for (const type of this.registry.all()) {
      if (!type.namespaced) continue;
      for (const object of this.store.list(type, namespace)) this.store.remove(type, object);
    }
  }

  private orphanDependents(owner: KObject): void {
    for (const type of this.registry.all()) {
      for (const object of this.store.list(type)) {
        const refs = object.metadata.ownerReferences ?? [];
        if (!refs.some((ref) => ref.uid === owner.metadata.uid)) continue;
        object.metadata.ownerReferences = refs.filter((ref) => ref.uid !== owner.metadata.uid);
        this.store.write(type, object, 'MODIFIED');
      }
    }
  }

  private dependentsOf(uid: string): { type: ResourceType; object: KObject }[] {
    const out: { type: ResourceType; object: KObject }[] = [];
    for (const type of this.registry.all()) {
      for (const object of this.store.list(type)) {
        if ((object.metadata.ownerReferences ?? []).some((ref) => ref.uid === uid)) out.push({ type, object });
      }
    }
    return out;
  }

  /** Foreground deletion: the owner waits, with the foregroundDeletion finalizer, until its dependents are gone. */
  private deleteForeground(type: ResourceType, owner: KObject): KObject {
    const finalizers = owner.metadata.finalizers ?? [];
    if (!finalizers.includes('foregroundDeletion')) owner.metadata.finalizers = [...finalizers, 'foregroundDeletion'];
    owner.metadata.deletionTimestamp ??= now();
    const written = this.store.write(type, owner, 'MODIFIED');
    for (const dependent of this.dependentsOf(owner.metadata.uid ?? '')) {
      try {
        this.delete(dependent.type, dependent.object.metadata.namespace, dependent.object.metadata.name ?? '', { propagationPolicy: 'Foreground' });
      } catch (error) {
        if (!(error instanceof ApiError && error.code === 404)) throw error;
      }
    }
    setImmediate(() => this.finishForeground());
    return this.decorate(type, written);
  }

  /** Releases owners waiting in foreground deletion whose dependents have all gone. */
  private finishForeground(): void {
    for (const type of this.registry.all()) {
      for (const object of this.store.list(type)) {
        const finalizers = object.metadata.finalizers ?? [];
        if (object.metadata.deletionTimestamp === undefined || !finalizers.includes('foregroundDeletion')) continue;
        if (this.dependentsOf(object.metadata.uid ?? '').length > 0) continue;
        object.metadata.finalizers = finalizers.filter((finalizer) => finalizer !== 'foregroundDeletion');
        if (object.metadata.finalizers.length === 0 && !this.awaitingKubelet(type, object)) this.removeNow(type, object);
        else this.store.write(type, object, 'MODIFIED');
      }
    }
  }

  /** The garbage collector: a dependent whose every owner is gone is deleted (background). */
  collectGarbage(ownerUid: string): void {
    this.finishForeground();
    const uids = new Set<string>();
    for (const type of this.registry.all()) for (const object of this.store.list(type)) uids.add(object.metadata.uid ?? '');
    for (const type of this.registry.all()) {
      for (const object of this.store.list(type)) {
        const refs = object.metadata.ownerReferences ?? [];
        if (refs.length === 0 || !refs.some((ref) => ref.uid === ownerUid)) continue;
        if (refs.some((ref) => uids.has(ref.uid))) continue;
        try {
          this.delete(type, object.metadata.namespace, object.metadata.name ?? '', { propagationPolicy: 'Background' });
        } catch (error) {
          if (!(error instanceof ApiError && error.code === 404)) throw error;
        }
      }
    }
  }
}
