// `flo server`: runs a broker until SIGTERM/SIGINT, then shuts down gracefully
// (stop accepting, let accepted appends commit, close storage). Every option
// can come from an environment variable, which is how Kubernetes configures it.
import { Command, InvalidArgumentError, Option } from 'commander';
import { Broker } from '../broker/broker.js';
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
    .addOption(new Option('--node-id <id>', 'this broker\'s identity (kept in the data dir; default: generated once)').env('FLO_NODE_ID'))
    .addOption(new Option('--recover-store', 'start even if the store fails verification: keep what verifies, drop the rest and log what was lost (docs/operations.md)').env('FLO_RECOVER_STORE'))
    .addOption(new Option('--auth-tokens-file <file>', 'bearer tokens, one "role:token" per line (roles read, write, admin); FLO_AUTH_TOKENS takes the same entries comma-separated; with neither the broker is open').env('FLO_AUTH_TOKENS_FILE'))
    .addOption(new Option('--allowed-origins <origins>', 'comma-separated web origins allowed besides same-origin and loopback (or *)').env('FLO_ALLOWED_ORIGINS').argParser(parseList))
    .addOption(new Option('--allowed-hosts <names>', 'comma-separated Host names a broker on loopback answers to besides localhost').env('FLO_ALLOWED_HOSTS').argParser(parseList))
    .addOption(new Option('--request-timeout <duration>', 'time a client has to send a whole request').env('FLO_REQUEST_TIMEOUT').default(DEFAULT_REQUEST_TIMEOUT_MS, '30s').argParser(parseDuration))
    .addOption(new Option('--keep-alive-timeout <duration>', 'how long an idle keep-alive connection stays open').env('FLO_KEEP_ALIVE_TIMEOUT').default(DEFAULT_KEEP_ALIVE_TIMEOUT_MS, '72s').argParser(parseDuration))
    .addOption(new Option('--max-connections <n>', 'most open client connections; more are answered 503').env('FLO_MAX_CONNECTIONS').default(DEFAULT_MAX_CONNECTIONS).argParser(parsePositiveInt))
    .addOption(new Option('--log-level <level>', 'log level').env('FLO_LOG_LEVEL').choices(LOG_LEVELS).default('info'))
    .addOption(new Option('--pretty', 'human-readable logs (default when stdout is a terminal)').env('FLO_PRETTY'))
    .action(async (flags: ServerFlags) => {
      try {
        await runServer(flags);
      } catch (error) {
        reportFailure(error);
      }
    });
}

async function runServer(flags: ServerFlags): Promise<void> {
  const logger = createLogger({ level: flags.logLevel, pretty: flags.pretty });
  const retention = flags.retention === undefined ? undefined : parseRetentionFlag(flags.retention);
  const authTokens = await loadAccessTokens({ file: flags.authTokensFile, inline: process.env.FLO_AUTH_TOKENS });
  const broker = await Broker.start({
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

function parseRetentionFlag(text: string): ReturnType<typeof parseRetentionRules> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new FloError('FLO_ERR_CONFIG_INVALID', '--retention / FLO_RETENTION must be a JSON array, e.g. [{"namespace":"/logs/**","maxAge":"7d"}]');
  }
  return parseRetentionRules(parsed);
}
