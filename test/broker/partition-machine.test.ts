import { describe, expect, it } from 'vitest';
import { COMMAND_APPEND, COMMAND_SKIP, COMMAND_TRIM, CommandDecodeError, decodeCommand, encodeCommand, NO_PRODUCER, type AppendCommand } from '../../src/broker/partitions/commands.js';
import { PartitionMachine, SnapshotDamagedError } from '../../src/broker/partitions/partition-machine.js';
import { SeededRandom } from '../../src/broker/raft/random.js';

const bytes = (text: string): Uint8Array => new TextEncoder().encode(text);

function append(producerId: number, firstSequence: number, texts: string[], timestamp = 1000, namespace = '/orders/eu/1'): AppendCommand {
  return { kind: COMMAND_APPEND, timestamp, producerId, firstSequence, events: texts.map((text) => ({ namespace, parentId: undefined, data: bytes(text) })) };
}

describe('partition commands', () => {
  it('round-trip appends and trims byte for byte', () => {
    const command: AppendCommand = {
      kind: COMMAND_APPEND, timestamp: 1_700_000_000_123, producerId: 2 ** 40 + 7, firstSequence: 41,
      events: [{ namespace: '/orders/eü/42', parentId: '0003-00000000001a2', data: bytes('hi') }, { namespace: '/x', parentId: undefined, data: new Uint8Array(0) }],
    };
    const decoded = decodeCommand(encodeCommand(command));
    expect(decoded).toEqual({ ...command, events: command.events.map((e) => ({ ...e, data: Buffer.from(e.data) })) });
    const trim = { kind: COMMAND_TRIM, cuts: [{ namespace: '/logs/a', keepFromOffset: 1234 }] } as const;
    expect(decodeCommand(encodeCommand(trim))).toEqual(trim);
  });

  it('refuses every truncation and trailing garbage instead of misreading it', () => {
    const encoded = encodeCommand(append(9, 0, ['one', 'two']));
    for (let length = 0; length < encoded.length; length++) {
      expect(() => decodeCommand(encoded.subarray(0, length)), `length ${length}`).toThrow(CommandDecodeError);
    }
    expect(() => decodeCommand(Buffer.concat([encoded, Buffer.of(0)]))).toThrow(/after the command/);
  });

  it('refuses an event count the entry cannot hold before allocating it', () => {
    const encoded = encodeCommand(append(9, 0, ['one']));
    encoded.writeUInt32BE(0xffffffff, 22);
    expect(() => decodeCommand(encoded)).toThrow(/append of 4294967295 events/);
  });

  it('refuses a namespace that is not UTF-8', () => {
    const encoded = encodeCommand(append(9, 0, ['one'], 1, '/ab'));
    encoded[26 + 2 + 2] = 0xff;
    expect(() => decodeCommand(encoded)).toThrow(/not UTF-8/);
  });
});

