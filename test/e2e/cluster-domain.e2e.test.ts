// A cluster whose DNS domain is not cluster.local: the operator, told the domain, derives
// broker addresses from it and the FloCluster reaches Ready; the simulator's DNS answers
// only for the configured domain, as a real cluster DNS does.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { kubectl, kubectlOk } from '../k8s/helpers.js';
import { brokerBuilt, clusterHttp, CRD_PATH, startHarness, type Harness } from './support.js';

const DOMAIN = 'corp.example';

describe.skipIf(!brokerBuilt())('FloCluster in a cluster with a non-default DNS domain', () => {
  let harness: Harness;
  let kc: string;

  beforeAll(async () => {
    harness = await startHarness({}, { clusterDomain: DOMAIN });
    kc = harness.cluster.kubeconfigPath;
    await kubectlOk(kc, ['apply', '-f', CRD_PATH]);
    await harness.operator.start();
  });
  afterAll(async () => { await harness?.close(); });

  it('reaches Ready with broker addresses in the configured domain', async () => {
    await kubectlOk(kc, ['apply', '-f', '-'], 'apiVersion: flo.dev/v1alpha1\nkind: FloCluster\nmetadata: {name: edge}\nspec: {storage: {size: 1Gi}}\n');
    expect((await kubectl(kc, ['wait', '--for=condition=Ready', 'flocluster/edge', '--timeout=40s'])).stdout).toContain('condition met');
    const env = await kubectlOk(kc, ['get', 'sts', 'edge', '-o', 'jsonpath={.spec.template.spec.containers[0].env[?(@.name=="FLO_PEERS_SERVICE")].value}']);
    expect(env).toBe(`edge-peers.default.svc.${DOMAIN}`);
    const lookup = harness.cluster.lookup;
    expect((await clusterHttp(lookup, `http://edge-0.edge-peers.default.svc.${DOMAIN}:3000/readyz`)).status).toBe(200);
    await expect(clusterHttp(lookup, 'http://edge-0.edge-peers.default.svc.cluster.local:3000/readyz')).rejects.toThrow(/ENOTFOUND/);
  });
});
