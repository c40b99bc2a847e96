// Namespace globs matched without backtracking regexes. A glob is expanded
// ({a,b} via micromatch's brace expansion, bounded), split into segments, and
// matched segment by segment: "**" spans zero or more segments, "*" and "?" stay
// inside one, [abc] / [a-z] / [!a] are classes. Both levels use the greedy
// star-with-one-backtrack-point algorithm, so a match costs at most
// O(pattern × namespace) steps: a hostile glob cannot stall the broker.
import micromatch from 'micromatch';
import { FloError } from './errors.js';

/** Most patterns one glob may expand to through braces. */
export const MAX_GLOB_EXPANSIONS = 64;

type Token = { kind: 'literal'; char: string } | { kind: 'any' } | { kind: 'star' } | { kind: 'class'; negated: boolean; test: (char: string) => boolean };
type Segment = { kind: 'globstar' } | { kind: 'tokens'; tokens: Token[] };

export function compileNamespaceGlob(glob: string): (namespace: string) => boolean {
  if (/[!@+*?]\(/.test(glob)) throw invalid(glob, 'extglobs such as @(a|b) are not supported; use {a,b}');
  let expanded: string[];
  try {
    expanded = micromatch.braces(glob, { expand: true, rangeLimit: MAX_GLOB_EXPANSIONS });
  } catch (error) {
    throw invalid(glob, (error as Error).message);
  }
  if (expanded.length > MAX_GLOB_EXPANSIONS) throw invalid(glob, `it expands to more than ${MAX_GLOB_EXPANSIONS} patterns`);
  const patterns = [...new Set(expanded)].map((pattern) => pattern.split('/').map((segment) => parseSegment(segment, glob)));
  return (namespace) => {
    const names = namespace.split('/');
    return patterns.some((pattern) => matchSegments(pattern, names));
  };
}

function parseSegment(segment: string, glob: string): Segment {
  if (segment === '**') return { kind: 'globstar' };
  const tokens: Token[] = [];
  for (let i = 0; i < segment.length; i++) {
    const char = segment[i]!;
    if (char === '\\' && i + 1 < segment.length) tokens.push({ kind: 'literal', char: segment[++i]! });
    else if (char === '?') tokens.push({ kind: 'any' });
    else if (char === '*') {
      if (tokens.at(-1)?.kind !== 'star') tokens.push({ kind: 'star' });
    } else if (char === '[') {
      const close = segment.indexOf(']', i + 2);
      if (close < 0) throw invalid(glob, `"[" at "${segment}" has no closing "]"`);
      tokens.push(parseClass(segment.slice(i + 1, close)));
      i = close;
    } else tokens.push({ kind: 'literal', char });
  }
  return { kind: 'tokens', tokens };
}

function parseClass(body: string): Token {
  const negated = body.startsWith('!') || body.startsWith('^');
  const members = negated ? body.slice(1) : body;
  const ranges: Array<[string, string]> = [];
  for (let i = 0; i < members.length; i++) {
    if (members[i + 1] === '-' && i + 2 < members.length) {
      ranges.push([members[i]!, members[i + 2]!]);
      i += 2;
    } else ranges.push([members[i]!, members[i]!]);
  }
  return { kind: 'class', negated, test: (char) => ranges.some(([low, high]) => char >= low && char <= high) };
}

function tokenMatches(token: Token, char: string): boolean {
  if (token.kind === 'any') return true;
  if (token.kind === 'literal') return token.char === char;
  if (token.kind === 'class') return token.test(char) !== token.negated;
  return false;
}

/** Wildcard match of one segment: greedy, remembering only the last star. */
function matchSegment(tokens: readonly Token[], text: string): boolean {
  let t = 0;
  let p = 0;
  let starAt = -1;
  let starText = 0;
  while (t < text.length) {
    const token = tokens[p];
    if (token && token.kind !== 'star' && tokenMatches(token, text[t]!)) {
      t++;
      p++;
    } else if (token?.kind === 'star') {
      starAt = p++;
      starText = t;
    } else if (starAt >= 0) {
      p = starAt + 1;
      t = ++starText;
    } else return false;
  }
  while (tokens[p]?.kind === 'star') p++;
  return p === tokens.length;
}

/** The same algorithm one level up: "**" is the star, segments are the characters. */
function matchSegments(pattern: readonly Segment[], names: readonly string[]): boolean {
  let n = 0;
  let p = 0;
  let starAt = -1;
  let starName = 0;
  while (n < names.length) {
    const segment = pattern[p];
    if (segment?.kind === 'tokens' && matchSegment(segment.tokens, names[n]!)) {
      n++;
      p++;
    } else if (segment?.kind === 'globstar') {
      starAt = p++;
      starName = n;
    } else if (starAt >= 0) {
      p = starAt + 1;
      n = ++starName;
    } else return false;
  }
  while (pattern[p]?.kind === 'globstar') p++;
  return p === pattern.length;
}

function invalid(glob: string, why: string): FloError {
  return new FloError('FLO_ERR_GLOB_INVALID', `glob "${glob.length > 64 ? glob.slice(0, 61) + '...' : glob}" is not supported: ${why}`);
}
