// Replacing a small file so that a crash at any moment leaves either the old
// contents or the new, never a mix or nothing: written to a temporary file,
// fsynced, renamed over the old one, and the directory fsynced so the rename
// itself is durable.
import { open, rename } from 'node:fs/promises';
import { join } from 'node:path';

export async function replaceFileDurably(dir: string, name: string, contents: string): Promise<void> {
  const path = join(dir, name);
  const temporary = `${path}.tmp`;
  const file = await open(temporary, 'w');
  try {
    await file.writeFile(contents);
    await file.sync();
  } finally {
    await file.close();
  }
  await rename(temporary, path);
  await syncDirectory(dir);
}

/** fsyncs a directory, so the entries created, renamed or removed in it are durable. */
export async function syncDirectory(dir: string): Promise<void> {
  const directory = await open(dir, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}
