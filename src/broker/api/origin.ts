// Browser defences: cross-site requests (a web page talking to a broker on the
// developer's machine, e.g. cross-site WebSocket hijacking) and DNS rebinding (a
// foreign name resolving to 127.0.0.1). Clients that are not browsers send no
// Origin and pass; browsers always send one on WebSocket upgrades and on
// cross-origin fetches, and cannot forge it or the Host header.
import { isIP } from 'node:net';
import { FloError } from '../../common/errors.js';

export interface OriginPolicyOptions {
  /** Origins allowed besides same-origin and loopback ones (`https://app.example.com`), or `*` for any. */
  readonly allowedOrigins?: readonly string[] | undefined;
  /** Host names a loopback broker answers to besides localhost and loopback addresses. */
  readonly allowedHosts?: readonly string[] | undefined;
  /** The address the broker listens on; undefined = in-process only (treated as loopback). */
  readonly listenHost?: string | undefined;
}

/** localhost, *.localhost, 127.0.0.0/8 and ::1 (with or without brackets). */
export function isLoopbackHost(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (isIP(name) === 4) return name.startsWith('127.');
  return name === '::1' || name === '0:0:0:0:0:0:0:1' || name.startsWith('::ffff:127.');
}

/** The host name of a Host header value (`example.com:3000`, `[::1]:3000`). */
function hostnameOf(host: string): string {
  if (host.startsWith('[')) return host.slice(0, host.indexOf(']') + 1);
  const colon = host.lastIndexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

function normaliseOrigin(origin: string): string {
  return origin.trim().toLowerCase().replace(/\/+$/, '');
}

export class OriginPolicy {
  private readonly origins: ReadonlySet<string>;
  private readonly hosts: ReadonlySet<string>;
  private readonly anyOrigin: boolean;
  /** Only a broker on loopback checks Host: beyond it, its names are unknown (and auth is the defence). */
  private readonly checkHost: boolean;

  constructor(options: OriginPolicyOptions) {
    const origins = (options.allowedOrigins ?? []).map(normaliseOrigin);
    this.anyOrigin = origins.includes('*');
    this.origins = new Set(origins);
    this.hosts = new Set((options.allowedHosts ?? []).map((host) => host.trim().toLowerCase()));
    this.checkHost = options.listenHost === undefined || isLoopbackHost(options.listenHost);
  }

  /** Throws 403 FLO_ERR_FORBIDDEN for a foreign Host on a loopback broker or a foreign Origin. */
  check(host: string | undefined, origin: string | undefined): void {
    if (this.checkHost && host !== undefined) {
      const hostname = hostnameOf(host.toLowerCase());
      if (!isLoopbackHost(hostname) && !this.hosts.has(hostname)) {
        throw new FloError('FLO_ERR_FORBIDDEN', `a broker on loopback answers only to loopback names, not Host "${hostname}" (DNS rebinding guard; allow it with --allowed-hosts)`);
      }
    }
    if (origin === undefined || this.anyOrigin) return;
    const normalised = normaliseOrigin(origin);
    if (this.origins.has(normalised)) return;
    let url: URL | undefined;
    try {
      url = normalised === 'null' ? undefined : new URL(normalised);
    } catch {
      url = undefined;
    }
    if (url !== undefined && (isLoopbackHost(url.hostname) || url.host === host?.toLowerCase())) return;
    throw new FloError('FLO_ERR_FORBIDDEN', `requests from web pages of origin ${origin.slice(0, 200)} are not allowed (allow it with --allowed-origins)`);
  }
}
