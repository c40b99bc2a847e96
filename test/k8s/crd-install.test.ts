// Installs every CRD the repository ships, and the rendered chart, through the simulator's
// structural-schema checks (the ones a real API server makes), and proves those checks
// refuse the mistakes a real API server refuses — the int-or-string one above all.
import { readdirSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startApiServer, type ApiServer } from './sim/index.js';
import { schemaErrors } from './sim/structural.js';
import { CHART, helmAsync, REPO } from './helm.js';
import { kubectl, kubectlOk } from './helpers.js';

const CRD_FILES = [
  ...readdirSync(`${REPO}crds`).map((file) => `${REPO}crds/${file}`),
  ...readdirSync(`${CHART}/crds`).map((file) => `${CHART}/crds/${file}`),
  `${REPO}manifests/00-crd.yaml`,
];
const CRD = readFileSync(`${REPO}crds/flo.dev_floclusters.yaml`, 'utf8');
const FIXED_MAX_BYTES = `anyOf: [{type: integer}, {type: string}]
                        minimum: 1
                        pattern: '^[0-9]+(Ki|Mi|Gi|Ti)?$'`;
/** The CRD as it was: bounds inside the int-or-string branches, which no real API server accepts. */
const BROKEN_CRD = CRD.replace(FIXED_MAX_BYTES, () => "anyOf: [{type: integer, minimum: 1}, {type: string, pattern: '^[0-9]+(Ki|Mi|Gi|Ti)?$'}]");
const MAX_BYTES_PATH = 'spec.versions[0].schema.openAPIV3Schema.properties[spec].properties[retention].items.properties[maxBytes]';

function errorsOf(schema: unknown): string[] {
  return schemaErrors(schema, 's');
}

describe('CRD installation through structural-schema validation', () => {
  let server: ApiServer;
  let kc: string;

  beforeAll(async () => {
    server = await startApiServer();
    kc = server.kubeconfigPath;
  });
  afterAll(async () => { await server.close(); });

  it('accepts every CRD of crds/, the chart and manifests/', async () => {
    expect(CRD_FILES.length).toBeGreaterThanOrEqual(3);
    for (const file of CRD_FILES) {
      const result = await kubectl(kc, ['apply', '-f', file]);
      expect(result.stderr, file).toBe('');
      expect(result.code, file).toBe(0);
    }
    expect(await kubectlOk(kc, ['wait', '--for=condition=Established', 'crd/floclusters.flo.dev', '--timeout=10s'])).toContain('condition met');
  });

  it('accepts the rendered chart, example FloCluster included, with strict field validation', async () => {
    await kubectlOk(kc, ['create', 'namespace', 'flo-system']);
    const rendered = await helmAsync(['template', 'flo', CHART, '-n', 'flo-system', '--set', 'image.repository=flo.local/flo', '--set', 'image.tag=dev',
      '--set', 'example.enabled=true', '--set', 'example.retention[0].namespace=/audit/**', '--set', 'example.retention[0].maxBytes=10Gi']);
    expect(rendered.code, rendered.stderr).toBe(0);
    const applied = await kubectl(kc, ['apply', '--validate=strict', '-f', '-'], rendered.stdout);
    expect(applied.stderr).toBe('');
    expect(await kubectlOk(kc, ['get', 'flo', 'flo', '-n', 'flo-system', '-o', 'jsonpath={.spec.retention[0].maxBytes}'])).toBe('10Gi');
  });

  it('refuses the CRD whose int-or-string branches carry a type with bounds, naming the field', async () => {
    expect(BROKEN_CRD).not.toBe(CRD);
    const result = await kubectl(kc, ['apply', '-f', '-'], BROKEN_CRD.replace('name: floclusters.flo.dev', 'name: brokens.flo.dev').replaceAll('floclusters', 'brokens')
      .replace('kind: FloCluster\n', 'kind: Broken\n').replace('listKind: FloClusterList', 'listKind: BrokenList').replace('singular: flocluster', 'singular: broken').replace('shortNames: [flo]', 'shortNames: []'));
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`${MAX_BYTES_PATH}.anyOf[0].type: Forbidden: must be empty to be structural`);
    expect(result.stderr).toContain(`${MAX_BYTES_PATH}.anyOf[1].type: Forbidden: must be empty to be structural`);
    expect((await kubectl(kc, ['get', 'crd', 'brokens.flo.dev'])).code).not.toBe(0);
  });

  it('enforces bounds placed beside the int-or-string anyOf on both kinds of value', async () => {
    const flo = (maxBytes: string): string => `{"apiVersion":"flo.dev/v1alpha1","kind":"FloCluster","metadata":{"name":"b"},"spec":{"retention":[{"namespace":"/a","maxBytes":${maxBytes}}]}}`;
    expect((await kubectl(kc, ['apply', '--dry-run=server', '-f', '-'], flo('0'))).stderr).toContain('should be greater than or equal to 1');
    expect((await kubectl(kc, ['apply', '--dry-run=server', '-f', '-'], flo('"10 gigs"'))).stderr).toContain('should match');
    expect((await kubectl(kc, ['apply', '--dry-run=server', '-f', '-'], flo('"10Gi"'))).code).toBe(0);
  });
});

