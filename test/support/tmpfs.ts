// A small tmpfs for disk-full tests (needs root: mount -t tmpfs). Returns
// undefined, with the reason, where mounting is not permitted, so the test can
// skip saying why. Always unmount in a finally.
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface Tmpfs {
  readonly path: string;
  unmount(): Promise<void>;
}

export async function mountTmpfs(sizeBytes: number): Promise<Tmpfs | { skipped: string }> {
  const path = await mkdtemp(join(tmpdir(), 'flo-tmpfs-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${sizeBytes}`, 'tmpfs', path]);
  } catch (error) {
    await rm(path, { recursive: true, force: true });
    return { skipped: `cannot mount a tmpfs (needs root and mount permission): ${(error as Error).message.split('\n')[0]}` };
  }
  return {
    path,
    async unmount() {
      await run('umount', [path]);
      await rm(path, { recursive: true, force: true });
    },
  };
}

/** The disk-full tests' disk: an 8 MiB tmpfs, a data dir path on it, and a filler file taking `fillerBytes` of it (freed by removing `filler`). */
export interface SmallDisk extends Tmpfs {
  readonly dataDir: string;
  readonly filler: string;
}

export async function mountSmallDisk(fillerBytes = 0, sizeBytes = 8 * 1024 * 1024): Promise<SmallDisk | { skipped: string }> {
  const disk = await mountTmpfs(sizeBytes);
  if ('skipped' in disk) return disk;
  const filler = join(disk.path, 'filler');
  if (fillerBytes > 0) await writeFile(filler, Buffer.alloc(fillerBytes));
  return { ...disk, dataDir: join(disk.path, 'data'), filler };
}
