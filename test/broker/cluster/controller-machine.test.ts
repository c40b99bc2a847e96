import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  ControllerMachine,
  decodeControllerCommand,
  joinBackpressure,
  joinerGone,
  JOINER_GONE_MS,
  replacedMember,
  MAX_JOINING,
  encodeControllerCommand,
  type ControllerCommand,
  type MemberRecord,
  type MemberState,
} from '../../../src/broker/cluster/controller-machine.js';

const founders = (...ids: number[]): Array<{ id: number; peer: string }> => ids.map((id) => ({ id, peer: `127.0.0.1:${4000 + id}` }));
const join = (incarnation: string, replaces?: number): ControllerCommand =>
  replaces === undefined
    ? { op: 'join', incarnation, peer: `127.0.0.1:5${incarnation.length}`, url: null }
    : { op: 'join', incarnation, peer: `127.0.0.1:5${incarnation.length}`, url: null, replaces };
const stateOf = (machine: ControllerMachine, id: number): MemberState | undefined => machine.get(id)?.state;
/** The machine's next id, read from its snapshot (the field is private). */
const nextIdOf = (machine: ControllerMachine): number => (JSON.parse(Buffer.from(machine.snapshot()).toString('utf8')) as { nextId: number }).nextId;
const bytes = (text: string): Uint8Array => Buffer.from(text, 'utf8');

describe('ControllerMachine: ids', () => {
  it('gives founders their own ids, active, and the first joiner the id after the highest founder', () => {
    const machine = new ControllerMachine(founders(1, 2, 5), 2);
    expect(machine.list().map((member) => [member.id, member.state])).toEqual([[1, 'active'], [2, 'active'], [5, 'active']]);
    expect(machine.apply(join('a'))).toEqual({ ok: true, id: 6 });
    expect(stateOf(machine, 6)).toBe('joining');
    expect(machine.apply(join('b'))).toEqual({ ok: true, id: 7 });
  });

  it('gives a join retried with the same incarnation the same id, and adds nobody', () => {
    const machine = new ControllerMachine(founders(1), 1);
    expect(machine.apply(join('a'))).toEqual({ ok: true, id: 2 });
    expect(machine.apply(join('a'))).toEqual({ ok: true, id: 2 });
    machine.apply({ op: 'activate', id: 2 });
    expect(machine.apply(join('a'))).toEqual({ ok: true, id: 2 });
    expect(stateOf(machine, 2)).toBe('active');
    expect(machine.list()).toHaveLength(2);
    expect(machine.apply(join('b'))).toEqual({ ok: true, id: 3 });
  });

  it('never reuses the id of a removed member', () => {
    const machine = new ControllerMachine(founders(1), 1);
    expect(machine.apply(join('a'))).toEqual({ ok: true, id: 2 });
    expect(machine.apply({ op: 'remove', id: 2, force: true })).toMatchObject({ ok: true, id: 2 });
    expect(machine.apply(join('b'))).toEqual({ ok: true, id: 3 });
    expect(stateOf(machine, 2)).toBe('removed');
  });

  it('keeps ids growing across snapshot and restore, into a machine that started from other founders', () => {
    const machine = new ControllerMachine(founders(1, 2, 3), 2);
    machine.apply(join('a'));
    machine.apply({ op: 'remove', id: 4, force: true });
    const restored = new ControllerMachine(founders(1), 2);
    restored.restore(machine.snapshot());
    expect(restored.list()).toEqual(machine.list());
    expect(restored.apply(join('b'))).toEqual({ ok: true, id: 5 });
    expect(restored.apply(join('a')).ok).toBe(false);
  });

  it('refuses a snapshot of another format', () => {
    const machine = new ControllerMachine(founders(1), 1);
    expect(() => machine.restore(bytes(JSON.stringify({ format: 2, nextId: 9, members: [] })))).toThrow(/format 2/);
    expect(machine.list().map((member) => member.id)).toEqual([1]);
  });
});

