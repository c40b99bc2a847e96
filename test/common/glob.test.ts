import micromatch from 'micromatch';
import { describe, expect, it } from 'vitest';
import { compileNamespaceGlob } from '../../src/common/glob.js';

const NAMESPACES = ['/food', '/food/eggs', '/food/breakfast/eggs', '/food/a/b/eggs', '/drinks/tea', '/drinks/tea/green', '/food/.hidden', '/a1', '/ab', '/a.b', '/orders/eu/3', '/orders/eu/13', '/orders/us/3', '/x/y*z'];
const GLOBS = ['/food/**', '/food/*', '/food/*/eggs', '/{food,drinks}/**', '/orders/*/3', '/orders/eu/{1..3}', '/a?', '/a[0-9]', '/**/eggs', '/food/**/eggs', '/*', '/orders/eu/1*', '/x/y\\*z', '/**'];

describe('namespace globs', () => {
  it.each(GLOBS)('agree with micromatch on %s', (glob) => {
    const matches = compileNamespaceGlob(glob);
    for (const namespace of NAMESPACES) {
      expect(matches(namespace), `${glob} vs ${namespace}`).toBe(micromatch.isMatch(namespace, glob, { dot: true }));
    }
  });

  it('lets ** span zero segments, as shell globstar does', () => {
    expect(compileNamespaceGlob('/**/c')('/c')).toBe(true);
    expect(compileNamespaceGlob('/a/**/b')('/a/b')).toBe(true);
  });

  it('answers a glob built to make regexes backtrack without stalling', () => {
    const hostile = compileNamespaceGlob('/' + '*a'.repeat(30) + '*b');
    expect(hostile('/' + 'a'.repeat(1000))).toBe(false);
    const deep = compileNamespaceGlob('/**/a/**/a/**/a/**/a/**/b');
    expect(deep('/' + Array.from({ length: 500 }, () => 'a').join('/'))).toBe(false);
  });

  it('refuses extglobs, unclosed classes and huge brace expansions', () => {
    expect(() => compileNamespaceGlob('/@(a|b)')).toThrow(/extglobs/);
    expect(() => compileNamespaceGlob('/[abc')).toThrow(/no closing/);
    expect(() => compileNamespaceGlob('/{1..100}/{1..100}')).toThrow(/not supported/);
    expect(() => compileNamespaceGlob('/{a,b}/{c,d}/{e,f}/{g,h}/{i,j}/{k,l}/{m,n}')).toThrow(/expands to more than 64/);
  });

  it('negates classes with ! or ^ (POSIX), where micromatch differs', () => {
    expect(compileNamespaceGlob('/a[!0-9]')('/a1')).toBe(false);
    expect(compileNamespaceGlob('/a[!0-9]')('/ab')).toBe(true);
    expect(compileNamespaceGlob('/a[^0-9]')('/a.')).toBe(true);
  });
});
