import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LostFounderError } from '../../../src/broker/cluster/founding.js';
import type { ClusterOptions } from '../../../src/broker/cluster/peering.js';
import { rejoinAfterRefusal } from '../../../src/broker/cluster/rejoin.js';
import { FloError } from '../../../src/common/errors.js';
import { silentLogger, tempDir } from '../../support/temp.js';

const made: Array<() => Promise<void>> = [];
afterEach(async () => { await Promise.all(made.splice(0).map((remove) => remove())); });

const seed = { host: 'flo-0.flo-peers', port: 4000 };
const cluster: ClusterOptions = { nodeId: 1, nodeIdFromOrdinal: true, peers: [seed], peerPort: 4000, join: seed, rebuildWhenDamaged: true };

describe('rejoining after a refusal (--rebuild-when-damaged)', () => {
  it('joins a lost founder through the member that said so, or through --join when none did, retiring its id', async () => {
    const dir = await tempDir();
    made.push(dir.remove);
    const other = { host: '127.0.0.2', port: 4000 };
    expect(await rejoinAfterRefusal(new LostFounderError('lost', other), dir.path, cluster, silentLogger))
      .toMatchObject({ nodeId: undefined, nodeIdFromOrdinal: false, replaces: 1, join: other });
    expect(await rejoinAfterRefusal(new LostFounderError('half-way'), dir.path, cluster, silentLogger)).toMatchObject({ replaces: 1, join: seed });
  });

  it('moves a lost founder\'s cluster.json aside (the join writes the new one), and leaves a half-way join\'s incarnation', async () => {
    const dir = await tempDir();
    made.push(dir.remove);
    await writeFile(join(dir.path, 'cluster.json'), JSON.stringify({ format: 1, clusterId: 'flo', members: [{ id: 1, peer: 'flo-0.flo-peers:4000' }], replicationFactor: 1, formedAt: 1 }));
    expect(await rejoinAfterRefusal(new LostFounderError('no store'), dir.path, cluster, silentLogger)).toMatchObject({ replaces: 1 });
    expect((await readdir(dir.path)).every((name) => name.startsWith('damaged-'))).toBe(true);
    const halfway = await tempDir();
    made.push(halfway.remove);
    await writeFile(join(halfway.path, 'incarnation'), '0b7c3f52-0000-4000-8000-000000000000\n');
    await rejoinAfterRefusal(new LostFounderError('half-way'), halfway.path, cluster, silentLogger);
    expect(await readdir(halfway.path)).toEqual(['incarnation']);
  });

  it('moves a damaged store aside first, and leaves every other refusal (or a start without the flag) alone', async () => {
    const dir = await tempDir();
    made.push(dir.remove);
    await mkdir(dir.path, { recursive: true });
    await writeFile(join(dir.path, '000001.log'), 'x');
    const damaged = new FloError('FLO_ERR_STORAGE_CORRUPT', 'a block fails its checksum');
    expect(await rejoinAfterRefusal(damaged, dir.path, { ...cluster, rebuildWhenDamaged: false }, silentLogger)).toBeUndefined();
    expect(await rejoinAfterRefusal(new FloError('FLO_ERR_CONFIG_INVALID', 'bad flag'), dir.path, cluster, silentLogger)).toBeUndefined();
    expect(await rejoinAfterRefusal(damaged, dir.path, cluster, silentLogger)).toMatchObject({ replaces: 1, join: seed });
    expect((await readdir(dir.path)).every((name) => name.startsWith('damaged-'))).toBe(true);
  });
});
