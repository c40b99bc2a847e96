// Real `flo server` processes for chaos runs. Each runs in its own process
// group (detached), is signalled by its PID (the group: -pid), logs straight
// into a file (so a paused or killed harness loses no lines), and keeps its
// port and data dir across restarts. Every live process is registered so that
// an exit, a failure or Ctrl-C of the harness kills them all (SIGKILL also ends
// a SIGSTOPped one).
import { SYNC_LEDGER_ENV } from './lose-unsynced.js';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeSync } from 'node:fs';
import { cp, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { CLI_PATH, freePort } from '../support/server-process.js';
import { waitFor } from '../support/temp.js';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // Already gone between the check and the signal.
  }
}

/** Kills every broker this process started; safe to call more than once. */
export function killAllBrokers(): void {
  for (const child of live) killGroup(child, 'SIGKILL');
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', killAllBrokers);
}

export interface BrokerOptions {
  index: number;
  dataDir: string;
  logPath: string;
  port?: number;
  extraArgs?: readonly string[];
  /** How long a start may take before it counts as failed. Default 20 s. */
  readyTimeoutMs?: number;
  /** The CLI to run; default the repository's dist/ (see snapshotCli). */
  cliPath?: string;
  /** More environment for the broker (the proxy mesh's FLO_TEST_PEER_ROUTES). */
  env?: Readonly<Record<string, string>>;
}

/**
 * Copies dist/ to `target` and checks that the copy loads, so a rebuild of the
 * shared dist/ during a long run cannot break a restart half-way. `target` must
 * be below the repository, so the copy's imports still find node_modules.
 */
export async function snapshotCli(target: string, source = dirname(dirname(CLI_PATH)), attempts = 5): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    await rm(target, { recursive: true, force: true });
    await cp(source, target, { recursive: true });
    const cliPath = join(target, 'cli', 'main.js');
    const loads = spawnSync(process.execPath, [cliPath, '--help'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
    if (loads) return cliPath;
    if (attempt >= attempts) throw new Error(`the copy of dist/ in ${target} does not load; run npm run build`);
    await new Promise((resolve) => setTimeout(resolve, 2_000)); // a build may be writing dist/ right now
  }
}

export class BrokerProcess {
  readonly name: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private paused = false;
  port = 0;
  starts = 0;
  private extraArgs: readonly string[];

  constructor(private readonly options: BrokerOptions) {
    this.name = `b${options.index}`;
    this.extraArgs = options.extraArgs ?? [];
  }

  /** The flags every start passes after the data dir and port. */
  get flags(): readonly string[] {
    return this.extraArgs;
  }

  get index(): number {
    return this.options.index;
  }

  /**
   * From now on the broker starts as a member that joined through `seed`: its store was moved
   * aside and the cluster gives it a new id, which its data dir keeps (a --node-id would be refused).
   */
  rejoinThrough(seed: string): void {
    const args = [...this.extraArgs];
    // Without --peers too: a broker named in it would start as that founder (and be refused with an empty store).
    for (const flag of ['--node-id', '--peers', '--join']) {
      const at = args.indexOf(flag);
      if (at >= 0) args.splice(at, 2);
    }
    this.extraArgs = [...args, '--join', seed];
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  get dataDir(): string {
    return this.options.dataDir;
  }

  /** Where the broker notes how far its write-ahead log is durable (for kill-lose-unsynced). */
  get syncLedger(): string {
    return `${this.options.dataDir}.sync-ledger`;
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private note(line: string): void {
    const fd = openSync(this.options.logPath, 'a');
    try {
      writeSync(fd, `--- chaos ${new Date().toISOString()} ${this.name}: ${line}\n`);
    } finally {
      closeSync(fd);
    }
  }

  /** `onceArgs`: flags for this start only (e.g. --recover-store). */
  async start(onceArgs: readonly string[] = []): Promise<void> {
    if (this.running) throw new Error(`${this.name} is already running`);
    this.port ||= this.options.port ?? (await freePort());
    installExitHook();
    this.note(`start #${++this.starts} on port ${this.port}${onceArgs.length > 0 ? ` with ${onceArgs.join(' ')}` : ''}`);
    const log = openSync(this.options.logPath, 'a');
    const args = [this.options.cliPath ?? CLI_PATH, 'server', '-d', this.options.dataDir, '-p', String(this.port), '--log-level', 'info', ...this.extraArgs, ...onceArgs];
    const child = spawn(process.execPath, args, { stdio: ['ignore', log, log], detached: true, env: { ...process.env, ...this.options.env, FLO_PRETTY: '', [SYNC_LEDGER_ENV]: this.syncLedger } });
    closeSync(log);
    this.note(`pid ${child.pid}`);
    this.child = child;
    this.paused = false;
    live.add(child);
    this.exited = new Promise<void>((resolve) => child.once('exit', (code, signal) => {
      live.delete(child);
      this.note(`exited (code ${code}, signal ${signal})`);
      resolve();
    }));
    await this.waitReady(this.options.readyTimeoutMs ?? 20_000);
  }

  private async waitReady(timeoutMs: number): Promise<void> {
    await waitFor(async () => {
      if (!this.running) throw new Error(`${this.name} exited during start; see ${this.options.logPath}, which ends:\n${this.logTail(1_500)}`);
      try {
        return (await fetch(`${this.url}/readyz`, { signal: AbortSignal.timeout(1_000) })).ok;
      } catch {
        return false; // not listening yet
      }
    }, `${this.name} to be ready (log: ${this.options.logPath})`, timeoutMs);
  }

  /** The last `bytes` of the broker's log file (across its restarts): why a start failed. */
  logTail(bytes = 4_096): string {
    try {
      const text = readFileSync(this.options.logPath, 'utf8');
      return text.slice(-bytes);
    } catch {
      return '';
    }
  }

  /** kill -9: no shutdown, no flush. */
  async kill(): Promise<void> {
    if (!this.child) return;
    this.note('kill -9');
    killGroup(this.child, 'SIGKILL');
    await this.exited;
  }

  pause(): void {
    if (!this.child || !this.running) return;
    this.note('SIGSTOP');
    killGroup(this.child, 'SIGSTOP');
    this.paused = true;
  }

  resume(): void {
    if (!this.child || !this.paused) return;
    this.note('SIGCONT');
    killGroup(this.child, 'SIGCONT');
    this.paused = false;
  }

  /** SIGTERM for a graceful stop; SIGKILL if it has not exited within `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<void> {
    if (!this.child || !this.running) return;
    this.resume();
    killGroup(this.child, 'SIGTERM');
    const timer = setTimeout(() => this.child && killGroup(this.child, 'SIGKILL'), timeoutMs);
    await this.exited;
    clearTimeout(timer);
  }
}
