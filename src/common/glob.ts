// Namespace globs matched without backtracking regexes. A glob is expanded
// ({a,b}, {1..3}; the number of patterns is counted before anything is expanded,
// so /{a,b}/{a,b}/… is refused at once), split into segments, and matched segment
// by segment: "**" spans zero or more segments, "*" and "?" stay inside one,
// [abc] / [a-z] / [!a] are classes. Both levels use the greedy
// star-with-one-backtrack-point algorithm, so one pattern costs at most
// O(pattern × namespace) steps, and the expanded patterns together are bounded
// (MAX_GLOB_EXPANDED_CHARS): a hostile glob cannot stall the broker.
import { MAX_GLOB_EXPANDED_CHARS, MAX_GLOB_EXPANSIONS } from './bounds.js';
import { FloError } from './errors.js';

/** A compiled glob; `patternChars` (the expanded patterns' total length) bounds the steps per namespace character. */
export type NamespaceMatcher = ((namespace: string) => boolean) & { readonly patternChars: number };

let steps = 0;

/** Matching steps taken so far in this process (for tests and benchmarks that check the cost bound). */
export function globMatchSteps(): number {
  return steps;
}

type Token = { kind: 'literal'; char: string } | { kind: 'any' } | { kind: 'star' } | { kind: 'class'; negated: boolean; test: (char: string) => boolean };
type Segment = { kind: 'globstar' } | { kind: 'tokens'; tokens: Token[] };

export function compileNamespaceGlob(glob: string): NamespaceMatcher {
  if (/[!@+*?]\(/.test(glob)) throw invalid(glob, 'extglobs such as @(a|b) are not supported; use {a,b}');
  const expanded = [...new Set(expandBraces(glob, MAX_GLOB_EXPANSIONS))];
  const patternChars = expanded.reduce((sum, pattern) => sum + pattern.length, 0);
  if (patternChars > MAX_GLOB_EXPANDED_CHARS) throw invalid(glob, `its expansions are ${patternChars} characters long; the limit is ${MAX_GLOB_EXPANDED_CHARS}`);
  // Namespaces hold no braces and no empty segments, so a pattern with either could never match: a reader
  // would take the glob for "no events yet" (an unclosed "{", a typo in a path).
  const braced = expanded.find((pattern) => /[{}]/.test(pattern.replace(/\\./g, '').replace(/\[[^\]]*\]/g, '')));
  if (braced !== undefined) throw invalid(glob, `${braced === glob ? 'it' : `its expansion "${braced}"`} keeps a "{" or "}" that opens no alternatives ({a,b}) or range ({1..3}), and no namespace holds one (check for an unclosed brace)`);
  const empty = expanded.find((pattern) => pattern !== '/' && (pattern.endsWith('/') || pattern.includes('//')));
  if (empty !== undefined) throw invalid(glob, `${empty === glob ? 'it' : `its expansion "${empty}"`} has an empty segment (a "/" at the end or two in a row), which no namespace has: write /food or /food/**`);
  const patterns = expanded.map((pattern) => ({ prefix: literalPrefix(pattern), segments: pattern.split('/').map((segment) => parseSegment(segment, glob)) }));
  const matches = (namespace: string): boolean => {
    let names: string[] | undefined;
    for (const pattern of patterns) {
      if (!namespace.startsWith(pattern.prefix)) continue;
      names ??= namespace.split('/');
      if (matchSegments(pattern.segments, names)) return true;
    }
    return false;
  };
  return Object.assign(matches, { patternChars: Math.max(1, patternChars) });
}

