// The root pino logger: JSON lines in production, pretty when asked or when
// stdout is a terminal. Components get children ({component, node, ...}).
import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface LoggerOptions {
  level?: LogLevel | undefined;
  pretty?: boolean | undefined;
  /** Where JSON lines go; defaults to stdout. */
  destination?: NodeJS.WritableStream | undefined;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  const level = options.level ?? 'info';
  const usePretty = options.pretty ?? Boolean(process.stdout.isTTY);
  if (usePretty) return pino({ level }, pretty({ colorize: Boolean(process.stdout.isTTY), translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }));
  return pino({ level }, options.destination ?? process.stdout);
}
