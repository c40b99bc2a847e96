import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE } from '../../src/common/errors.js';

describe('the error catalogue', () => {
  const doc = readFileSync(new URL('../../docs/api.md', import.meta.url), 'utf8');

  it.each(Object.entries(ERROR_CATALOGUE))('documents %s with its status in docs/api.md', (code, spec) => {
    const row = doc.split('\n').find((line) => line.startsWith(`| \`${code}\``));
    expect(row, `docs/api.md has no row for ${code}`).toBeDefined();
    expect(row).toContain(`| ${spec.status} |`);
    expect(row).toContain(spec.retryable ? '| yes |' : '| no |');
  });

  it('uses FLO_ERR_<AREA>_<WHAT> codes', () => {
    for (const code of Object.keys(ERROR_CATALOGUE)) expect(code).toMatch(/^FLO_ERR_[A-Z]+(_[A-Z]+)*$/);
  });
});
