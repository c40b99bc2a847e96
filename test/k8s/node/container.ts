// Container plumbing for the simulated kubelet: env resolution (literal values,
// ConfigMap and Secret keys, the downward API), path rewriting from container mount
// paths to host directories, and HTTP probes.

import { request } from 'node:http';
import type { Api } from '../sim/api.js';
import { isObject, type JsonObject, type KObject } from '../sim/types.js';

export interface Probe {
  httpGet?: { path?: string; port?: number | string; host?: string };
  periodSeconds?: number;
  timeoutSeconds?: number;
  failureThreshold?: number;
  initialDelaySeconds?: number;
}

function keyFrom(api: Api, namespace: string, kind: 'configmaps' | 'secrets', ref: JsonObject): string | undefined {
  const object = api.store.get(api.type('', 'v1', kind), namespace, String(ref['name']));
  const data = object === undefined ? undefined : object['data'];
  const value = isObject(data) ? data[String(ref['key'])] : undefined;
  if (value === undefined) {
    if (ref['optional'] === true) return undefined;
    throw new Error(`${kind === 'configmaps' ? 'configmap' : 'secret'} "${String(ref['name'])}" key "${String(ref['key'])}" not found`);
  }
  return kind === 'secrets' ? Buffer.from(String(value), 'base64').toString('utf8') : String(value);
}

function fieldRef(pod: KObject, path: string, ip: string): string {
  switch (path) {
    case 'metadata.name': return pod.metadata.name ?? '';
    case 'metadata.namespace': return pod.metadata.namespace ?? '';
    case 'metadata.uid': return pod.metadata.uid ?? '';
    case 'status.podIP': return ip;
    case 'spec.nodeName': return String((pod.spec as JsonObject)['nodeName'] ?? '');
    default: throw new Error(`unsupported fieldRef ${path}`);
  }
}

/** The container's environment as the kubelet would compute it at container start. */
export function resolveEnv(api: Api, pod: KObject, container: JsonObject, ip: string): Record<string, string> {
  const env: Record<string, string> = {};
  const namespace = pod.metadata.namespace ?? '';
  for (const variable of (container['env'] as JsonObject[] | undefined) ?? []) {
    const name = String(variable['name']);
    const from = variable['valueFrom'];
    let value: string | undefined;
    if (!isObject(from)) value = String(variable['value'] ?? '');
    else if (isObject(from['configMapKeyRef'])) value = keyFrom(api, namespace, 'configmaps', from['configMapKeyRef']);
    else if (isObject(from['secretKeyRef'])) value = keyFrom(api, namespace, 'secrets', from['secretKeyRef']);
    else if (isObject(from['fieldRef'])) value = fieldRef(pod, String(from['fieldRef']['fieldPath']), ip);
    if (value !== undefined) env[name] = value.replace(/\$\(([A-Za-z0-9_]+)\)/g, (whole, ref: string) => env[ref] ?? whole);
  }
  return env;
}

/** Rewrites container paths under a mount to the mounted host directory. */
export function rewritePaths(values: string[], mounts: { path: string; dir: string }[]): string[] {
  const sorted = [...mounts].sort((a, b) => b.path.length - a.path.length);
  return values.map((value) => {
    const mount = sorted.find((candidate) => value === candidate.path || value.startsWith(`${candidate.path}/`));
    return mount === undefined ? value : `${mount.dir}${value.slice(mount.path.length)}`;
  });
}

function portOf(container: JsonObject, port: number | string | undefined): number | undefined {
  if (typeof port === 'number') return port;
  const ports = (container['ports'] as JsonObject[] | undefined) ?? [];
  const found = ports.find((candidate) => candidate['name'] === port);
  return found === undefined ? undefined : Number(found['containerPort']);
}

/** One HTTP probe: success is a 2xx/3xx reply within the probe timeout. */
export function httpProbe(probe: Probe, container: JsonObject, ip: string): Promise<boolean> {
  const port = portOf(container, probe.httpGet?.port);
  if (probe.httpGet === undefined || port === undefined) return Promise.resolve(true);
  // Timeouts are not scaled: a loaded test machine must not look like a hung broker.
  const timeoutMs = Number(probe.timeoutSeconds ?? 1) * 1000;
  return new Promise((resolve) => {
    const req = request({ host: probe.httpGet?.host ?? ip, port, path: probe.httpGet?.path ?? '/', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve((res.statusCode ?? 500) < 400);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}
