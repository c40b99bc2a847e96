// The simulated cluster network, all on loopback: every pod gets its own 127.x.y.z
// address (as if in its own network namespace, so every broker can use port 3000) and
// every Service a cluster IP from a second /24. Both /24s are picked at random per
// simulated cluster so parallel test files do not collide.
//
// DNS seam: `lookup` answers the names a cluster DNS would —
//   <pod-hostname>.<subdomain>.<ns>.svc[.<domain>] → pod IP (headless Service),
//   <svc>.<ns>.svc[.<domain>] and <svc>.<ns> → cluster IP (or a ready pod IP if headless) —
// where <domain> is the simulated cluster's DNS domain (cluster.local unless configured),
// and `hostsSnapshot()` lists them all for a hosts file a separate process can read.

import { lookup as systemLookup } from 'node:dns';
import type { Api } from '../sim/api.js';
import { isObject, type KObject } from '../sim/types.js';

export type Lookup = (hostname: string, options: object, callback: (error: NodeJS.ErrnoException | null, address: string | { address: string; family: number }[], family?: number) => void) => void;

function randomOctet(low: number, high: number): number {
  return low + Math.floor(Math.random() * (high - low));
}

export class AddressPool {
  private next = 2;
  constructor(private readonly prefix: string) {}

  allocate(): string {
    if (this.next > 254) throw new Error(`address pool ${this.prefix}.0/24 exhausted`);
    const address = `${this.prefix}.${this.next}`;
    this.next += 1;
    return address;
  }
}

export function newPools(): { pods: AddressPool; services: AddressPool; prefixes: [string, string] } {
  const second = randomOctet(10, 250);
  const third = randomOctet(0, 127) * 2;
  const pods = `127.${second}.${third}`;
  const services = `127.${second}.${third + 1}`;
  return { pods: new AddressPool(pods), services: new AddressPool(services), prefixes: [pods, services] };
}

export function podReady(pod: KObject): boolean {
  const status = isObject(pod.status) ? pod.status : {};
  const conditions = Array.isArray(status['conditions']) ? status['conditions'] as Record<string, unknown>[] : [];
  return pod.metadata.deletionTimestamp === undefined && conditions.some((condition) => condition['type'] === 'Ready' && condition['status'] === 'True');
}

export function podIp(pod: KObject): string | undefined {
  const ip = isObject(pod.status) ? pod.status['podIP'] : undefined;
  return typeof ip === 'string' ? ip : undefined;
}

