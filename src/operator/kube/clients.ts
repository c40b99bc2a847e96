// The typed Kubernetes API clients the operator uses, made once from a KubeConfig,
// and the two error questions every controller asks (not found? conflict?).
// client-node 1.x rejects with ApiException carrying a numeric `code`.

import * as k8s from '@kubernetes/client-node';

export interface KubeClients {
  readonly config: k8s.KubeConfig;
  readonly core: k8s.CoreV1Api;
  readonly apps: k8s.AppsV1Api;
  readonly policy: k8s.PolicyV1Api;
  readonly coordination: k8s.CoordinationV1Api;
  readonly custom: k8s.CustomObjectsApi;
}

export function makeClients(config: k8s.KubeConfig): KubeClients {
  return {
    config,
    core: config.makeApiClient(k8s.CoreV1Api),
    apps: config.makeApiClient(k8s.AppsV1Api),
    policy: config.makeApiClient(k8s.PolicyV1Api),
    coordination: config.makeApiClient(k8s.CoordinationV1Api),
    custom: config.makeApiClient(k8s.CustomObjectsApi),
  };
}

export function statusCode(error: unknown): number | undefined {
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown; statusCode?: unknown }).code ?? (error as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' ? code : undefined;
}

export function isNotFound(error: unknown): boolean {
  return statusCode(error) === 404;
}

export function isConflict(error: unknown): boolean {
  return statusCode(error) === 409;
}

/** A short human message from an ApiException (its body is a JSON Status string) or any error. */
export function errorMessage(error: unknown): string {
  if (error instanceof k8s.ApiException) {
    try {
      const status = JSON.parse(String(error.body)) as { message?: string };
      if (typeof status.message === 'string') return status.message;
    } catch {
      // not a Status body: fall through to the exception's own message
    }
  }
  return error instanceof Error ? error.message : String(error);
}

/** Merge-patch request options (client-node's default patch type is JSON patch). */
export const MERGE_PATCH = k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy.MergePatch);
