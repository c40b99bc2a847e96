// A test hook for the chaos harness's proxy mesh. With FLO_TEST_PEER_ROUTES set to
// "host:port=host:port,…", this broker dials the right-hand address whenever it would
// dial the left-hand one. A member that joins during a run advertises one peer
// address, the same for every dialer, so without this its links would bypass the
// mesh (one proxy per directed link): each broker is told which proxy is its own way
// to every peer. Unset (always, outside tests) it changes nothing.
import { parsePeerAddress } from './peer-address.js';
import type { PeerAddress } from './peer-link.js';

export const PEER_ROUTES_ENV = 'FLO_TEST_PEER_ROUTES';

function parseAddress(text: string): PeerAddress | undefined {
  try {
    return parsePeerAddress(text, PEER_ROUTES_ENV);
  } catch {
    return undefined;
  }
}

/** The routes FLO_TEST_PEER_ROUTES names (entries it cannot read are ignored, as the variable is for tests only). */
export function parsePeerRoutes(text: string | undefined): ReadonlyMap<string, PeerAddress> {
  const routes = new Map<string, PeerAddress>();
  for (const entry of (text ?? '').split(',')) {
    const [from, to] = entry.split('=');
    const target = to === undefined ? undefined : parseAddress(to.trim());
    if (from !== undefined && parseAddress(from.trim()) !== undefined && target !== undefined) routes.set(from.trim(), target);
  }
  return routes;
}

let fromEnv: ReadonlyMap<string, PeerAddress> | undefined;

/** Where to dial to reach `address`: itself unless a test route says otherwise. */
export function routed(address: PeerAddress, routes: ReadonlyMap<string, PeerAddress> = (fromEnv ??= parsePeerRoutes(process.env[PEER_ROUTES_ENV]))): PeerAddress {
  return routes.size === 0 ? address : routes.get(`${address.host}:${address.port}`) ?? address;
}
