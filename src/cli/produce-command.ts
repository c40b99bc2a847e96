// `flo produce`: one event from -d, or one event per stdin line (like kcat -P),
// printing each id as soon as it and every line before it are acknowledged, so
// the output streams and an interrupted run has printed every id it stored. Up
// to a window of events is in flight at once, so piping a large file streams at
// full speed.
import { createInterface } from 'node:readline';
import { Command } from 'commander';
import { connect, type FloClient } from '../client/client.js';
import { FloError } from '../common/errors.js';
import { addBrokerOptions, Progress, reportFailure, type BrokerFlags } from './common.js';

/** Events sent and not yet acknowledged while reading stdin. */
const WINDOW_EVENTS = 2000;

interface ProduceFlags extends BrokerFlags {
  namespace: string;
  data?: string;
  parent?: string;
  json?: boolean;
}

export function produceCommand(): Command {
  const command = new Command('produce')
    .description('append events: -d DATA for one event, or one event per line of stdin')
    .requiredOption('-n, --namespace <namespace>', 'namespace of the events, e.g. /food/breakfast/eggs')
    .option('-d, --data <data>', 'payload of a single event (UTF-8 text); without it, stdin is read line by line')
    .option('--parent <id>', 'id of the event this one responds to (sets parentId)')
    .option('--json', 'print {"id": ...} objects instead of bare ids');
  return addBrokerOptions(command).action(async (flags: ProduceFlags) => {
    let client: FloClient | undefined;
    try {
      client = await connect(flags.url, { token: flags.token });
      if (flags.data !== undefined) print(await client.produce({ namespace: flags.namespace, data: flags.data, parentId: flags.parent }), flags.json);
      else await produceLines(client, flags);
    } catch (error) {
      reportFailure(error);
    } finally {
      await client?.close();
    }
  });
}

interface Pending {
  readonly line: number;
  done: boolean;
  id?: string;
  error?: Error;
}

/**
 * Prints ids in input order as acks arrive. On the first failure (or Ctrl-C) it
 * stops reading stdin, still prints every id that was acknowledged (so a rerun
 * knows what is stored), reports the failure once and exits non-zero.
 */
async function produceLines(client: FloClient, flags: ProduceFlags): Promise<void> {
  const progress = new Progress('produced');
  const window: Pending[] = [];
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let failure: { line: number; error: Error } | undefined;
  let interrupted = false;
  let wake: (() => void) | undefined;
  const drain = (): void => {
    while (window.length > 0 && window[0]!.done) {
      const entry = window.shift()!;
      if (entry.error) failure ??= { line: entry.line, error: entry.error };
      else {
        print(entry.id!, flags.json);
        progress.tick();
      }
    }
    wake?.();
  };
  const room = (limit: number): Promise<void> => window.length <= limit ? Promise.resolve() : new Promise((resolve) => (wake = () => window.length <= limit && resolve()));
  const onSignal = (): void => {
    interrupted = true;
    lines.close();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    let lineNumber = 0;
    for await (const line of lines) {
      const entry: Pending = { line: ++lineNumber, done: false };
      window.push(entry);
      void client.produce({ namespace: flags.namespace, data: line, parentId: flags.parent }).then(
        (id) => Object.assign(entry, { done: true, id }),
        (error: Error) => Object.assign(entry, { done: true, error }),
      ).finally(drain);
      await room(WINDOW_EVENTS - 1);
      if (failure || interrupted) break;
    }
    lines.close();
    await room(0);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.stdin.destroy();
  }
  progress.finish();
  if (failure) throw lineError(failure.line, failure.error);
  if (interrupted) {
    process.stderr.write(`flo: interrupted; ${progress.count} events stored, their ids printed above\n`);
    process.exitCode = 130;
  }
}

/** The first failed line, said once: errors shared by a batch are not edited in place. */
function lineError(line: number, error: Error): Error {
  const message = `line ${line}: ${error.message}`;
  return error instanceof FloError ? new FloError(error.code, message, { cause: error, status: error.status }) : new Error(message, { cause: error });
}

function print(id: string, json: boolean | undefined): void {
  process.stdout.write(json ? `${JSON.stringify({ id })}\n` : `${id}\n`);
}
