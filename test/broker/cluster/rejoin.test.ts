import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LostFounderError, readMembership, writeMembership } from '../../../src/broker/cluster/founding.js';
import { joinedMembership } from '../../../src/broker/cluster/joining.js';
import type { ClusterOptions } from '../../../src/broker/cluster/peering.js';
import { peersKnownBefore, rejoinAfterRefusal } from '../../../src/broker/cluster/rejoin.js';
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
      .toMatchObject({ nodeId: undefined, nodeIdFromOrdinal: false, replaces: 1, formerIds: [1], join: other });
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
    expect(await rejoinAfterRefusal(damaged, dir.path, cluster, silentLogger)).toMatchObject({ replaces: 1, formerIds: [1], join: seed });
    expect((await readdir(dir.path)).every((name) => name.startsWith('damaged-'))).toBe(true);
  });

  it('leaves an intact store where it is when only cluster.json is damaged (it is restored by hand)', async () => {
    const dir = await tempDir();
    made.push(dir.remove);
    await writeFile(join(dir.path, 'cluster.json'), JSON.stringify({ format: 1, clusterId: 'flo', members: [{ id: 1, peer: 'a:1' }], replicationFactor: 1, self: 1, formerIds: 'x' }));
    await writeFile(join(dir.path, '000001.log'), 'x');
    const refusal = await readMembership(dir.path).catch((error: unknown) => error);
    expect(refusal).toBeInstanceOf(FloError);
    expect((refusal as FloError).code).toBe('FLO_ERR_STORAGE_CORRUPT');
    expect(await rejoinAfterRefusal(refusal, dir.path, cluster, silentLogger)).toBeUndefined();
    expect((await readdir(dir.path)).sort()).toEqual(['000001.log', 'cluster.json']);
  });

  it('carries every id a twice-rebuilt store had, so its unchanged --node-id still starts it', async () => {
    const dir = await tempDir();
    made.push(dir.remove);
    await writeMembership(dir.path, { clusterId: 'flo', members: [{ id: 1, peer: 'flo-0.flo-peers:4000' }], replicationFactor: 1, self: 4, partitions: 2, formerIds: [1] });
    await writeFile(join(dir.path, '000001.log'), 'x');
    const damaged = new FloError('FLO_ERR_STORAGE_CORRUPT', 'a block fails its checksum');
    expect(await rejoinAfterRefusal(damaged, dir.path, cluster, silentLogger)).toMatchObject({ replaces: 4, formerIds: [1, 4] });
  });
});

describe('a rebuilt member started again with the same flags', () => {
  it('is taken as its new id when --node-id names a former one, refused for any other', async () => {
    const dir = await tempDir();
    made.push(dir.remove);
    await writeMembership(dir.path, { clusterId: 'flo', members: [{ id: 1, peer: 'a:1' }], replicationFactor: 1, self: 5, partitions: 2, formerIds: [1, 4] });
    expect((await joinedMembership(dir.path, 1))?.self).toBe(5);
    expect((await joinedMembership(dir.path, 4))?.self).toBe(5);
    expect((await joinedMembership(dir.path, 5))?.self).toBe(5);
    await expect(joinedMembership(dir.path, 2)).rejects.toThrow(/joined the cluster as node 5, not 2/);
    expect((await readMembership(dir.path))?.formerIds).toEqual([1, 4]);
  });
});

describe('the seeds a rebuilt member asks', () => {
  it('are the members of the newest cluster.json moved aside (its --join seed may have left since)', async () => {
    const dir = await tempDir();
    made.push(dir.remove);
    expect(await peersKnownBefore(dir.path)).toEqual([]);
    await writeMembership(join(dir.path, 'damaged-2026-01-01T00-00-00-000Z'), { clusterId: 'flo', members: [{ id: 1, peer: 'old:1' }], replicationFactor: 1 });
    await writeMembership(join(dir.path, 'damaged-2026-02-01T00-00-00-000Z'), { clusterId: 'flo', members: [{ id: 1, peer: 'a:4000' }, { id: 2, peer: 'b:4000' }], replicationFactor: 2, self: 5 });
    await mkdir(join(dir.path, 'damaged-2026-03-01T00-00-00-000Z'));
    expect(await peersKnownBefore(dir.path)).toEqual([{ host: 'a', port: 4000 }, { host: 'b', port: 4000 }]);
  });
});
