// HTTP calls from the operator to brokers: readiness, identity, the cluster view and health,
// membership changes (drain, remove) and the retention admin API.
// Brokers are addressed by their pod DNS names through the headless Service. Name
// resolution goes through one seam, `lookup` (node's dns.lookup signature): the system
// resolver in a cluster; a map of DNS names to loopback addresses in the simulator.

import { request } from 'node:http';
import { lookup as systemLookup, type LookupAddress } from 'node:dns';
import { readFileSync } from 'node:fs';
import type { MemberState, PartitionSummary, RetentionRule } from '../crd/types.js';

/** One member as a broker reports it in GET /v1/cluster. */
export interface ClusterMember {
  member: number;
  self: boolean;
  peer: string | null;
  url: string | null;
  reachable: boolean;
  state?: MemberState;
  partitions?: number;
  leaders?: number;
}

/** The part of GET /v1/cluster the operator reads. */
export interface ClusterView {
  mode: 'cluster' | 'single-node';
  clusterId?: string;
  /** The answering broker's member id. */
  member: number;
  controllerLeader?: number | null;
  replicationFactor: number;
  brokers: ClusterMember[];
}

/** GET /v1/cluster/health. */
export interface ClusterHealth {
  healthy: boolean;
  controllerLeader: number | null;
  partitions: PartitionSummary;
  problems: string[];
}

/** A broker refused a membership change (409 FLO_ERR_MEMBERSHIP_REFUSED): the detail says why. */
export class MembershipRefusedError extends Error {
  constructor(readonly detail: string) {
    super(detail);
  }
}

function problemDetail(body: unknown): string {
  if (typeof body === 'object' && body !== null) {
    const detail = (body as { detail?: unknown; title?: unknown }).detail ?? (body as { title?: unknown }).title;
    if (typeof detail === 'string') return detail;
  }
  return JSON.stringify(body);
}

/** How long one broker call may take before the operator gives up on it this round. */
export const BROKER_CALL_TIMEOUT_MS = 3000;
/** Largest broker reply the operator reads. */
export const MAX_BROKER_REPLY_BYTES = 1024 * 1024;

