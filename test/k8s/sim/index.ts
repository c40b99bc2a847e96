// Starts the Kubernetes API simulator: store, API semantics and HTTP server, and writes
// a kubeconfig the real kubectl and @kubernetes/client-node accept (plain http with
// insecure-skip-tls-verify, a dummy token).

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Api } from './api.js';
import { SimServer } from './server.js';
import { DEFAULT_HISTORY_EVENTS, Store } from './store.js';

export interface ApiServerOptions {
  port?: number;
  /** Changes kept for watch resume; small values make 410 Gone easy to provoke. */
  historyEvents?: number;
  watchTimeoutMs?: number;
  /** Allocates Service cluster IPs (the kube-proxy seam supplies loopback addresses). */
  allocateClusterIp?: () => string;
  log?: (line: string) => void;
  /** Container output of a pod, for `kubectl logs`. */
  podLogs?: (namespace: string, name: string) => string | undefined;
  /** Directory for the kubeconfig; a fresh temp dir when absent. */
  dir?: string;
}

export interface ApiServer {
  url: string;
  api: Api;
  store: Store;
  kubeconfigPath: string;
  dir: string;
  /** Simulates an API server outage: refuse connections and cut watches until resume(). */
  suspend(): Promise<void>;
  resume(): Promise<void>;
  close(): Promise<void>;
}

export function kubeconfigYaml(url: string, namespace = 'default'): string {
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: flo-sim',
    `  cluster: {server: "${url}", insecure-skip-tls-verify: true}`,
    'users:',
    '- name: flo-sim',
    '  user: {token: flo-sim}',
    'contexts:',
    '- name: flo-sim',
    `  context: {cluster: flo-sim, user: flo-sim, namespace: ${namespace}}`,
    'current-context: flo-sim',
    '',
  ].join('\n');
}

export async function startApiServer(options: ApiServerOptions = {}): Promise<ApiServer> {
  let nextIp = 0;
  const allocateClusterIp = options.allocateClusterIp ?? ((): string => {
    nextIp += 1;
    return `10.96.${Math.floor(nextIp / 250)}.${(nextIp % 250) + 1}`;
  });
  const store = new Store(options.historyEvents ?? DEFAULT_HISTORY_EVENTS);
  const api = new Api(store, { allocateClusterIp });
  const server = new SimServer(api, {
    ...(options.port === undefined ? {} : { port: options.port }),
    ...(options.watchTimeoutMs === undefined ? {} : { watchTimeoutMs: options.watchTimeoutMs }),
    ...(options.log === undefined ? {} : { log: options.log }),
    ...(options.podLogs === undefined ? {} : { podLogs: options.podLogs }),
  });
  const url = await server.listen();
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? await mkdtemp(join(tmpdir(), 'flo-k8s-'));
  const kubeconfigPath = join(dir, 'kubeconfig');
  await writeFile(kubeconfigPath, kubeconfigYaml(url));
  return {
    url, api, store, kubeconfigPath, dir,
    suspend: () => server.suspend(),
    resume: () => server.resume(),
    close: async () => {
      await server.close();
      if (ownDir) await rm(dir, { recursive: true, force: true });
    },
  };
}
