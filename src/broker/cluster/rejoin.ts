// What `--rebuild-when-damaged` does when a member cannot start as itself. Two cases
// end the same way, as a new member that retires the old id in the join itself (the
// controller marks it removed in the same step), its replicas copied from the others:
// - its store failed verification: the store is moved into `damaged-<time>/` in the
//   data dir (kept for inspection, never deleted), never served or voted on;
// - it is a founder whose data dir is empty although the cluster formed long ago (its
//   volume was lost or replaced): it joins through the member that said the cluster exists.
// Neither may come back as the old id: it would vote without what it acknowledged.
import { mkdir, readdir, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { syncDirectory } from '../../common/durable-file.js';
import { FloError } from '../../common/errors.js';
import { DAMAGED_PREFIX } from '../storage/verify.js';
import type { PeerAddress } from '../transport/peer-link.js';
import { formatPeerAddress, LostFounderError, MembershipFileError, parsePeerAddress, readMembership } from './founding.js';
import type { ClusterOptions } from './peering.js';

/** The cluster options to start again with as a new member, or undefined when `error` is not one to rebuild from. */
export async function rejoinAfterRefusal(error: unknown, dataDir: string, cluster: ClusterOptions | undefined, logger: Logger): Promise<ClusterOptions | undefined> {
  if (cluster?.rebuildWhenDamaged !== true || cluster.join === undefined || cluster.replaces !== undefined) return undefined;
  if (error instanceof LostFounderError && cluster.nodeId !== undefined) {
    // A founder's cluster.json without a store goes aside with it: the join writes the new membership.
    const saved = await readMembership(dataDir).catch(() => undefined);
    if (saved !== undefined) await moveAside(dataDir);
    logger.error({ err: error, oldId: cluster.nodeId, seed: error.seed === undefined ? undefined : formatPeerAddress(error.seed) },
      'this founder\'s data dir is empty but the cluster formed long ago: joining as a new member (the old id is retired, its replicas rebuilt from the others)');
    return { ...cluster, nodeId: undefined, nodeIdFromOrdinal: false, replaces: cluster.nodeId, formerIds: [...new Set([...(saved?.formerIds ?? []), cluster.nodeId])], join: error.seed ?? cluster.join };
  }
  // A damaged cluster.json says nothing about the store beside it: moving an intact store aside would
  // throw away a replica for a file restored by hand.
  if (!(error instanceof FloError) || error.code !== 'FLO_ERR_STORAGE_CORRUPT' || error instanceof MembershipFileError) return undefined;
  const membership = await readMembership(dataDir).catch(() => undefined);
  const oldId = membership?.self ?? cluster.nodeId;
  const aside = await moveAside(dataDir);
  logger.error({ err: error, movedTo: aside, oldId },
    'the store failed verification: moved it aside, joining the cluster again as a new member (the old id is retired, its replicas rebuilt from the others)');
  const formerIds = [...new Set([...(membership?.formerIds ?? []), ...[oldId, cluster.nodeId].filter((id) => id !== undefined)])];
  return { ...cluster, nodeId: undefined, nodeIdFromOrdinal: false, replaces: oldId, formerIds };
}

/**
 * Moves everything in the data dir into `damaged-<time>/` inside it (the data dir may be a mount point,
 * which cannot be renamed), fsyncing both directories.
 */
async function moveAside(dataDir: string): Promise<string> {
  const aside = join(dataDir, `${DAMAGED_PREFIX}${new Date().toISOString().replace(/[:.]/g, '-')}`);
  await mkdir(aside);
  for (const name of await readdir(dataDir)) {
    if (name.startsWith(DAMAGED_PREFIX) || name === 'lost+found') continue;
    await rename(join(dataDir, name), join(aside, name));
  }
  await syncDirectory(aside);
  await syncDirectory(dataDir);
  return aside;
}

/**
 * The members' peer addresses in the newest copy of cluster.json moved aside in this data dir: a
 * rebuilt member asks them too, so a rejoin does not hang on one --join seed that has since left
 * the cluster (retired, or replaced), as long as one member it knew is still there.
 */
export async function peersKnownBefore(dataDir: string): Promise<PeerAddress[]> {
  const aside = (await readdir(dataDir).catch(() => [] as string[])).filter((name) => name.startsWith(DAMAGED_PREFIX)).sort().reverse();
  for (const name of aside) {
    const membership = await readMembership(join(dataDir, name)).catch(() => undefined);
    if (membership === undefined) continue;
    const peers: PeerAddress[] = [];
    for (const member of membership.members) {
      try {
        peers.push(parsePeerAddress(member.peer, 'cluster.json'));
      } catch {
        // An address this version cannot read is one seed fewer, not a reason to stop.
      }
    }
    return peers;
  }
  return [];
}

