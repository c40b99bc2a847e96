// The pod runner (a simulated kubelet on one node). For every pod it binds it to the
// node, gives it a loopback IP, resolves its env (values, ConfigMap/Secret keys, the
// downward API) and volumes (a directory per PVC, kept while the claim exists; emptyDirs
// per pod), and starts the container as a real process. Seams, documented in
// docs/kubernetes.md: an image maps to a local command line; a container path under a
// volume mount is rewritten to the volume's directory; a listen address of 0.0.0.0 becomes
// the pod IP. Readiness/liveness probes run against the process; an exited or unhealthy
// container restarts with backoff and a higher restartCount; a deleted pod gets SIGTERM,
// its grace period, then SIGKILL, and is removed. Only the first container of a pod runs.

import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, createWriteStream, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Api } from '../sim/api.js';
import { isObject, type JsonObject, type KObject } from '../sim/types.js';
import { selects, type AddressPool } from './network.js';
import { httpProbe, resolveEnv, rewritePaths, type Probe } from './container.js';

export interface KubeletOptions {
  api: Api;
  /** Directory for volumes and container logs. */
  root: string;
  podIps: AddressPool;
  /** The command line that runs `image`, or undefined when the image is unknown (ErrImagePull). */
  entrypoint(image: string): string[] | undefined;
  /** Multiplies every probe period, grace period and restart backoff (0.1 = ten times faster). */
  timeScale?: number;
  /** The simulator's hosts file; Node.js pod processes resolve cluster names through it (dns-preload.mjs). */
  hostsFile?: string;
  /** API server URL for service-account kubeconfigs. */
  apiUrl?: string;
  /** The cluster's DNS domain (default cluster.local), for the names a pod is reached by. */
  clusterDomain?: string;
}

export const DNS_PRELOAD = fileURLToPath(new URL('./dns-preload.mjs', import.meta.url));

const NODE_NAME = 'sim-node-1';

interface Runtime {
  uid: string;
  namespace: string;
  name: string;
  ip: string;
  child?: ChildProcess;
  ready: boolean;
  restarts: number;
  state: JsonObject;
  lastState?: JsonObject;
  probeTimer?: NodeJS.Timeout;
  restartTimer?: NodeJS.Timeout;
  startedAtMs: number;
  livenessFailures: number;
  lastLivenessMs: number;
  /** The startup probe has passed (or there is none): readiness and liveness probes run. */
  started: boolean;
  readinessFailures: number;
  terminating: boolean;
  stopped: boolean;
  /** Set when a container that is not restarted has exited. */
  finishedPhase?: 'Succeeded' | 'Failed';
  volumes: Map<string, string>;
}

export class Kubelet {
  private readonly runtimes = new Map<string, Runtime>();
  private readonly scale: number;

  constructor(private readonly options: KubeletOptions) {
    this.scale = options.timeScale ?? 1;
  }

  private get pods(): ReturnType<Api['type']> {
    return this.options.api.type('', 'v1', 'pods');
  }

  /** The process of a running pod (tests kill it to see the pod restart). */
  processOf(namespace: string, name: string): ChildProcess | undefined {
    return [...this.runtimes.values()].find((runtime) => runtime.namespace === namespace && runtime.name === name)?.child;
  }

  sync(): void {
    const api = this.options.api;
    const pods = api.list(this.pods, undefined);
    const seen = new Set<string>();
    for (const pod of pods) {
      const uid = pod.metadata.uid ?? '';
      seen.add(uid);
      const runtime = this.runtimes.get(uid);
      if (runtime === undefined && pod.metadata.deletionTimestamp === undefined && !(isObject(pod.spec) && pod.spec['nodeName'])) {
        this.admit(pod);
      } else if (runtime !== undefined && pod.metadata.deletionTimestamp !== undefined && !runtime.terminating) {
        void this.terminate(runtime, Number(pod.metadata.deletionGracePeriodSeconds ?? 30));
      }
    }
    for (const [uid, runtime] of this.runtimes) {
      if (!seen.has(uid)) {
        runtime.child?.kill('SIGKILL');
        this.forget(runtime);
      }
    }
  }

