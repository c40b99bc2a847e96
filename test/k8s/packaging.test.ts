// Static checks of the container packaging (no Docker here): the image, the chart and the
// builders agree on the user, the entry point and the paths; the kind script parses.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { BROKER_UID } from '../../src/operator/builders/stateful-set.js';
import { BROKER_DATA_DIR } from '../../src/operator/crd/types.js';
import { REPO } from './helm.js';

const dockerfile = readFileSync(`${REPO}Dockerfile`, 'utf8');

describe('container packaging', () => {
  it('builds in one stage and runs as the non-root user the pods expect', () => {
    expect(dockerfile.match(/^FROM /gm)).toHaveLength(2);
    expect(dockerfile).toMatch(/^FROM .* AS build$/m);
    expect(dockerfile).toContain(`USER ${BROKER_UID}:${BROKER_UID}`);
    expect(readFileSync(`${REPO}charts/flo/values.yaml`, 'utf8')).toContain(`runAsUser: ${BROKER_UID}`);
    expect(dockerfile).toContain('npm prune --omit=dev');
  });

  it('starts `flo` with the arguments the StatefulSet and Deployment pass', () => {
    expect(dockerfile).toContain('ENTRYPOINT ["flo"]');
    expect(dockerfile).toContain('exec node /app/dist/cli/main.js "$@"');
    expect(dockerfile).toContain(`--data-dir", "${BROKER_DATA_DIR}"`);
    expect(dockerfile).toContain(`mkdir -p ${BROKER_DATA_DIR}`);
  });

  it('sends only what the build needs to the Docker daemon', () => {
    const ignore = readFileSync(`${REPO}.dockerignore`, 'utf8').split('\n').filter((line) => line !== '' && !line.startsWith('#'));
    expect(ignore[0]).toBe('*');
    expect(ignore).toEqual(expect.arrayContaining(['!package.json', '!package-lock.json', '!src/']));
    for (const copied of dockerfile.matchAll(/^COPY (?!--from)(.*) \S+$/gm)) {
      for (const source of copied[1]!.split(' ')) expect(ignore.some((line) => line === `!${source}` || line === `!${source}/`), source).toBe(true);
    }
  });

  it('keeps test/e2e/kind.sh valid bash', () => {
    expect(spawnSync('bash', ['-n', `${REPO}test/e2e/kind.sh`]).status).toBe(0);
  });
});
