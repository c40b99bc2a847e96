// Label and field selectors as the API server parses them from query strings
// (`a=b,c!=d,e in (f,g),!h`) and from LabelSelector objects (matchLabels/matchExpressions).

import { ApiError, isObject, type KObject } from './types.js';

export type Predicate = (object: KObject) => boolean;

interface Requirement {
  key: string;
  op: 'eq' | 'neq' | 'in' | 'notin' | 'exists' | 'notexists';
  values: string[];
}

function splitTopLevel(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const char of text) {
    if (char === '(') depth += 1;
    if (char === ')') depth -= 1;
    if (char === ',' && depth === 0) {
      parts.push(current);
      current = '';
    } else {
      current += char;
    }
  }
  if (current.trim() !== '') parts.push(current);
  return parts.map((part) => part.trim()).filter((part) => part !== '');
}

function parseRequirement(term: string): Requirement {
  const setMatch = /^([^\s!=]+)\s+(in|notin)\s+\((.*)\)$/.exec(term);
  if (setMatch) {
    const values = setMatch[3]!.split(',').map((value) => value.trim()).filter((value) => value !== '');
    return { key: setMatch[1]!, op: setMatch[2] as 'in' | 'notin', values };
  }
  if (term.startsWith('!')) return { key: term.slice(1).trim(), op: 'notexists', values: [] };
  const eq = /^([^!=\s]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
  if (eq) return { key: eq[1]!, op: eq[2] === '!=' ? 'neq' : 'eq', values: [eq[3]!.trim()] };
  if (/^[A-Za-z0-9./_-]+$/.test(term)) return { key: term, op: 'exists', values: [] };
  throw new ApiError(400, 'BadRequest', `unable to parse requirement: ${term}`);
}

function matches(requirement: Requirement, labels: Record<string, string>): boolean {
  const has = Object.hasOwn(labels, requirement.key);
  const value = labels[requirement.key];
  switch (requirement.op) {
    case 'eq': return has && value === requirement.values[0];
    case 'neq': return !has || value !== requirement.values[0];
    case 'in': return has && requirement.values.includes(value!);
    case 'notin': return !has || !requirement.values.includes(value!);
    case 'exists': return has;
    case 'notexists': return !has;
  }
}

export function parseLabelSelector(text: string | null | undefined): Predicate {
  if (text === null || text === undefined || text.trim() === '') return () => true;
  const requirements = splitTopLevel(text).map(parseRequirement);
  return (object) => requirements.every((requirement) => matches(requirement, object.metadata.labels ?? {}));
}

/** Matches a metav1.LabelSelector object (as in StatefulSet and PDB specs). */
export function labelSelectorObjectMatches(selector: unknown, labels: Record<string, string>): boolean {
  if (!isObject(selector)) return false;
  const matchLabels = isObject(selector['matchLabels']) ? selector['matchLabels'] : {};
  for (const [key, value] of Object.entries(matchLabels)) if (labels[key] !== value) return false;
  const expressions = Array.isArray(selector['matchExpressions']) ? selector['matchExpressions'] as Record<string, unknown>[] : [];
  return expressions.every((expression) => {
    const op = String(expression['operator']).toLowerCase();
    const mapped = op === 'in' ? 'in' : op === 'notin' ? 'notin' : op === 'exists' ? 'exists' : 'notexists';
    return matches({ key: String(expression['key']), op: mapped, values: (expression['values'] as string[] | undefined) ?? [] }, labels);
  });
}

export function labelSelectorObjectToString(selector: unknown): string {
  if (!isObject(selector) || !isObject(selector['matchLabels'])) return '';
  return Object.entries(selector['matchLabels']).map(([key, value]) => `${key}=${String(value)}`).join(',');
}

function fieldValue(object: KObject, path: string): string {
  let current: unknown = object;
  for (const part of path.split('.')) current = isObject(current) ? current[part] : undefined;
  return current === undefined || current === null ? '' : String(current);
}

/** Field selectors: equality on any dotted path (the server supports a few per kind; tests use name/namespace). */
export function parseFieldSelector(text: string | null | undefined): Predicate {
  if (text === null || text === undefined || text.trim() === '') return () => true;
  const terms = splitTopLevel(text).map((term) => {
    const match = /^([A-Za-z0-9._]+)\s*(==|=|!=)\s*(.*)$/.exec(term);
    if (!match) throw new ApiError(400, 'BadRequest', `invalid field selector: ${term}`);
    return { path: match[1]!, negate: match[2] === '!=', value: match[3]!.trim() };
  });
  return (object) => terms.every((term) => (fieldValue(object, term.path) === term.value) !== term.negate);
}