describe('ControllerMachine: join', () => {
  it('refuses a removed incarnation, and adds nothing', () => {
    const machine = new ControllerMachine(founders(1, 2), 1);
    machine.apply(join('a'));
    machine.apply({ op: 'drain', id: 3 });
    machine.apply({ op: 'remove', id: 3, force: false });
    const before = machine.snapshot();
    const outcome = machine.apply(join('a'));
    expect(outcome).toMatchObject({ ok: false, code: 'FLO_ERR_MEMBERSHIP_REFUSED' });
    expect(outcome.ok ? '' : outcome.reason).toMatch(/empty data dir/);
    expect(machine.snapshot()).toEqual(before);
  });

  it('retires the replaced member in the same command, after which its incarnation is refused', () => {
    const machine = new ControllerMachine(founders(1), 1);
    machine.apply(join('old'));
    expect(machine.apply(join('new', 2))).toEqual({ ok: true, id: 3 });
    expect(stateOf(machine, 2)).toBe('removed');
    expect(stateOf(machine, 3)).toBe('joining');
    expect(machine.apply(join('old')).ok).toBe(false);
  });

  it('may replace the last replica holder: the joiner holds replicas in its place', () => {
    const machine = new ControllerMachine(founders(1), 1);
    expect(machine.apply(join('new', 1))).toEqual({ ok: true, id: 2 });
    expect(machine.replicaHolders()).toEqual([2]);
  });

  // Found by the property below: `replaces` was looked up after the joiner was added, so naming the id it
  // was about to get retired the joiner itself. A `replaces` naming the joiner is ignored.
  it('does not retire the joiner itself when `replaces` names the id it is about to get', () => {
    const machine = new ControllerMachine(founders(1), 1);
    const outcome = machine.apply(join('x', 2));
    expect(outcome.ok && stateOf(machine, outcome.id) !== 'removed').toBe(true);
  });
});

describe('ControllerMachine: activate', () => {
  it('activates a joiner, is idempotent on an active member, refuses draining and removed, and reports unknown ids', () => {
    const machine = new ControllerMachine(founders(1, 2), 1);
    machine.apply(join('a'));
    expect(machine.apply({ op: 'activate', id: 3 })).toEqual({ ok: true, id: 3 });
    expect(stateOf(machine, 3)).toBe('active');
    expect(machine.apply({ op: 'activate', id: 3 })).toEqual({ ok: true, id: 3 });
    machine.apply({ op: 'drain', id: 3 });
    expect(machine.apply({ op: 'activate', id: 3 })).toMatchObject({ ok: false, code: 'FLO_ERR_MEMBERSHIP_REFUSED' });
    expect(stateOf(machine, 3)).toBe('draining');
    machine.apply({ op: 'remove', id: 3, force: false });
    expect(machine.apply({ op: 'activate', id: 3 })).toMatchObject({ ok: false, code: 'FLO_ERR_MEMBERSHIP_REFUSED' });
    expect(stateOf(machine, 3)).toBe('removed');
    expect(machine.apply({ op: 'activate', id: 9 })).toMatchObject({ ok: false, code: 'FLO_ERR_MEMBER_NOT_FOUND' });
  });
});

