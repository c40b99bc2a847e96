import { describe, expect, it } from 'vitest';
import { compileGlob, validateNamespace } from '../../src/common/namespace.js';
import { input, openLog, readAll } from '../support/log.js';
import { tempDir } from '../support/temp.js';

describe('namespaces and glob characters', () => {
  it.each(['/food/**', '/food/*', '/a?', '/a[0-9]', '/a]', '/{a,b}', '/a}', '/a\\b'])('refuses the namespace %s, which a glob could only select by accident', (namespace) => {
    expect(() => validateNamespace(namespace)).toThrow(/contains a glob character/);
  });

  it('refuses such a namespace on produce with a 400, and selects the accepted ones by their own names', async () => {
    const dir = await tempDir();
    const log = await openLog(dir.path);
    try {
      await expect(log.append([input('/food/**', 'x')])).rejects.toMatchObject({ code: 'FLO_ERR_NAMESPACE_INVALID', status: 400 });
      const names = ['/food/eggs', '/food/eggs.v2', '/food/(eggs)', '/food/!eggs', '/food/eggs,ham', '/food/+', '/food/a|b', '/food/é'];
      for (const namespace of names) await log.append([input(namespace, namespace)]);
      for (const namespace of names) {
        expect(compileGlob(namespace).matches(namespace), namespace).toBe(true);
        expect((await readAll(log, namespace)).map((event) => event.text()), namespace).toEqual([namespace]);
      }
    } finally {
      await log.close();
      await dir.remove();
    }
  });
});
