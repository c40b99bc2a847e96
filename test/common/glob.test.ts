import micromatch from 'micromatch';
import { describe, expect, it } from 'vitest';
import { MAX_GLOB_EXPANDED_CHARS, MAX_NAMESPACE_BYTES } from '../../src/common/bounds.js';
import { compileNamespaceGlob, expandBraces, globMatchSteps } from '../../src/common/glob.js';

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
    // Braces and empty segments no namespace can hold: refused instead of matching nothing.
    for (const glob of ['/{1..3', '/{a,b', '/a}b', '/{a}', '/{}', '/x/{y{a,b}}']) expect(() => compileNamespaceGlob(glob), glob).toThrow(/opens no alternatives/);
    for (const glob of ['/food/', '/food//x', '/{a,b}/', '/{a/,b}']) expect(() => compileNamespaceGlob(glob), glob).toThrow(/empty segment/);
    // An escaped brace or one in a class is a character to match, not an unclosed brace.
    expect(() => compileNamespaceGlob('/\\{x')).not.toThrow();
    expect(() => compileNamespaceGlob('/[{]x')).not.toThrow();
    expect(compileNamespaceGlob('/')('/')).toBe(true);
  });

  it('expands braces as micromatch does', () => {
    const globs = ['/a{1..3}', '/a{01..10}', '/{a..e}', '/{1..10..3}', '/{5..1}', '/{-2..2}', '/{a,{b,c}}x', '/{x{a,b}}', '/{a}', '/{}', '/a{,b}', '/{a,b', '/a}b',
      '/{a..c}{1,2}', '/[{a,b}]', '/{{a,b}}', '/{a,b}}', '/{{a,b}', '/{1..3}{,x}', '/[a,b]{c,d}', '/{[a,b],c}'];
    for (const glob of globs) expect(expandBraces(glob, 64), glob).toEqual(micromatch.braces(glob, { expand: true }));
    // Escapes stay in the pattern (the segment parser reads them as literals), where micromatch drops them.
    expect(expandBraces('/\\{a,b}', 64)).toEqual(['/\\{a,b}']);
    expect(expandBraces('/{a\\,b,c}', 64)).toEqual(['/a\\,b', '/c']);
  });

  it('counts the patterns before expanding, so a glob of many braces is refused at once', () => {
    // 2^24 patterns: expanding them first took 98 s and a 4.7 GB heap.
    expect(() => compileNamespaceGlob('/{a,b}'.repeat(24))).toThrow(/expands to more than 64 patterns/);
    expect(() => compileNamespaceGlob('/{1..1000}')).toThrow(/expands to more than 64 patterns/);
    expect(() => compileNamespaceGlob('/{1..9999999999999}/{1..9999999999999}')).toThrow(/expands to more than 64 patterns/);
    expect(() => compileNamespaceGlob('/{{a,b},{c,d},e}{1..16}')).toThrow(/expands to more than 64 patterns/);
    expect(() => compileNamespaceGlob('/{a,{b,{c,{d,{e,f}}}}}/{1..8}/{x,y}')).toThrow(/expands to more than 64 patterns/);
    expect(compileNamespaceGlob('/{{a,b},{c,d}}{1..16}')('/c12')).toBe(true);
    expect(compileNamespaceGlob('/{a,b,c,d,e,f,g,h}/{1..8}')('/h/8')).toBe(true);
  });

  it('refuses a glob whose expansions together are too long to match cheaply', () => {
    const glob = '/{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}' + '*a'.repeat(240) + '*b';
    expect(glob.length).toBe(513);
    expect(() => compileNamespaceGlob(glob)).toThrow(new RegExp(`the limit is ${MAX_GLOB_EXPANDED_CHARS}`));
  });

  it('matches in at most (expanded pattern characters × namespace characters) steps', () => {
    const hostile = ['/*' + 'a'.repeat(510) + 'b', '/' + '**/'.repeat(100) + 'a'.repeat(200) + '*b', '/{a,b}{a,b}{a,b}{a,b}{a,b}{a,b}*' + 'a'.repeat(50) + 'b',
      '/' + '**/*a*/'.repeat(60) + 'b', '/**/' + 'a/'.repeat(200) + 'b', '/' + '?'.repeat(1023)];
    const namespaces = [...Array.from({ length: 30 }, (_, i) => '/' + 'a'.repeat(1000) + i), ...Array.from({ length: 30 }, (_, i) => '/' + Array.from({ length: 500 }, () => 'a').join('/') + i)];
    for (const glob of hostile) {
      const matches = compileNamespaceGlob(glob);
      for (const namespace of namespaces) {
        const before = globMatchSteps();
        expect(matches(namespace)).toBe(false);
        expect(globMatchSteps() - before, glob.slice(0, 40)).toBeLessThanOrEqual(matches.patternChars * (namespace.length + 1));
      }
    }
    // …and that product is bounded for every glob the broker accepts.
    expect(MAX_GLOB_EXPANDED_CHARS * MAX_NAMESPACE_BYTES).toBeLessThanOrEqual(1 << 22);
  });

  it('negates classes with ! or ^ (POSIX), where micromatch differs', () => {
    expect(compileNamespaceGlob('/a[!0-9]')('/a1')).toBe(false);
    expect(compileNamespaceGlob('/a[!0-9]')('/ab')).toBe(true);
    expect(compileNamespaceGlob('/a[^0-9]')('/a.')).toBe(true);
  });
});