describe('partition state machine', () => {
  it('assigns contiguous offsets at apply and keeps timestamps monotonic when a new leader clock is behind', () => {
    const machine = new PartitionMachine();
    const first = machine.apply(append(NO_PRODUCER, 0, ['a', 'b'], 5000));
    const second = machine.apply(append(NO_PRODUCER, 0, ['c'], 4000));
    expect(first).toMatchObject({ kind: 'appended', firstOffset: 0, timestamp: 5000 });
    expect(second).toMatchObject({ kind: 'appended', firstOffset: 2, timestamp: 5000 });
    expect(second.kind === 'appended' && second.events.map((e) => e.offset)).toEqual([2]);
    expect(machine.nextOffset).toBe(3);
  });

  it('answers a retried batch with the offsets of its first attempt instead of storing it twice', () => {
    const machine = new PartitionMachine();
    machine.apply(append(7, 0, ['a', 'b']));
    machine.apply(append(8, 0, ['x']));
    machine.apply(append(7, 2, ['c']));
    expect(machine.apply(append(7, 0, ['a', 'b']))).toEqual({ kind: 'duplicate', firstOffset: 0, count: 2 });
    expect(machine.apply(append(7, 2, ['c']))).toEqual({ kind: 'duplicate', firstOffset: 3, count: 1 });
    expect(machine.nextOffset).toBe(4);
    expect(machine.apply(append(7, 3, ['d']))).toMatchObject({ kind: 'appended', firstOffset: 4 });
  });

  it('takes a gap in a producer sequence (its other events went to other partitions) and refuses a retry older than the window', () => {
    const machine = new PartitionMachine({ dedupWindowBatches: 2, maxProducers: 10 });
    for (let seq = 0; seq < 4; seq++) machine.apply(append(7, seq, [`e${seq}`]));
    expect(machine.apply(append(7, 6, ['later']))).toMatchObject({ kind: 'appended', firstOffset: 4 });
    expect(machine.apply(append(7, 5, ['between']))).toMatchObject({ kind: 'rejected', reason: 'sequence-stale' });
    expect(machine.apply(append(7, 1, ['e1']))).toMatchObject({ kind: 'rejected', reason: 'sequence-stale' });
    expect(machine.apply(append(7, 3, ['e3']))).toEqual({ kind: 'duplicate', firstOffset: 3, count: 1 });
    expect(machine.apply(append(7, 6, ['later']))).toEqual({ kind: 'duplicate', firstOffset: 4, count: 1 });
    expect(machine.nextOffset).toBe(5);
  });

  it('keeps deduplicating after a snapshot is restored (a new leader restarting from it)', () => {
    const machine = new PartitionMachine();
    machine.apply(append(7, 0, ['a']));
    machine.apply(append(7, 1, ['b', 'c']));
    const restored = PartitionMachine.restore(machine.snapshot());
    expect(restored.apply(append(7, 1, ['b', 'c']))).toEqual({ kind: 'duplicate', firstOffset: 1, count: 2 });
    expect(restored.nextOffset).toBe(3);
    expect(restored.snapshot()).toEqual(machine.snapshot());
  });

  it('moves the next offset and last timestamp forward on a skip, never back, and keeps them across a snapshot', () => {
    const machine = new PartitionMachine();
    const skip = decodeCommand(encodeCommand({ kind: COMMAND_SKIP, nextOffset: 1000, timestamp: 50 }));
    expect(machine.apply(skip)).toEqual({ kind: 'skipped', from: 0, to: 1000 });
    expect(machine.apply({ kind: COMMAND_APPEND, timestamp: 10, producerId: NO_PRODUCER, firstSequence: 0, events: [{ namespace: '/a', parentId: undefined, data: Buffer.from('x') }] }))
      .toMatchObject({ kind: 'appended', firstOffset: 1000, timestamp: 50 });
    expect(machine.apply({ kind: COMMAND_SKIP, nextOffset: 5, timestamp: 0 })).toEqual({ kind: 'skipped', from: 1001, to: 1001 });
    const restored = PartitionMachine.restore(machine.snapshot());
    expect([restored.nextOffset, restored.lastTimestamp]).toEqual([1001, 50]);
    expect(() => decodeCommand(encodeCommand({ kind: COMMAND_SKIP, nextOffset: 1, timestamp: 1 }).subarray(0, 12))).toThrow(CommandDecodeError);
  });

  it('refuses a damaged snapshot', () => {
    const machine = new PartitionMachine();
    machine.apply(append(7, 0, ['a']));
    const snapshot = machine.snapshot();
    for (const at of [0, 5, 20, snapshot.length - 1]) {
      const damaged = Buffer.from(snapshot);
      damaged[at] = damaged[at]! ^ 0x10;
      expect(() => PartitionMachine.restore(damaged), `byte ${at}`).toThrow(SnapshotDamagedError);
    }
  });

  it('remembers a bounded number of producers, forgetting the least recently used', () => {
    const machine = new PartitionMachine({ dedupWindowBatches: 5, maxProducers: 2 });
    machine.apply(append(1, 0, ['a']));
    machine.apply(append(2, 0, ['b']));
    machine.apply(append(1, 1, ['c'])); // producer 1 used last, so 2 is the oldest
    machine.apply(append(3, 0, ['d']));
    expect(machine.producerCount).toBe(2);
    expect(machine.apply(append(1, 1, ['c']))).toMatchObject({ kind: 'duplicate' });
    // Producer 2 was forgotten: its retry can no longer be recognised and is stored again.
    expect(machine.apply(append(2, 0, ['b']))).toMatchObject({ kind: 'appended' });
  });

  it('replicas applying the same encoded commands reach byte-identical state, with every retry deduplicated (seeded)', () => {
    const seed = 20261201;
    const random = new SeededRandom(seed);
    const commands: Buffer[] = [];
    const sent: Array<{ producer: number; seq: number; count: number }> = [];
    const nextSeq = new Map<number, number>();
    let fresh = 0;
    for (let i = 0; i < 2000; i++) {
      const producer = 1 + random.nextInt(5);
      if (sent.length > 0 && random.nextInt(4) === 0) {
        // A retry of one of this producer's last few batches (inside the window).
        const own = sent.filter((s) => s.producer === producer).slice(-3);
        const retry = own[random.nextInt(Math.max(1, own.length))];
        if (retry) {
          commands.push(encodeCommand(append(producer, retry.seq, Array.from({ length: retry.count }, () => 'r'), 1000 + i)));
          continue;
        }
      }
      const seq = nextSeq.get(producer) ?? 0;
      const count = 1 + random.nextInt(3);
      nextSeq.set(producer, seq + count);
      sent.push({ producer, seq, count });
      fresh += count;
      commands.push(encodeCommand(append(producer, seq, Array.from({ length: count }, () => 'f'), 1000 + i)));
    }
    const replicas = [new PartitionMachine(), new PartitionMachine()];
    const outcomes = replicas.map((replica) => commands.map((command) => replica.apply(decodeCommand(command)).kind));
    expect(outcomes[0], `seed ${seed}`).toEqual(outcomes[1]);
    expect(outcomes[0]!.includes('rejected'), `seed ${seed}`).toBe(false);
    expect(replicas[0]!.nextOffset, `seed ${seed}`).toBe(fresh);
    expect(replicas[0]!.snapshot()).toEqual(replicas[1]!.snapshot());
  });
});
