// Makes sure the peer servers exist: `command -v` first, and only when one is missing
// `apt-get update` (once) and `apt-get install -y` the Debian packages. Also checks that
// the installed nats-server is new enough for JetStream (`-js`, NATS 2.2+).

import { execFileSync, spawnSync } from 'node:child_process';

export interface PeerBinary {
  readonly command: string;
  readonly aptPackage: string;
}

export const NATS_SERVER: PeerBinary = { command: 'nats-server', aptPackage: 'nats-server' };
export const REDIS_SERVER: PeerBinary = { command: 'redis-server', aptPackage: 'redis-server' };
export const ETCD_SERVER: PeerBinary = { command: 'etcd', aptPackage: 'etcd-server' };

function hasCommand(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** Installs whichever of `binaries` is missing; apt-get update runs at most once. */
export function ensurePeers(binaries: readonly PeerBinary[]): void {
  const missing = binaries.filter((binary) => !hasCommand(binary.command));
  if (missing.length === 0) return;
  const packages = missing.map((binary) => binary.aptPackage);
  process.stderr.write(`bench: installing ${packages.join(', ')} from apt\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update'], { stdio: 'ignore', env });
  execFileSync('apt-get', ['install', '-y', ...packages], { stdio: 'ignore', env });
  for (const binary of missing) {
    if (!hasCommand(binary.command)) throw new Error(`${binary.command} still missing after apt-get install ${binary.aptPackage}`);
  }
}

/** Version string printed by a peer (for the report), e.g. "2.9.10". */
export function peerVersion(command: string): string {
  const text = execFileSync(command, ['--version'], { encoding: 'utf8' });
  const match = /v=?(\d+\.\d+\.\d+)/.exec(text) ?? /(\d+\.\d+\.\d+)/.exec(text);
  return match?.[1] ?? text.trim();
}

/** JetStream arrived in NATS 2.2; anything older ignores `-js` and the bench would be wrong. */
export function assertJetStreamCapable(version: string): void {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major < 2 || (major === 2 && minor < 2)) {
    throw new Error(`nats-server ${version} predates JetStream (needs 2.2 or newer)`);
  }
}
