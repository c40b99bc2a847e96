// `flo operator`: runs the FloCluster operator until SIGTERM/SIGINT. Every option can
// come from an environment variable (the chart sets them); leader election makes two
// replicas safe, and a replica that loses the Lease exits so Kubernetes restarts it clean.

import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import * as k8s from '@kubernetes/client-node';
import { Command, InvalidArgumentError, Option } from 'commander';
import { createLogger, LOG_LEVELS, type LogLevel } from '../common/logger.js';
import { DEFAULT_CLUSTER_DOMAIN } from '../operator/crd/types.js';
import { Operator, DEFAULT_RESYNC_MS } from '../operator/operator.js';
import { hostsFileLookup, tokenFromFile } from '../operator/reconcile/broker-client.js';
import { parsePort, parsePositiveInt, reportFailure } from './common.js';

interface OperatorFlags {
  namespace?: string;
  kubeconfig?: string;
  metricsPort: number;
  metricsHost: string;
  logLevel: LogLevel;
  pretty?: boolean;
  leaderElect?: boolean;
  leaderElectionNamespace: string;
  leaderElectionId: string;
  leaseDurationSeconds: number;
  identity: string;
  resyncSeconds: number;
  dnsHostsFile?: string;
  clusterDomain: string;
  brokerImage?: string;
  brokerTokenFile?: string;
}

export function operatorCommand(): Command {
  return new Command('operator')
    .description('run the Kubernetes operator that reconciles FloCluster resources')
    .addOption(new Option('-n, --namespace <ns>', 'watch only this namespace (default: all namespaces)').env('FLO_WATCH_NAMESPACE'))
    .addOption(new Option('--kubeconfig <path>', 'kubeconfig file (default: in-cluster config or ~/.kube/config)').env('KUBECONFIG'))
    .addOption(new Option('--metrics-port <port>', 'port for /metrics, /healthz and /readyz').env('FLO_METRICS_PORT').default(8080).argParser(parsePort))
    .addOption(new Option('--metrics-host <host>', 'address for the metrics server (0.0.0.0 in a pod)').env('FLO_METRICS_HOST').default('127.0.0.1'))
    .addOption(new Option('--log-level <level>', 'log level').env('FLO_LOG_LEVEL').choices(LOG_LEVELS).default('info'))
    .addOption(new Option('--pretty', 'human-readable logs').env('FLO_PRETTY'))
    .addOption(new Option('--leader-elect', 'campaign for a Lease so that only one replica reconciles').env('FLO_LEADER_ELECT'))
    .addOption(new Option('--leader-election-namespace <ns>', 'namespace of the leader Lease').env('POD_NAMESPACE').default('default'))
    .addOption(new Option('--leader-election-id <name>', 'name of the leader Lease').default('flo-operator'))
    .addOption(new Option('--lease-duration-seconds <n>', 'how long a Lease stays valid without renewal').default(15).argParser(parsePositiveInt))
    .addOption(new Option('--identity <id>', 'this replica\'s identity in the Lease (POD_NAME on Kubernetes; else this host name and a random suffix)').env('POD_NAME').default(`${hostname()}-${randomUUID().slice(0, 8)}`))
    .addOption(new Option('--resync-seconds <n>', 'reconcile every FloCluster at least this often').default(DEFAULT_RESYNC_MS / 1000).argParser(parsePositiveInt))
    .addOption(new Option('--cluster-domain <domain>', 'DNS domain of the Kubernetes cluster (kubelet --cluster-domain)').env('FLO_CLUSTER_DOMAIN').default(DEFAULT_CLUSTER_DOMAIN).argParser(parseClusterDomain))
    .addOption(new Option('--broker-image <image>', 'image of brokers whose FloCluster names none (no public image is published)').env('FLO_BROKER_IMAGE'))
    .addOption(new Option('--broker-token-file <path>', 'bearer token sent to brokers of FloClusters with spec.auth (an admin token among theirs)').env('FLO_BROKER_TOKEN_FILE'))
    .addOption(new Option('--dns-hosts-file <path>', 'JSON {"hosts":{name:ip}} consulted before DNS (the Kubernetes simulator\'s seam)').env('FLO_DNS_HOSTS_FILE').hideHelp())
    .action(async (flags: OperatorFlags) => {
      try {
        await runOperator(flags);
      } catch (error) {
        reportFailure(error);
      }
    });
}

/** A DNS domain such as cluster.local: dot-separated DNS labels, no leading or trailing dot. */
function parseClusterDomain(value: string): string {
  const domain = value.replace(/\.$/, '');
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(domain) || domain.length > 253) {
    throw new InvalidArgumentError(`"${value}" is not a DNS domain such as cluster.local`);
  }
  return domain;
}

async function runOperator(flags: OperatorFlags): Promise<void> {
  const logger = createLogger({ level: flags.logLevel, pretty: flags.pretty });
  const kubeConfig = new k8s.KubeConfig();
  if (flags.kubeconfig !== undefined && flags.kubeconfig !== '') kubeConfig.loadFromFile(flags.kubeconfig);
  else kubeConfig.loadFromDefault();
  const leaseMs = flags.leaseDurationSeconds * 1000;
  const operator = new Operator({
    kubeConfig, logger, identity: flags.identity, resyncMs: flags.resyncSeconds * 1000,
    metricsPort: flags.metricsPort, metricsHost: flags.metricsHost, clusterDomain: flags.clusterDomain,
    ...(flags.brokerImage === undefined || flags.brokerImage === '' ? {} : { brokerImage: flags.brokerImage }),
    ...(flags.brokerTokenFile === undefined || flags.brokerTokenFile === '' ? {} : { brokerToken: tokenFromFile(flags.brokerTokenFile) }),
    ...(flags.namespace === undefined ? {} : { namespace: flags.namespace }),
    ...(flags.dnsHostsFile === undefined ? {} : { brokerLookup: hostsFileLookup(flags.dnsHostsFile) }),
    ...(flags.leaderElect === true ? {
      leaderElection: {
        namespace: flags.leaderElectionNamespace, name: flags.leaderElectionId,
        leaseDurationMs: leaseMs, renewDeadlineMs: Math.round(leaseMs * 2 / 3), retryPeriodMs: Math.max(200, Math.round(leaseMs / 7.5)),
      },
    } : {}),
    onLostLeadership: () => {
      logger.error('lost the leader Lease; exiting so that a clean replica takes over');
      process.exit(1);
    },
  });
  await operator.start();
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    operator.stop().then(() => process.exit(0), (error: unknown) => {
      logger.error({ err: error }, 'shutdown failed');
      process.exit(1);
    });
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}
