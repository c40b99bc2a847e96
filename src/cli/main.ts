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

// The operator lives in its own module; a build without it still runs every other command.
const operatorModule = './operator-command.js';
try {
  const { operatorCommand } = (await import(operatorModule)) as { operatorCommand: () => Command };
  program.addCommand(operatorCommand());
} catch (error) {
  if ((error as { code?: string }).code !== 'ERR_MODULE_NOT_FOUND') throw error;
}

await program.parseAsync(process.argv);
