// README is the front door and is run line by line: every TypeScript snippet in
// it is a file under examples/, included verbatim, and this test runs each one
// with tsx against a real broker process and checks what it prints.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isEventId } from '../../src/common/ids.js';
import { startServer, type ServerProcess } from '../support/server-process.js';
import { tempDir } from '../support/temp.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const readme = readFileSync(`${root}README.md`, 'utf8');
const packageName = (JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { name: string }).name;
const tsxCli = `${root}node_modules/tsx/dist/cli.mjs`;
const id = '[0-9a-f]{4}-[0-9a-f]{13}';

/** What each example must print, line by line (lines of events from different partitions may come in any order). */
const EXPECTED_OUTPUT: Record<string, RegExp[]> = {
  'orders.ts': [new RegExp(`^order ${id} \\(eggs\\) confirmed by ${id}$`), new RegExp(`^order ${id} \\(toast\\) confirmed by ${id}$`)],
  'billing-group.ts': [/^first process billed eggs$/, /^second process billed toast$/, /^second process billed tea$/],
  'embedded.ts': [/^\/jobs\/1 start$/, /^\/jobs\/1 done$/],
};
const examples = readdirSync(`${root}examples`).filter((name) => name.endsWith('.ts')).sort();

let dir: Awaited<ReturnType<typeof tempDir>>;
let server: ServerProcess;

beforeAll(async () => {
  dir = await tempDir();
  server = await startServer(`${dir.path}/broker`);
});
afterAll(async () => {
  await server?.stop();
  await dir?.remove();
});

function runExample(name: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [tsxCli, `examples/${name}`], {
      cwd: root,
      env: { ...process.env, FLO_URL: server.url, FLO_DATA_DIR: `${dir.path}/${name}-data` },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('examples/', () => {
  it('has an expected output for every example, and every example is in README verbatim', () => {
    expect(examples).toEqual(Object.keys(EXPECTED_OUTPUT).sort());
    for (const name of examples) {
      const text = readFileSync(`${root}examples/${name}`, 'utf8');
      expect(readme, `README.md includes examples/${name}`).toContain('```ts\n' + text + '```');
      expect(readme).toContain(`npx tsx examples/${name}`);
      expect(text).toMatch(new RegExp(`from '${packageName}/(client|embedded)'`));
    }
  });

  it.each(Object.keys(EXPECTED_OUTPUT))('runs %s against a real broker and prints what it says', async (name) => {
    const result = await runExample(name);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const lines = result.stdout.trim().split('\n');
    const expected = EXPECTED_OUTPUT[name]!;
    expect(lines).toHaveLength(expected.length);
    for (const pattern of expected) expect(lines.some((line) => pattern.test(line)), `a line matching ${pattern}`).toBe(true);
  });
});

describe('README.md commands', () => {
  it('uses only valid event ids', () => {
    const ids = [...readme.matchAll(/\b[0-9a-f]{4}-[0-9a-f]{6,}\b/g)].map((match) => match[0]);
    expect(ids.length).toBeGreaterThan(0);
    for (const candidate of ids) expect(isEventId(candidate), candidate).toBe(true);
  });

  it('imports the package by its published name', () => {
    const imports = [...readme.matchAll(/from '([^']+)'/g)].map((match) => match[1]!);
    expect(imports.length).toBeGreaterThan(0);
    for (const specifier of imports) expect(specifier.startsWith(`${packageName}/`), specifier).toBe(true);
  });

  it('names the namespace of every kubectl command on a FloCluster, and says where helm comes from', () => {
    const commands = readme.split('\n').filter((line) => /\bkubectl\b.*\bflocluster/.test(line));
    expect(commands.length).toBeGreaterThan(0);
    for (const line of commands) expect(line, line).toMatch(/-n flo-system/);
    expect(readme).toContain('scripts/fetch-helm.sh');
    expect(readdirSync(`${root}scripts`)).toContain('fetch-helm.sh');
  });
});
