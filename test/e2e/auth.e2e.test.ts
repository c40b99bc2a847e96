// Brokers with bearer-token authentication from a Secret (spec.auth.tokensSecret): they
// refuse anonymous clients, and the operator, given an admin token among theirs, still
// reads broker identities and pushes retention rules.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, kubectlOk, waitFor } from '../k8s/helpers.js';
import { brokerBuilt, clusterHttp, CRD_PATH, startHarness, type Harness } from './support.js';

const ADMIN_TOKEN = 'operator-admin-token-0123456789';
const READ_TOKEN = 'reader-token-0123456789abcdef';

describe.skipIf(!brokerBuilt())('FloCluster with authenticated brokers', () => {
  let harness: Harness;
  let kc: string;

  beforeAll(async () => {
    harness = await startHarness({ brokerToken: () => ADMIN_TOKEN });
    kc = harness.cluster.kubeconfigPath;
    await kubectlOk(kc, ['apply', '-f', CRD_PATH]);
    await kubectlOk(kc, ['create', 'secret', 'generic', 'flo-tokens', `--from-literal=tokens=admin:${ADMIN_TOKEN}\nread:${READ_TOKEN}\n`]);
    await harness.operator.start();
  });
  afterAll(async () => { await harness?.close(); });

  it('reaches Ready with its identity read and retention pushed by the operator, and refuses anonymous reads', async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], `apiVersion: flo.dev/v1alpha1
kind: FloCluster
metadata: {name: locked}
spec:
  storage: {size: 1Gi}
  auth: {tokensSecret: {name: flo-tokens}}
  retention: [{namespace: /audit/**, maxAge: 7d}]
`);
    expect((await kubectl(kc, ['wait', '--for=condition=Ready', 'flocluster/locked', '--timeout=40s'])).stdout).toContain('condition met');
    await waitFor('identity and retention confirmed', async () => {
      const status = JSON.parse(await kubectlOk(kc, ['get', 'flo', 'locked', '-o', 'jsonpath={.status}'])) as { brokers?: { nodeId?: string }[]; retentionGeneration?: number };
      return status.brokers?.[0]?.nodeId !== undefined && status.retentionGeneration === 1;
    });
    const anonymous = await clusterHttp(harness.cluster.lookup, 'http://locked.default.svc:3000/v1/events?namespace=/audit/**&from=earliest');
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ status: 401 });
  });
});
