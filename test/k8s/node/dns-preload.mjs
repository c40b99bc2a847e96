// Loaded into every Node.js pod process of the simulated node (NODE_OPTIONS=--import):
// answers cluster DNS names from the simulator's hosts file (FLO_SIM_HOSTS_FILE), the
// way a pod's resolver would ask cluster DNS, and defers to the system resolver otherwise. A
// cluster name the table lacks (a Service with no endpoints yet) is answered "not found" here,
// as cluster DNS would: it must never reach the machine's resolver, which is off this host.
import dns from 'node:dns';
import { readFileSync } from 'node:fs';
import process from 'node:process';

const file = process.env.FLO_SIM_HOSTS_FILE;
if (file) {
  const systemLookup = dns.lookup;
  const domain = (process.env.FLO_SIM_CLUSTER_DOMAIN ?? 'cluster.local').replace(/\./g, '\\.');
  const clusterName = new RegExp(`\\.svc(\\.${domain})?\\.?$`);
  const notFound = (hostname) => Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname });
  // A headless Service name has every pod's address under `all`; one of them under `hosts`.
  const find = (hostname) => {
    try {
      const table = JSON.parse(readFileSync(file, 'utf8'));
      const name = String(hostname).replace(/\.$/, '');
      const address = table.hosts?.[name];
      return address === undefined ? undefined : { address, all: (table.all?.[name] ?? [address]).map((each) => ({ address: each, family: 4 })) };
    } catch {
      return undefined;
    }
  };
  dns.lookup = function lookup(hostname, options, callback) {
    const cb = typeof options === 'function' ? options : callback;
    const opts = typeof options === 'object' && options !== null ? options : {};
    const found = find(hostname);
    if (found === undefined && clusterName.test(String(hostname))) {
      process.nextTick(() => cb(notFound(hostname)));
      return undefined;
    }
    if (found === undefined) return systemLookup.call(dns, hostname, options, callback);
    process.nextTick(() => (opts.all ? cb(null, found.all) : cb(null, found.address, 4)));
    return undefined;
  };
  const systemPromise = dns.promises.lookup;
  dns.promises.lookup = async function lookup(hostname, options) {
    const found = find(hostname);
    if (found === undefined && clusterName.test(String(hostname))) throw notFound(hostname);
    if (found === undefined) return systemPromise.call(dns.promises, hostname, options);
    return options && options.all ? found.all : { address: found.address, family: 4 };
  };
}
