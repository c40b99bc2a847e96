// Loaded into every Node.js pod process of the simulated node (NODE_OPTIONS=--import):
// answers cluster DNS names from the simulator's hosts file (FLO_SIM_HOSTS_FILE), the
// way a pod's resolver would ask cluster DNS, and defers to the system resolver otherwise.
import dns from 'node:dns';
import { readFileSync } from 'node:fs';
import process from 'node:process';

const file = process.env.FLO_SIM_HOSTS_FILE;
if (file) {
  const systemLookup = dns.lookup;
  const find = (hostname) => {
    try {
      return JSON.parse(readFileSync(file, 'utf8')).hosts?.[String(hostname).replace(/\.$/, '')];
    } catch {
      return undefined;
    }
  };
  dns.lookup = function lookup(hostname, options, callback) {
    const cb = typeof options === 'function' ? options : callback;
    const opts = typeof options === 'object' && options !== null ? options : {};
    const address = find(hostname);
    if (address === undefined) return systemLookup.call(dns, hostname, options, callback);
    process.nextTick(() => (opts.all ? cb(null, [{ address, family: 4 }]) : cb(null, address, 4)));
    return undefined;
  };
  const systemPromise = dns.promises.lookup;
  dns.promises.lookup = async function lookup(hostname, options) {
    const address = find(hostname);
    if (address === undefined) return systemPromise.call(dns.promises, hostname, options);
    return options && options.all ? [{ address, family: 4 }] : { address, family: 4 };
  };
}
