// Install-time checks of x-kubernetes-validations rules, as the API server makes them when
// a CRD is written: the rule is type-checked against the schema it sits on (unknown fields,
// operators applied to the wrong types, a result that is not a bool), and its cost is
// estimated from the declared bounds (maxLength, maxItems, maxProperties) so that a rule
// that could run away on a large object is refused. The cost model is a simplification of
// cel-go's (each node 1, string work 0.1 per character), not a copy of it.

import { parseCel, type Node } from './cel.js';
import { isObject, type JsonObject } from './types.js';

/** Largest estimated cost of one rule (apiextensions StaticEstimatedCostLimit). */
export const RULE_COST_LIMIT = 10_000_000;
/** Largest estimated cost of every rule of one schema together (StaticEstimatedCRDCostLimit). */
export const SCHEMA_COST_LIMIT = 100_000_000;
/** Size bound of anything unbounded: the API server's largest request. */
export const UNBOUNDED_BYTES = 3 * 1024 * 1024;

type Schema = JsonObject;
type CelType =
  | { kind: 'int' | 'double' | 'string' | 'bool' | 'null' | 'dyn'; maxLength?: number }
  | { kind: 'list'; elem: CelType; maxItems: number }
  | { kind: 'map'; elem: CelType; maxItems: number }
  | { kind: 'object'; fields: Record<string, Schema> };

const NAME_SCHEMA: Schema = { type: 'string', maxLength: 253 };

function typeOf(schema: Schema, isRoot = false): CelType {
  if (schema['x-kubernetes-int-or-string'] === true) return { kind: 'dyn', maxLength: Number(schema['maxLength'] ?? UNBOUNDED_BYTES) };
  switch (schema['type']) {
    case 'integer': return { kind: 'int' };
    case 'number': return { kind: 'double' };
    case 'boolean': return { kind: 'bool' };
    case 'string': return { kind: 'string', maxLength: Number(schema['maxLength'] ?? UNBOUNDED_BYTES) };
    case 'array': return { kind: 'list', elem: isObject(schema['items']) ? typeOf(schema['items']) : { kind: 'dyn' }, maxItems: Number(schema['maxItems'] ?? UNBOUNDED_BYTES / 2) };
    default: break;
  }
  if (isObject(schema['additionalProperties'])) {
    return { kind: 'map', elem: typeOf(schema['additionalProperties']), maxItems: Number(schema['maxProperties'] ?? UNBOUNDED_BYTES / 4) };
  }
  const properties = isObject(schema['properties']) ? { ...schema['properties'] } as Record<string, Schema> : {};
  if (isRoot) properties['metadata'] = { type: 'object', properties: { name: NAME_SCHEMA, generateName: NAME_SCHEMA } };
  if (Object.keys(properties).length === 0 && schema['x-kubernetes-preserve-unknown-fields'] === true) return { kind: 'dyn' };
  return { kind: 'object', fields: properties };
}

function show(type: CelType): string {
  return type.kind === 'list' ? `list(${show(type.elem)})` : type.kind === 'map' ? `map(string, ${show(type.elem)})` : type.kind;
}

const NUMERIC = new Set(['int', 'double', 'dyn']);

class Checker {
  cost = 0;
  constructor(private readonly scope: Record<string, CelType>) {}

  private noOverload(op: string, types: CelType[]): never {
    throw new Error(`found no matching overload for '${op}' applied to '(${types.map(show).join(', ')})'`);
  }

  /** The string length a value of this type can reach (for the cost of string work). */
  private length(type: CelType): number {
    return 'maxLength' in type && type.maxLength !== undefined ? type.maxLength : 1;
  }

  check(node: Node): CelType {
    this.cost += 1;
    switch (node.k) {
      case 'lit':
        if (typeof node.v === 'number') return { kind: Number.isInteger(node.v) ? 'int' : 'double' };
        if (typeof node.v === 'string') return { kind: 'string', maxLength: node.v.length };
        return { kind: node.v === null ? 'null' : 'bool' };
      case 'id': {
        const found = this.scope[node.name];
        if (found === undefined) throw new Error(`undeclared reference to '${node.name}'`);
        return found;
      }
      case 'sel': return this.select(this.check(node.target), node.field);
      case 'idx': {
        const target = this.check(node.target);
        this.check(node.index);
        if (target.kind === 'list' || target.kind === 'map') return target.elem;
        if (target.kind === 'dyn') return target;
        return this.noOverload('_[_]', [target]);
      }
      case 'list': {
        const items = node.items.map((item) => this.check(item));
        return { kind: 'list', elem: items[0] ?? { kind: 'dyn' }, maxItems: items.length };
      }
      case 'un': {
        const arg = this.check(node.arg);
        if (node.op === '!' ? arg.kind !== 'bool' && arg.kind !== 'dyn' : !NUMERIC.has(arg.kind)) this.noOverload(`${node.op}_`, [arg]);
        return arg;
      }
      case 'cond': {
        const test = this.check(node.test);
        if (test.kind !== 'bool' && test.kind !== 'dyn') this.noOverload('_?_:_', [test]);
        const then = this.check(node.then);
        this.check(node.else);
        return then;
      }
      case 'bin': return this.binary(node.op, this.check(node.left), this.check(node.right));
      case 'call': return this.call(node);
    }
  }

