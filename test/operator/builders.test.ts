import { readFileSync } from 'node:fs';
import type { V1Container, V1EnvVar } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { buildClusterSecret, buildDesired, buildPodDisruptionBudget, maxUnavailableFor, retentionJson, selectorString } from '../../src/operator/builders/index.js';
import { foundersToKeep, specProblems, withDefaults, type FloCluster, type FloClusterSpec } from '../../src/operator/crd/types.js';

function cluster(spec: FloClusterSpec, name = 'events', founders?: number): FloCluster {
  return {
    apiVersion: 'flo.dev/v1alpha1', kind: 'FloCluster',
    metadata: { name, namespace: 'prod', uid: 'uid-1', generation: 1, ...(founders === undefined ? {} : { annotations: { 'flo.dev/founders': String(founders) } }) }, spec,
  };
}

function envOf(c: FloCluster): V1EnvVar[] {
  return buildDesired(c).statefulSet.spec!.template.spec!.containers[0]!.env!;
}

describe('FloCluster builders', () => {
  it('are pure: the same FloCluster yields identical objects', () => {
    const c = cluster({ replicas: 3, retention: [{ namespace: '/a/**', maxAge: '7d' }] });
    expect(JSON.stringify(buildDesired(c))).toBe(JSON.stringify(buildDesired(structuredClone(c))));
  });

  it('give every owned object a controller ownerReference and the standard labels', () => {
    const desired = buildDesired(cluster({}));
    for (const object of Object.values(desired)) {
      const meta = object.metadata!;
      expect(meta.ownerReferences).toEqual([expect.objectContaining({ kind: 'FloCluster', uid: 'uid-1', controller: true })]);
      expect(meta.labels).toMatchObject({
        'app.kubernetes.io/name': 'flo', 'app.kubernetes.io/instance': 'events', 'app.kubernetes.io/managed-by': 'flo-operator',
      });
      expect(meta.namespace).toBe('prod');
    }
  });

  it('make the peer Service headless and publish brokers before they are ready', () => {
    const { peerService, clientService } = buildDesired(cluster({}));
    expect(peerService.metadata?.name).toBe('events-peers');
    expect(peerService.spec).toMatchObject({ clusterIP: 'None', publishNotReadyAddresses: true });
    expect(clientService.spec?.clusterIP).toBeUndefined();
    expect(clientService.spec?.publishNotReadyAddresses).toBeUndefined();
    expect(clientService.spec?.selector).toEqual(peerService.spec?.selector);
  });

  it('keep the pod template unchanged when only replicas or retention change (no rolling restart): the founders are recorded once', () => {
    const small = buildDesired(cluster({ replicas: 3, retention: [] }, 'events', 3)).statefulSet;
    const large = buildDesired(cluster({ replicas: 5, retention: [{ namespace: '/x', maxEvents: 5 }] }, 'events', 3)).statefulSet;
    expect(large.spec?.template).toEqual(small.spec?.template);
    expect(large.spec?.replicas).toBe(5);
    // A scale-down under way: the StatefulSet runs what the operator decided, not the spec.
    expect(buildDesired(cluster({ replicas: 3 }, 'events', 3), undefined, 4).statefulSet.spec?.replicas).toBe(4);
  });

  it('set only variables the CRD refuses in spec.pod.env (a user value would be shadowed or shadow the operator\'s)', () => {
    const crd = readFileSync(new URL('../../crds/flo.dev_floclusters.yaml', import.meta.url), 'utf8');
    const rule = /self\.name in \[([^\]]+)\]/.exec(crd);
    expect(rule, 'the CRD rule refusing operator-set env names').not.toBeNull();
    const refused = new Set(rule![1]!.split(',').map((name) => name.trim().replace(/^'|'$/g, '')));
    const set = envOf(cluster({ replicas: 3, auth: { tokensSecret: { name: 'tokens' } } }, 'events', 3)).map((variable) => variable.name);
    expect(set.filter((name) => !refused.has(name))).toEqual([]);
  });

  it('give every pod the same cluster flags: the founders as peers, join through pod 0, ordinal ids for founders only, advertised pod DNS names', () => {
    const env = envOf(cluster({ replicas: 5 }, 'events', 3));
    const value = (name: string): string | undefined => env.find((variable) => variable.name === name)?.value;
    const peers = 'events-peers.prod.svc.cluster.local';
    expect(env[0]).toEqual({ name: 'FLO_POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } });
    expect(value('FLO_PEERS')).toBe(`events-0.${peers}:4000,events-1.${peers}:4000,events-2.${peers}:4000`);
    expect(value('FLO_JOIN')).toBe(`events-0.${peers}:4000`);
    expect(value('FLO_ORDINAL_NODE_ID')).toBe('true');
    expect(value('FLO_REBUILD_WHEN_DAMAGED')).toBe('true');
    expect(value('FLO_ADVERTISE_PEER')).toBe(`$(FLO_POD_NAME).${peers}:4000`);
    expect(value('FLO_ADVERTISE_URL')).toBe(`http://$(FLO_POD_NAME).${peers}:3000`);
    expect(value('FLO_CLUSTER_ID')).toBe('events.prod');
    expect(env.map((variable) => variable.name)).not.toContain('FLO_NODE_ID');
    expect(env.find((variable) => variable.name === 'FLO_CLUSTER_SECRET')?.valueFrom?.secretKeyRef).toEqual({ name: 'events-cluster-secret', key: 'secret' });
    expect(envOf(cluster({ replicas: 3, clusterSecret: { name: 'mine' } }, 'events', 3)).find((variable) => variable.name === 'FLO_CLUSTER_SECRET')?.valueFrom?.secretKeyRef).toEqual({ name: 'mine', key: 'secret' });
    expect(value('FLO_PEERS_SERVICE')).toBe(peers);
    expect(env.find((variable) => variable.name === 'FLO_RETENTION')?.valueFrom?.configMapKeyRef).toEqual({ name: 'events-config', key: 'retention.json' });
    expect(value('FLO_HOST')).toBe('0.0.0.0');
    // Before the first reconcile recorded them, the founders are the replicas at creation.
    expect(envOf(cluster({ replicas: 2 })).find((variable) => variable.name === 'FLO_PEERS')?.value?.split(',')).toHaveLength(2);
    // Single-node brokers made by an older operator (founders 0) keep their environment: their data dirs refuse --peers.
    expect(envOf(cluster({ replicas: 1 }, 'events', 0)).map((variable) => variable.name).filter((name) => /PEERS$|JOIN|CLUSTER/.test(name))).toEqual([]);
  });

  it('generate a random cluster secret of at least 16 characters, without an ownerReference (create-only RBAC)', () => {
    const one = buildClusterSecret(cluster({}));
    const two = buildClusterSecret(cluster({}));
    const secret = Buffer.from(one.data!['secret']!, 'base64').toString('utf8');
    expect(secret.length).toBeGreaterThanOrEqual(16);
    expect(one.data).not.toEqual(two.data);
    expect(one.metadata).toMatchObject({ name: 'events-cluster-secret', namespace: 'prod' });
    expect(one.metadata?.ownerReferences).toBeUndefined();
  });

  it('harden the broker container and probe /readyz and /healthz', () => {
    const pod = buildDesired(cluster({})).statefulSet.spec!.template.spec!;
    const container = pod.containers[0]!;
    expect(container.securityContext).toMatchObject({
      runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] },
    });
    expect(container.readinessProbe?.httpGet?.path).toBe('/readyz');
    expect(container.livenessProbe?.httpGet?.path).toBe('/healthz');
    expect(container.resources?.requests).toEqual({ cpu: '250m', memory: '256Mi' });
    expect(container.args).toEqual(['server']);
    expect(pod.terminationGracePeriodSeconds).toBe(30);
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
  });

  it('claim storage per broker, never delete a claim on scale-down, and on removal only when asked', () => {
    const kept = buildDesired(cluster({ storage: { size: '1Gi' } })).statefulSet.spec!;
    expect(kept.volumeClaimTemplates?.[0]?.spec?.resources?.requests).toEqual({ storage: '1Gi' });
    expect(kept.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Retain', whenScaled: 'Retain' });
    const deleted = buildDesired(cluster({ storage: { deleteClaim: true, storageClassName: 'fast' } })).statefulSet.spec!;
    // A scaled-away broker may still hold events no other broker has (partitions are not replicated).
    expect(deleted.persistentVolumeClaimRetentionPolicy).toEqual({ whenDeleted: 'Delete', whenScaled: 'Retain' });
    expect(deleted.volumeClaimTemplates?.[0]?.spec?.storageClassName).toBe('fast');
  });

  it('carry scheduling overrides into the pod template', () => {
    const pod = buildDesired(cluster({
      pod: {
        nodeSelector: { disk: 'ssd' }, tolerations: [{ key: 'dedicated', operator: 'Exists' }],
        affinity: { podAntiAffinity: {} }, topologySpreadConstraints: [{ maxSkew: 1 }], priorityClassName: 'high',
        labels: { team: 'a' }, annotations: { note: 'x' },
      },
    })).statefulSet.spec!.template;
    expect(pod.spec).toMatchObject({ nodeSelector: { disk: 'ssd' }, priorityClassName: 'high', affinity: { podAntiAffinity: {} } });
    expect(pod.spec?.tolerations).toHaveLength(1);
    expect(pod.metadata?.labels?.team).toBe('a');
    expect(pod.metadata?.annotations).toEqual({ note: 'x' });
  });

  it('derive broker addresses from the operator\'s cluster domain', () => {
    const env = buildDesired(cluster({}), { clusterDomain: 'corp.example' }).statefulSet.spec!.template.spec!.containers[0]!.env!;
    expect(env.find((variable) => variable.name === 'FLO_PEERS_SERVICE')?.value).toBe('events-peers.prod.svc.corp.example');
  });

  it('take the image from the spec, else from the operator, and start with a startup probe before liveness', () => {
    const container = (spec: FloClusterSpec, brokerImage?: string): V1Container =>
      buildDesired(cluster(spec), { clusterDomain: 'cluster.local', ...(brokerImage === undefined ? {} : { brokerImage }) }).statefulSet.spec!.template.spec!.containers[0]!;
    expect(container({ image: 'own/flo:1' }, 'op/flo:2').image).toBe('own/flo:1');
    expect(container({}, 'op/flo:2').image).toBe('op/flo:2');
    const probed = container({}, 'op/flo:2');
    expect(probed.startupProbe).toMatchObject({ httpGet: { path: '/healthz', port: 'http' } });
    expect((probed.startupProbe!.periodSeconds ?? 0) * (probed.startupProbe!.failureThreshold ?? 0)).toBeGreaterThanOrEqual(300);
    expect(probed.livenessProbe?.initialDelaySeconds).toBeUndefined();
  });

  it('carry pull secrets, service account, extra env and security-context overrides into the pod', () => {
    const pod = buildDesired(cluster({
      pod: {
        imagePullSecrets: [{ name: 'regcred' }], serviceAccountName: 'brokers',
        env: [{ name: 'OTEL_EXPORTER_OTLP_HEADERS', valueFrom: { secretKeyRef: { name: 'otel', key: 'headers' } } }],
        securityContext: { runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } },
        containerSecurityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } },
      },
    })).statefulSet.spec!.template.spec!;
    expect(pod.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(pod.serviceAccountName).toBe('brokers');
    expect(pod.containers[0]!.env!.at(-1)).toEqual({ name: 'OTEL_EXPORTER_OTLP_HEADERS', valueFrom: { secretKeyRef: { name: 'otel', key: 'headers' } } });
    // The platform (OpenShift) chooses the UID: no runAsUser or fsGroup is forced on it.
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
    expect(pod.containers[0]!.securityContext).toEqual({ allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
    expect(JSON.stringify(buildDesired(cluster({})).statefulSet.spec!.template.spec!.containers[0]!.securityContext)).not.toContain('runAsUser');
  });

  it('give brokers their tokens from the Secret spec.auth names, without the operator reading it', () => {
    const env = (spec: FloClusterSpec): unknown => buildDesired(cluster(spec)).statefulSet.spec!.template.spec!.containers[0]!.env!.find((variable) => variable.name === 'FLO_AUTH_TOKENS');
    expect(env({ auth: { tokensSecret: { name: 'flo-tokens' } } })).toEqual({ name: 'FLO_AUTH_TOKENS', valueFrom: { secretKeyRef: { name: 'flo-tokens', key: 'tokens' } } });
    expect(env({})).toBeUndefined();
  });

  it('configure the client Service type, port and annotations from the spec', () => {
    const service = buildDesired(cluster({ service: { type: 'LoadBalancer', port: 8080, annotations: { a: 'b' } } })).clientService;
    expect(service.spec?.type).toBe('LoadBalancer');
    expect(service.spec?.ports?.[0]).toMatchObject({ port: 8080, targetPort: 'http' });
    expect(service.metadata?.annotations).toEqual({ a: 'b' });
  });

  it('write retention rules as canonical JSON into the ConfigMap', () => {
    const rules = [{ maxAge: '7d', namespace: '/a/**' }, { namespace: '/b', maxBytes: '10Gi', maxEvents: 3 }];
    expect(buildDesired(cluster({ retention: rules })).configMap.data).toEqual({
      'retention.json': '[{"namespace":"/a/**","maxAge":"7d"},{"namespace":"/b","maxEvents":3,"maxBytes":"10Gi"}]',
    });
    expect(retentionJson([])).toBe('[]');
  });

  it('derive the PodDisruptionBudget from the voters (active members), so an allowed disruption always leaves every partition a quorum', () => {
    expect(buildDesired(cluster({ replicas: 3 })).podDisruptionBudget.spec).toEqual({
      maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'flo', 'app.kubernetes.io/instance': 'events', 'app.kubernetes.io/component': 'broker' } },
    });
    expect([1, 2, 3, 4, 5, 6, 7].map(maxUnavailableFor)).toEqual([1, 0, 1, 1, 2, 2, 3]);
    // One founder grown to two brokers: either away stops writes, so a voluntary disruption waits.
    expect(buildPodDisruptionBudget(cluster({ replicas: 2 }, 'events', 1), 2).spec?.maxUnavailable).toBe(0);
    // Two founders grown to five: two may go, three voters remain a quorum.
    expect(buildPodDisruptionBudget(cluster({ replicas: 5 }, 'events', 2), 5).spec?.maxUnavailable).toBe(2);
    // Voters unknown: the spec's replicas; the observed voters win over the spec while a scale runs.
    expect(buildPodDisruptionBudget(cluster({ replicas: 2 }, 'events', 1)).spec?.maxUnavailable).toBe(0);
    expect(buildDesired(cluster({ replicas: 5 }, 'events', 3), undefined, 5, undefined, 3).podDisruptionBudget.spec?.maxUnavailable).toBe(1);
    expect(buildPodDisruptionBudget(cluster({ replicas: 1 }, 'events', 1)).spec?.maxUnavailable).toBe(1);
    expect(selectorString(cluster({}))).toBe('app.kubernetes.io/name=flo,app.kubernetes.io/instance=events,app.kubernetes.io/component=broker');
  });

  it('open the peer port on the broker container and the headless Service', () => {
    const { statefulSet, peerService } = buildDesired(cluster({ replicas: 3 }));
    expect(statefulSet.spec!.template.spec!.containers[0]!.ports).toContainEqual({ name: 'peer', containerPort: 4000, protocol: 'TCP' });
    expect(peerService.spec?.ports).toContainEqual({ name: 'peer', port: 4000, targetPort: 'peer', protocol: 'TCP' });
  });
});

