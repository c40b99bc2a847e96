// The operator process: campaigns for the leader Lease, and while leading runs the
// informers, the work queue and the reconciler, with a periodic resync so nothing
// depends on having seen every event. Serves /metrics, /healthz and /readyz.
// stop() is graceful: the queue drains its in-flight reconcile, then the Lease is released.

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import * as k8s from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { DEFAULT_CLUSTER_DOMAIN } from './crd/types.js';
import { makeClients, type KubeClients } from './kube/clients.js';
import { EventRecorder } from './kube/events.js';
import { InformerSet, watchedKinds } from './kube/informers.js';
import { LeaderElector, type LeaderElectionOptions } from './kube/leader.js';
import { OperatorMetrics } from './metrics.js';
import { BrokerClient, type LookupFunction } from './reconcile/broker-client.js';
import { WorkQueue, type QueueOptions } from './reconcile/queue.js';
import { Reconciler } from './reconcile/reconciler.js';

/** How often every known FloCluster is reconciled even without events. */
export const DEFAULT_RESYNC_MS = 30_000;

export interface OperatorOptions {
  kubeConfig: k8s.KubeConfig;
  logger: Logger;
  /** Watch one namespace only; all namespaces when absent. */
  namespace?: string;
  /** Unique per replica (pod name in a cluster). */
  identity: string;
  /** Lease settings; leader election is off (always leading) when absent. */
  leaderElection?: Omit<LeaderElectionOptions, 'identity'>;
  resyncMs?: number;
  notReadyRequeueMs?: number;
  queue?: QueueOptions;
  /** DNS seam for broker addresses (see broker-client.ts). */
  brokerLookup?: LookupFunction;
  /** Port for /metrics, /healthz, /readyz; none when absent. 0 picks a free port. */
  metricsPort?: number;
  metricsHost?: string;
  /** DNS domain of the cluster (default cluster.local), for per-pod broker addresses. */
  clusterDomain?: string;
  /** Image of brokers whose FloCluster names none; without it such a FloCluster is refused. */
  brokerImage?: string;
  /** Bearer token for brokers with spec.auth (an admin token among theirs); read on every call. */
  brokerToken?: () => string | undefined;
  /** Called when leadership is lost after having been held (the CLI exits so the pod restarts). */
  onLostLeadership?: () => void;
}

export class Operator {
  readonly metrics = new OperatorMetrics();
  private readonly clients: KubeClients;
  private readonly log: Logger;
  private queue: WorkQueue | undefined;
  private informers: InformerSet | undefined;
  private running: Promise<void> | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private elector: LeaderElector | undefined;
  private server: Server | undefined;
  private readonly known = new Set<string>();
  private leading = false;

  constructor(private readonly options: OperatorOptions) {
    this.clients = makeClients(options.kubeConfig);
    this.log = options.logger.child({ component: 'operator', identity: options.identity });
  }

  get isLeader(): boolean {
    return this.leading;
  }

  /** Address of the metrics server, when one was asked for. */
  metricsAddress(): string | undefined {
    const address = this.server?.address() as AddressInfo | null | undefined;
    return address ? `http://${address.address}:${address.port}` : undefined;
  }

  async start(): Promise<void> {
    if (this.options.metricsPort !== undefined) await this.serveMetrics(this.options.metricsPort);
    const election = this.options.leaderElection;
    if (election === undefined) {
      await this.startLeading();
      return;
    }
    this.elector = new LeaderElector(this.clients.coordination, { ...election, identity: this.options.identity }, {
      onStartedLeading: () => { void this.startLeading(); },
      onStoppedLeading: () => {
        void this.stopLeading().then(() => this.options.onLostLeadership?.());
      },
    }, this.log);
    this.elector.start();
  }

  private async startLeading(): Promise<void> {
    if (this.leading) return;
    this.leading = true;
    this.metrics.set('flo_operator_leader', 1);
    const queue = new WorkQueue({ concurrency: 2, ...this.options.queue });
    this.queue = queue;
    const reconciler = new Reconciler({
      clients: this.clients,
      brokers: new BrokerClient(this.options.brokerLookup, undefined, this.options.brokerToken),
      events: new EventRecorder(this.clients.core, this.options.identity, this.log, this.metrics),
      metrics: this.metrics,
      log: this.log,
      settings: {
        clusterDomain: this.options.clusterDomain ?? DEFAULT_CLUSTER_DOMAIN,
        ...(this.options.brokerImage === undefined ? {} : { brokerImage: this.options.brokerImage }),
      },
      ...(this.options.notReadyRequeueMs === undefined ? {} : { notReadyRequeueMs: this.options.notReadyRequeueMs }),
    });
    this.running = queue.run((key) => this.process(queue, reconciler, key));
    this.informers = new InformerSet(this.options.kubeConfig, watchedKinds(this.clients, this.options.namespace),
      (key) => { this.known.add(key); queue.add(key); this.metrics.set('flo_operator_queue_depth', queue.depth); }, this.metrics, this.log);
    await this.informers.start();
    const resync = (): void => {
      for (const key of this.known) queue.add(key);
      this.resyncTimer = setTimeout(resync, this.options.resyncMs ?? DEFAULT_RESYNC_MS);
    };
    this.resyncTimer = setTimeout(resync, this.options.resyncMs ?? DEFAULT_RESYNC_MS);
    this.log.info({ namespace: this.options.namespace ?? '(all)' }, 'operator started');
  }

  private async process(queue: WorkQueue, reconciler: Reconciler, key: string): Promise<void> {
    const started = performance.now();
    try {
      const outcome = await reconciler.reconcile(key);
      queue.forget(key);
      if (outcome.gone === true) this.known.delete(key);
      this.metrics.inc('flo_operator_reconcile_total', { result: 'success' });
      if (outcome.requeueAfterMs !== undefined) queue.addAfter(key, outcome.requeueAfterMs);
    } catch (error) {
      const delayMs = queue.addRateLimited(key);
      this.metrics.inc('flo_operator_reconcile_total', { result: 'error' });
      this.log.warn({ err: error, cluster: key, retryInMs: delayMs }, 'reconcile failed');
    } finally {
      this.metrics.observeReconcileSeconds((performance.now() - started) / 1000);
      this.metrics.set('flo_operator_queue_depth', queue.depth);
      this.metrics.set('flo_operator_managed_clusters', this.known.size);
    }
  }

  private async stopLeading(): Promise<void> {
    if (!this.leading) return;
    this.leading = false;
    this.metrics.set('flo_operator_leader', 0);
    if (this.resyncTimer !== undefined) clearTimeout(this.resyncTimer);
    await this.informers?.stop();
    this.queue?.shutdown();
    await this.running;
  }

  private async serveMetrics(port: number): Promise<void> {
    const server = createServer((req, res) => {
      if (req.url === '/metrics') {
        this.metrics.render().then((text) => {
          res.writeHead(200, { 'content-type': this.metrics.contentType });
          res.end(text);
        }, (error: unknown) => {
          res.writeHead(500);
          res.end(String(error));
        });
        return;
      }
      const healthy = req.url === '/healthz' || (req.url === '/readyz' && (this.leading || this.options.leaderElection !== undefined));
      res.writeHead(healthy ? 200 : 404, { 'content-type': 'text/plain' });
      res.end(healthy ? 'ok' : 'not found');
    });
    this.server = server;
    await new Promise<void>((resolve) => server.listen(port, this.options.metricsHost ?? '127.0.0.1', resolve));
  }

  async stop(): Promise<void> {
    await this.stopLeading();
    await this.elector?.stop();
    const server = this.server;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    this.log.info('operator stopped');
  }
}
