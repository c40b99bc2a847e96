// Peer addresses as flags, cluster.json and the controller's table write them: "host:port",
// or "[v6]:port" for an IPv6 host.
import { FloError } from '../../common/errors.js';
import type { PeerAddress } from './peer-link.js';

export function formatPeerAddress(address: PeerAddress): string {
  return address.host.includes(':') ? `[${address.host}]:${address.port}` : `${address.host}:${address.port}`;
}

/** "host:port" or "[v6]:port" → address; anything else is a configuration error naming the flag. */
export function parsePeerAddress(text: string, flag = '--peers'): PeerAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^\s:[\]]+)):(\d{1,5})$/.exec(text.trim());
  const port = match ? Number(match[3]) : NaN;
  if (!match || port < 1 || port > 65535) {
    throw new FloError('FLO_ERR_CONFIG_INVALID', `${flag}: "${text}" is not host:port (e.g. 127.0.0.1:4001 or flo-0.flo:4000)`);
  }
  return { host: (match[1] ?? match[2])!, port };
}
