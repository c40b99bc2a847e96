// Admission the simulator runs on writes by users other than the administrator, as the
// API server's OwnerReferencesPermissionEnforcement plugin does (on in OpenShift): a user
// who changes an object's ownerReferences must be allowed to delete the object, and one
// who sets blockOwnerDeletion: true on a reference must be allowed to update the owner's
// `finalizers` subresource — so an operator whose RBAC lacks `<owner>/finalizers` is
// refused here as it would be there.

import { denial, type Authorizer } from './rbac.js';
import type { Registry } from './registry.js';
import { ApiError, jsonEqual, qualifiedName, type KObject, type OwnerRef, type ResourceType } from './types.js';

function forbidden(type: ResourceType, name: string, reason: string): ApiError {
  return new ApiError(403, 'Forbidden', `${qualifiedName(type)} "${name}" is forbidden: ${reason}`, { name, group: type.group, kind: type.plural });
}

function blocking(refs: readonly OwnerRef[] | undefined): OwnerRef[] {
  return (refs ?? []).filter((ref) => ref.blockOwnerDeletion === true);
}

export function enforceOwnerReferencePermissions(authorizer: Authorizer, registry: Registry, user: string,
  type: ResourceType, old: KObject | undefined, object: KObject): void {
  const refs = object.metadata.ownerReferences ?? [];
  if (jsonEqual(refs, old?.metadata.ownerReferences ?? [])) return;
  const name = object.metadata.name ?? '';
  const namespace = object.metadata.namespace;
  const scope = namespace === undefined ? {} : { namespace };
  const deletion = { verb: 'delete', group: type.group, resource: type.plural, name, ...scope };
  if (!authorizer.allowed(user, deletion)) {
    throw forbidden(type, name, `cannot set an ownerRef on a resource you can't delete: ${denial(user, deletion)}`);
  }
  const before = blocking(old?.metadata.ownerReferences);
  for (const ref of blocking(refs)) {
    if (before.some((previous) => previous.uid === ref.uid)) continue;
    const owner = registry.byKind(ref.apiVersion, ref.kind);
    const [group] = ref.apiVersion.includes('/') ? ref.apiVersion.split('/') : [''];
    const finalizers = { verb: 'update', group: group ?? '', resource: owner?.plural ?? `${ref.kind.toLowerCase()}s`, subresource: 'finalizers', name: ref.name, ...scope };
    if (!authorizer.allowed(user, finalizers)) {
      throw forbidden(type, name, `cannot set blockOwnerDeletion if an ownerReference refers to a resource you can't set finalizers on: ${denial(user, finalizers)}, ${JSON.stringify(ref)}`);
    }
  }
}
