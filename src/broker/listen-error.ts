// Why a listener could not bind, as one line naming the flag to change: shared by
// the client port (broker.ts) and the peer port (cluster/peering.ts).
import { FloError } from '../common/errors.js';

/** EADDRINUSE and friends as one-line FloErrors; anything else unchanged. */
export function listenError(error: unknown, port: number, host: string, flag?: string): unknown {
  const code = (error as { code?: string }).code;
  if (code === 'EADDRINUSE') return new FloError('FLO_ERR_ADDRESS_IN_USE', `port ${port} on ${host} is in use${flag === undefined ? '' : ` (${flag})`}: is another flo server running?`, { cause: error });
  if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') return new FloError('FLO_ERR_CONFIG_INVALID', `cannot listen on ${host}${flag === undefined ? '' : ` (${flag === '--peer-port' ? '--peer-host' : '--host'})`}: no such local address`, { cause: error });
  if (code === 'EACCES') return new FloError('FLO_ERR_CONFIG_INVALID', `no permission to listen on port ${port} of ${host} (ports below 1024 need privileges)`, { cause: error });
  return error;
}
