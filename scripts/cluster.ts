// `npm run cluster -- [--brokers N] [--base-port P] [--data-dir DIR]`: a Flo
// cluster of N brokers on this machine (HTTP P…P+N-1, peers P+1000…, data in
// DIR/node-<id>), each log line prefixed with its broker's id. Prints the URLs
// once every partition has a leader; Ctrl-C or SIGTERM stops every broker by its
// PID (SIGTERM, then SIGKILL after a timeout). Once formed, a broker that exits
// (`kill -9 <pid>`, the failover demo) leaves the others running and is started
// again after RESTART_DELAY_MS on its data dir, so the demo shows both the
// failover and the catch-up; one that exits again soon after stays down. Runs
// the built dist/.
import { spawn, type ChildProcess } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const CLI_PATH = fileURLToPath(new URL('../dist/cli/main.js', import.meta.url));
/** Peer port of broker i = its HTTP port + this, so 3001 pairs with 4001. */
const PEER_PORT_OFFSET = 1000;
const MAX_BROKERS = 9;
/** Forming needs every founder up once, then one election per partition. */
const FORM_TIMEOUT_MS = 60_000;
/** How long a broker may take to shut down after SIGTERM before it is killed. */
const STOP_TIMEOUT_MS = 10_000;
/** A broker that exited after the cluster formed is started again after this long. */
const RESTART_DELAY_MS = 5_000;
/** One that exits again within this long of its restart is left down (it fails for a reason of its own). */
const CRASH_LOOP_MS = 15_000;

const HELP = `Usage: npm run cluster -- [options]

Starts a Flo cluster on this machine (loopback only) and stops it on Ctrl-C.

Options:
  --brokers <n>     brokers to start, 1-${MAX_BROKERS} (default 3)
  --base-port <p>   HTTP port of broker 1; broker i listens on p+i-1 and on
                    peer port p+${PEER_PORT_OFFSET}+i-1 (default 3001: 3001-3003, 4001-4003)
  --data-dir <dir>  where the brokers keep data, one node-<id> dir each
                    (default ./data-cluster); a later run reuses it
  -h, --help        print this help
`;

interface Options {
  brokers: number;
  basePort: number;
  dataDir: string;
}

interface Member {
  readonly nodeId: number;
  readonly url: string;
  readonly peer: string;
  readonly dataDir: string;
  readonly args: readonly string[];
  child: ChildProcess;
  exited: Promise<void>;
  startedAt: number;
  /** Started again by this script after it exited. */
  restarted?: boolean;
}