  private admit(pod: KObject): void {
    const runtime: Runtime = {
      uid: pod.metadata.uid ?? '', namespace: pod.metadata.namespace ?? '', name: pod.metadata.name ?? '',
      ip: this.options.podIps.allocate(), ready: false, restarts: 0, state: { waiting: { reason: 'ContainerCreating' } },
      startedAtMs: 0, livenessFailures: 0, lastLivenessMs: 0, started: false, readinessFailures: 0, terminating: false, stopped: false, volumes: new Map(),
    };
    this.runtimes.set(runtime.uid, runtime);
    const bound = structuredClone(pod);
    (bound.spec as JsonObject)['nodeName'] = NODE_NAME;
    this.options.api.update(this.pods, runtime.namespace, runtime.name, bound);
    this.startContainer(runtime);
  }

  private container(pod: KObject): JsonObject {
    return ((pod.spec as JsonObject)['containers'] as JsonObject[])[0]!;
  }

  private currentPod(runtime: Runtime): KObject | undefined {
    return this.options.api.store.get(this.pods, runtime.namespace, runtime.name);
  }

  private mountVolumes(runtime: Runtime, pod: KObject): boolean {
    const api = this.options.api;
    const pvcs = api.type('', 'v1', 'persistentvolumeclaims');
    for (const volume of ((pod.spec as JsonObject)['volumes'] as JsonObject[] | undefined) ?? []) {
      const name = String(volume['name']);
      let dir: string;
      if (isObject(volume['persistentVolumeClaim'])) {
        const claim = api.store.get(pvcs, runtime.namespace, String(volume['persistentVolumeClaim']['claimName']));
        if (claim === undefined) return false;
        dir = join(this.options.root, 'pvc', claim.metadata.uid ?? '');
      } else {
        dir = join(this.options.root, 'pods', runtime.uid, name);
      }
      mkdirSync(dir, { recursive: true });
      runtime.volumes.set(name, dir);
    }
    return true;
  }

  /** The DNS names cluster DNS gives this pod: its per-pod name and those of the Services selecting it. */
  private clusterNames(pod: KObject): string[] {
    const domain = this.options.clusterDomain ?? 'cluster.local';
    const namespace = pod.metadata.namespace ?? '';
    const spec = isObject(pod.spec) ? pod.spec : {};
    const names: string[] = [];
    if (typeof spec['subdomain'] === 'string') {
      const host = `${String(spec['hostname'] ?? pod.metadata.name)}.${spec['subdomain']}.${namespace}.svc`;
      names.push(host, `${host}.${domain}`);
    }
    for (const service of this.options.api.list(this.options.api.type('', 'v1', 'services'), namespace)) {
      if (!selects(service, pod)) continue;
      const name = `${service.metadata.name ?? ''}.${namespace}`;
      names.push(service.metadata.name ?? '', name, `${name}.svc`, `${name}.svc.${domain}`);
    }
    return names;
  }

