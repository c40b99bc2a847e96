// `flo server`: runs a broker until SIGTERM/SIGINT, then shuts down gracefully
// (stop accepting, let accepted appends commit, close storage). Every option
// can come from an environment variable, which is how Kubernetes configures it.
import { Command, InvalidArgumentError, Option } from 'commander';
import { Broker } from '../broker/broker.js';
import { parsePeerAddress } from '../broker/cluster/founding.js';
import type { ClusterOptions } from '../broker/cluster/peering.js';
import { loadClusterSecret } from '../broker/cluster/secret.js';
import { parseRetentionRules } from '../broker/partitions/retention.js';
import { loadAccessTokens } from '../broker/api/auth.js';
import {
  DEFAULT_CACHE_BYTES,
  DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
  DEFAULT_MAX_CONNECTIONS,
  DEFAULT_MAX_EVENT_BYTES,
  DEFAULT_PARTITIONS,
  DEFAULT_REQUEST_TIMEOUT_MS,
} from '../common/bounds.js';
import { FloError } from '../common/errors.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../common/logger.js';
import { parseDurationMs, parseSizeBytes } from '../common/units.js';
import { MIN_CATCH_UP_BYTES_PER_SECOND } from '../broker/cluster/transfer-budget.js';
import { parsePort, parsePositiveInt, reportFailure } from './common.js';

interface ServerFlags {
  dataDir: string;
  port: number;
  host: string;
  partitions?: number;
  durability: 'fsync' | 'os';
  logLevel: LogLevel;
  pretty?: boolean;
  maxEventBytes: number;
  cacheBytes: number;
  retention?: string;
  nodeId?: string;
  peers?: string[];
  join?: string;
  ordinalNodeId?: boolean;
  rebuildWhenDamaged?: boolean;
  peersService?: string;
  catchUpRate?: number;
  peerHost?: string;
  peerPort: number;
  advertiseUrl?: string;
  advertisePeer?: string;
  replicationFactor?: number;
  clusterId?: string;
  clusterSecretFile?: string;
  recoverStore?: boolean;
  authTokensFile?: string;
  allowedOrigins?: string[];
  allowedHosts?: string[];
  requestTimeout: number;
  keepAliveTimeout: number;
  maxConnections: number;
}

