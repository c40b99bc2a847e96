// Informers on FloClusters and on the kinds the operator owns, each mapped to the key
// of the FloCluster it belongs to. client-node's informer stops for good after a
// connection error, so each one is restarted from its error handler with a capped
// exponential backoff; a successful (re)list resets the backoff.

import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY } from '../builders/names.js';
import { FLO_GROUP, FLO_PLURAL, FLO_VERSION } from '../crd/types.js';
import type { OperatorMetrics } from '../metrics.js';
import type { KubeClients } from './clients.js';

/** First and longest delay before an informer that failed is restarted. */
export const INFORMER_RESTART_BASE_MS = 200;
export const INFORMER_RESTART_MAX_MS = 30_000;

interface Listed { items: k8s.KubernetesObject[]; metadata?: k8s.V1ListMeta }

interface WatchedKind {
  kind: string;
  path: string;
  labelSelector?: string;
  list(): Promise<Listed>;
  keyOf(object: k8s.KubernetesObject): string | undefined;
}

function ownedKey(object: k8s.KubernetesObject): string | undefined {
  const instance = object.metadata?.labels?.[LABEL_INSTANCE];
  return instance === undefined ? undefined : `${object.metadata?.namespace ?? ''}/${instance}`;
}

export function watchedKinds(clients: KubeClients, namespace: string | undefined): WatchedKind[] {
  const ns = namespace === undefined ? '' : `/namespaces/${namespace}`;
  const owned = `${LABEL_MANAGED_BY}=${MANAGED_BY}`;
  const pods = 'app.kubernetes.io/name=flo,app.kubernetes.io/component=broker';
  const scoped = <T>(all: () => Promise<T>, one: (namespace: string) => Promise<T>): (() => Promise<T>) =>
    namespace === undefined ? all : () => one(namespace);
  return [
    {
      kind: 'FloCluster', path: `/apis/${FLO_GROUP}/${FLO_VERSION}${ns}/${FLO_PLURAL}`,
      list: scoped(
        () => clients.custom.listClusterCustomObject({ group: FLO_GROUP, version: FLO_VERSION, plural: FLO_PLURAL }) as Promise<Listed>,
        (n) => clients.custom.listNamespacedCustomObject({ group: FLO_GROUP, version: FLO_VERSION, namespace: n, plural: FLO_PLURAL }) as Promise<Listed>),
      keyOf: (object) => `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`,
    },
    {
      kind: 'StatefulSet', path: `/apis/apps/v1${ns}/statefulsets`, labelSelector: owned, keyOf: ownedKey,
      list: scoped(() => clients.apps.listStatefulSetForAllNamespaces({ labelSelector: owned }),
        (n) => clients.apps.listNamespacedStatefulSet({ namespace: n, labelSelector: owned })),
    },
    {
      kind: 'Service', path: `/api/v1${ns}/services`, labelSelector: owned, keyOf: ownedKey,
      list: scoped(() => clients.core.listServiceForAllNamespaces({ labelSelector: owned }),
        (n) => clients.core.listNamespacedService({ namespace: n, labelSelector: owned })),
    },
    {
      kind: 'ConfigMap', path: `/api/v1${ns}/configmaps`, labelSelector: owned, keyOf: ownedKey,
      list: scoped(() => clients.core.listConfigMapForAllNamespaces({ labelSelector: owned }),
        (n) => clients.core.listNamespacedConfigMap({ namespace: n, labelSelector: owned })),
    },
    {
      kind: 'PodDisruptionBudget', path: `/apis/policy/v1${ns}/poddisruptionbudgets`, labelSelector: owned, keyOf: ownedKey,
      list: scoped(() => clients.policy.listPodDisruptionBudgetForAllNamespaces({ labelSelector: owned }),
        (n) => clients.policy.listNamespacedPodDisruptionBudget({ namespace: n, labelSelector: owned })),
    },
    {
      kind: 'Pod', path: `/api/v1${ns}/pods`, labelSelector: pods, keyOf: ownedKey,
      list: scoped(() => clients.core.listPodForAllNamespaces({ labelSelector: pods }),
        (n) => clients.core.listNamespacedPod({ namespace: n, labelSelector: pods })),
    },
  ];
}

export class InformerSet {
  private readonly informers: k8s.Informer<k8s.KubernetesObject>[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private stopped = false;

  constructor(private readonly config: k8s.KubeConfig, private readonly kinds: WatchedKind[],
    private readonly onKey: (key: string, kind: string) => void, private readonly metrics: OperatorMetrics, private readonly log: Logger) {}

  async start(): Promise<void> {
    this.stopped = false;
    await Promise.all(this.kinds.map((kind) => this.startOne(kind)));
  }

  private async startOne(kind: WatchedKind): Promise<void> {
    const informer = k8s.makeInformer(this.config, kind.path, kind.list, kind.labelSelector);
    this.informers.push(informer);
    const enqueue = (object: k8s.KubernetesObject): void => {
      const key = kind.keyOf(object);
      if (key !== undefined) this.onKey(key, kind.kind);
    };
    informer.on('add', enqueue);
    informer.on('update', enqueue);
    informer.on('delete', enqueue);
    let failures = 0;
    let lastFailureMs = 0;
    const restart = (): void => {
      if (this.stopped) return;
      informer.start().catch((error: unknown) => this.log.warn({ err: error, kind: kind.kind }, 'informer restart failed'));
    };
    informer.on('error', (error: unknown) => {
      if (this.stopped) return;
      // A failure long after the previous one starts the backoff afresh.
      if (Date.now() - lastFailureMs > INFORMER_RESTART_MAX_MS * 2) failures = 0;
      lastFailureMs = Date.now();
      failures += 1;
      const delay = Math.min(INFORMER_RESTART_MAX_MS, INFORMER_RESTART_BASE_MS * 2 ** Math.min(failures, 20));
      this.metrics.inc('flo_operator_informer_restarts_total', { kind: kind.kind });
      this.log.warn({ err: error, kind: kind.kind, delayMs: delay }, 'informer failed; restarting');
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        restart();
      }, delay);
      this.timers.add(timer);
    });
    try {
      await informer.start();
    } catch (error) {
      // The error handler above has scheduled a restart; starting must not fail the operator.
      this.log.warn({ err: error, kind: kind.kind }, 'informer did not start; will retry');
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    await Promise.all(this.informers.map((informer) => informer.stop()));
    this.informers.length = 0;
  }
}
