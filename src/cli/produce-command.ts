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

async function produceLines(client: FloClient, flags: ProduceFlags): Promise<void> {
  const progress = new Progress('produced');
  const window: Array<Promise<string>> = [];
  const lines = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    window.push(client.produce({ namespace: flags.namespace, data: line, parentId: flags.parent }));
    if (window.length >= WINDOW_EVENTS) {
      print(await window.shift()!, flags.json);
      progress.tick();
    }
  }
  while (window.length > 0) {
    print(await window.shift()!, flags.json);
    progress.tick();
  }
  progress.finish();
}

function print(id: string, json: boolean | undefined): void {
  process.stdout.write(json ? `${JSON.stringify({ id })}\n` : `${id}\n`);
}