describe('ControllerMachine: drain', () => {
  it('refuses a drain that would leave fewer joining/active members than the replication factor', () => {
    const machine = new ControllerMachine(founders(1, 2, 3), 3);
    const before = machine.snapshot();
    const outcome = machine.apply({ op: 'drain', id: 1 });
    expect(outcome).toMatchObject({ ok: false, code: 'FLO_ERR_MEMBERSHIP_REFUSED' });
    expect(outcome.ok ? '' : outcome.reason).toMatch(/leave 2 brokers to hold 3 replicas/);
    expect(machine.snapshot()).toEqual(before);
  });

  it('counts a joining member as a replica holder', () => {
    const machine = new ControllerMachine(founders(1, 2), 2);
    expect(machine.apply({ op: 'drain', id: 1 }).ok).toBe(false);
    machine.apply(join('a'));
    expect(machine.apply({ op: 'drain', id: 1 })).toEqual({ ok: true, id: 1 });
    expect(machine.replicaHolders()).toEqual([2, 3]);
  });

  it('does not count a draining member: the second of two drains is refused', () => {
    const machine = new ControllerMachine(founders(1, 2, 3), 2);
    expect(machine.apply({ op: 'drain', id: 1 })).toEqual({ ok: true, id: 1 });
    expect(machine.apply({ op: 'drain', id: 2 })).toMatchObject({ ok: false, code: 'FLO_ERR_MEMBERSHIP_REFUSED' });
    expect(machine.replicaHolders()).toEqual([2, 3]);
  });

  it('is idempotent: draining a draining member succeeds and changes nothing, even when a new drain would be refused', () => {
    const machine = new ControllerMachine(founders(1, 2, 3), 2);
    machine.apply({ op: 'drain', id: 1 });
    const before = machine.snapshot();
    expect(machine.apply({ op: 'drain', id: 1 })).toEqual({ ok: true, id: 1 });
    expect(machine.apply({ op: 'drain', id: 1 })).toEqual({ ok: true, id: 1 });
    expect(machine.snapshot()).toEqual(before);
  });

  it('reports removed and unknown members as not found', () => {
    const machine = new ControllerMachine(founders(1, 2), 1);
    machine.apply({ op: 'remove', id: 2, force: true });
    expect(machine.apply({ op: 'drain', id: 2 })).toMatchObject({ ok: false, code: 'FLO_ERR_MEMBER_NOT_FOUND' });
    expect(machine.apply({ op: 'drain', id: 7 })).toMatchObject({ ok: false, code: 'FLO_ERR_MEMBER_NOT_FOUND' });
  });
});

describe('ControllerMachine: remove', () => {
  it('without force removes only a draining member', () => {
    const machine = new ControllerMachine(founders(1, 2, 3), 1);
    machine.apply(join('a'));
    for (const id of [1, 4]) {
      const outcome = machine.apply({ op: 'remove', id, force: false });
      expect(outcome).toMatchObject({ ok: false, code: 'FLO_ERR_MEMBERSHIP_REFUSED' });
      expect(outcome.ok ? '' : outcome.reason).toMatch(/drain it first/);
    }
    expect(machine.list().map((member) => member.state)).toEqual(['active', 'active', 'active', 'joining']);
    machine.apply({ op: 'drain', id: 2 });
    expect(machine.apply({ op: 'remove', id: 2, force: false })).toEqual({ ok: true, id: 2 });
    expect(stateOf(machine, 2)).toBe('removed');
  });

  it('with force removes a member in any state', () => {
    const machine = new ControllerMachine(founders(1, 2, 3), 1);
    machine.apply(join('a'));
    machine.apply({ op: 'drain', id: 3 });
    expect(machine.list().map((member) => member.state)).toEqual(['active', 'active', 'draining', 'joining']);
    for (const id of [4, 2, 3]) expect(machine.apply({ op: 'remove', id, force: true })).toEqual({ ok: true, id });
    expect(machine.replicaHolders()).toEqual([1]);
    expect(machine.list().map((member) => member.state)).toEqual(['active', 'removed', 'removed', 'removed']);
  });

  it('is idempotent on a removed member and reports unknown ids', () => {
    const machine = new ControllerMachine(founders(1, 2), 1);
    machine.apply({ op: 'remove', id: 2, force: true });
    expect(machine.apply({ op: 'remove', id: 2, force: false })).toEqual({ ok: true, id: 2 });
    expect(machine.apply({ op: 'remove', id: 3, force: true })).toMatchObject({ ok: false, code: 'FLO_ERR_MEMBER_NOT_FOUND' });
  });

  it('never removes the last replica holder, even with force', () => {
    const machine = new ControllerMachine(founders(1, 2), 1);
    machine.apply({ op: 'drain', id: 1 });
    expect(machine.apply({ op: 'drain', id: 2 }).ok).toBe(false);
    for (const force of [false, true]) {
      const outcome = machine.apply({ op: 'remove', id: 2, force });
      expect(outcome).toMatchObject({ ok: false, code: 'FLO_ERR_MEMBERSHIP_REFUSED' });
    }
    expect(machine.apply({ op: 'remove', id: 1, force: false })).toEqual({ ok: true, id: 1 });
    expect(machine.apply({ op: 'remove', id: 2, force: true })).toMatchObject({ ok: false, reason: expect.stringMatching(/last member holding replicas/) });
    expect(machine.replicaHolders()).toEqual([2]);
  });
});

