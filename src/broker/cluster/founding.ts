// How a new cluster learns who its founders are, and how every later start finds
// them again. `--peers` lists the founders' peer addresses (its own included) but
// not their ids: each broker probes every address (an authenticated handshake,
// transport probe()) until it knows the id behind each one, then writes the
// membership to `cluster.json` in its data dir (fsynced, atomically). Every
// founder probes the same list and so writes the same membership; from then on a
// start reads the file and needs nobody, so a majority keeps the cluster going
// while the rest are down. Forming needs every founder up once: the voters of
// each partition's group are fixed at creation and must be the same everywhere.
import { mkdir, readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { replaceFileDurably } from '../../common/durable-file.js';
import { FloError } from '../../common/errors.js';
import type { NodeId } from '../raft/messages.js';
import type { PeerAddress } from '../transport/peer-link.js';
import { formatPeerAddress, parsePeerAddress } from '../transport/peer-address.js';

// Where they were first defined; the transport needs them too.
export { formatPeerAddress, parsePeerAddress };
import type { MemberInfo } from '../transport/frame.js';
import type { TcpTransport } from '../transport/tcp-transport.js';
import type { Discover } from './discovery.js';
import { DAMAGED_PREFIX } from '../storage/verify.js';

export const CLUSTER_FILE = 'cluster.json';
const CLUSTER_FILE_FORMAT = 1;
/**
 * A founder with an empty data dir is let in only while its cluster is this new, and only if no founder
 * has replicated with it yet: every founder writes its membership within moments of the others, so a
 * cluster formed longer ago formed without this data dir — it is a founder whose disk was lost, and
 * starting it as that founder would have it vote and acknowledge with none of what it acknowledged
 * before (Raft's safety rests on durable votes and logs).
 */
export const FORMING_GRACE_MS = 60_000;
/** Pause between rounds of probing founders that did not answer yet. */
const PROBE_RETRY_MS = 250;
const PROBE_TIMEOUT_MS = 2000;
/** How often a founder still waiting for others says so. */
const WAITING_LOG_MS = 5000;

export interface ClusterMember {
  readonly id: NodeId;
  /** host:port other brokers dial for Raft and forwarding. */
  readonly peer: string;
}

export interface ClusterMembership {
  readonly clusterId: string;
  /** The founders (the controller's starting table). */
  readonly members: readonly ClusterMember[];
  readonly replicationFactor: number;
  /** A broker that joined a running cluster: the id the controller gave it (founders take theirs from --node-id). */
  readonly self?: NodeId | undefined;
  /** A joined broker's partition count, as the cluster it joined has. */
  readonly partitions?: number | undefined;
  /** When this founder wrote the membership (ms since the epoch, its own clock). */
  readonly formedAt?: number | undefined;
  /** Ids this data dir had before it was rebuilt as `self` (--rebuild-when-damaged): its flags may still name one. */
  readonly formerIds?: readonly NodeId[] | undefined;
}

/** Where a joining broker keeps its incarnation (joining.ts), written before it asks to join. */
export const INCARNATION_FILE = 'incarnation';

/** A founder started on an empty data dir after the cluster formed; `seed`, when known, is a member that said so. */
export class LostFounderError extends FloError {
  constructor(detail: string, readonly seed?: PeerAddress) {
    super('FLO_ERR_DATA_DIR_MISMATCH', detail);
  }
}

/**
 * cluster.json cannot be read: a hand edit or a damaged file. The store beside it may be intact, so this is
 * never a reason to rebuild the member (--rebuild-when-damaged leaves it alone): the file is restored by hand.
 */
export class MembershipFileError extends FloError {
  constructor(path: string, problem: string) {
    super('FLO_ERR_STORAGE_CORRUPT', `${path} ${problem}: restore it from another member's data dir (only "members" matter) or undo the edit; the store beside it was not touched`);
  }
}

const isPositiveId = (value: unknown): boolean => Number.isSafeInteger(value) && (value as number) > 0;

/** The first field of a parsed cluster.json this broker cannot use, described, or undefined when all are. */
function membershipFileProblem(parsed: Record<string, unknown>): string | undefined {
  if (parsed.format !== CLUSTER_FILE_FORMAT) return `has "format" ${JSON.stringify(parsed.format)}, not ${CLUSTER_FILE_FORMAT}`;
  if (typeof parsed.clusterId !== 'string') return 'has no string "clusterId"';
  const members = parsed.members;
  if (!Array.isArray(members) || members.length === 0) return 'has no "members" list';
  const bad = (members as Array<{ id?: unknown; peer?: unknown } | null>).findIndex((member) => member === null || typeof member !== 'object' || !isPositiveId(member.id) || typeof member.peer !== 'string');
  if (bad >= 0) return `has a "members" entry (${JSON.stringify(members[bad])}) without a positive integer "id" and a string "peer"`;
  const ids = (members as Array<{ id: number }>).map((member) => member.id);
  if (new Set(ids).size !== ids.length) return `lists a member id twice (${ids.join(', ')})`;
  if (!Number.isSafeInteger(parsed.replicationFactor)) return 'has no integer "replicationFactor"';
  if (parsed.self !== undefined && !isPositiveId(parsed.self)) return `has "self" ${JSON.stringify(parsed.self)}, not a positive integer`;
  if (parsed.partitions !== undefined && !isPositiveId(parsed.partitions)) return `has "partitions" ${JSON.stringify(parsed.partitions)}, not a positive integer`;
  if (parsed.formerIds !== undefined && !(Array.isArray(parsed.formerIds) && parsed.formerIds.every(isPositiveId))) return `has "formerIds" ${JSON.stringify(parsed.formerIds)}, not a list of positive integers`;
  return undefined;
}

export async function readMembership(dataDir: string): Promise<ClusterMembership | undefined> {
  const path = join(dataDir, CLUSTER_FILE);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new MembershipFileError(path, 'is not JSON');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new MembershipFileError(path, 'is not a JSON object');
  const fields = parsed as Record<string, unknown>;
  const problem = membershipFileProblem(fields);
  if (problem !== undefined) throw new MembershipFileError(path, problem);
  return {
    clusterId: fields.clusterId as string,
    members: (fields.members as Array<{ id: number; peer: string }>).map((member) => ({ id: member.id, peer: member.peer })),
    replicationFactor: fields.replicationFactor as number,
    ...(fields.self === undefined ? {} : { self: fields.self as number }),
    ...(fields.partitions === undefined ? {} : { partitions: fields.partitions as number }),
    ...(Number.isSafeInteger(fields.formedAt) ? { formedAt: fields.formedAt as number } : {}),
    ...(fields.formerIds === undefined ? {} : { formerIds: fields.formerIds as number[] }),
  };
}

/** Written to a temporary file, fsynced, renamed over, and the directory fsynced: a crash leaves the old file or the new. */
export async function writeMembership(dataDir: string, membership: ClusterMembership): Promise<void> {
  await mkdir(dataDir, { recursive: true });
  await replaceFileDurably(dataDir, CLUSTER_FILE, JSON.stringify({ format: CLUSTER_FILE_FORMAT, ...membership }, null, 2) + '\n');
}

export interface FoundingOptions {
  readonly dataDir: string;
  readonly nodeId: NodeId;
  readonly clusterId: string;
  readonly founders: readonly PeerAddress[];
  /** Explicit --replication-factor; default: every founder (this version replicates every partition to all). */
  readonly replicationFactor: number | undefined;
  readonly transport: Pick<TcpTransport, 'probe'>;
  /** Brokers to ask, once every founder answered, whether the cluster already formed (--peers-service). */
  readonly discover?: Discover | undefined;
  /** This broker's partition count: founders that differ would split namespaces differently. */
  readonly partitions?: number | undefined;
  readonly logger: Logger;
  /** Stops waiting (the broker is being stopped). */
  readonly signal?: AbortSignal;
}

/** The membership of this broker's cluster: from its data dir, or found by probing the founders (then saved). */
export async function foundCluster(options: FoundingOptions): Promise<ClusterMembership> {
  const saved = await readMembership(options.dataDir);
  if (saved !== undefined) {
    const checked = checkSaved(saved, options);
    if (saved.self === undefined && Date.now() - (saved.formedAt ?? 0) > FORMING_GRACE_MS && await holdsNoStore(options.dataDir)) {
      throw new LostFounderError(`${options.dataDir} holds this founder's cluster.json but no store, and the cluster formed ${saved.formedAt === undefined ? 'a while' : `${Math.round((Date.now() - saved.formedAt) / 1000)} s`} ago: its data was lost (or the file was copied from another member). It must not come back as node ${options.nodeId} with an empty log: start it with --rebuild-when-damaged and --join (it joins as a new member and retires node ${options.nodeId})`);
    }
    return checked;
  }
  if (await joinUnfinished(options.dataDir)) {
    throw new LostFounderError(`${options.dataDir} holds only the incarnation of a join that did not finish: this founder was joining again as a new member (its data was lost or damaged) when it stopped. With --rebuild-when-damaged and --join it asks again under the same incarnation; it never founds as node ${options.nodeId}`);
  }
  await refuseSingleBrokerData(options.dataDir);
  const rf = options.replicationFactor ?? options.founders.length;
  checkReplicationFactor(rf, options.founders.length);
  const found = await probeFounders(options);
  const members = [...found.entries()].map(([peer, id]) => ({ id, peer })).sort((a, b) => a.id - b.id);
  const membership: ClusterMembership = { clusterId: options.clusterId, members, replicationFactor: rf, formedAt: Date.now() };
  await writeMembership(options.dataDir, membership);
  options.logger.info({ members, replicationFactor: rf }, 'cluster formed: every founder answered');
  return membership;
}

function checkReplicationFactor(rf: number, members: number): void {
  if (!Number.isSafeInteger(rf) || rf < 1 || rf > members) {
    throw new FloError('FLO_ERR_CONFIG_INVALID', `--replication-factor must be from 1 to the number of founders (${members})`);
  }
  // Every broker holds a replica of every partition in this version: reads are served locally everywhere.
  if (rf !== members) {
    throw new FloError('FLO_ERR_CONFIG_INVALID',
      `this version replicates every partition to every founder: with ${members} founders the replication factor is ${members} (pass --replication-factor ${members}); fewer replicas than brokers comes with cluster membership (docs/cluster.md)`);
  }
}

function checkSaved(saved: ClusterMembership, options: FoundingOptions): ClusterMembership {
  const file = join(options.dataDir, CLUSTER_FILE);
  if (saved.self !== undefined) return saved; // joined later: checked by the joiner (joining.ts)
  if (!saved.members.some((member) => member.id === options.nodeId)) {
    throw new FloError('FLO_ERR_DATA_DIR_MISMATCH', `${options.dataDir} belongs to cluster members ${saved.members.map((m) => m.id).join(', ')}, not to node ${options.nodeId} (${file})`);
  }
  if (saved.clusterId !== options.clusterId) {
    throw new FloError('FLO_ERR_DATA_DIR_MISMATCH', `${options.dataDir} belongs to cluster "${saved.clusterId}", not "${options.clusterId}" (--cluster-id)`);
  }
  if (options.replicationFactor !== undefined && options.replicationFactor !== saved.replicationFactor) {
    throw new FloError('FLO_ERR_DATA_DIR_MISMATCH', `${options.dataDir} was formed with replication factor ${saved.replicationFactor}; --replication-factor ${options.replicationFactor} cannot change it`);
  }
  const given = new Set(options.founders.map(formatPeerAddress));
  const kept = new Set(saved.members.map((member) => member.peer));
  if (given.size !== kept.size || [...given].some((peer) => !kept.has(peer))) {
    // Addresses may change (a new pod IP behind the same name is fine): the saved ids decide, the file is kept.
    options.logger.warn({ peers: [...given], saved: [...kept] }, `--peers differs from the membership this cluster formed with (${file}); using the saved membership`);
  }
  return saved;
}

/** Nothing of an event store (LevelDB's files) beside the membership and join files: a founder that never kept data here. */
async function holdsNoStore(dataDir: string): Promise<boolean> {
  const entries = await readdir(dataDir);
  return entries.every((name) => name === 'lost+found' || name.startsWith(CLUSTER_FILE) || name.startsWith(INCARNATION_FILE) || name.startsWith(DAMAGED_PREFIX));
}

/** Only what a join writes before its answer (the incarnation, a store moved aside): a rejoin stopped half-way. */
async function joinUnfinished(dataDir: string): Promise<boolean> {
  const entries = await readdir(dataDir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const rest = entries.filter((name) => name !== 'lost+found' && name !== `${INCARNATION_FILE}.tmp` && !name.startsWith(DAMAGED_PREFIX));
  return rest.length === 1 && rest[0] === INCARNATION_FILE;
}

export async function refuseSingleBrokerData(dataDir: string, allowed: readonly string[] = [], allowedPrefix?: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(dataDir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  }
  // lost+found: an ext4 volume's own directory, there from its first mount (most block storage on Kubernetes).
  if (entries.some((name) => name !== 'lost+found' && !name.startsWith(CLUSTER_FILE) && !allowed.includes(name) && !(allowedPrefix !== undefined && name.startsWith(allowedPrefix)))) {
    throw new FloError('FLO_ERR_DATA_DIR_MISMATCH',
      `${dataDir} holds data of a broker that is not a cluster member (no ${CLUSTER_FILE}): a cluster member starts from an empty data dir. To bring those events into the cluster, replay them out of this broker (flo consume) and produce them into the cluster`);
  }
}

/** Refuses to form with a founder that lists another number of founders or has another partition count. */
function checkAnswer(peer: string, info: MemberInfo, options: FoundingOptions): void {
  if (info.founders != null && info.founders !== options.founders.length) {
    throw new FloError('FLO_ERR_CONFIG_INVALID', `the broker at ${peer} lists ${info.founders} founders in --peers, this one ${options.founders.length}: give every founder the same --peers`);
  }
  if (info.partitions != null && options.partitions !== undefined && info.partitions !== options.partitions) {
    throw new FloError('FLO_ERR_CONFIG_INVALID', `the broker at ${peer} has ${info.partitions} partitions, this one ${options.partitions}: every member needs the same --partitions`);
  }
}

/** Throws when a broker that belongs to the formed cluster says this founder ran before (data dir empty now). */
function refuseIfLost(peer: string, address: PeerAddress, info: MemberInfo, options: FoundingOptions, answeredAs: NodeId): void {
  // This broker has formed nothing (it would answer without members): a member answering with its id is
  // another process, running as this node. Not a lost volume: rebuilding would retire a live member.
  if (answeredAs === options.nodeId) {
    throw new FloError('FLO_ERR_CONFIG_INVALID', `node ${options.nodeId} is running at ${peer}, a member of the formed cluster: this broker was started with its --node-id on another data dir (${options.dataDir}). Stop this one, or give it the flags of the broker it should be (check --node-id, -d and --peer-port)`);
  }
  const ago = info.formedAgoMs ?? Infinity;
  if (!(ago > FORMING_GRACE_MS || info.seen === true)) return;
  const why = info.seen === true ? `the broker at ${peer} has already replicated with node ${options.nodeId}`
    : `the cluster formed ${Number.isFinite(ago) ? `${Math.round(ago / 1000)} s ago` : 'a while ago'} (the broker at ${peer} says so)`;
  throw new LostFounderError(
    `${why}, and this data dir is empty: a founder whose data was lost must not come back as itself (it would vote without what it acknowledged). Start it with --rebuild-when-damaged and --join (it joins as a new member and retires node ${options.nodeId}), or with an empty data dir and --join ${peer} only, then remove node ${options.nodeId} (DELETE /v1/admin/members/${options.nodeId}?force=true)`,
    address);
}

/**
 * Waits until every address behind --peers-service has answered once (this broker among them,
 * answering as not formed), refusing as lost if one belongs to the formed cluster. A lookup that
 * fails or finds nobody is waited out, never taken as "nobody formed": a lone founder that formed
 * while the others were down or DNS was failing would start a second cluster under the same id.
 */
async function askDiscovered(options: FoundingOptions): Promise<void> {
  if (options.discover === undefined) return;
  const answered = new Set<string>();
  let lastLog = performance.now();
  for (;;) {
    if (options.signal?.aborted) throw new FloError('FLO_ERR_SHUTTING_DOWN', 'stopped while asking the brokers behind --peers-service');
    const discovered = await options.discover();
    await Promise.all(discovered.filter((address) => !answered.has(formatPeerAddress(address))).map(async (address) => {
      const answer = await options.transport.probe(address, PROBE_TIMEOUT_MS).catch(() => undefined);
      if (answer === undefined) return;
      if (answer.info.members) refuseIfLost(formatPeerAddress(address), address, answer.info, options, answer.id);
      answered.add(formatPeerAddress(address));
    }));
    const waiting = discovered.map(formatPeerAddress).filter((peer) => !answered.has(peer));
    if (discovered.length > 0 && waiting.length === 0) return;
    if (performance.now() - lastLog > WAITING_LOG_MS) {
      lastLog = performance.now();
      options.logger.info({ waitingFor: waiting }, discovered.length === 0
        ? 'forming the cluster: --peers-service resolves to nobody yet; waiting (a founder must not form alone what may have formed before)'
        : 'forming the cluster: waiting for every broker behind --peers-service to answer once');
    }
    await new Promise((resolve) => setTimeout(resolve, PROBE_RETRY_MS));
  }
}

/** Probes every founder address until each has answered once; resolves with address → id. */
async function probeFounders(options: FoundingOptions): Promise<Map<string, NodeId>> {
  const found = new Map<string, NodeId>();
  const addresses = new Map(options.founders.map((address) => [formatPeerAddress(address), address]));
  if (addresses.size !== options.founders.length) throw new FloError('FLO_ERR_CONFIG_INVALID', '--peers lists an address twice');
  const formedElsewhere = new Map<string, readonly number[]>();
  let lastLog = performance.now();
  for (;;) {
    if (options.signal?.aborted) throw new FloError('FLO_ERR_SHUTTING_DOWN', 'stopped while waiting for the founders');
    const round = await Promise.all([...addresses].filter(([peer]) => !found.has(peer)).map(async ([peer, address]) => {
      try {
        return { peer, address, answer: await options.transport.probe(address, PROBE_TIMEOUT_MS) };
      } catch {
        return undefined; // not up yet: the next round asks again
      }
    }));
    const answered = round.filter((entry) => entry !== undefined);
    // A member running as this node is the finding to report first: the others' "formed long ago" would read as a lost volume.
    answered.sort((a, b) => Number(b.answer.id === options.nodeId) - Number(a.answer.id === options.nodeId));
    for (const { peer, address, answer } of answered) {
      checkAnswer(peer, answer.info, options);
      if (answer.info.members) {
        refuseIfLost(peer, address, answer.info, options, answer.id);
        formedElsewhere.set(peer, answer.info.members);
      }
      found.set(peer, answer.id);
    }
    const ids = [...found.values()];
    const duplicate = ids.find((id, i) => ids.indexOf(id) !== i);
    if (duplicate !== undefined) {
      const peers = [...found].filter(([, id]) => id === duplicate).map(([peer]) => peer);
      throw new FloError('FLO_ERR_CONFIG_INVALID', `two founders have node id ${duplicate} (${peers.join(', ')}): every broker needs its own --node-id`);
    }
    if (found.size === addresses.size) {
      // A founder that already formed a cluster must have formed this one: same members.
      const ours = [...new Set(ids)].sort((a, b) => a - b).join(',');
      for (const [peer, members] of formedElsewhere) {
        if ([...members].sort((a, b) => a - b).join(',') !== ours) {
          throw new FloError('FLO_ERR_CONFIG_INVALID', `the broker at ${peer} already belongs to a cluster of members ${members.join(', ')}, not of ${ours.replace(/,/g, ', ')}: give every founder the same --peers (or empty data dirs to start again)`);
        }
      }
      if (!ids.includes(options.nodeId)) {
        throw new FloError('FLO_ERR_CONFIG_INVALID', `--peers does not include this broker's own peer address (node ${options.nodeId} answered at none of ${[...addresses.keys()].join(', ')})`);
      }
      await askDiscovered(options);
      return found;
    }
    if (performance.now() - lastLog > WAITING_LOG_MS) {
      lastLog = performance.now();
      options.logger.info({ waitingFor: [...addresses.keys()].filter((peer) => !found.has(peer)) }, 'forming the cluster: waiting for every founder to answer once');
    }
    await new Promise((resolve) => setTimeout(resolve, PROBE_RETRY_MS));
  }
}
