// `flo produce`: one event from -d, or one event per stdin line (like kcat -P),
// printing each acknowledged id in input order. Up to a window of events is in
// flight at once, so piping a large file streams at full speed.
import { createInterface } from 'node:readline';
import { Command } from 'commander';
import { connect, type FloClient } from '../client/client.js';
import { Progress, reportFailure, urlOption } from './common.js';

const WINDOW_EVENTS = 2000;

interface ProduceFlags {
  namespace: string;
  data?: string;
  parent?: string;
  json?: boolean;
  url: string;
}

export function produceCommand(): Command {
  return new Command('produce')
    .description('append events: -d DATA for one event, or one event per line of stdin')
    .requiredOption('-n, --namespace <namespace>', 'namespace of the events, e.g. /food/breakfast/eggs')
    .option('-d, --data <data>', 'payload of a single event (UTF-8 text); without it, stdin is read line by line')
    .option('--parent <id>', 'id of the event this one responds to (sets parentId)')
    .option('--json', 'print {"id": ...} objects instead of bare ids')
    .addOption(urlOption())
    .action(async (flags: ProduceFlags) => {
      let client: FloClient | undefined;
      try {
        client = await connect(flags.url);
        if (flags.data !== undefined) print(await client.produce({ namespace: flags.namespace, data: flags.data, parentId: flags.parent }), flags.json);
        else await produceLines(client, flags);
      } catch (error) {
        reportFailure(error);
      } finally {
        await client?.close();
      }
    });
}

/**
 * Prints ids in input order as acks arrive. On the first failure it stops reading
 * stdin, still prints every id that was acknowledged (so a rerun knows what is
 * stored), reports the failure and exits non-zero.
 */
async function produceLines(client: FloClient, flags: ProduceFlags): Promise<void> {
  const progress = new Progress('produced');
  const window: Array<Promise<string | Error>> = [];
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  let failure: Error | undefined;
  let lineNumber = 0;
  const settle = async (): Promise<void> => {
    const result = await window.shift()!;
    if (result instanceof Error) failure ??= result;
    else {
      print(result, flags.json);
      progress.tick();
    }
  };
  for await (const line of lines) {
    const number = ++lineNumber;
    window.push(client.produce({ namespace: flags.namespace, data: line, parentId: flags.parent }).catch((error: Error) => {
      error.message = `line ${number}: ${error.message}`;
      return error;
    }));
    if (window.length >= WINDOW_EVENTS) await settle();
    if (failure) break;
  }
  lines.close();
  while (window.length > 0) await settle();
  progress.finish();
  if (failure) throw failure;
}

function print(id: string, json: boolean | undefined): void {
  process.stdout.write(json ? `${JSON.stringify({ id })}\n` : `${id}\n`);
}