/** The literal text every match starts with: up to the last "/" before the first wildcard ("/a/**" also matches "/a"). */
function literalPrefix(pattern: string): string {
  const wildcard = pattern.search(/[*?[\\]/);
  if (wildcard < 0) return pattern;
  return pattern.slice(0, Math.max(0, pattern.lastIndexOf('/', wildcard)));
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
    steps++;
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
    steps++;
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

// ---- Brace expansion, counted before it is done ----

/** A parsed glob: literal text, a choice between sequences ({a,b}), or a range ({1..9}, {a..e}). */
type BracePart = { kind: 'text'; text: string } | { kind: 'choice'; options: BracePart[][] } | { kind: 'range'; first: number; count: number; step: number; width: number; letters: boolean };

/** Expands {a,b} and {1..3}; refuses a glob whose expansions would number more than `limit`, counting them first. */
export function expandBraces(glob: string, limit: number): string[] {
  const parts = parseBraces(glob, 0, glob.length);
  const count = countExpansions(parts, limit);
  if (count > limit) throw invalid(glob, `it expands to more than ${limit} patterns`);
  return expandParts(parts);
}

function parseBraces(text: string, from: number, to: number): BracePart[] {
  const parts: BracePart[] = [];
  let literal = '';
  for (let i = from; i < to; i++) {
    const char = text[i]!;
    if (char === '\\' && i + 1 < to) {
      literal += char + text[++i]!;
      continue;
    }
    const classEnd = classEndAt(text, i, to);
    if (classEnd > i) {
      literal += text.slice(i, classEnd + 1);
      i = classEnd;
      continue;
    }
    const close = char === '{' ? closingBrace(text, i, to) : -1;
    if (close < 0) {
      literal += char;
      continue;
    }
    const commas = topLevelCommas(text, i + 1, close);
    const range = commas.length === 0 ? parseRange(text.slice(i + 1, close)) : undefined;
    if (commas.length === 0 && !range) {
      // No comma and no range: the braces are literal text, their inside may still expand ("{x{a,b}}").
      literal += '{';
      parts.push({ kind: 'text', text: literal }, ...parseBraces(text, i + 1, close), { kind: 'text', text: '}' });
      literal = '';
      i = close;
      continue;
    }
    if (literal) parts.push({ kind: 'text', text: literal });
    literal = '';
    if (range) parts.push(range);
    else {
      const bounds = [i, ...commas, close];
      parts.push({ kind: 'choice', options: bounds.slice(1).map((end, k) => parseBraces(text, bounds[k]! + 1, end)) });
    }
    i = close;
  }
  if (literal) parts.push({ kind: 'text', text: literal });
  return parts;
}

/** Index of the "}" closing the "{" at `open`, or -1. */
function closingBrace(text: string, open: number, to: number): number {
  let depth = 0;
  for (let i = open; i < to; i++) {
    const char = text[i];
    if (char === '\\') i++;
    else if (char === '{') depth++;
    else if (char === '}' && --depth === 0) return i;
  }
  return -1;
}

/** Braces and commas inside a class ([a,b]) are the class's own characters: index of its "]", or `at` if none starts there. */
function classEndAt(text: string, at: number, to: number): number {
  if (text[at] !== '[') return at;
  const end = text.indexOf(']', at + 2);
  return end >= 0 && end < to ? end : at;
}

function topLevelCommas(text: string, from: number, to: number): number[] {
  const commas: number[] = [];
  let depth = 0;
  for (let i = classEndAt(text, from, to); i < to; i = classEndAt(text, i + 1, to)) {
    const char = text[i];
    if (char === '\\') i++;
    else if (char === '{') depth++;
    else if (char === '}') depth--;
    else if (char === ',' && depth === 0) commas.push(i);
  }
  return commas;
}

const NUMBER_RANGE = /^(-?\d{1,15})\.\.(-?\d{1,15})(?:\.\.(-?\d{1,15}))?$/;
const LETTER_RANGE = /^([a-z]\.\.[a-z]|[A-Z]\.\.[A-Z])(?:\.\.(-?\d{1,15}))?$/;

function parseRange(body: string): BracePart | undefined {
  const numbers = NUMBER_RANGE.exec(body);
  const letters = numbers ? undefined : LETTER_RANGE.exec(body);
  if (!numbers && !letters) return undefined;
  const [low, high] = numbers ? [Number(numbers[1]), Number(numbers[2])] : [body.charCodeAt(0), body.charCodeAt(3)];
  const stepText = numbers ? numbers[3] : letters![2];
  const stepSize = Math.max(1, Math.abs(Number(stepText ?? 1)));
  const padded = numbers !== null && [numbers[1]!, numbers[2]!].some((end) => /^-?0\d/.test(end));
  return {
    kind: 'range',
    first: low,
    count: Math.floor(Math.abs(high - low) / stepSize) + 1,
    step: high >= low ? stepSize : -stepSize,
    width: padded ? Math.max(numbers[1]!.length, numbers[2]!.length) : 0,
    letters: letters !== null && letters !== undefined,
  };
}

/** How many patterns the parts expand to, saturating just above `limit` so nothing is ever expanded to find out. */
function countExpansions(parts: readonly BracePart[], limit: number): number {
  let product = 1;
  for (const part of parts) {
    const count = part.kind === 'text' ? 1 : part.kind === 'range' ? part.count : part.options.reduce((sum, option) => Math.min(limit + 1, sum + countExpansions(option, limit)), 0);
    product = Math.min(limit + 1, product * count);
  }
  return product;
}

function expandParts(parts: readonly BracePart[]): string[] {
  let results = [''];
  for (const part of parts) {
    const alternatives = part.kind === 'text' ? [part.text] : part.kind === 'range' ? rangeValues(part) : part.options.flatMap(expandParts);
    results = results.flatMap((prefix) => alternatives.map((alternative) => prefix + alternative));
  }
  return results;
}

function rangeValues(range: Extract<BracePart, { kind: 'range' }>): string[] {
  return Array.from({ length: range.count }, (_, i) => {
    const value = range.first + i * range.step;
    if (range.letters) return String.fromCharCode(value);
    const digits = String(Math.abs(value)).padStart(range.width - (value < 0 ? 1 : 0), '0');
    return value < 0 ? '-' + digits : digits;
  });
}
