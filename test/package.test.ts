// package.json and package-lock.json agree, so `npm install` on a clean clone
// leaves the lockfile untouched, and nothing locked refuses the Node versions
// package.json promises (npm would warn EBADENGINE, and the package may not run).
import { readFileSync } from 'node:fs';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

interface Manifest {
  name: string;
  overrides?: Record<string, string>;
  engines: { node: string };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
}
interface Lockfile {
  name: string;
  packages: Record<string, Manifest & { dev?: boolean; optional?: boolean }>;
}

const read = <T>(name: string): T => JSON.parse(readFileSync(new URL(`../${name}`, import.meta.url), 'utf8')) as T;
const manifest = read<Manifest>('package.json');
const lock = read<Lockfile>('package-lock.json');

describe('package manifest and lockfile', () => {
  it('lock exactly the dependencies package.json declares', () => {
    const root = lock.packages['']!;
    expect(lock.name).toBe(manifest.name);
    expect(root.name).toBe(manifest.name);
    expect(root.dependencies).toEqual(manifest.dependencies);
    expect(root.devDependencies).toEqual(manifest.devDependencies);
    expect(root.optionalDependencies).toEqual(manifest.optionalDependencies);
    expect(root.engines).toEqual(manifest.engines);
  });

  it('lock nothing that refuses the oldest Node version package.json accepts', () => {
    const oldest = semver.minVersion(manifest.engines.node)!.version;
    const refusing = Object.entries(lock.packages)
      .filter(([path, entry]) => path !== '' && entry.engines?.node !== undefined && !semver.satisfies(oldest, entry.engines.node))
      .map(([path, entry]) => `${path} needs node ${entry.engines.node}`);
    expect(refusing).toEqual([]);
  });

  it('pins what it overrides as a direct dependency too, since npm ignores overrides of a dependency', () => {
    // A project that installs Flo gets only what Flo's own dependency ranges allow: an
    // override alone would keep this repository clean and still warn every user.
    for (const [name, pin] of Object.entries(manifest.overrides ?? {})) {
      expect(manifest.dependencies?.[name], `${name} is a direct dependency`).toBeDefined();
      expect(pin).toBe(`$${name}`);
    }
  });

  it('is not published as "flo", which is an unrelated package on npm', () => {
    expect(manifest.name).not.toBe('flo');
  });
});
