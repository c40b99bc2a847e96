// A whole simulated cluster: the API server plus the control-plane and node pieces a
// FloCluster needs — StatefulSet and Deployment controllers, pod runner (real broker processes), kube-proxy
// and cluster DNS on loopback. Controllers react to store changes (coalesced to one pass
// per tick) and to a slow periodic tick, as level-triggered controllers do.

import { renameSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeploymentController } from './node/deployment-controller.js';
import { KubeProxy } from './node/kube-proxy.js';
import { Kubelet } from './node/kubelet.js';
import { ClusterDns, newPools, type HostsSnapshot, type Lookup } from './node/network.js';
import { PvcProtectionController } from './node/pvc-protection-controller.js';
import { StatefulSetController } from './node/statefulset-controller.js';
import { startApiServer, type ApiServer } from './sim/index.js';

/** The broker entry point the simulated node runs for Flo images (built by `npm run build`). */
export const BROKER_MAIN = fileURLToPath(new URL('../../dist/cli/main.js', import.meta.url));
/** Safety-net controller pass interval (changes normally trigger a pass at once). */
export const CONTROLLER_TICK_MS = 500;

export interface SimClusterOptions {
  /** Run pods as processes (default true). Without it pods stay Pending, as on a cluster with no nodes. */
  runPods?: boolean;
  /** Speeds up probes, grace periods and restart backoff (default 0.1). */
  timeScale?: number;
  /** Maps an image to a command line; default: images named flo run `node dist/cli/main.js`. */
  entrypoint?: (image: string) => string[] | undefined;
  historyEvents?: number;
  watchTimeoutMs?: number;
  log?: (line: string) => void;
  port?: number;
  /** DNS domain the cluster DNS answers for (default cluster.local), like kubelet's --cluster-domain. */
  clusterDomain?: string;
}

export interface SimCluster {
  apiServer: ApiServer;
  kubeconfigPath: string;
  /** JSON `{hosts: {name: ip}, all: {name: [ip, …]}}` kept current: the DNS seam for processes outside this one. */
  hostsFilePath: string;
  dir: string;
  dns: ClusterDns;
  lookup: Lookup;
  kubelet: Kubelet | undefined;
  close(): Promise<void>;
}

/**
 * Replaces the hosts file in one step (write a temporary file, then rename), so a process
 * that reads it while it changes sees the old or the new table, never half of one.
 */
export function writeHostsFile(path: string, snapshot: HostsSnapshot): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeFileSync(temporary, JSON.stringify(snapshot));
  renameSync(temporary, path);
}

export function floEntrypoint(image: string): string[] | undefined {
  return /(^|\/)flo([:@]|$)/.test(image) ? [process.execPath, BROKER_MAIN] : undefined;
}

export async function startSimCluster(options: SimClusterOptions = {}): Promise<SimCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'flo-sim-cluster-'));
  const pools = newPools();
  // The API server is built before the pod runner that serves its pods' logs.
  const node: { kubelet?: Kubelet } = {};
  const apiServer = await startApiServer({
    dir, allocateClusterIp: () => pools.services.allocate(), podLogs: (namespace, name) => node.kubelet?.logOf(namespace, name),
    ...(options.historyEvents === undefined ? {} : { historyEvents: options.historyEvents }),
    ...(options.watchTimeoutMs === undefined ? {} : { watchTimeoutMs: options.watchTimeoutMs }),
    ...(options.log === undefined ? {} : { log: options.log }),
    ...(options.port === undefined ? {} : { port: options.port }),
  });
  const api = apiServer.api;
  const dns = new ClusterDns(api, options.clusterDomain);
  const controller = new StatefulSetController(api);
  const deployments = new DeploymentController(api);
  const pvcProtection = new PvcProtectionController(api);
  const proxy = new KubeProxy(api);
  const hostsFilePath = join(dir, 'hosts.json');
  const kubelet = options.runPods === false ? undefined : new Kubelet({
    api, root: join(dir, 'node'), podIps: pools.pods, entrypoint: options.entrypoint ?? floEntrypoint, timeScale: options.timeScale ?? 0.1, hostsFile: hostsFilePath, apiUrl: apiServer.url,
    ...(options.clusterDomain === undefined ? {} : { clusterDomain: options.clusterDomain }),
  });
  node.kubelet = kubelet;
  let scheduled = false;
  let closed = false;
  const pass = (): void => {
    scheduled = false;
    if (closed) return;
    try {
      controller.syncAll();
      deployments.syncAll();
      kubelet?.sync();
      pvcProtection.syncAll();
      proxy.sync();
      writeHostsFile(hostsFilePath, dns.hostsSnapshot());
    } catch (error) {
      options.log?.(`controller pass failed: ${(error as Error).stack ?? String(error)}`);
    }
  };
  const schedule = (): void => {
    if (scheduled || closed) return;
    scheduled = true;
    setImmediate(pass);
  };
  const unsubscribe = ['apps/statefulsets', 'apps/deployments', 'apps/replicasets', '/pods', '/persistentvolumeclaims', '/services', '/configmaps'].map((typeKey) =>
    api.store.addWatcher({
      typeKey,
      deliver: (event) => {
        if (typeKey === '/persistentvolumeclaims' && event.type === 'DELETED') kubelet?.releaseClaim(event.object.metadata.uid ?? '');
        schedule();
      },
    }));
  const ticker = setInterval(schedule, CONTROLLER_TICK_MS);
  pass();
  return {
    apiServer, kubeconfigPath: apiServer.kubeconfigPath, hostsFilePath, dir, dns, lookup: dns.lookup, kubelet,
    close: async () => {
      closed = true;
      clearInterval(ticker);
      for (const stop of unsubscribe) stop();
      await kubelet?.close();
      await proxy.close();
      await apiServer.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
