// Desired ConfigMap: settings a broker may take at start but that must not restart
// pods when they change. Retention lives here: pods read it at start through an env
// reference, and the operator pushes changes to running brokers through the admin API.

import type { V1ConfigMap } from '@kubernetes/client-node';
import { withDefaults, type FloCluster, type RetentionRule } from '../crd/types.js';
import { commonLabels, ownedNames, ownerReference } from './names.js';

export const RETENTION_KEY = 'retention.json';

/** Retention rules as the broker's admin API and FLO_RETENTION take them (canonical JSON). */
export function retentionJson(rules: readonly RetentionRule[]): string {
  return JSON.stringify(rules.map((rule) => ({
    namespace: rule.namespace,
    ...(rule.maxAge === undefined ? {} : { maxAge: rule.maxAge }),
    ...(rule.maxEvents === undefined ? {} : { maxEvents: rule.maxEvents }),
    ...(rule.maxBytes === undefined ? {} : { maxBytes: rule.maxBytes }),
  })));
}

export function buildConfigMap(cluster: FloCluster): V1ConfigMap {
  const spec = withDefaults(cluster.spec);
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: {
      name: ownedNames(cluster.metadata.name).configMap,
      namespace: cluster.metadata.namespace,
      labels: commonLabels(cluster, 'config'),
      ownerReferences: [ownerReference(cluster)],
    },
    data: { [RETENTION_KEY]: retentionJson(spec.retention) },
  };
}
