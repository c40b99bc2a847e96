// The simulator's hosts file (the DNS seam of pod processes and of a separate operator)
// is replaced in one step: a process reading it while it is rewritten sees a whole table,
// never a truncated one that would send a lookup to the system resolver.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { writeHostsFile } from './cluster.js';
import { DNS_PRELOAD } from './node/kubelet.js';

/** Reads the file READS times as fast as it can; prints how many reads were not a whole table. */
const READER = `
const { readFileSync } = require('node:fs');
let torn = 0;
for (let i = 0; i < Number(process.argv[2]); i += 1) {
  try {
    const hosts = JSON.parse(readFileSync(process.argv[1], 'utf8')).hosts;
    if (Object.keys(hosts).length !== Number(process.argv[3])) torn += 1;
  } catch { torn += 1; }
}
process.stdout.write(String(torn));
`;
const READS = 2000;
const NAMES = 1000;

describe('simulator hosts file', () => {
  it('is never seen half-written by a concurrent reader', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flo-hosts-'));
    try {
      const path = join(dir, 'hosts.json');
      const hosts = Object.fromEntries(Array.from({ length: NAMES }, (_, i) => [`broker-${i}.peers.default.svc.cluster.local`, `127.0.${i % 250}.${i % 200}`]));
      writeHostsFile(path, { hosts, all: {} });
      const reader = spawn(process.execPath, ['-e', READER, path, String(READS), String(NAMES)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let output = '';
      reader.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
      let running = true;
      const done = new Promise<void>((resolve) => reader.on('close', () => { running = false; resolve(); }));
      // Rewrite the table while the reader runs (bounded: the reader ends after READS reads).
      for (let writes = 0; running && writes < 50_000; writes += 1) {
        writeHostsFile(path, { hosts, all: {} });
        if (writes % 10 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
      }
      await done;
      expect(output).toBe('0');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the pod DNS preload', () => {
  it('answers every address of a headless name, and "not found" for a cluster name it lacks without asking the system resolver', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flo-preload-'));
    try {
      const path = join(dir, 'hosts.json');
      writeHostsFile(path, { hosts: { 'p.ns.svc.cluster.local': '127.0.9.1' }, all: { 'p.ns.svc.cluster.local': ['127.0.9.1', '127.0.9.2'] } });
      // A cluster name with no endpoints must fail here: the machine's resolver is off this host.
      const script = `const dns = require('node:dns');
        (async () => {
          const all = await dns.promises.lookup('p.ns.svc.cluster.local', { all: true });
          const missing = await dns.promises.lookup('gone.ns.svc.cluster.local').then(() => 'found', (e) => e.code);
          dns.lookup('gone.ns.svc', (e) => console.log(JSON.stringify({ all: all.map((a) => a.address), missing, callback: e && e.code })));
        })();`;
      const child = spawn(process.execPath, ['--import', DNS_PRELOAD, '-e', script], { env: { ...process.env, FLO_SIM_HOSTS_FILE: path, FLO_SIM_CLUSTER_DOMAIN: 'cluster.local' }, stdio: ['ignore', 'pipe', 'inherit'] });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => { output += chunk.toString(); });
      await new Promise((resolve) => child.on('close', resolve));
      expect(JSON.parse(output)).toEqual({ all: ['127.0.9.1', '127.0.9.2'], missing: 'ENOTFOUND', callback: 'ENOTFOUND' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
