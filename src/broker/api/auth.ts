// Bearer-token authentication with three roles, admin ⊃ write ⊃ read. Tokens
// come from a file or an environment variable (docs/api.md "Authentication");
// with none configured the broker is open. Tokens are compared as SHA-256
// digests with timingSafeEqual against every configured token, so neither the
// comparison nor the search leaks how much of a guess was right.
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { MIN_TOKEN_CHARS } from '../../common/bounds.js';
import { FloError } from '../../common/errors.js';

export { MIN_TOKEN_CHARS };

export const ROLES = ['read', 'write', 'admin'] as const;
export type Role = (typeof ROLES)[number];
/** What a route needs: a role, or nothing (health probes, metrics). */
export type RequiredRole = Role | 'none';

export interface AccessToken {
  readonly role: Role;
  readonly token: string;
}


const RANK: Record<Role, number> = { read: 1, write: 2, admin: 3 };
/** Routes open to anyone: Kubernetes probes and the Prometheus scrape (counters only, no event data). */
const OPEN_ROUTES = new Set(['/healthz', '/readyz', '/metrics']);
/** GET routes that change data: the produce WebSocket. */
const WRITE_GET_ROUTES = new Set(['/v1/produce']);

/** The role a route needs: admin under /v1/admin/, write for anything that is not a GET (and the produce socket), read otherwise. */
export function requiredRole(method: string, routeUrl: string | undefined): RequiredRole {
  if (routeUrl !== undefined && OPEN_ROUTES.has(routeUrl)) return 'none';
  if (routeUrl?.startsWith('/v1/admin/')) return 'admin';
  if (method !== 'GET' && method !== 'HEAD') return 'write';
  if (routeUrl !== undefined && WRITE_GET_ROUTES.has(routeUrl)) return 'write';
  return 'read';
}

/**
 * Parses `role:token` entries, one per line or separated by commas; blank lines and
 * lines starting with `#` are ignored. Errors name the entry, never the token.
 */
export function parseAccessTokens(text: string, source: string): AccessToken[] {
  const tokens: AccessToken[] = [];
  const entries = text.split(/[\n,]/);
  for (let i = 0; i < entries.length; i++) {
    const entry = entries[i]!.trim();
    if (entry === '' || entry.startsWith('#')) continue;
    const where = `${source} entry ${i + 1}`;
    const colon = entry.indexOf(':');
    const role = entry.slice(0, colon).trim();
    const token = entry.slice(colon + 1).trim();
    if (colon < 0 || !(ROLES as readonly string[]).includes(role)) {
      throw new FloError('FLO_ERR_CONFIG_INVALID', `${where} must be "role:token" with role ${ROLES.join(', ')}`);
    }
    if (token.length < MIN_TOKEN_CHARS || /\s/.test(token)) {
      throw new FloError('FLO_ERR_CONFIG_INVALID', `${where}: a token is at least ${MIN_TOKEN_CHARS} characters without spaces (e.g. openssl rand -hex 32)`);
    }
    tokens.push({ role: role as Role, token });
  }
  return tokens;
}

/** Tokens from `--auth-tokens-file` and from FLO_AUTH_TOKENS together; both may be absent (an open broker). */
export async function loadAccessTokens(options: { file?: string | undefined; inline?: string | undefined }): Promise<AccessToken[]> {
  const tokens: AccessToken[] = [];
  if (options.file !== undefined) {
    let text: string;
    try {
      text = await readFile(options.file, 'utf8');
    } catch (error) {
      throw new FloError('FLO_ERR_CONFIG_INVALID', `cannot read the auth tokens file ${options.file}: ${(error as Error).message}`);
    }
    const fromFile = parseAccessTokens(text, options.file);
    if (fromFile.length === 0) throw new FloError('FLO_ERR_CONFIG_INVALID', `the auth tokens file ${options.file} holds no tokens`);
    tokens.push(...fromFile);
  }
  if (options.inline !== undefined && options.inline.trim() !== '') tokens.push(...parseAccessTokens(options.inline, 'FLO_AUTH_TOKENS'));
  return tokens;
}

function digest(token: string): Buffer {
  return createHash('sha256').update(token, 'utf8').digest();
}

export class Authenticator {
  private readonly digests: ReadonlyArray<{ role: Role; digest: Buffer }>;

  constructor(tokens: readonly AccessToken[]) {
    this.digests = tokens.map((entry) => ({ role: entry.role, digest: digest(entry.token) }));
  }

  get enabled(): boolean {
    return this.digests.length > 0;
  }

  /** Throws 401 for a missing or unknown token, 403 for a token whose role is too low. */
  check(authorization: string | undefined, required: RequiredRole): void {
    if (!this.enabled || required === 'none') return;
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '');
    if (!match) throw new FloError('FLO_ERR_UNAUTHENTICATED', 'this broker needs a token: send "Authorization: Bearer <token>" (flo --token, FLO_TOKEN)');
    const role = this.roleOf(match[1]!);
    if (role === undefined) throw new FloError('FLO_ERR_UNAUTHENTICATED', 'the bearer token is not one this broker knows');
    if (RANK[role] < RANK[required]) throw new FloError('FLO_ERR_FORBIDDEN', `this needs the ${required} role; the token has ${role}`);
  }

  /** The highest role of a token; every configured token is compared, so the time does not depend on which one matched. */
  private roleOf(token: string): Role | undefined {
    const presented = digest(token);
    let best: Role | undefined;
    for (const entry of this.digests) {
      if (timingSafeEqual(presented, entry.digest) && (best === undefined || RANK[entry.role] > RANK[best])) best = entry.role;
    }
    return best;
  }
}
