// `flo server`: runs a broker until SIGTERM/SIGINT, then shuts down gracefully
// (stop accepting, let accepted appends commit, close storage). Every option
// can come from an environment variable, which is how Kubernetes configures it.
import { Command, InvalidArgumentError, Option } from 'commander';
import { Broker } from '../broker/broker.js';
import { parseRetentionRules } from '../broker/partitions/retention.js';
import { DEFAULT_CACHE_BYTES, DEFAULT_MAX_EVENT_BYTES, DEFAULT_PARTITIONS } from '../common/bounds.js';
import { FloError } from '../common/errors.js';
import { createLogger, LOG_LEVELS, type LogLevel } from '../common/logger.js';
import { parseSizeBytes } from '../common/units.js';
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
}

function parseBytes(value: string): number {
  try {
    return parseSizeBytes(value, 'size');
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
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
  const broker = await Broker.start({
    dataDir: flags.dataDir,
    port: flags.port,
    host: flags.host,
    partitions: flags.partitions,
    durability: flags.durability,
    maxEventBytes: flags.maxEventBytes,
    cacheBytes: flags.cacheBytes,
    nodeId: flags.nodeId,
    retention,
    logger,
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