describe('decodeControllerCommand', () => {
  const valid: ControllerCommand[] = [
    { op: 'join', incarnation: 'a'.repeat(64), peer: 'p'.repeat(1024), url: 'u'.repeat(1024) },
    { op: 'join', incarnation: 'i', peer: '127.0.0.1:4001', url: null, replaces: 3 },
    { op: 'activate', id: 1 },
    { op: 'drain', id: Number.MAX_SAFE_INTEGER },
    { op: 'remove', id: 2, force: false },
  ];

  it('round-trips every well-formed command', () => {
    for (const command of valid) expect(decodeControllerCommand(encodeControllerCommand(command))).toEqual(command);
  });

  const malformed: Array<[string, unknown]> = [
    ['an unknown op', { op: 'promote', id: 1 }],
    ['no op', { id: 1 }],
    ['an op that is not a string', { op: 1, id: 1 }],
    ['id 0', { op: 'activate', id: 0 }],
    ['a negative id', { op: 'drain', id: -1 }],
    ['a fractional id', { op: 'drain', id: 1.5 }],
    ['an id past the safe integers', { op: 'drain', id: 2 ** 53 }],
    ['an id as a string', { op: 'activate', id: '1' }],
    ['no id', { op: 'activate' }],
    ['remove without force', { op: 'remove', id: 1 }],
    ['remove with a force that is not a boolean', { op: 'remove', id: 1, force: 'yes' }],
    ['a 65-character incarnation', { op: 'join', incarnation: 'a'.repeat(65), peer: 'p', url: null }],
    ['an empty incarnation', { op: 'join', incarnation: '', peer: 'p', url: null }],
    ['a 1025-character peer', { op: 'join', incarnation: 'a', peer: 'p'.repeat(1025), url: null }],
    ['a 1025-character url', { op: 'join', incarnation: 'a', peer: 'p', url: 'u'.repeat(1025) }],
    ['an empty url', { op: 'join', incarnation: 'a', peer: 'p', url: '' }],
    ['a missing url', { op: 'join', incarnation: 'a', peer: 'p' }],
    ['a missing peer', { op: 'join', incarnation: 'a', url: null }],
    ['a null replaces', { op: 'join', incarnation: 'a', peer: 'p', url: null, replaces: null }],
    ['replaces 0', { op: 'join', incarnation: 'a', peer: 'p', url: null, replaces: 0 }],
    ['a number incarnation', { op: 'join', incarnation: 7, peer: 'p', url: null }],
    ['null', null],
    ['an array', [{ op: 'activate', id: 1 }]],
    ['a number', 5],
    ['a string', 'join'],
  ];
  it.each(malformed)('refuses %s', (_name, value) => {
    expect(() => decodeControllerCommand(bytes(JSON.stringify(value)))).toThrow('not a controller command');
  });

  it('throws on bytes that are not JSON', () => {
    for (const text of ['', '{', 'join', '{"op":"activate","id":1', '\u0000']) expect(() => decodeControllerCommand(bytes(text))).toThrow();
    expect(() => decodeControllerCommand(new Uint8Array([0xff, 0xfe, 0x00]))).toThrow();
  });

  it('throws on arbitrary bytes or accepts only what re-encodes to a valid command (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (data) => {
      let command: ControllerCommand;
      try {
        command = decodeControllerCommand(data);
      } catch {
        return;
      }
      expect(decodeControllerCommand(encodeControllerCommand(command))).toEqual(command);
    }), { numRuns: 500 });
  });
});

// A random command: small pools of incarnations and ids so retries, repeats and collisions are common.
const incarnationArb = fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f');
const idArb = fc.integer({ min: 1, max: 12 });
const commandArb: fc.Arbitrary<ControllerCommand> = fc.oneof(
  fc.record({ op: fc.constant('join' as const), incarnation: incarnationArb, peer: fc.constantFrom('127.0.0.1:1', '127.0.0.1:2'), url: fc.constantFrom(null, 'http://127.0.0.1:8080'), replaces: fc.option(idArb, { nil: undefined }) }, { requiredKeys: ['op', 'incarnation', 'peer', 'url'] }),
  fc.record({ op: fc.constant('activate' as const), id: idArb }),
  fc.record({ op: fc.constant('drain' as const), id: idArb }),
  fc.record({ op: fc.constant('remove' as const), id: idArb, force: fc.boolean() }),
);

