// Finds or fetches helm for the chart tests (scripts/fetch-helm.sh puts it in .tmp/bin),
// and renders the chart; manifests/ is the chart rendered with default values, split
// into files in apply order.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
export const CHART = `${REPO}charts/flo`;
const LOCAL_HELM = `${REPO}.tmp/bin/helm`;

/** Path of a helm binary: $HELM, one on PATH, or the one scripts/fetch-helm.sh provides. */
export function helmBinary(): string {
  if (process.env['HELM'] !== undefined) return process.env['HELM'];
  if (spawnSync('helm', ['version', '--short'], { stdio: 'ignore' }).status === 0) return 'helm';
  if (!existsSync(LOCAL_HELM)) execFileSync('sh', [`${REPO}scripts/fetch-helm.sh`], { stdio: 'ignore', timeout: 120_000 });
  return LOCAL_HELM;
}

export interface HelmResult { code: number; stdout: string; stderr: string }

export function helm(args: string[], env: Record<string, string> = {}): HelmResult {
  const result = spawnSync(helmBinary(), args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { code: result.status ?? -1, stdout: result.stdout, stderr: result.stderr };
}

/** helm without blocking the event loop (needed when the API simulator runs in this process). */
export function helmAsync(args: string[], env: Record<string, string> = {}): Promise<HelmResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(helmBinary(), args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000);
    child.stdout.on('data', (chunk: Buffer) => { stdout += chunk.toString(); });
    child.stderr.on('data', (chunk: Buffer) => { stderr += chunk.toString(); });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

/**
 * The image the chart is rendered with in tests and in manifests/: a name users build and
 * load themselves (no public Flo image exists), which the simulated node runs as `flo`.
 */
export const LOCAL_IMAGE = { repository: 'flo.local/flo', tag: 'dev' };
export const IMAGE_SETS = [`image.repository=${LOCAL_IMAGE.repository}`, `image.tag=${LOCAL_IMAGE.tag}`];

export interface Rendered { kind: string; metadata: { name: string; namespace?: string }; [key: string]: unknown }

export function renderChart(sets: string[] = [], namespace = 'flo-system'): Rendered[] {
  const result = helm(['template', 'flo', CHART, '-n', namespace, ...[...IMAGE_SETS, ...sets].flatMap((set) => ['--set', set])]);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  return parseAllDocuments(result.stdout).map((doc) => doc.toJSON() as Rendered).filter((doc) => doc !== null);
}

const HEADER = `# Generated from charts/flo with default values and the image flo.local/flo:dev
# (helm template flo charts/flo -n flo-system --set image.repository=flo.local/flo --set image.tag=dev).
# No public Flo image is published: build that image and make it reachable by the nodes
# first (docker build -t flo.local/flo:dev . && kind load docker-image flo.local/flo:dev), or
# point the Deployment at your own (kubectl -n flo-system set image deployment/flo-operator
# operator=<image> and the --broker-image argument). See docs/kubernetes.md.
# Do not edit: change the chart, then run FLO_UPDATE_MANIFESTS=1 npx vitest run test/k8s/chart.test.ts
`;

/** The files of manifests/ (other than the CRD copy and examples) as the chart renders them. */
export function renderedManifests(): Record<string, string> {
  const result = helm(['template', 'flo', CHART, '-n', 'flo-system', ...IMAGE_SETS.flatMap((set) => ['--set', set])]);
  if (result.code !== 0) throw new Error(`helm template failed: ${result.stderr}`);
  const docs = result.stdout.split(/^---\n/m).map((doc) => doc.trim()).filter((doc) => doc !== '');
  const pick = (pattern: RegExp): string => docs.filter((doc) => pattern.test(doc)).map((doc) => `---\n${doc}\n`).join('');
  return {
    '01-namespace.yaml': `${HEADER}---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: flo-system\n  labels:\n    app.kubernetes.io/part-of: flo\n`,
    '02-rbac.yaml': HEADER + pick(/^kind: (ServiceAccount|ClusterRole|ClusterRoleBinding|Role|RoleBinding)$/m),
    '03-operator.yaml': HEADER + pick(/^kind: (Deployment|Service)$/m),
  };
}
