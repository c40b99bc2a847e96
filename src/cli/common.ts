// What every flo command shares: the --url and --token options, number parsing
// that rejects junk with a clear message, the one-line error exit, and progress lines.
import { InvalidArgumentError, Option, type Command } from 'commander';
import { normalizeBrokerUrls } from '../client/http.js';
import { FloError } from '../common/errors.js';

export const DEFAULT_URL = 'http://127.0.0.1:3000';

/** What --url and --token give a client command. */
export interface BrokerFlags {
  /** One broker URL, or several of one cluster separated by commas, each normalised. */
  url: string;
  token?: string;
}

/** Adds --url (env FLO_URL) and --token (env FLO_TOKEN) to a client command. */
export function addBrokerOptions(command: Command): Command {
  return command
    .addOption(new Option('--url <urls>', 'broker URL, or several brokers of a cluster separated by commas; "localhost:3000" means http://localhost:3000').env('FLO_URL').default(DEFAULT_URL).argParser(parseBrokerUrl))
    .addOption(new Option('--token <token>', 'bearer token for a broker with authentication (prefer the env var: flags show in ps)').env('FLO_TOKEN'));
}

/** "a:3001,b:3002" -> "http://a:3001,http://b:3002": the client takes the list as one string. */
export function parseBrokerUrl(value: string): string {
  try {
    return normalizeBrokerUrls(value).join(',');
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
}

export function parsePositiveInt(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed <= 0) throw new InvalidArgumentError('expected a positive whole number');
  return parsed;
}

export function parsePort(value: string): number {
  const parsed = Number(value);
  if (!/^\d+$/.test(value.trim()) || parsed > 65535) throw new InvalidArgumentError('expected a port number from 0 to 65535');
  return parsed;
}

/** Prints one line for a failure and sets a non-zero exit code; stack traces only with FLO_DEBUG. */
export function reportFailure(error: unknown): void {
  const message = error instanceof FloError ? `${error.message} (${error.code})` : error instanceof Error ? error.message : String(error);
  process.stderr.write(`flo: ${message}\n`);
  if (process.env.FLO_DEBUG && error instanceof Error && error.stack) process.stderr.write(error.stack + '\n');
  process.exitCode = 1;
}

/** A progress line on stderr, redrawn at most once a second, only on a terminal and after the first second. */
export class Progress {
  private readonly startedAt = Date.now();
  private lastDrawnAt = this.startedAt;
  private drawn = false;
  count = 0;

  constructor(private readonly verb: string, private readonly enabled = Boolean(process.stderr.isTTY)) {}

  tick(by = 1): void {
    this.count += by;
    if (!this.enabled) return;
    const now = Date.now();
    if (now - this.lastDrawnAt < 1000) return;
    this.lastDrawnAt = now;
    this.drawn = true;
    const rate = Math.round(this.count / ((now - this.startedAt) / 1000));
    process.stderr.write(`\r${this.verb} ${this.count.toLocaleString('en-US')} events (${rate.toLocaleString('en-US')}/s)   `);
  }

  finish(): void {
    if (this.drawn) process.stderr.write(`\r${this.verb} ${this.count.toLocaleString('en-US')} events in ${((Date.now() - this.startedAt) / 1000).toFixed(1)} s\n`);
  }
}