  private select(target: CelType, field: string): CelType {
    if (target.kind === 'dyn') return target;
    if (target.kind === 'map') return target.elem;
    if (target.kind !== 'object') throw new Error(`type '${show(target)}' does not support field selection`);
    const schema = target.fields[field];
    if (schema === undefined) throw new Error(`undefined field '${field}'`);
    return typeOf(schema);
  }

  private binary(op: string, left: CelType, right: CelType): CelType {
    const same = left.kind === right.kind || left.kind === 'dyn' || right.kind === 'dyn';
    const numeric = NUMERIC.has(left.kind) && NUMERIC.has(right.kind);
    switch (op) {
      case '&&': case '||':
        if (!(['bool', 'dyn'].includes(left.kind) && ['bool', 'dyn'].includes(right.kind))) this.noOverload(`_${op}_`, [left, right]);
        return { kind: 'bool' };
      case '==': case '!=':
        if (!same && !numeric && left.kind !== 'null' && right.kind !== 'null') this.noOverload(`_${op}_`, [left, right]);
        if (left.kind === 'string') this.cost += Math.ceil(0.1 * Math.min(this.length(left), this.length(right)));
        return { kind: 'bool' };
      case '<': case '<=': case '>': case '>=':
        if (!numeric && !(same && ['string', 'dyn'].includes(left.kind))) this.noOverload(`_${op}_`, [left, right]);
        return { kind: 'bool' };
      case 'in':
        if (right.kind !== 'list' && right.kind !== 'map' && right.kind !== 'dyn') this.noOverload('@in', [left, right]);
        if (right.kind === 'list') this.cost += right.maxItems;
        return { kind: 'bool' };
      case '+':
        if (!(numeric || (same && ['string', 'list', 'dyn'].includes(left.kind)))) this.noOverload('_+_', [left, right]);
        return left.kind === 'string' ? { kind: 'string', maxLength: this.length(left) + this.length(right) } : left;
      default:
        if (!numeric) this.noOverload(`_${op}_`, [left, right]);
        return left;
    }
  }

  private call(node: Node & { k: 'call' }): CelType {
    if (node.name === 'has' && node.target === undefined) {
      const arg = node.args[0];
      if (arg?.k !== 'sel' || node.args.length !== 1) throw new Error('invalid argument to has() macro');
      const target = this.check(arg.target);
      if (target.kind === 'object' && target.fields[arg.field] === undefined) throw new Error(`undefined field '${arg.field}'`);
      if (!['object', 'map', 'dyn'].includes(target.kind)) this.noOverload('has', [target]);
      return { kind: 'bool' };
    }
    const target = node.target === undefined ? (node.args[0] === undefined ? undefined : this.check(node.args[0])) : this.check(node.target);
    const args = (node.target === undefined ? node.args.slice(1) : node.args).map((arg) => this.check(arg));
    if (target === undefined) throw new Error(`undeclared reference to '${node.name}'`);
    if (node.name === 'size') {
      if (!['string', 'list', 'map', 'dyn'].includes(target.kind)) this.noOverload('size', [target]);
      return { kind: 'int' };
    }
    if (['startsWith', 'endsWith', 'contains', 'matches'].includes(node.name)) {
      if ((target.kind !== 'string' && target.kind !== 'dyn') || args.length !== 1 || !['string', 'dyn'].includes(args[0]!.kind)) {
        this.noOverload(node.name, [target, ...args]);
      }
      // A regular expression is matched in time linear in the input (RE2); the rest scan it once.
      this.cost += Math.ceil(0.1 * this.length(target)) * (node.name === 'matches' ? 10 : 1);
      return { kind: 'bool' };
    }
    throw new Error(`undeclared reference to '${node.name}'`);
  }
}

export interface RuleCheck {
  /** Compile or type errors, as the API server words them after "compilation failed: ". */
  errors: string[];
  /** Estimated cost of one evaluation. */
  cost: number;
}

/** Type-checks one rule against the schema it is declared on; `isRoot` exposes metadata.name. */
export function checkRule(source: string, schema: Schema, isRoot: boolean): RuleCheck {
  const self = typeOf(schema, isRoot);
  const checker = new Checker({ self, oldSelf: self });
  try {
    const result = checker.check(parseCel(source));
    if (result.kind !== 'bool' && result.kind !== 'dyn') return { errors: ['cel expression must evaluate to a bool'], cost: checker.cost };
    return { errors: [], cost: checker.cost };
  } catch (error) {
    return { errors: [(error as Error).message], cost: checker.cost };
  }
}

/** How many times a rule at this schema can run per object: the product of enclosing list and map bounds. */
export function cardinalityOf(schema: Schema, unboundedElements: number): number {
  if (schema['type'] === 'array') return Number(schema['maxItems'] ?? unboundedElements);
  if (isObject(schema['additionalProperties'])) return Number(schema['maxProperties'] ?? unboundedElements);
  return 1;
}

export function costMessage(name: string, cost: number, limit: number): string {
  const factor = cost / limit;
  const shown = factor > 100 ? 'more than 100x' : `${factor.toFixed(1)}x`;
  return `${name} exceeds budget by factor of ${shown} (try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, and strings are declared)`;
}