function parseBytes(value: string): number {
  try {
    return parseSizeBytes(value, 'size');
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function parseDuration(value: string): number {
  try {
    return parseDurationMs(/^\d+$/.test(value) ? Number(value) : value, 'duration');
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

function parseList(value: string): string[] {
  return value.split(',').map((item) => item.trim()).filter((item) => item !== '');
}

export function serverCommand(): Command {
  return new Command('server')
    .description('run a Flo broker')
    .addOption(new Option('-d, --data-dir <dir>', 'where the broker keeps its data').env('FLO_DATA_DIR').default('./data'))
    .addOption(new Option('-p, --port <port>', 'HTTP/WebSocket port').env('FLO_PORT').default(3000).argParser(parsePort))
    .addOption(new Option('--host <host>', 'address to listen on (0.0.0.0 for all)').env('FLO_HOST').default('127.0.0.1'))
    .addOption(new Option('--partitions <n>', `partitions of a new data dir (fixed afterwards; default ${DEFAULT_PARTITIONS})`).env('FLO_PARTITIONS').argParser(parsePositiveInt))
    .addOption(new Option('--durability <mode>', 'fsync: ack after fsync; os: ack after the OS has the write (faster, loses recent acks on power loss)').env('FLO_DURABILITY').choices(['fsync', 'os']).default('fsync'))
    .addOption(new Option('--max-event-bytes <size>', 'largest event payload').env('FLO_MAX_EVENT_BYTES').default(DEFAULT_MAX_EVENT_BYTES).argParser(parseBytes))
    .addOption(new Option('--cache-bytes <size>', 'read cache size').env('FLO_CACHE_BYTES').default(DEFAULT_CACHE_BYTES).argParser(parseBytes))
    .addOption(new Option('--retention <json>', 'retention rules, a JSON array of {namespace, maxAge, maxEvents, maxBytes}').env('FLO_RETENTION'))
    .addOption(new Option('--node-id <n>', 'this broker\'s member id, a positive integer kept in the data dir and never reused (required with --peers; alone: generated once)').env('FLO_NODE_ID').argParser(parseNodeId))
    .addOption(new Option('--peers <list>', 'founding members\' peer addresses host:port, comma-separated, the same list on every founder, its own included; without it the broker is a one-member cluster').env('FLO_PEERS').argParser(parseList))
    .addOption(new Option('--join <host:port>', 'join the running cluster of the member at this peer address: an empty data dir is given a new id (no --node-id, no --peers needed); a data dir that joined before just starts').env('FLO_JOIN'))
    .addOption(new Option('--ordinal-node-id', 'a founder takes its --node-id from the ordinal ending its pod name (FLO_POD_NAME or HOSTNAME, e.g. flo-2 → 3); a broker not in --peers joins (--join) and is given an id (for StatefulSets, where every pod has the same flags)').env('FLO_ORDINAL_NODE_ID'))
    .addOption(new Option('--rebuild-when-damaged', 'with --join: a store that fails verification at start is moved into damaged-<time>/ in the data dir, and a founder whose data dir is empty after the cluster formed (a lost volume) is not refused; either joins again as a new member, retiring its old id (its replicas are rebuilt from the others)').env('FLO_REBUILD_WHEN_DAMAGED'))
    .addOption(new Option('--peers-service <name>', 'with --peers or --join: a DNS name resolving to every member (a headless Service; host or host:port, the port defaults to --peer-port): a founder with an empty data dir asks each whether the cluster already formed, and a join asks them when --join names this broker').env('FLO_PEERS_SERVICE'))
    .addOption(new Option('--peer-port <port>', 'port of the Raft/peer listener (with --peers or --join)').env('FLO_PEER_PORT').default(4000).argParser(parsePort))
    .addOption(new Option('--peer-host <host>', 'address of the peer listener (default: --host)').env('FLO_PEER_HOST'))
    .addOption(new Option('--advertise-url <url>', 'the URL clients use to reach this broker (default: the address it listens on)').env('FLO_ADVERTISE_URL'))
    .addOption(new Option('--advertise-peer <host:port>', 'the address other brokers dial to reach this one (default: peer host:port)').env('FLO_ADVERTISE_PEER'))
    .addOption(new Option('--replication-factor <n>', 'replicas of each partition (this version: the number of founders, the default; fixed when the cluster forms)').env('FLO_REPLICATION_FACTOR').argParser(parsePositiveInt))
    .addOption(new Option('--catch-up-rate <size>', 'bytes per second this broker sends to replicas catching up, all of them together (a new member, a rebuilt disk; default 100Mi)').env('FLO_CATCH_UP_RATE').argParser(parseBytes))
    .addOption(new Option('--cluster-id <name>', 'names the cluster: brokers of another cluster are refused on the peer port (default: flo)').env('FLO_CLUSTER_ID'))
    .addOption(new Option('--cluster-secret-file <file>', 'file holding the shared secret every member proves in the peer handshake (FLO_CLUSTER_SECRET takes the secret itself)').env('FLO_CLUSTER_SECRET_FILE'))
    .addOption(new Option('--recover-store', 'start even if the store fails verification: keep what verifies, drop the rest and log what was lost (docs/operations.md)').env('FLO_RECOVER_STORE'))
    .addOption(new Option('--auth-tokens-file <file>', 'bearer tokens, one "role:token" per line (roles read, write, admin); FLO_AUTH_TOKENS takes the same entries comma-separated; with neither the broker is open').env('FLO_AUTH_TOKENS_FILE'))
    .addOption(new Option('--allowed-origins <origins>', 'comma-separated web origins allowed besides same-origin and loopback (or *)').env('FLO_ALLOWED_ORIGINS').argParser(parseList))
    .addOption(new Option('--allowed-hosts <names>', 'comma-separated Host names a broker on loopback answers to besides localhost').env('FLO_ALLOWED_HOSTS').argParser(parseList))
    .addOption(new Option('--request-timeout <duration>', 'time a client has to send a whole request').env('FLO_REQUEST_TIMEOUT').default(DEFAULT_REQUEST_TIMEOUT_MS, '30s').argParser(parseDuration))
    .addOption(new Option('--keep-alive-timeout <duration>', 'how long an idle keep-alive connection stays open').env('FLO_KEEP_ALIVE_TIMEOUT').default(DEFAULT_KEEP_ALIVE_TIMEOUT_MS, '72s').argParser(parseDuration))
    .addOption(new Option('--max-connections <n>', 'most open client connections; more are answered 503').env('FLO_MAX_CONNECTIONS').default(DEFAULT_MAX_CONNECTIONS).argParser(parsePositiveInt))
    .addOption(new Option('--log-level <level>', 'log level').env('FLO_LOG_LEVEL').choices(LOG_LEVELS).default('info'))
    .addOption(new Option('--pretty', 'human-readable logs (default when stdout is a terminal)').env('FLO_PRETTY'))
    .action(async (flags: ServerFlags, command: Command) => {
      try {
        await runServer(withFalseEnvFlags(flags, command));
      } catch (error) {
        reportFailure(error);
      }
    });
}

async function runServer(flags: ServerFlags): Promise<void> {
  const logger = createLogger({ level: flags.logLevel, pretty: flags.pretty });
  const retention = flags.retention === undefined ? undefined : parseRetentionFlag(flags.retention);
  const authTokens = await loadAccessTokens({ file: flags.authTokensFile, inline: process.env.FLO_AUTH_TOKENS });
  const cluster = await clusterOptions(flags);
  const broker = await Broker.start({
    cluster,
    advertiseUrl: flags.advertiseUrl,
    dataDir: flags.dataDir,
    port: flags.port,
    host: flags.host,
    partitions: flags.partitions,
    durability: flags.durability,
    maxEventBytes: flags.maxEventBytes,
    cacheBytes: flags.cacheBytes,
    nodeId: flags.nodeId,
    recoverStore: flags.recoverStore,
    retention,
    logger,
    authTokens,
    allowedOrigins: flags.allowedOrigins,
    allowedHosts: flags.allowedHosts,
    requestTimeoutMs: flags.requestTimeout,
    keepAliveTimeoutMs: flags.keepAliveTimeout,
    maxConnections: flags.maxConnections,
  });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    broker.close().then(
      () => logger.info('stopped'),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exitCode = 1;
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

function parseNodeId(value: string): string {
  if (!/^[1-9]\d{0,9}$/.test(value.trim()) || Number(value) > 0xffffffff) throw new InvalidArgumentError('a positive whole number (1, 2, 3, …)');
  return value.trim();
}

const CLUSTER_ONLY_FLAGS = ['advertisePeer', 'replicationFactor', 'clusterId', 'clusterSecretFile', 'catchUpRate'] as const;

/** The cluster flags as Broker options; none of them without --peers or --join, and --peers needs --node-id. */
async function clusterOptions(flags: ServerFlags): Promise<ClusterOptions | undefined> {
  const joining = flags.join !== undefined && flags.join.trim() !== '';
  if ((flags.peers === undefined || flags.peers.length === 0) && !joining) {
    const stray = CLUSTER_ONLY_FLAGS.find((name) => flags[name] !== undefined);
    if (stray !== undefined) throw new FloError('FLO_ERR_CONFIG_INVALID', `--${stray.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --peers (FLO_PEERS) or --join (FLO_JOIN): a broker without peers is a one-member cluster`);
    return undefined;
  }
  const fromOrdinal = flags.ordinalNodeId === true && flags.nodeId === undefined ? ordinalNodeId() : undefined;
  if (flags.nodeId === undefined && fromOrdinal === undefined && !joining) throw new FloError('FLO_ERR_CONFIG_INVALID', '--peers needs --node-id (FLO_NODE_ID): each founder\'s own positive integer, e.g. --node-id 1 (a broker that joins a running cluster with --join is given one)');
  if (flags.rebuildWhenDamaged === true && !joining) throw new FloError('FLO_ERR_CONFIG_INVALID', '--rebuild-when-damaged needs --join (FLO_JOIN): the member it joins again through');
  if (flags.catchUpRate !== undefined && flags.catchUpRate < MIN_CATCH_UP_BYTES_PER_SECOND) {
    throw new FloError('FLO_ERR_CONFIG_INVALID', `--catch-up-rate ${flags.catchUpRate} is below ${MIN_CATCH_UP_BYTES_PER_SECOND} bytes per second, too slow to send a replica even the smallest reply (64 KiB) before it asks again`);
  }
  const secret = await loadClusterSecret(flags.clusterSecretFile, process.env.FLO_CLUSTER_SECRET);
  return {
    nodeId: flags.nodeId === undefined ? fromOrdinal : Number(flags.nodeId),
    nodeIdFromOrdinal: fromOrdinal !== undefined,
    rebuildWhenDamaged: flags.rebuildWhenDamaged === true,
    peersService: flags.peersService === undefined || flags.peersService.trim() === '' ? undefined : flags.peersService,
    join: joining ? parsePeerAddress(flags.join!, '--join') : undefined,
    peers: (flags.peers ?? []).map((peer) => parsePeerAddress(peer)),
    peerHost: flags.peerHost,
    peerPort: flags.peerPort,
    advertiseUrl: flags.advertiseUrl,
    advertisePeer: flags.advertisePeer,
    replicationFactor: flags.replicationFactor,
    clusterId: flags.clusterId,
    secret,
    catchUpBytesPerSecond: flags.catchUpRate,
  };
}

/** 1 + the ordinal a StatefulSet puts at the end of its pod names ("flo-2" → 3). */
function ordinalNodeId(): number {
  const name = process.env.FLO_POD_NAME ?? process.env.HOSTNAME ?? '';
  const match = /-(\d{1,9})$/.exec(name);
  if (match === null) throw new FloError('FLO_ERR_CONFIG_INVALID', `--ordinal-node-id: the pod name "${name}" (FLO_POD_NAME, else HOSTNAME) does not end in -<ordinal>`);
  return Number(match[1]) + 1;
}

function parseRetentionFlag(text: string): ReturnType<typeof parseRetentionRules> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new FloError('FLO_ERR_CONFIG_INVALID', '--retention / FLO_RETENTION must be a JSON array, e.g. [{"namespace":"/logs/**","maxAge":"7d"}]');
  }
  return parseRetentionRules(parsed);
}

const FALSE_WORDS = /^(false|0|no|off)$/i;

/**
 * A boolean flag set through its environment variable is on for any value (commander only checks
 * that the variable exists); FLO_REBUILD_WHEN_DAMAGED=false must turn it off, not on.
 */
function withFalseEnvFlags(flags: ServerFlags, command: Command): ServerFlags {
  const result: Record<string, unknown> = { ...flags };
  for (const option of command.options) {
    const key = option.attributeName();
    if (option.isBoolean() && option.envVar !== undefined && command.getOptionValueSource(key) === 'env' && FALSE_WORDS.test((process.env[option.envVar] ?? '').trim())) result[key] = false;
  }
  return result as unknown as ServerFlags;
}
