// How a broker with an empty data dir becomes a member of a running cluster
// (`--join <any member's peer address>`). It proves the cluster secret to that
// member on a discovery connection and asks to join; the member has the
// controller register it, which gives it a new id (ids only grow, so a broker
// whose disk was lost comes back as a new member, never as the old one). The
// answer — its id, the founders, the members to dial — goes to `cluster.json`
// before anything else, so from then on it starts like any member.
//
// A random incarnation is written to the data dir before asking: a join retried
// after a lost answer or a crash is recognised and given the same id.
import { randomUUID } from 'node:crypto';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { replaceFileDurably } from '../../common/durable-file.js';
import { FloError, isErrorCode } from '../../common/errors.js';
import type { MemberInfo } from '../transport/frame.js';
import type { PeerAuth } from '../transport/handshake.js';
import type { PeerAddress } from '../transport/peer-link.js';
import { dialForInfo } from '../transport/tcp-transport.js';
import { DAMAGED_PREFIX } from '../storage/verify.js';
import type { Discover } from './discovery.js';
import { formatPeerAddress, INCARNATION_FILE, readMembership, refuseSingleBrokerData, writeMembership, type ClusterMembership } from './founding.js';

const JOIN_TIMEOUT_MS = 20_000;
const JOIN_RETRY_MS = 500;
const WAITING_LOG_MS = 5_000;

export interface JoinOptions {
  readonly dataDir: string;
  /** Peer addresses of members, asked in turn (--join first, then the founders other than this broker). */
  readonly seeds: readonly PeerAddress[];
  /** More brokers to ask, looked up again after each round (--peers-service); this broker may be among them. */
  readonly discover?: Discover | undefined;
  readonly auth: PeerAuth;
  /** How the members will dial this broker, and its client URL if known yet. */
  readonly peer: string;
  readonly url: string | null;
  /** This broker's id before its store was found damaged (docs/cluster.md, "Membership"). */
  readonly replaces?: number | undefined;
  /** Every id this data dir had before (kept in cluster.json, so the flags that named one still start it). */
  readonly formerIds?: readonly number[] | undefined;
  readonly logger: Logger;
  readonly signal?: AbortSignal | undefined;
}

/** Registers this broker with the cluster at `seed`; resolves with the membership it saved. */
export async function joinCluster(options: JoinOptions): Promise<ClusterMembership & { self: number; partitions: number; dial: Array<{ id: number; peer: string }> }> {
  await refuseSingleBrokerData(options.dataDir, [INCARNATION_FILE, `${INCARNATION_FILE}.tmp`], DAMAGED_PREFIX);
  const incarnation = await ownIncarnation(options.dataDir);
  if (options.seeds.length === 0 && options.discover === undefined) throw new FloError('FLO_ERR_CONFIG_INVALID', '--join names only this broker itself: give a running member\'s peer address');
  let lastLog = performance.now();
  let lastError = '';
  let round: Array<{ address: PeerAddress; discovered: boolean }> = [];
  // The incarnation makes asking again (another seed, or the same one after a lost answer) give the same id.
  for (;;) {
    if (options.signal?.aborted) throw new FloError('FLO_ERR_SHUTTING_DOWN', 'stopped while joining the cluster');
    if (round.length === 0) round = await nextRound(options);
    const next = round.shift();
    if (next === undefined) {
      lastError = 'nobody to ask: --join names this broker and --peers-service resolves to no other address yet';
      await pause(JOIN_RETRY_MS);
      continue;
    }
    const { address, discovered } = next;
    const seed = formatPeerAddress(address);
    let info: MemberInfo | undefined;
    try {
      ({ info } = await dialForInfo(address, 0, options.auth, { url: options.url, peer: options.peer, probe: true, join: { incarnation, peer: options.peer, url: options.url, replaces: options.replaces ?? null } }, JOIN_TIMEOUT_MS));
    } catch (error) {
      // A named seed of another cluster will not change its mind: say so instead of asking forever.
      if (error instanceof FloError && error.code === 'FLO_ERR_CONFIG_INVALID' && !discovered) throw error;
      lastError = (error as Error).message;
    }
    if (info?.refusal != null) {
      const code = isErrorCode(info.refusal.code) ? info.refusal.code : 'FLO_ERR_MEMBERSHIP_REFUSED';
      const error = new FloError(code, `the member at ${seed} refused the join: ${info.refusal.message}`);
      // A named seed's or a member's refusal is final: an address behind --peers-service may be a broker that is no member.
      if (!error.retryable && (!discovered || info.members != null)) throw error;
      lastError = error.message;
    } else if (info?.joined != null) {
      const answer = info.joined;
      const formerIds = (options.formerIds ?? []).filter((id) => id !== answer.id);
      const membership = {
        clusterId: options.auth.clusterId, members: answer.founders, replicationFactor: answer.replicationFactor, self: answer.id, partitions: answer.partitions,
        ...(formerIds.length === 0 ? {} : { formerIds }),
      };
      await writeMembership(options.dataDir, membership);
      options.logger.info({ id: answer.id, seed, members: answer.members.map((member) => member.id) }, 'joined the cluster: catching up as a learner');
      return { ...membership, dial: [...answer.members] };
    } else if (info !== undefined) {
      lastError = `the broker at ${seed} answered without a join decision (an older version?)`;
    }
    if (performance.now() - lastLog > WAITING_LOG_MS) {
      lastLog = performance.now();
      options.logger.info({ asked: seed, reason: lastError }, 'joining the cluster: waiting for a member to take this broker');
    }
    await pause(JOIN_RETRY_MS);
  }
}

/** The seeds, then the discovered brokers not among them. */
async function nextRound(options: JoinOptions): Promise<Array<{ address: PeerAddress; discovered: boolean }>> {
  const seen = new Set(options.seeds.map(formatPeerAddress));
  const discovered = (await options.discover?.() ?? []).filter((address) => !seen.has(formatPeerAddress(address)));
  return [...options.seeds.map((address) => ({ address, discovered: false })), ...discovered.map((address) => ({ address, discovered: true }))];
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The id this data dir got when it joined, checked against the flags; undefined when it has not joined yet. */
export async function joinedMembership(dataDir: string, nodeId: number | undefined): Promise<ClusterMembership | undefined> {
  const saved = await readMembership(dataDir);
  if (saved?.self === undefined) return undefined;
  // A rebuilt member started again with the same command line names the id it had before.
  if (nodeId !== undefined && nodeId !== saved.self && saved.formerIds?.includes(nodeId) !== true) {
    throw new FloError('FLO_ERR_DATA_DIR_MISMATCH', `${dataDir} joined the cluster as node ${saved.self}, not ${nodeId}: drop --node-id (a joined broker keeps the id the cluster gave it)`);
  }
  return saved;
}

async function ownIncarnation(dataDir: string): Promise<string> {
  try {
    const text = (await readFile(join(dataDir, INCARNATION_FILE), 'utf8')).trim();
    if (/^[0-9a-f-]{36}$/.test(text)) return text;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const incarnation = randomUUID();
  await mkdir(dataDir, { recursive: true });
  await replaceFileDurably(dataDir, INCARNATION_FILE, incarnation + '\n');
  return incarnation;
}