describe('FloCluster schema rules', () => {
  let server: ApiServer;
  let kc: string;
  const dryRun = (spec: object, name = 'c'): Promise<{ code: number; stderr: string }> =>
    kubectl(kc, ['apply', '--dry-run=server', '-f', '-'], JSON.stringify({ apiVersion: 'flo.dev/v1alpha1', kind: 'FloCluster', metadata: { name }, spec }));

  beforeAll(async () => {
    server = await startApiServer();
    kc = server.kubeconfigPath;
    await kubectlOk(kc, ['apply', '-f', `${REPO}crds/flo.dev_floclusters.yaml`]);
  });
  afterAll(async () => { await server.close(); });

  it('accepts broker pod overrides and refuses extra env the operator sets itself', async () => {
    const pod = {
      imagePullSecrets: [{ name: 'regcred' }], serviceAccountName: 'brokers', securityContext: { runAsNonRoot: true },
      containerSecurityContext: { readOnlyRootFilesystem: true }, env: [{ name: 'OTEL_EXPORTER_OTLP_HEADERS', valueFrom: { secretKeyRef: { name: 't', key: 'k' } } }],
    };
    expect((await dryRun({ pod })).code).toBe(0);
    for (const name of ['FLO_DATA_DIR', 'FLO_AUTH_TOKENS']) {
      const refused = await dryRun({ pod: { env: [{ name, value: '/x' }] } });
      expect(refused.stderr, name).toContain('this variable is set by the operator from the FloCluster spec');
    }
    expect((await dryRun({ auth: { tokensSecret: { name: 'flo-tokens' } } })).code).toBe(0);
  });

  it('accepts several brokers, refuses cluster env set by hand, and names that would make invalid Services or StatefulSets', async () => {
    expect((await dryRun({ replicas: 5 })).code).toBe(0);
    expect((await dryRun({ replicas: 3, clusterSecret: { name: 'peer-secret' } })).code).toBe(0);
    for (const name of ['FLO_PEERS', 'FLO_JOIN', 'FLO_CLUSTER_SECRET', 'FLO_NODE_ID']) {
      expect((await dryRun({ pod: { env: [{ name, value: 'x' }] } })).stderr, name).toContain('this variable is set by the operator from the FloCluster spec');
    }
    expect((await dryRun({}, 'web.v2')).stderr).toContain('the name of a FloCluster must be a DNS label');
    expect((await dryRun({}, 'x'.repeat(53))).stderr).toContain('the name of a FloCluster must be at most 52 characters');
    expect((await dryRun({}, 'x'.repeat(52))).code).toBe(0);
  });
});

