#!/usr/bin/env node
// The `flo` command: server, produce, consume, cluster, operator.
import { Command } from 'commander';
import { clusterCommand } from './cluster-command.js';
import { consumeCommand } from './consume-command.js';
import { produceCommand } from './produce-command.js';
import { serverCommand } from './server-command.js';

const program = new Command('flo')
  .description('Flo: an event stream server. Append events to namespaces, replay and tail them by glob.')
  .version('0.1.0')
  .showHelpAfterError('(add --help for usage)')
  .addCommand(serverCommand())
  .addCommand(produceCommand())
  .addCommand(consumeCommand())
  .addCommand(clusterCommand());

// The operator pulls in the Kubernetes client, which costs a second of start-up:
// load it only when the operator is what the user asked for.
if (process.argv.slice(2).includes('operator')) {
  const { operatorCommand } = await import('./operator-command.js');
  program.addCommand(operatorCommand());
} else {
  program.command('operator').description('run the Kubernetes operator that reconciles FloCluster resources (flo operator --help)');
}

// If the event loop ever runs dry while a command is still waiting (a bug: some
// promise lost its timer or socket), Node would exit with code 13 and no word.
// Say so, on one line, and exit non-zero like every other failure.
let finished = false;
process.once('beforeExit', () => {
  if (finished) return;
  process.stderr.write('flo: stopped while still waiting for the broker, with nothing left to wait on (a bug in flo; FLO_DEBUG=1 for details)\n');
  process.exit(1);
});
await program.parseAsync(process.argv);
finished = true;
