// HTTP calls from the operator to brokers: readiness, identity and the retention admin API.
// Brokers are addressed by their pod DNS names through the headless Service. Name
// resolution goes through one seam, `lookup` (node's dns.lookup signature): the system
// resolver in a cluster; a map of DNS names to loopback addresses in the simulator.

import { request } from 'node:http';
import { lookup as systemLookup, type LookupAddress } from 'node:dns';
import { readFileSync } from 'node:fs';
import type { RetentionRule } from '../crd/types.js';

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

  async putRetention(host: string, port: number, rules: readonly RetentionRule[]): Promise<void> {
    const reply = await this.call(host, port, 'PUT', '/v1/admin/retention', { rules });
    if (reply.status < 200 || reply.status >= 300) {
      throw new Error(`broker ${host} refused retention rules (${reply.status}): ${JSON.stringify(reply.body)}`);
    }
  }
}