describe('structural-schema rules', () => {
  const root = (spec: object): object => ({ type: 'object', properties: { spec: { type: 'object', properties: spec } } });

  it('accepts the shipped CRD schema with no finding', () => {
    const crd = parse(CRD) as { spec: { versions: { schema: { openAPIV3Schema: unknown } }[] } };
    expect(errorsOf(crd.spec.versions[0]!.schema.openAPIV3Schema)).toEqual([]);
  });

  it('requires a type on every field and items on every array', () => {
    expect(errorsOf(root({ a: { description: 'no type' } }))).toEqual(['s.properties[spec].properties[a].type: Required value: must not be empty for specified object fields']);
    expect(errorsOf(root({ a: { type: 'array' } }))).toEqual(['s.properties[spec].properties[a].items: Required value: must be specified']);
    expect(errorsOf(root({ a: { 'x-kubernetes-preserve-unknown-fields': true } }))).toEqual([]);
    expect(errorsOf({ properties: {} })).toEqual(['s.type: Required value: must not be empty at the root']);
  });

  it('forbids generic fields and extensions inside value-validation branches', () => {
    const errors = errorsOf(root({ a: { type: 'string', anyOf: [{ description: 'x', nullable: true }], not: { default: 'y', 'x-kubernetes-validations': [{ rule: 'true' }] } } }));
    expect(errors).toEqual(expect.arrayContaining([
      's.properties[spec].properties[a].anyOf[0].description: Forbidden: must be empty to be structural',
      's.properties[spec].properties[a].anyOf[0].nullable: Forbidden: must be false to be structural',
      's.properties[spec].properties[a].not.default: Forbidden: must be undefined to be structural',
      's.properties[spec].properties[a].not.x-kubernetes-validations: Forbidden: must be empty to be structural',
    ]));
    expect(errorsOf(root({ a: { type: 'object', properties: { b: { type: 'string' } }, allOf: [{ properties: { c: { maxLength: 1 } } }] } })))
      .toEqual(['s.properties[spec].properties[a].properties[c]: Required value: because it is defined in s.properties[spec].properties[a].allOf[0].properties[c]']);
  });

  it('checks x-kubernetes-preserve-unknown-fields, additionalProperties and unsupported keywords', () => {
    expect(errorsOf(root({ a: { type: 'object', 'x-kubernetes-preserve-unknown-fields': false } })))
      .toEqual(['s.properties[spec].properties[a].x-kubernetes-preserve-unknown-fields: Invalid value: false: must be true or undefined']);
    expect(errorsOf(root({ a: { 'x-kubernetes-int-or-string': true, 'x-kubernetes-preserve-unknown-fields': true } })))
      .toContain('s.properties[spec].properties[a].x-kubernetes-preserve-unknown-fields: Invalid value: true: must be false if x-kubernetes-int-or-string is true');
    expect(errorsOf(root({ a: { type: 'object', properties: { b: { type: 'string' } }, additionalProperties: { type: 'string' } } })))
      .toEqual(['s.properties[spec].properties[a].additionalProperties: Forbidden: additionalProperties and properties are mutual exclusive']);
    expect(errorsOf(root({ a: { type: 'array', items: { type: 'string' }, uniqueItems: true } })))
      .toEqual(['s.properties[spec].properties[a].uniqueItems: Forbidden: uniqueItems cannot be set to true since the runtime complexity becomes quadratic']);
    expect(errorsOf(root({ a: { $ref: '#/x' } }))).toContain('s.properties[spec].properties[a].$ref: Forbidden: $ref is not supported');
  });

  it('requires defaults to be pruned and valid', () => {
    expect(errorsOf(root({ a: { type: 'object', properties: { b: { type: 'string' } }, default: { b: 'x', c: 1 } } })))
      .toEqual(['s.properties[spec].properties[a].default: Invalid value: {"b":"x","c":1}: must not have unknown fields']);
    expect(errorsOf(root({ a: { type: 'integer', minimum: 1, default: 0 } })))
      .toEqual(['s.properties[spec].properties[a].default: Invalid value: Invalid value: 0:  in body should be greater than or equal to 1']);
  });

  it('type-checks CEL rules against the schema and refuses rules over their cost budget', () => {
    const rule = (schema: object, source: string): string[] => errorsOf(root({ a: { ...schema, 'x-kubernetes-validations': [{ rule: source }] } }));
    const object = { type: 'object', properties: { n: { type: 'integer' }, s: { type: 'string', maxLength: 10 } } };
    expect(rule(object, 'self.n > 1 && self.s.startsWith("x")')).toEqual([]);
    expect(rule(object, 'self.m > 1')[0]).toContain("compilation failed: ERROR: <input>: undefined field 'm'");
    expect(rule(object, 'self.n == "1"')[0]).toContain("found no matching overload for '_==_' applied to '(int, string)'");
    expect(rule(object, 'self.n + 1')[0]).toContain('cel expression must evaluate to a bool');
    const unbounded = { type: 'array', items: { type: 'array', items: { type: 'string' } } };
    expect(rule(unbounded, 'size(self) < 5')).toEqual([]);
    const errors = errorsOf(root({ a: { type: 'array', items: { type: 'array', items: { type: 'string', 'x-kubernetes-validations': [{ rule: "self.matches('^a')" }] } } } }));
    expect(errors[0]).toMatch(/x-kubernetes-validations\[0\]\.rule: Forbidden: estimated rule cost exceeds budget by factor of more than 100x/);
    const bounded = { type: 'array', maxItems: 10, items: { type: 'string', maxLength: 64, 'x-kubernetes-validations': [{ rule: "self.matches('^a')" }] } };
    expect(errorsOf(root({ a: bounded }))).toEqual([]);
  });
});