export type LookupCallback = (error: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void;
export type LookupFunction = (hostname: string, options: object, callback: LookupCallback) => void;

/**
 * A lookup that answers names found in a JSON file `{"hosts": {"name": "127.0.0.x"}}`
 * (re-read on every call, so a simulator can keep it current) and defers to the system
 * resolver for everything else. This is the documented DNS seam of `flo operator --dns-hosts-file`.
 */
export function hostsFileLookup(path: string): LookupFunction {
  return (hostname, options, callback) => {
    let hosts: Record<string, string> = {};
    try {
      hosts = (JSON.parse(readFileSync(path, 'utf8')) as { hosts?: Record<string, string> }).hosts ?? {};
    } catch {
      // a missing or half-written file means no overrides this time
    }
    const address = hosts[hostname];
    if (address === undefined) {
      (systemLookup as unknown as LookupFunction)(hostname, options, callback);
      return;
    }
    if ((options as { all?: boolean }).all === true) callback(null, [{ address, family: 4 }]);
    else callback(null, address, 4);
  };
}

export interface BrokerReply {
  status: number;
  body: unknown;
}

/** The bearer token the operator sends to brokers, read from a file on every call so a rotated Secret takes effect. */
export function tokenFromFile(path: string): () => string | undefined {
  return () => {
    const token = readFileSync(path, 'utf8').trim();
    return token === '' ? undefined : token;
  };
}

export class BrokerClient {
  constructor(private readonly lookup?: LookupFunction, private readonly timeoutMs = BROKER_CALL_TIMEOUT_MS,
    private readonly token: () => string | undefined = () => undefined) {}

  call(host: string, port: number, method: string, path: string, body?: unknown): Promise<BrokerReply> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const token = this.token();
    return new Promise((resolve, reject) => {
      const req = request({
        host, port, method, path, timeout: this.timeoutMs,
        ...(this.lookup === undefined ? {} : { lookup: this.lookup as never }),
        headers: {
          ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) }),
        },
      }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_BROKER_REPLY_BYTES) req.destroy(new Error(`broker reply larger than ${MAX_BROKER_REPLY_BYTES} bytes`));
          else chunks.push(chunk);
        });
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try { parsed = text === '' ? undefined : JSON.parse(text); } catch { /* plain-text reply */ }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error(`broker ${host} did not answer within ${this.timeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }

  async ready(host: string, port: number): Promise<boolean> {
    try {
      return (await this.call(host, port, 'GET', '/readyz')).status === 200;
    } catch {
      return false;
    }
  }

  async nodeId(host: string, port: number): Promise<string | undefined> {
    const reply = await this.call(host, port, 'GET', '/v1/cluster');
    const id = typeof reply.body === 'object' && reply.body !== null ? (reply.body as { nodeId?: unknown }).nodeId : undefined;
    return typeof id === 'string' ? id : undefined;
  }

  async cluster(host: string, port: number): Promise<ClusterView> {
    const reply = await this.call(host, port, 'GET', '/v1/cluster');
    if (reply.status !== 200 || typeof reply.body !== 'object' || reply.body === null) throw new Error(`broker ${host} answered /v1/cluster with ${reply.status}`);
    return reply.body as ClusterView;
  }

  async health(host: string, port: number): Promise<ClusterHealth> {
    const reply = await this.call(host, port, 'GET', '/v1/cluster/health');
    if (reply.status !== 200 || typeof reply.body !== 'object' || reply.body === null) throw new Error(`broker ${host} answered /v1/cluster/health with ${reply.status}: ${problemDetail(reply.body)}`);
    return reply.body as ClusterHealth;
  }

  /** Starts (or confirms) the drain of a member; MembershipRefusedError when the cluster cannot spare it. */
  async drain(host: string, port: number, member: number): Promise<void> {
    const reply = await this.call(host, port, 'POST', `/v1/admin/members/${member}/drain`);
    if (reply.status === 409) throw new MembershipRefusedError(problemDetail(reply.body));
    if (reply.status !== 202 && reply.status !== 200) throw new Error(`broker ${host} refused to drain member ${member} (${reply.status}): ${problemDetail(reply.body)}`);
  }

  /** Removes a drained member for good (its id is never reused); true also when it was gone already. */
  async removeMember(host: string, port: number, member: number): Promise<void> {
    const reply = await this.call(host, port, 'DELETE', `/v1/admin/members/${member}`);
    if (reply.status === 409) throw new MembershipRefusedError(problemDetail(reply.body));
    if (reply.status !== 200 && reply.status !== 404) throw new Error(`broker ${host} refused to remove member ${member} (${reply.status}): ${problemDetail(reply.body)}`);
  }

  /** GET /v1/admin/members/{id}/restart-check on this broker. */
  async restartCheck(host: string, port: number, member: number): Promise<{ safe: boolean; problems: string[]; caughtUp: boolean | null }> {
    const reply = await this.call(host, port, 'GET', `/v1/admin/members/${member}/restart-check`);
    if (reply.status !== 200 || typeof reply.body !== 'object' || reply.body === null) throw new Error(`broker ${host} answered restart-check with ${reply.status}: ${problemDetail(reply.body)}`);
    return reply.body as { safe: boolean; problems: string[]; caughtUp: boolean | null };
  }

  async putRetention(host: string, port: number, rules: readonly RetentionRule[]): Promise<void> {
    const reply = await this.call(host, port, 'PUT', '/v1/admin/retention', { rules });
    if (reply.status < 200 || reply.status >= 300) {
      throw new Error(`broker ${host} refused retention rules (${reply.status}): ${JSON.stringify(reply.body)}`);
    }
  }
}