  private startContainer(runtime: Runtime): void {
    const pod = this.currentPod(runtime);
    if (pod === undefined || runtime.terminating) return;
    const container = this.container(pod);
    const entry = this.options.entrypoint(String(container['image']));
    if (entry === undefined) return this.waiting(runtime, 'ErrImagePull', `image ${String(container['image'])} is not known to the simulated node`);
    if (!this.mountVolumes(runtime, pod)) return this.waiting(runtime, 'ContainerCreating', 'waiting for a PersistentVolumeClaim', true);
    let env: Record<string, string>;
    try {
      env = resolveEnv(this.options.api, pod, container, runtime.ip);
    } catch (error) {
      return this.waiting(runtime, 'CreateContainerConfigError', (error as Error).message, true);
    }
    const mounts = ((container['volumeMounts'] as JsonObject[] | undefined) ?? [])
      .map((mount) => ({ path: String(mount['mountPath']), dir: runtime.volumes.get(String(mount['name'])) ?? '' }));
    const command = container['command'] as string[] | undefined;
    const args = (container['args'] as string[] | undefined) ?? [];
    // The image's entrypoint runs when the pod names no command (or names `flo`); any other command
    // (a shell for a helm test, say) runs as given, with a `flo` shim on PATH.
    const usesEntry = command === undefined || command[0] === 'flo';
    const podArgv = command === undefined ? args : command[0] === 'flo' ? [...command.slice(1), ...args] : [...command, ...args];
    // A pod listening on 0.0.0.0 listens on its own IP; on the shared loopback that is the pod IP.
    // Only the pod's own arguments are mapped onto its volumes: the image's entrypoint lives on the host,
    // possibly under a path a volume also mounts (a checkout under /tmp with an emptyDir at /tmp).
    const finalArgs = [...(usesEntry ? entry : []), ...rewritePaths(podArgv.map((arg) => arg.replaceAll('0.0.0.0', runtime.ip)), mounts)];
    const finalEnv = Object.fromEntries(Object.entries(env).map(([key, value]) => [key, rewritePaths([value.replaceAll('0.0.0.0', runtime.ip)], mounts)[0]!]));
    const token = this.serviceAccountKubeconfig(pod);
    if (token !== undefined && finalEnv['KUBECONFIG'] === undefined) finalEnv['KUBECONFIG'] = token;
    mkdirSync(join(this.options.root, 'logs'), { recursive: true });
    const log = createWriteStream(join(this.options.root, 'logs', `${runtime.namespace}_${runtime.name}.log`), { flags: 'a' });
    const seams = {
      ...(this.options.hostsFile === undefined ? {} : { NODE_OPTIONS: `--import ${DNS_PRELOAD}`, FLO_SIM_HOSTS_FILE: this.options.hostsFile, FLO_SIM_CLUSTER_DOMAIN: this.options.clusterDomain ?? 'cluster.local' }),
      // A real pod listens on its pod-network address; this one listens on a loopback address, so a
      // broker applies its loopback DNS-rebinding guard: tell it the cluster names it is reached by.
      FLO_ALLOWED_HOSTS: this.clusterNames(pod).join(','),
    };
    const path = `${this.shimDir(entry)}:${process.env['PATH'] ?? ''}`;
    const child = spawn(finalArgs[0]!, finalArgs.slice(1), { env: { PATH: path, HOME: join(this.options.root, 'pods', runtime.uid), ...seams, ...finalEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout?.pipe(log, { end: false });
    child.stderr?.pipe(log, { end: false });
    child.on('exit', (code, signal) => this.onExit(runtime, child, code, signal));
    // 'close' comes after the output pipes are drained ('exit' may come before): only then end the log.
    child.on('close', () => log.end());
    runtime.child = child;
    runtime.startedAtMs = Date.now();
    runtime.ready = false;
    runtime.livenessFailures = 0;
    runtime.started = false;
    runtime.readinessFailures = 0;
    runtime.state = { running: { startedAt: new Date().toISOString() } };
    this.writeStatus(runtime);
    this.scheduleProbe(runtime, Math.min(250, this.periodMs(this.container(pod)['readinessProbe'])));
  }

  /**
   * The service account seam: instead of a token mounted at /var/run/secrets, a pod gets
   * KUBECONFIG pointing at a kubeconfig whose token names its service account, which the
   * simulator's RBAC authorizer checks.
   */
  private serviceAccountKubeconfig(pod: KObject): string | undefined {
    const spec = pod.spec as JsonObject;
    if (spec['automountServiceAccountToken'] === false || this.options.apiUrl === undefined) return undefined;
    const account = String(spec['serviceAccountName'] ?? 'default');
    const dir = join(this.options.root, 'serviceaccounts', pod.metadata.namespace ?? '', account);
    mkdirSync(dir, { recursive: true });
    const path = join(dir, 'kubeconfig');
    const token = `system:serviceaccount:${pod.metadata.namespace ?? ''}:${account}`;
    writeFileSync(path, [
      'apiVersion: v1', 'kind: Config',
      `clusters: [{name: sim, cluster: {server: "${this.options.apiUrl}", insecure-skip-tls-verify: true}}]`,
      `users: [{name: sa, user: {token: "${token}"}}]`,
      `contexts: [{name: sa, context: {cluster: sim, user: sa, namespace: ${pod.metadata.namespace ?? 'default'}}}]`,
      'current-context: sa', '',
    ].join('\n'));
    return path;
  }

  /** A directory with a `flo` executable that runs the image's entrypoint. */
  private shimDir(entry: string[]): string {
    const dir = join(this.options.root, 'bin');
    mkdirSync(dir, { recursive: true });
    const shim = join(dir, 'flo');
    writeFileSync(shim, `#!/bin/sh\nexec ${entry.map((part) => `'${part}'`).join(' ')} "$@"\n`);
    chmodSync(shim, 0o755);
    return dir;
  }

  private waiting(runtime: Runtime, reason: string, message: string, retry = false): void {
    runtime.state = { waiting: { reason, message } };
    this.writeStatus(runtime);
    if (retry) this.scheduleRestart(runtime, false);
  }

  private periodMs(probe: unknown): number {
    const seconds = isObject(probe) ? Number(probe['periodSeconds'] ?? 10) : 10;
    return Math.max(50, seconds * 1000 * this.scale);
  }

  private scheduleProbe(runtime: Runtime, delayMs: number): void {
    if (runtime.probeTimer !== undefined) clearTimeout(runtime.probeTimer);
    runtime.probeTimer = setTimeout(() => { void this.probe(runtime); }, delayMs);
  }

  private async probe(runtime: Runtime): Promise<void> {
    const pod = this.currentPod(runtime);
    const child = runtime.child;
    if (pod === undefined || child === undefined || runtime.terminating || child.exitCode !== null) return;
    const container = this.container(pod);
    const readiness = container['readinessProbe'] as Probe | undefined;
    const liveness = container['livenessProbe'] as Probe | undefined;
    if (!await this.startupPassed(runtime, child, container)) return;
    const ready = readiness === undefined ? true : await httpProbe(readiness, container, runtime.ip);
    runtime.readinessFailures = ready ? 0 : runtime.readinessFailures + 1;
    const readyNow = ready || (runtime.ready && runtime.readinessFailures < Number(readiness?.failureThreshold ?? 3));
    const livenessDue = Date.now() - runtime.lastLivenessMs >= this.periodMs(liveness);
    if (liveness !== undefined && livenessDue && Date.now() - runtime.startedAtMs >= Number(liveness.initialDelaySeconds ?? 0) * 1000 * Math.max(this.scale, 0.5)) {
      runtime.lastLivenessMs = Date.now();
      const alive = await httpProbe(liveness, container, runtime.ip);
      runtime.livenessFailures = alive ? 0 : runtime.livenessFailures + 1;
      if (runtime.livenessFailures >= Number(liveness.failureThreshold ?? 3) && runtime.child === child) {
        child.kill('SIGKILL');
        return;
      }
    }
    if (runtime.child !== child || runtime.terminating) return;
    if (readyNow !== runtime.ready) {
      runtime.ready = readyNow;
      this.writeStatus(runtime);
    }
    this.scheduleProbe(runtime, runtime.ready ? this.periodMs(readiness) : Math.min(250, this.periodMs(readiness)));
  }

  /**
   * Runs the startup probe until it passes; readiness and liveness wait for it. A container
   * that has not started within failureThreshold × periodSeconds is killed and restarted.
   */
  private async startupPassed(runtime: Runtime, child: ChildProcess, container: JsonObject): Promise<boolean> {
    const startup = container['startupProbe'] as Probe | undefined;
    if (startup === undefined || runtime.started) return true;
    const passed = await httpProbe(startup, container, runtime.ip);
    if (runtime.child !== child || runtime.terminating) return false;
    if (passed) {
      runtime.started = true;
      return true;
    }
    if (Date.now() - runtime.startedAtMs >= Number(startup.failureThreshold ?? 3) * this.periodMs(startup)) {
      child.kill('SIGKILL');
      return false;
    }
    this.scheduleProbe(runtime, Math.min(250, this.periodMs(startup)));
    return false;
  }

  private onExit(runtime: Runtime, child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (runtime.child !== child) return;
    runtime.child = undefined;
    runtime.ready = false;
    runtime.lastState = { terminated: { exitCode: code ?? 137, reason: code === 0 ? 'Completed' : 'Error', ...(signal ? { signal } : {}), finishedAt: new Date().toISOString() } };
    if (runtime.terminating || runtime.stopped) return;
    const pod = this.currentPod(runtime);
    const policy = pod === undefined ? 'Always' : String((pod.spec as JsonObject)['restartPolicy'] ?? 'Always');
    if (policy === 'Never' || (policy === 'OnFailure' && code === 0)) {
      runtime.finishedPhase = code === 0 ? 'Succeeded' : 'Failed';
      runtime.state = runtime.lastState;
      if (runtime.probeTimer !== undefined) clearTimeout(runtime.probeTimer);
      this.writeStatus(runtime);
      return;
    }
    runtime.restarts += 1;
    runtime.state = { waiting: { reason: 'CrashLoopBackOff', message: `back-off restarting failed container (exit ${code ?? signal})` } };
    this.writeStatus(runtime);
    this.scheduleRestart(runtime, true);
  }

  private scheduleRestart(runtime: Runtime, crashed: boolean): void {
    if (runtime.restartTimer !== undefined || runtime.stopped) return;
    const delay = crashed ? Math.min(300_000, 10_000 * 2 ** Math.max(0, runtime.restarts - 1)) * this.scale : 1000 * this.scale;
    runtime.restartTimer = setTimeout(() => {
      runtime.restartTimer = undefined;
      this.startContainer(runtime);
    }, delay);
  }

  private writeStatus(runtime: Runtime): void {
    const pod = this.currentPod(runtime);
    if (pod === undefined || runtime.stopped) return;
    const now = new Date().toISOString();
    const running = runtime.child !== undefined;
    const old = isObject(pod.status) ? pod.status : {};
    const oldConditions = Array.isArray(old['conditions']) ? old['conditions'] as JsonObject[] : [];
    const condition = (type: string, value: boolean): JsonObject => {
      const previous = oldConditions.find((entry) => entry['type'] === type);
      const status = value ? 'True' : 'False';
      return { type, status, lastTransitionTime: previous?.['status'] === status ? previous['lastTransitionTime'] : now };
    };
    const container = this.container(pod);
    const status = {
      phase: runtime.finishedPhase ?? (running || runtime.restarts > 0 || runtime.ready ? 'Running' : 'Pending'),
      hostIP: '127.0.0.1', podIP: runtime.ip, podIPs: [{ ip: runtime.ip }], startTime: old['startTime'] ?? now,
      conditions: [condition('PodScheduled', true), condition('Initialized', true), condition('ContainersReady', runtime.ready), condition('Ready', runtime.ready)],
      containerStatuses: [{
        name: container['name'], image: container['image'], imageID: '', ready: runtime.ready, started: running,
        restartCount: runtime.restarts, state: runtime.state, ...(runtime.lastState && !runtime.finishedPhase ? { lastState: runtime.lastState } : {}),
      }],
    };
    this.options.api.updateStatus(this.pods, runtime.namespace, runtime.name, { status });
  }

  private async terminate(runtime: Runtime, graceSeconds: number): Promise<void> {
    runtime.terminating = true;
    runtime.ready = false;
    await this.stopProcess(runtime, graceSeconds * 1000 * this.scale);
    this.forget(runtime);
    try {
      this.options.api.delete(this.pods, runtime.namespace, runtime.name, { gracePeriodSeconds: 0 });
    } catch {
      // already gone (force-deleted meanwhile)
    }
  }

  private async stopProcess(runtime: Runtime, graceMs: number): Promise<void> {
    if (runtime.probeTimer !== undefined) clearTimeout(runtime.probeTimer);
    if (runtime.restartTimer !== undefined) clearTimeout(runtime.restartTimer);
    const child = runtime.child;
    if (child === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), Math.max(500, graceMs));
    await exited;
    clearTimeout(timer);
  }

  private forget(runtime: Runtime): void {
    runtime.stopped = true;
    if (runtime.probeTimer !== undefined) clearTimeout(runtime.probeTimer);
    if (runtime.restartTimer !== undefined) clearTimeout(runtime.restartTimer);
    this.runtimes.delete(runtime.uid);
    rmSync(join(this.options.root, 'pods', runtime.uid), { recursive: true, force: true });
  }

  /** What a pod's container has printed so far (all restarts), or undefined. */
  logOf(namespace: string, name: string): string | undefined {
    try {
      return readFileSync(join(this.options.root, 'logs', `${namespace}_${name}.log`), 'utf8');
    } catch {
      return undefined;
    }
  }

  /** Removes the directory of a deleted claim. */
  releaseClaim(uid: string): void {
    rmSync(join(this.options.root, 'pvc', uid), { recursive: true, force: true });
  }

  /** Stops every process (SIGTERM, then SIGKILL after `graceMs`). */
  async close(graceMs = 5000): Promise<void> {
    const all = [...this.runtimes.values()];
    for (const runtime of all) runtime.stopped = true;
    await Promise.all(all.map((runtime) => this.stopProcess(runtime, graceMs)));
    this.runtimes.clear();
  }
}
