// The cluster secret every member proves in the peer handshake (handshake.ts): read
// from a file (a mounted Kubernetes Secret) or given in an environment variable.
// Too short a secret is refused, like a short bearer token: it would be guessable.
import { readFile } from 'node:fs/promises';
import { MIN_TOKEN_CHARS } from '../../common/bounds.js';
import { FloError } from '../../common/errors.js';

export async function loadClusterSecret(file: string | undefined, inline: string | undefined): Promise<Uint8Array | undefined> {
  if (file !== undefined && inline !== undefined && inline !== '') {
    throw new FloError('FLO_ERR_CONFIG_INVALID', 'give the cluster secret once: --cluster-secret-file or FLO_CLUSTER_SECRET, not both');
  }
  let text = inline;
  if (file !== undefined) {
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      throw new FloError('FLO_ERR_CONFIG_INVALID', `cannot read --cluster-secret-file ${file}: ${(error as Error).message}`);
    }
  }
  if (text === undefined || text === '') return undefined;
  const secret = text.trim();
  if (secret.length < MIN_TOKEN_CHARS) {
    throw new FloError('FLO_ERR_CONFIG_INVALID', `the cluster secret must be at least ${MIN_TOKEN_CHARS} characters (e.g. openssl rand -hex 32)`);
  }
  return Buffer.from(secret, 'utf8');
}
