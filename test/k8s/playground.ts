// `npm run k8s:sim`: a simulated Kubernetes cluster to try kubectl (and helm) against
// without Docker. Starts the API simulator with the StatefulSet controller, the pod
// runner (real `flo server` processes), kube-proxy and DNS; installs the FloCluster CRD;
// runs the operator in-process unless --no-operator; prints the KUBECONFIG to export.
// Ctrl-C stops everything it started, broker processes included.

import { pino } from 'pino';
import { Operator } from '../../src/operator/operator.js';
import { BROKER_MAIN, startSimCluster } from './cluster.js';
import { kubectlOk } from './helpers.js';
import { existsSync } from 'node:fs';

const args = new Set(process.argv.slice(2));
const withOperator = !args.has('--no-operator');
const portArg = process.argv.find((arg) => arg.startsWith('--port='));

if (!existsSync(BROKER_MAIN)) {
  process.stderr.write('dist/cli/main.js is missing: run `npm run build` first (npm run k8s:sim does).\n');
  process.exit(1);
}

const cluster = await startSimCluster({ timeScale: 0.5, ...(portArg === undefined ? {} : { port: Number(portArg.split('=')[1]) }) });
await kubectlOk(cluster.kubeconfigPath, ['apply', '-f', new URL('../../crds/flo.dev_floclusters.yaml', import.meta.url).pathname]);
let operator: Operator | undefined;
if (withOperator) {
  operator = new Operator({
    kubeConfig: (await import('../e2e/support.js')).kubeConfigFor(cluster.kubeconfigPath),
    logger: pino({ level: process.env['FLO_LOG_LEVEL'] ?? 'warn' }), identity: 'playground', brokerLookup: cluster.lookup, resyncMs: 10_000,
    // Any image named flo runs dist/cli/main.js on the simulated node.
    brokerImage: 'flo.local/flo:dev',
  });
  await operator.start();
}
process.stdout.write([
  `Kubernetes simulator at ${cluster.apiServer.url}${withOperator ? ' (operator running)' : ' (no operator)'}`,
  '',
  `  export KUBECONFIG=${cluster.kubeconfigPath}`,
  '',
  'Then, for example:',
  '  kubectl apply -f manifests/examples/small.yaml',
  '  kubectl wait --for=condition=Ready flocluster/small --timeout=60s',
  '  kubectl get floclusters,statefulsets,pods,services',
  `Cluster DNS names resolve through ${cluster.hostsFilePath}.`,
  'Ctrl-C stops the simulator and every broker process it started.',
  '',
].join('\n'));

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  process.stdout.write('\nstopping…\n');
  void (async () => {
    await operator?.stop();
    await cluster.close();
    process.exit(0);
  })();
};
process.on('SIGINT', stop);
process.on('SIGTERM', stop);
