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

await program.parseAsync(process.argv);