describe('spec defaults', () => {
  it('derive the replication factor from replicas, capped at three', () => {
    expect(withDefaults({ replicas: 1 }).replicationFactor).toBe(1);
    expect(withDefaults({ replicas: 5 }).replicationFactor).toBe(3);
    expect(withDefaults({}).partitions).toBe(8);
  });

  it('report a replication factor above replicas', () => {
    expect(specProblems(withDefaults({ replicas: 1, replicationFactor: 3, image: 'flo' }))).toEqual(['replicationFactor 3 exceeds replicas 1']);
    expect(specProblems(withDefaults({ replicas: 1, replicationFactor: 1, image: 'flo' }))).toEqual([]);
  });

  it('accept several brokers, refuse a replication factor other than the founders, growing single-node brokers, and a cluster without an image', () => {
    expect(specProblems(withDefaults({ replicas: 5, image: 'flo' }), 3)).toEqual([]);
    expect(specProblems(withDefaults({ replicas: 5, replicationFactor: 3, image: 'flo' }), 3, 3)).toEqual([]);
    expect(specProblems(withDefaults({ replicas: 5, replicationFactor: 2, image: 'flo' }), 3, 2)).toEqual([expect.stringMatching(/^replicationFactor 2 refused: .* founded with \(3\)/)]);
    expect(specProblems(withDefaults({ replicas: 3, image: 'flo' }), 0)).toEqual([expect.stringMatching(/^replicas 3 refused: this cluster's brokers were created by an older operator as single-node brokers/)]);
    expect(specProblems(withDefaults({ replicas: 1 }))).toEqual([expect.stringMatching(/^no broker image: set spec.image, or run the operator with --broker-image/)]);
    expect(specProblems(withDefaults({ replicas: 1 }, { clusterDomain: 'cluster.local', brokerImage: 'flo' }))).toEqual([]);
  });
});

describe('the founders record (flo.dev/founders)', () => {
  it('is written once from the replicas, and set back to what the pods run with when edited later', () => {
    expect(foundersToKeep(undefined, undefined, 3)).toEqual({ founders: 3, write: true });
    expect(foundersToKeep(3, undefined, 5)).toEqual({ founders: 3, write: false });
    expect(foundersToKeep(3, 3, 5)).toEqual({ founders: 3, write: false });
    // Edited by hand (1 -> 2, 1 -> 0) or removed while the brokers run with one founder: back to 1.
    expect(foundersToKeep(2, 1, 2)).toEqual({ founders: 1, write: true });
    expect(foundersToKeep(0, 1, 1)).toEqual({ founders: 1, write: true });
    expect(foundersToKeep(undefined, 1, 3)).toEqual({ founders: 1, write: true });
    // Single-node brokers of an older operator (no FLO_PEERS) stay 0.
    expect(foundersToKeep(undefined, 0, 1)).toEqual({ founders: 0, write: true });
  });
});