const ALLOWED: Record<MemberState, readonly MemberState[]> = {
  joining: ['joining', 'active', 'draining', 'removed'],
  active: ['active', 'draining', 'removed'],
  draining: ['draining', 'removed'],
  removed: ['removed'],
};

/** Checks what must hold after every command; `before` is the table before it. */
function checkInvariants(machine: ControllerMachine, before: { list: MemberRecord[]; nextId: number; snapshot: Uint8Array }, command: ControllerCommand, outcome: ReturnType<ControllerMachine['apply']>): void {
  const after = machine.list();
  const nextId = nextIdOf(machine);
  const ids = after.map((member) => member.id);
  expect(new Set(ids).size).toBe(ids.length);
  for (const id of ids) expect(id).toBeLessThan(nextId);
  expect(nextId).toBeGreaterThanOrEqual(before.nextId);
  const incarnations = after.map((member) => member.incarnation).filter((incarnation) => incarnation !== null);
  expect(new Set(incarnations).size).toBe(incarnations.length);
  // Nobody is ever forgotten, and states only move forward.
  for (const old of before.list) {
    const now = machine.get(old.id);
    expect(now).toBeDefined();
    expect(ALLOWED[old.state]).toContain(now!.state);
    expect({ ...now, state: old.state }).toEqual(old);
  }
  // A new member only by a join, with the id that was next.
  const added = after.filter((member) => !before.list.some((old) => old.id === member.id));
  expect(added.length).toBeLessThanOrEqual(1);
  if (added.length === 1) {
    expect(command.op).toBe('join');
    expect(added[0]!.id).toBe(before.nextId);
    expect(added[0]!.state).toBe('joining');
  }
  const holdersBefore = before.list.filter((member) => member.state === 'joining' || member.state === 'active').length;
  const holders = machine.replicaHolders();
  if (holdersBefore > 0) expect(holders.length).toBeGreaterThan(0);
  if (!outcome.ok) expect(machine.snapshot()).toEqual(before.snapshot);
  if (outcome.ok && command.op === 'join') expect(machine.get(outcome.id)!.state).not.toBe('removed');
  if (outcome.ok && command.op === 'drain' && before.list.find((member) => member.id === command.id)?.state !== 'draining') {
    expect(holders.length).toBeGreaterThanOrEqual(machine.replicationFactor);
  }
}

function observe(machine: ControllerMachine): { list: MemberRecord[]; nextId: number; snapshot: Uint8Array } {
  return { list: machine.list(), nextId: nextIdOf(machine), snapshot: machine.snapshot() };
}

describe('ControllerMachine (property)', () => {
  it('is deterministic across snapshot/restore and the wire codec, and keeps its invariants after every command', () => {
    fc.assert(fc.property(
      fc.uniqueArray(fc.integer({ min: 1, max: 6 }), { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 1, max: 3 }),
      fc.array(commandArb, { maxLength: 60 }),
      fc.nat(),
      (founderIds, replicationFactor, commands, cut) => {
        const first = new ControllerMachine(founders(...founderIds), replicationFactor);
        let second = new ControllerMachine(founders(...founderIds), replicationFactor);
        const restoreAt = commands.length === 0 ? 0 : cut % (commands.length + 1);
        for (const [index, generated] of commands.entries()) {
          if (index === restoreAt) {
            // Restored into a machine that started from different founders: the snapshot alone must carry the state.
            const restored = new ControllerMachine(founders(7, 8), replicationFactor);
            restored.restore(second.snapshot());
            second = restored;
          }
          const command = generated;
          const before = observe(first);
          const outcome = first.apply(command);
          checkInvariants(first, before, command, outcome);
          // The second machine gets the command as it travels: encoded, then decoded.
          expect(second.apply(decodeControllerCommand(encodeControllerCommand(command)))).toEqual(outcome);
        }
        expect(second.list()).toEqual(first.list());
        expect(second.replicaHolders()).toEqual(first.replicaHolders());
        expect(Buffer.from(second.snapshot()).equals(Buffer.from(first.snapshot()))).toBe(true);
      },
    ), { numRuns: 400 });
  });
});

