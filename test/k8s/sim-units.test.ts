// Pure parts of the API simulator: CEL subset, patches, structural schema, selectors.
import { describe, expect, it } from 'vitest';
import { compileCel } from './sim/cel.js';
import { applyJsonPatch, applyMergePatch, applyStrategicMergePatch } from './sim/patch.js';
import { applyDefaults, prune, validate } from './sim/schema.js';
import { parseFieldSelector, parseLabelSelector } from './sim/selectors.js';
import type { KObject } from './sim/types.js';

describe('CEL subset', () => {
  const run = (rule: string, self: unknown, oldSelf?: unknown): boolean => compileCel(rule).run({ self, oldSelf });

  it('evaluates field access, has(), comparisons, logic and the ternary', () => {
    expect(run('!has(self.rf) || self.rf <= self.replicas', { replicas: 3 })).toBe(true);
    expect(run('!has(self.rf) || self.rf <= self.replicas', { replicas: 1, rf: 3 })).toBe(false);
    expect(run('self.a + 2 * 3 == 7 && self.s.startsWith("ab")', { a: 1, s: 'abc' })).toBe(true);
    expect(run('size(self.items) > 1 ? self.items[1] == "y" : false', { items: ['x', 'y'] })).toBe(true);
    expect(run("'b' in self.list && !(self.n % 2 == 1)", { list: ['a', 'b'], n: 4 })).toBe(true);
    expect(run('self == oldSelf', 8, 8)).toBe(true);
    expect(run('self == oldSelf', 8, 16)).toBe(false);
    expect(compileCel('self == oldSelf').usesOldSelf).toBe(true);
  });

  it('refuses what it cannot compile instead of guessing', () => {
    expect(() => compileCel('self.all(x, x > 0')).toThrow();
    expect(() => compileCel('self.x @ 2')).toThrow();
    expect(() => run('self.missing > 1', {})).toThrow(/no such key/);
  });
});

describe('patches', () => {
  it('applies RFC 6902 operations and fails a failed test operation', () => {
    const doc = { a: { b: [1, 2] }, c: 'x' };
    expect(applyJsonPatch(doc, [{ op: 'add', path: '/a/b/-', value: 3 }, { op: 'remove', path: '/c' }, { op: 'copy', from: '/a/b/0', path: '/d' }]))
      .toEqual({ a: { b: [1, 2, 3] }, d: 1 });
    expect(() => applyJsonPatch(doc, [{ op: 'test', path: '/c', value: 'y' }])).toThrow(/test operation failed/);
    expect(doc).toEqual({ a: { b: [1, 2] }, c: 'x' });
  });

  it('applies RFC 7386 merge patches, null deleting a key', () => {
    expect(applyMergePatch({ a: 1, b: { c: 2, d: 3 } }, { a: null, b: { c: 5 }, e: [1] })).toEqual({ b: { c: 5, d: 3 }, e: [1] });
  });

  it('merges built-in lists by their merge keys and honours kubectl directives', () => {
    const pod = { spec: { containers: [{ name: 'a', image: '1', ports: [{ containerPort: 80 }] }], tolerations: [{ key: 'x' }] } };
    const patched = applyStrategicMergePatch(pod, {
      spec: {
        '$setElementOrder/containers': [{ name: 'a' }, { name: 'b' }],
        containers: [{ name: 'b', image: '2' }, { name: 'a', ports: [{ containerPort: 81 }] }],
        tolerations: [{ key: 'y' }],
      },
    });
    expect(patched).toEqual({ spec: { containers: [{ name: 'a', image: '1', ports: [{ containerPort: 80 }, { containerPort: 81 }] }, { name: 'b', image: '2' }], tolerations: [{ key: 'y' }] } });
    expect(applyStrategicMergePatch(pod, { spec: { containers: [{ name: 'a', $patch: 'delete' }] } })).toEqual({ spec: { containers: [], tolerations: [{ key: 'x' }] } });
    expect(applyStrategicMergePatch({ metadata: { finalizers: ['a'] } }, { metadata: { finalizers: ['b'], '$deleteFromPrimitiveList/finalizers': ['a'] } }))
      .toEqual({ metadata: { finalizers: ['b'] } });
  });
});

describe('structural schema', () => {
  const schema = {
    type: 'object',
    properties: {
      spec: {
        type: 'object', default: {},
        properties: {
          size: { type: 'integer', default: 1, minimum: 1 },
          nested: { type: 'object', default: {}, properties: { mode: { type: 'string', default: 'a', enum: ['a', 'b'] } } },
          free: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
          labels: { type: 'object', additionalProperties: { type: 'string' } },
          port: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer', minimum: 1 }, { type: 'string', pattern: '^[a-z]+$' }] },
        },
      },
    },
  };

  it('prunes unknown fields except where unknown fields are preserved, and reports their paths', () => {
    const object = { apiVersion: 'v', kind: 'K', metadata: { name: 'x' }, spec: { extra: 1, free: { anything: true }, labels: { a: 'b' } }, junk: true };
    expect(prune(object, schema, '')).toEqual(['spec.extra', 'junk']);
    expect(object).toEqual({ apiVersion: 'v', kind: 'K', metadata: { name: 'x' }, spec: { free: { anything: true }, labels: { a: 'b' } } });
  });

  it('applies defaults, including inside a defaulted object', () => {
    const object: Record<string, unknown> = {};
    applyDefaults(object, schema);
    expect(object).toEqual({ spec: { size: 1, nested: { mode: 'a' } } });
  });

  it('validates types, bounds, enums and int-or-string branches with the API server wording', () => {
    const messages = validate({ spec: { size: 0, nested: { mode: 'c' }, labels: { a: 1 }, port: 'Bad' } }, schema).map((cause) => `${cause.field}: ${cause.message}`);
    expect(messages).toEqual([
      'spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1',
      'spec.nested.mode: Unsupported value: "c": supported values: "a", "b"',
      'spec.labels[a]: Invalid value: 1: spec.labels[a] in body must be of type string: "integer"',
      "spec.port: Invalid value: \"Bad\": spec.port in body should match '^[a-z]+$'",
    ]);
    expect(validate({ spec: { size: 2, port: 8080 } }, schema)).toEqual([]);
  });
});

describe('selectors', () => {
  const object = (labels: Record<string, string>, name = 'n'): KObject => ({ metadata: { name, namespace: 'ns', labels } });

  it('parses every label selector operator', () => {
    const select = parseLabelSelector('app=web,tier!=db,env in (prod, stage),!legacy,zone');
    expect(select(object({ app: 'web', env: 'prod', zone: 'a' }))).toBe(true);
    expect(select(object({ app: 'web', env: 'dev', zone: 'a' }))).toBe(false);
    expect(select(object({ app: 'web', env: 'prod', zone: 'a', legacy: 'y' }))).toBe(false);
    expect(select(object({ app: 'web', env: 'prod' }))).toBe(false);
    expect(parseLabelSelector('env notin (prod)')(object({}))).toBe(true);
  });

  it('matches field selectors on metadata paths', () => {
    expect(parseFieldSelector('metadata.name=n,metadata.namespace!=other')(object({}))).toBe(true);
    expect(parseFieldSelector('metadata.name==m')(object({}))).toBe(false);
  });
});
