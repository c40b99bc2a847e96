// kube-proxy for the simulator: each Service port listens on its cluster IP (a loopback
// address) and forwards every TCP connection to a ready endpoint pod, round robin,
// resolving named target ports through the pod's container ports.

import { createServer, connect, type Server, type Socket } from 'node:net';
import type { Api } from '../sim/api.js';
import { isObject, type JsonObject, type KObject } from '../sim/types.js';
import { podIp, podReady, selects } from './network.js';

function targetPortOf(pod: KObject, target: unknown): number | undefined {
  if (typeof target === 'number') return target;
  const containers = isObject(pod.spec) && Array.isArray(pod.spec['containers']) ? pod.spec['containers'] as JsonObject[] : [];
  for (const container of containers) {
    const ports = Array.isArray(container['ports']) ? container['ports'] as JsonObject[] : [];
    const found = ports.find((port) => port['name'] === target);
    if (found !== undefined) return Number(found['containerPort']);
  }
  return undefined;
}

export class KubeProxy {
  private readonly listeners = new Map<string, Server>();
  private readonly sockets = new Set<Socket>();
  private turn = 0;

  constructor(private readonly api: Api) {}

  /** Opens listeners for new Service ports and closes those of removed ones. */
  sync(): void {
    const wanted = new Map<string, { service: KObject; port: JsonObject; ip: string }>();
    for (const service of this.api.list(this.api.type('', 'v1', 'services'), undefined)) {
      const spec = isObject(service.spec) ? service.spec : {};
      const ip = spec['clusterIP'];
      if (typeof ip !== 'string' || !ip.startsWith('127.')) continue;
      for (const port of (spec['ports'] as JsonObject[] | undefined) ?? []) {
        wanted.set(`${service.metadata.namespace}/${service.metadata.name}/${ip}:${String(port['port'])}`, { service, port, ip });
      }
    }
    for (const [key, server] of this.listeners) {
      if (!wanted.has(key)) {
        server.close();
        this.listeners.delete(key);
      }
    }
    for (const [key, entry] of wanted) {
      if (this.listeners.has(key)) continue;
      const [namespace, name] = key.split('/') as [string, string];
      const server = createServer((socket) => this.forward(namespace, name, entry.port['targetPort'], socket));
      server.on('error', () => this.listeners.delete(key));
      server.listen(Number(entry.port['port']), entry.ip);
      this.listeners.set(key, server);
    }
  }

  private forward(namespace: string, name: string, target: unknown, client: Socket): void {
    this.sockets.add(client);
    client.on('close', () => this.sockets.delete(client));
    const service = this.api.list(this.api.type('', 'v1', 'services'), namespace).find((candidate) => candidate.metadata.name === name);
    const endpoints = service === undefined ? [] : this.api.list(this.api.type('', 'v1', 'pods'), namespace)
      .filter((pod) => selects(service, pod) && podReady(pod) && podIp(pod) !== undefined);
    if (endpoints.length === 0) {
      client.destroy();
      return;
    }
    const pod = endpoints[this.turn++ % endpoints.length]!;
    const port = targetPortOf(pod, target);
    if (port === undefined) {
      client.destroy();
      return;
    }
    const upstream = connect(port, podIp(pod));
    this.sockets.add(upstream);
    upstream.on('close', () => this.sockets.delete(upstream));
    client.pipe(upstream).pipe(client);
    upstream.on('error', () => client.destroy());
    client.on('error', () => upstream.destroy());
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await Promise.all([...this.listeners.values()].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
    this.listeners.clear();
  }
}
