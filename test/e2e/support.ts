// Shared pieces of the end-to-end tests: a simulated cluster with the operator running
// in-process against it (through the real HTTP API and client-node), and an HTTP client
// that resolves cluster DNS names through the simulator's DNS seam.

import { request } from 'node:http';
import { existsSync } from 'node:fs';
import * as k8s from '@kubernetes/client-node';
import { pino } from 'pino';
import { Operator, type OperatorOptions } from '../../src/operator/operator.js';
import { BROKER_MAIN, startSimCluster, type SimCluster, type SimClusterOptions } from '../k8s/cluster.js';
import type { Lookup } from '../k8s/node/network.js';
import { kubectlOk } from '../k8s/helpers.js';

export const CRD_PATH = new URL('../../crds/flo.dev_floclusters.yaml', import.meta.url).pathname;

export function brokerBuilt(): boolean {
  return existsSync(BROKER_MAIN);
}

export interface Harness {
  cluster: SimCluster;
  operator: Operator;
  kubeConfig: k8s.KubeConfig;
  close(): Promise<void>;
}

export function kubeConfigFor(path: string): k8s.KubeConfig {
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(path);
  return kubeConfig;
}

/** The image the tests' operator gives brokers whose FloCluster names none (the simulated node runs it as `flo`). */
export const TEST_BROKER_IMAGE = 'flo.local/flo:dev';

export async function startHarness(overrides: Partial<OperatorOptions> = {}, clusterOptions: SimClusterOptions = {}): Promise<Harness> {
  const cluster = await startSimCluster(clusterOptions);
  const kubeConfig = kubeConfigFor(cluster.kubeconfigPath);
  const operator = new Operator({
    kubeConfig, logger: pino({ level: process.env['FLO_TEST_LOG'] ?? 'silent' }), identity: 'test-operator', brokerImage: TEST_BROKER_IMAGE,
    ...(clusterOptions.clusterDomain === undefined ? {} : { clusterDomain: clusterOptions.clusterDomain }),
    resyncMs: 2000, notReadyRequeueMs: 300, brokerLookup: cluster.lookup, queue: { baseBackoffMs: 100, maxBackoffMs: 2000 },
    ...overrides,
  });
  return {
    cluster, operator, kubeConfig,
    close: async () => {
      await operator.stop();
      await cluster.close();
    },
  };
}

export interface HttpReply {
  status: number;
  body: unknown;
}

/** One HTTP call to a cluster DNS name, resolved through the simulator (as from a pod). */
export function clusterHttp(lookup: Lookup, url: string, method = 'GET', body?: unknown): Promise<HttpReply> {
  const target = new URL(url);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request({
      host: target.hostname, port: Number(target.port), path: `${target.pathname}${target.search}`, method, lookup: lookup as never, timeout: 5000,
      headers: payload === undefined ? {} : { 'content-type': 'application/json' },
    }, (res) => {
      let text = '';
      res.on('data', (chunk: Buffer) => { text += chunk.toString(); });
      res.on('end', () => {
        let parsed: unknown = text;
        try { parsed = JSON.parse(text); } catch { /* not JSON */ }
        resolve({ status: res.statusCode ?? 0, body: parsed });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`timeout calling ${url}`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export interface FloCondition { type: string; status: string; reason: string; message: string }
export interface FloBrokerStatus { pod: string; ordinal?: number; id?: number; state?: string; partitions?: number; leaders?: number; ready: boolean }
/** The parts of a FloCluster's status the end-to-end tests read. */
export interface FloStatus {
  phase?: string; readyReplicas?: number; replicas?: number; founders?: number; replicationFactor?: number; controllerLeader?: number;
  partitions?: { total: number; leaderless: number; underReplicated: number };
  operation?: { type: string; member?: number; message: string };
  conditions?: FloCondition[]; brokers?: FloBrokerStatus[];
}

/** `kubectl get flo <name>`'s status ({} before the operator wrote one). */
export async function readFloStatus(kubeconfig: string, name: string): Promise<FloStatus> {
  return JSON.parse(await kubectlOk(kubeconfig, ['get', 'flo', name, '-o', 'jsonpath={.status}']) || '{}') as FloStatus;
}

export function conditionOf(status: FloStatus, type: string): FloCondition | undefined {
  return status.conditions?.find((c) => c.type === type);
}

/** Ready with `replicas` brokers, every one active, Healthy, and no operation under way. */
export function settledAt(status: FloStatus, replicas: number): boolean {
  return status.phase === 'Ready' && status.readyReplicas === replicas && status.brokers?.length === replicas
    && status.brokers.every((broker) => broker.state === 'active') && conditionOf(status, 'Healthy')?.status === 'True' && status.operation === undefined;
}