function parseOptions(argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      brokers: { type: 'string', default: '3' },
      'base-port': { type: 'string', default: '3001' },
      'data-dir': { type: 'string', default: './data-cluster' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return 'help';
  const brokers = Number(values.brokers);
  if (!Number.isInteger(brokers) || brokers < 1 || brokers > MAX_BROKERS) throw new Error(`--brokers must be a whole number from 1 to ${MAX_BROKERS}, not "${values.brokers}"`);
  const basePort = Number(values['base-port']);
  if (!Number.isInteger(basePort) || basePort < 1 || basePort + PEER_PORT_OFFSET + brokers - 1 > 65535) {
    throw new Error(`--base-port must leave room for ${brokers} HTTP ports and ${brokers} peer ports below 65536, not "${values['base-port']}"`);
  }
  return { brokers, basePort, dataDir: resolve(values['data-dir']) };
}

/** Copies a stream line by line with a prefix, so interleaved logs of several brokers stay readable. */
function prefixLines(stream: NodeJS.ReadableStream, prefix: string, out: NodeJS.WritableStream): void {
  createInterface({ input: stream, crlfDelay: Infinity }).on('line', (line) => out.write(`${prefix}${line}\n`));
}

function startMembers(options: Options): Member[] {
  const peers = Array.from({ length: options.brokers }, (_, i) => `127.0.0.1:${options.basePort + PEER_PORT_OFFSET + i}`);
  return peers.map((peer, i) => {
    const nodeId = i + 1;
    const httpPort = options.basePort + i;
    const dataDir = resolve(options.dataDir, `node-${nodeId}`);
    const args = [CLI_PATH, 'server', '--node-id', String(nodeId), '-d', dataDir, '-p', String(httpPort),
      '--peer-port', String(options.basePort + PEER_PORT_OFFSET + i), '--peers', peers.join(','), ...(process.stdout.isTTY ? ['--pretty'] : [])];
    const member = { nodeId, url: `http://127.0.0.1:${httpPort}`, peer, dataDir, args } as unknown as Member;
    spawnMember(member);
    return member;
  });
}

function spawnMember(member: Member): void {
  // Not detached: a Ctrl-C in the terminal reaches the brokers too, and they shut down as after SIGTERM.
  const child = spawn(process.execPath, member.args, { stdio: ['ignore', 'pipe', 'pipe'] });
  prefixLines(child.stdout!, `[broker ${member.nodeId}] `, process.stdout);
  prefixLines(child.stderr!, `[broker ${member.nodeId}] `, process.stderr);
  member.child = child;
  member.exited = new Promise<void>((done) => child.once('exit', () => done()));
  member.startedAt = Date.now();
}

const isRunning = (member: Member): boolean => member.child.exitCode === null && member.child.signalCode === null;

/** Every broker ready and every partition with a leader, as broker 1 sees it; rejects if a broker exits first. */
async function waitFormed(members: Member[]): Promise<void> {
  const deadline = Date.now() + FORM_TIMEOUT_MS;
  while (Date.now() < deadline) {
    const gone = members.find((m) => !isRunning(m));
    if (gone) throw new Error(`broker ${gone.nodeId} exited (${gone.child.exitCode ?? gone.child.signalCode}) before the cluster formed: see its log above`);
    if (await isFormed(members)) return;
    await new Promise((done) => setTimeout(done, 250));
  }
  throw new Error(`the cluster did not form within ${FORM_TIMEOUT_MS / 1000} s`);
}

async function isFormed(members: Member[]): Promise<boolean> {
  try {
    for (const member of members) if (!(await fetch(`${member.url}/readyz`, { signal: AbortSignal.timeout(2000) })).ok) return false;
    const status = (await (await fetch(`${members[0]!.url}/v1/cluster`, { signal: AbortSignal.timeout(2000) })).json()) as { partitions: Array<{ leader: string | null }> };
    return status.partitions.length > 0 && status.partitions.every((p) => p.leader !== null);
  } catch {
    return false;
  }
}

/** SIGTERM to each broker's PID, SIGKILL to any still running after STOP_TIMEOUT_MS. */
async function stopMembers(members: Member[]): Promise<void> {
  const running = members.filter(isRunning);
  for (const member of running) member.child.kill('SIGTERM');
  const timer = setTimeout(() => {
    for (const member of running) {
      if (!isRunning(member)) continue;
      console.error(`broker ${member.nodeId} (pid ${member.child.pid}) did not stop within ${STOP_TIMEOUT_MS / 1000} s: killing it`);
      member.child.kill('SIGKILL');
    }
  }, STOP_TIMEOUT_MS);
  await Promise.all(running.map((m) => m.exited));
  clearTimeout(timer);
}

function printFormed(members: Member[]): void {
  const urls = members.map((m) => m.url).join(',');
  console.log(`\nFlo cluster of ${members.length} broker${members.length === 1 ? '' : 's'} is up:`);
  for (const m of members) console.log(`  broker ${m.nodeId}  ${m.url}  peer ${m.peer}  pid ${m.child.pid}  data ${m.dataDir}`);
  console.log(`\n  node dist/cli/main.js cluster status --url ${urls}`);
  console.log(`  node dist/cli/main.js produce --url ${urls} -n /demo/hello -d hi`);
  console.log(`  node dist/cli/main.js consume --url ${urls} -n '/demo/**'`);
  console.log(`\nkill -9 a broker's pid to see failover: the others go on, and it is started again after ${RESTART_DELAY_MS / 1000} s.`);
  console.log('Ctrl-C stops every broker.\n');
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  if (options === 'help') {
    process.stdout.write(HELP);
    return;
  }
  const members = startMembers(options);
  let stopping: Promise<void> | undefined;
  const stop = (reason: string, exitCode: number): Promise<void> => {
    stopping ??= (async () => {
      console.log(`${reason}: stopping ${members.length} broker${members.length === 1 ? '' : 's'}`);
      await stopMembers(members);
      console.log('every broker stopped');
      process.exitCode = exitCode;
    })();
    return stopping;
  };
  process.once('SIGINT', () => void stop('SIGINT', 0));
  process.once('SIGTERM', () => void stop('SIGTERM', 0));
  let formed = false;
  // Before the cluster formed, a broker that dies takes the others down (it cannot form without it).
  // After, it is what a cluster is for: the others go on, and it is started again on its data dir.
  const watch = (member: Member): void => {
    void member.exited.then(() => {
      if (stopping !== undefined) return;
      const how = member.child.exitCode ?? member.child.signalCode;
      if (!formed) return void stop(`broker ${member.nodeId} exited (${how})`, 1);
      const pid = member.child.pid;
      if (member.restarted === true && Date.now() - member.startedAt < CRASH_LOOP_MS) {
        console.log(`broker ${member.nodeId} (pid ${pid}) exited (${how}) again within ${CRASH_LOOP_MS / 1000} s of its restart: it stays down (see its log above); the others go on`);
        if (!members.some(isRunning)) void stop('no broker is running', 1);
        return;
      }
      console.log(`broker ${member.nodeId} (pid ${pid}) exited (${how}): the others go on; starting it again in ${RESTART_DELAY_MS / 1000} s`);
      setTimeout(() => {
        if (stopping !== undefined) return;
        spawnMember(member);
        member.restarted = true;
        console.log(`broker ${member.nodeId} started again (pid ${member.child.pid}, data ${member.dataDir}): it catches up from the others`);
        watch(member);
      }, RESTART_DELAY_MS);
    });
  };
  for (const member of members) watch(member);
  try {
    await waitFormed(members);
  } catch (error) {
    if (stopping === undefined) await stop((error as Error).message, 1);
    return;
  }
  formed = true;
  if (stopping === undefined) printFormed(members);
}

main().catch((error: unknown) => {
  console.error(`cluster: ${(error as Error).message}`);
  process.exitCode = 1;
});
