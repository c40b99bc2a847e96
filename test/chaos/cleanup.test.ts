// Ctrl-C of `npm run chaos` leaves no broker behind: the brokers run detached
// in their own process groups (so the terminal's SIGINT does not reach them),
// and the runner kills them by PID on SIGINT. Without that handler the broker
// below would outlive the runner.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { waitFor } from '../support/temp.js';
import { CHAOS_ROOT } from './campaign.js';

const RUN_SCRIPT = fileURLToPath(new URL('./run.ts', import.meta.url));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('chaos runner cleanup', () => {
  it('kills its brokers when interrupted', async () => {
    const root = await mkdtemp(join(tmpdir(), 'flo-chaos-cleanup-'));
    let brokerPid: number | undefined;
    const runner = spawn(process.execPath, ['--import', 'tsx', RUN_SCRIPT, '--minutes', '2', '--seed', '1', '--kinds', 'pause', '--root', root], { stdio: ['ignore', 'pipe', 'pipe'] });
    const exited = new Promise<number | null>((resolve) => runner.once('exit', (code) => resolve(code)));
    try {
      brokerPid = await waitFor(async () => {
        const runs = await readdir(root).catch(() => []);
        if (runs.length === 0) return false;
        const log = await readFile(join(root, runs[0]!, 'logs', 'b0.log'), 'utf8').catch(() => '');
        const match = /b0: pid (\d+)/.exec(log);
        return match && log.includes('broker listening') ? Number(match[1]) : false;
      }, 'the runner to start its broker', 30_000);
      expect(alive(brokerPid)).toBe(true);
      runner.kill('SIGINT');
      expect(await exited).toBe(130);
      await waitFor(() => !alive(brokerPid!), 'the broker to be gone', 5_000);
    } finally {
      if (runner.exitCode === null) runner.kill('SIGKILL');
      if (brokerPid !== undefined && alive(brokerPid)) process.kill(brokerPid, 'SIGKILL');
      for (const run of await readdir(root).catch(() => [])) await rm(join(CHAOS_ROOT, 'dist-snapshots', run), { recursive: true, force: true });
      await rm(root, { recursive: true, force: true });
    }
  }, 60_000);
});