export function selects(service: KObject, pod: KObject): boolean {
  const selector = isObject(service.spec) && isObject(service.spec['selector']) ? service.spec['selector'] : undefined;
  if (selector === undefined || pod.metadata.namespace !== service.metadata.namespace) return false;
  return Object.entries(selector).every(([key, value]) => pod.metadata.labels?.[key] === value);
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The hosts-file seam: one address per name, and every address of names that have several (headless Services). */
export interface HostsSnapshot {
  hosts: Record<string, string>;
  all: Record<string, string[]>;
}

export class ClusterDns {
  private readonly domainSuffix: RegExp;
  private readonly clusterName: RegExp;

  constructor(private readonly api: Api, readonly clusterDomain = 'cluster.local') {
    this.domainSuffix = new RegExp(`\\.${escapeRegExp(clusterDomain)}$`);
    this.clusterName = new RegExp(`\\.svc(\\.${escapeRegExp(clusterDomain)})?\\.?$`);
  }

  private pods(namespace: string): KObject[] {
    return this.api.list(this.api.type('', 'v1', 'pods'), namespace);
  }

  private service(namespace: string, name: string): KObject | undefined {
    return this.api.list(this.api.type('', 'v1', 'services'), namespace).find((service) => service.metadata.name === name);
  }

  /** The address a cluster DNS would give for `hostname`, or undefined. */
  resolve(hostname: string): string | undefined {
    const parts = hostname.replace(/\.$/, '').replace(this.domainSuffix, '').split('.');
    if (parts.length === 4 && parts[3] === 'svc') {
      const [host, subdomain, namespace] = parts as [string, string, string];
      const service = this.service(namespace, subdomain);
      if (service === undefined) return undefined;
      const publishNotReady = isObject(service.spec) && service.spec['publishNotReadyAddresses'] === true;
      const pod = this.pods(namespace).find((candidate) => isObject(candidate.spec)
        && (candidate.spec['hostname'] ?? candidate.metadata.name) === host && candidate.spec['subdomain'] === subdomain && selects(service, candidate));
      return pod !== undefined && (publishNotReady || podReady(pod)) ? podIp(pod) : undefined;
    }
    if ((parts.length === 3 && parts[2] === 'svc') || parts.length === 2) {
      const [name, namespace] = parts as [string, string];
      const service = this.service(namespace, name);
      if (service === undefined || !isObject(service.spec)) return undefined;
      const clusterIp = service.spec['clusterIP'];
      if (typeof clusterIp === 'string' && clusterIp !== 'None') return clusterIp;
      return this.endpoints(service)[0];
    }
    return undefined;
  }

  /** Every address of `hostname`: a headless Service has one per selected pod (ready ones, or all with publishNotReadyAddresses). */
  resolveAll(hostname: string): string[] {
    const parts = hostname.replace(/\.$/, '').replace(this.domainSuffix, '').split('.');
    if ((parts.length === 3 && parts[2] === 'svc') || parts.length === 2) {
      const service = this.service(parts[1]!, parts[0]!);
      if (service !== undefined && isObject(service.spec) && service.spec['clusterIP'] === 'None') return this.endpoints(service);
    }
    const address = this.resolve(hostname);
    return address === undefined ? [] : [address];
  }

  private endpoints(service: KObject): string[] {
    const publishNotReady = isObject(service.spec) && service.spec['publishNotReadyAddresses'] === true;
    return this.pods(service.metadata.namespace ?? '').filter((pod) => selects(service, pod) && (publishNotReady || podReady(pod)))
      .map(podIp).filter((ip): ip is string => ip !== undefined);
  }

  /** A dns.lookup-compatible function: cluster names from the simulator, everything else from the system. */
  readonly lookup: Lookup = (hostname, options, callback) => {
    const address = this.resolve(hostname);
    if (address === undefined) {
      if (this.clusterName.test(hostname)) {
        const error = Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }) as NodeJS.ErrnoException;
        callback(error, '', 4);
        return;
      }
      (systemLookup as unknown as Lookup)(hostname, options, callback);
      return;
    }
    if ((options as { all?: boolean }).all === true) callback(null, this.resolveAll(hostname).map((each) => ({ address: each, family: 4 })));
    else callback(null, address, 4);
  };

  /** Every resolvable cluster name right now (for the hosts-file seam of a separate operator process). */
  hostsSnapshot(): HostsSnapshot {
    const hosts: Record<string, string> = {};
    const all: Record<string, string[]> = {};
    for (const service of this.api.list(this.api.type('', 'v1', 'services'), undefined)) {
      const { name, namespace } = service.metadata;
      for (const suffix of ['svc', `svc.${this.clusterDomain}`]) {
        const address = this.resolve(`${name}.${namespace}.${suffix}`);
        if (address !== undefined) hosts[`${name}.${namespace}.${suffix}`] = address;
        const addresses = this.resolveAll(`${name}.${namespace}.${suffix}`);
        if (addresses.length > 1) all[`${name}.${namespace}.${suffix}`] = addresses;
      }
      for (const pod of this.pods(namespace ?? '')) {
        if (!isObject(pod.spec) || pod.spec['subdomain'] !== name) continue;
        const host = `${String(pod.spec['hostname'] ?? pod.metadata.name)}.${name}.${namespace}.svc`;
        for (const full of [host, `${host}.${this.clusterDomain}`]) {
          const address = this.resolve(full);
          if (address !== undefined) hosts[full] = address;
        }
      }
    }
    return { hosts, all };
  }
}