describe('join backpressure', () => {
  it('takes a joiner for gone only when a leader that led a full minute has not heard it for one', () => {
    expect(joinerGone(JOINER_GONE_MS, JOINER_GONE_MS)).toBe(true);
    expect(joinerGone(JOINER_GONE_MS, undefined)).toBe(true);
    expect(joinerGone(JOINER_GONE_MS - 1, undefined)).toBe(false);
    expect(joinerGone(JOINER_GONE_MS * 5, JOINER_GONE_MS - 1)).toBe(false);
  });

  it('holds a new join while MAX_JOINING members are catching up, never one asked again, and lets it go once one is active', () => {
    const machine = new ControllerMachine(founders(1, 2, 3), 3);
    for (let i = 0; i < MAX_JOINING; i++) {
      expect(joinBackpressure(machine.list(), `joiner-${i}`)).toBeUndefined();
      machine.apply(join(`joiner-${i}`));
    }
    expect(joinBackpressure(machine.list(), 'one-too-many')).toMatch(/4, 5, 6 still joining \(at most 3 catch up at once\).*DELETE \/v1\/admin\/members\/<id>\?force=true/);
    // A joiner that lost the answer asks again with its incarnation: it is not held back.
    expect(joinBackpressure(machine.list(), 'joiner-1')).toBeUndefined();
    machine.apply({ op: 'activate', id: 4 });
    expect(joinBackpressure(machine.list(), 'one-too-many')).toBeUndefined();
    // Joins proposed but not applied yet count too (two joiners asking in the same instant).
    expect(joinBackpressure(machine.list(), 'x', new Set(['p', 'q']))).toMatch(/5, 6, 2 being registered still joining/);
    expect(joinBackpressure(machine.list(), 'p', new Set(['p', 'q']))).toBeUndefined();
    expect(joinBackpressure(machine.list(), 'x', new Set(['p']))).toMatch(/5, 6, 1 being registered/);
    expect(joinBackpressure(machine.list(), 'x', new Set(['joiner-1']))).toBeUndefined();
    // A joiner that died holds no slot (its row stays until removed).
    machine.apply(join('joiner-3'));
    expect(joinBackpressure(machine.list(), 'y')).toMatch(/5, 6, 7 still joining/);
    expect(joinBackpressure(machine.list(), 'y', new Set(), (id) => id === 6)).toBeUndefined();
    expect(joinBackpressure(machine.list(), 'y', new Set(['p']), (id) => id === 6)).toMatch(/5, 7, 1 being registered still joining/);
    // apply() itself never refuses (old logs replay as they ran).
    machine.apply(join('one-too-many'));
    expect(machine.apply(join('and-another'))).toMatchObject({ ok: true });
  });
});

describe('the member a rejoin retires', () => {
  it('is the id it names, unless that id was retired already: then the one member now at its address', () => {
    const machine = new ControllerMachine(founders(1, 2, 3), 3);
    const peer = '127.0.0.1:4002';
    expect(replacedMember(machine.list(), { incarnation: 'first', peer, replaces: 2 })).toBe(2);
    expect(replacedMember(machine.list(), { incarnation: 'first', peer })).toBeUndefined();
    // Node 2's volume lost once: it came back as node 4 at the same address, retiring 2.
    machine.apply({ op: 'join', incarnation: 'first', peer, url: null, replaces: 2 });
    expect(stateOf(machine, 2)).toBe('removed');
    // Lost again: its ordinal still says 2, which is gone; node 4 is the one to retire.
    expect(replacedMember(machine.list(), { incarnation: 'second', peer, replaces: 2 })).toBe(4);
    // The first join asked again is not taken for its own replacement.
    expect(replacedMember(machine.list(), { incarnation: 'first', peer, replaces: 2 })).toBe(2);
    // Nobody (or more than one) at that address: the named id stands, and retiring it again changes nothing.
    expect(replacedMember(machine.list(), { incarnation: 'third', peer: '127.0.0.1:4999', replaces: 2 })).toBe(2);
  });
});
