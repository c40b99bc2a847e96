// Namespaces and globs. A namespace is a UTF-8 path starting with "/", bounded
// in length, without control characters, glob metacharacters or empty segments
// (so every namespace can be selected exactly by writing it as a glob); a glob
// selects namespaces (see glob.ts). The partition of a namespace is a stable
// hash (FNV-1a, 32 bit) so every broker and client agrees on it forever.
import { MAX_GLOB_CHARS, MAX_NAMESPACE_BYTES } from './bounds.js';
import { FloError } from './errors.js';
import { compileNamespaceGlob } from './glob.js';

// eslint-disable-next-line no-control-regex
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f]/;
const MATCH_ALL_GLOBS = new Set(['**', '/**', '']);
/** Characters with a meaning in globs: a namespace holding one could only be selected by accident. */
const GLOB_METACHARACTERS = /[*?[\]{}\\]/;

export function validateNamespace(namespace: unknown): string {
  if (typeof namespace !== 'string' || namespace.length === 0) {
    throw new FloError('FLO_ERR_NAMESPACE_INVALID', 'namespace must be a non-empty string such as /orders/eu/42');
  }
  if (!namespace.startsWith('/')) {
    throw new FloError('FLO_ERR_NAMESPACE_INVALID', `namespace "${shorten(namespace)}" must start with "/"`);
  }
  if (CONTROL_CHARACTERS.test(namespace)) {
    throw new FloError('FLO_ERR_NAMESPACE_INVALID', 'namespace must not contain control characters');
  }
  if (namespace === '/') {
    throw new FloError('FLO_ERR_NAMESPACE_INVALID', 'namespace "/" names no stream: give it at least one segment, such as /orders');
  }
  if (namespace.endsWith('/') || namespace.includes('//')) {
    throw new FloError('FLO_ERR_NAMESPACE_INVALID', `namespace "${shorten(namespace)}" has an empty segment`);
  }
  if (GLOB_METACHARACTERS.test(namespace)) {
    throw new FloError('FLO_ERR_NAMESPACE_INVALID', `namespace "${shorten(namespace)}" contains a glob character (* ? [ ] { } \\); namespaces name one stream, globs select them`);
  }
  if (!namespace.isWellFormed()) {
    throw new FloError('FLO_ERR_NAMESPACE_INVALID', 'namespace is not well-formed UTF-16/UTF-8 text');
  }
  const bytes = Buffer.byteLength(namespace, 'utf8');
  if (bytes > MAX_NAMESPACE_BYTES) {
    throw new FloError('FLO_ERR_NAMESPACE_INVALID', `namespace is ${bytes} bytes; the limit is ${MAX_NAMESPACE_BYTES}`);
  }
  return namespace;
}

/** A compiled namespace selector; `all` lets readers skip matching entirely. */
export interface NamespaceSelector {
  readonly glob: string;
  readonly all: boolean;
  matches(namespace: string): boolean;
}

/** The selector of every namespace. */
export const ALL_NAMESPACES: NamespaceSelector = { glob: '/**', all: true, matches: () => true };

export function compileGlob(glob: string | undefined): NamespaceSelector {
  const text = glob ?? '';
  if (MATCH_ALL_GLOBS.has(text)) return ALL_NAMESPACES;
  if (text.length > MAX_GLOB_CHARS || CONTROL_CHARACTERS.test(text)) {
    throw new FloError('FLO_ERR_GLOB_INVALID', `glob must be at most ${MAX_GLOB_CHARS} characters without control characters`);
  }
  if (!text.startsWith('/') && !text.startsWith('{') && !text.startsWith('*')) {
    throw new FloError('FLO_ERR_GLOB_INVALID', `glob "${shorten(text)}" must start with "/" (e.g. /food/**)`);
  }
  return { glob: text, all: false, matches: compileNamespaceGlob(text) };
}

/** FNV-1a over the UTF-8 bytes: stable across processes, versions and languages. */
export function partitionOf(namespace: string, partitions: number): number {
  let hash = 0x811c9dc5;
  const bytes = Buffer.from(namespace, 'utf8');
  for (const byte of bytes) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0) % partitions;
}

function shorten(text: string): string {
  return text.length > 64 ? text.slice(0, 61) + '...' : text;
}
