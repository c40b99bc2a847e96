// The checks a real API server makes on a CRD's openAPIV3Schema before it accepts it,
// written from apiextensions-apiserver (pkg/apiserver/schema/validation.go, complete.go,
// defaulting/validation.go and pkg/apis/apiextensions/validation/validation.go):
// - structural: a type everywhere (unless int-or-string or preserve-unknown-fields), items
//   on arrays, nothing but value validation inside anyOf/allOf/oneOf/not — no type,
//   default, description, nullable, additionalProperties or x-kubernetes-* there — except
//   the exact int-or-string pattern `anyOf: [{type: integer}, {type: string}]`;
// - complete: every field a value validation names is declared in the structural part;
// - supported: no $ref, uniqueItems, patternProperties…, properties beside additionalProperties;
// - defaults: pruned (no unknown fields) and valid against their own schema, none in metadata;
// - rules: compile, type-check and fit the cost budget.
// Messages keep the API server's field paths and wording.

import { cardinalityOf, checkRule, costMessage, RULE_COST_LIMIT, SCHEMA_COST_LIMIT } from './cel-check.js';
import { prune, validate } from './schema.js';
import { isObject, type JsonObject } from './types.js';

type Schema = JsonObject;

const TYPES = ['array', 'boolean', 'integer', 'number', 'object', 'string'];
const BRANCHES = ['anyOf', 'allOf', 'oneOf'] as const;
const UNSUPPORTED: Record<string, string> = {
  $ref: '$ref is not supported', id: 'id is not supported', additionalItems: 'additionalItems is not supported',
  patternProperties: 'patternProperties is not supported', definitions: 'definitions is not supported', dependencies: 'dependencies is not supported',
};
/** What a value-validation branch must not carry, with the API server's wording. */
const FORBIDDEN_IN_BRANCH: Record<string, string> = {
  type: 'must be empty to be structural', default: 'must be undefined to be structural', title: 'must be empty to be structural',
  description: 'must be empty to be structural', nullable: 'must be false to be structural', additionalProperties: 'must be undefined to be structural',
  'x-kubernetes-preserve-unknown-fields': 'must be false to be structural', 'x-kubernetes-embedded-resource': 'must be false to be structural',
  'x-kubernetes-int-or-string': 'must be false to be structural', 'x-kubernetes-list-map-keys': 'must be empty to be structural',
  'x-kubernetes-list-type': 'must be undefined to be structural', 'x-kubernetes-map-type': 'must be undefined to be structural',
  'x-kubernetes-validations': 'must be empty to be structural',
};
/** Serialized size of the smallest element of an unbounded list or map (the cardinality estimate). */
const MIN_ELEMENT_BYTES = 2;
const UNBOUNDED_ELEMENTS = Math.floor((3 * 1024 * 1024) / MIN_ELEMENT_BYTES);

function jsonEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function isIntOrStringPattern(anyOf: unknown): boolean {
  return jsonEqual(anyOf, [{ type: 'integer' }, { type: 'string' }]);
}

function properties(schema: Schema): Record<string, Schema> {
  return isObject(schema['properties']) ? schema['properties'] as Record<string, Schema> : {};
}

type Level = 'root' | 'item' | 'field';

class SchemaChecker {
  readonly errors: string[] = [];
  private totalCost = 0;

  private error(path: string, kind: 'Required' | 'Forbidden' | 'Invalid' | 'Unsupported', detail: string, value?: unknown): void {
    const shown = kind === 'Required' ? 'Required value' : kind === 'Forbidden' ? 'Forbidden' : kind === 'Unsupported' ? 'Unsupported value' : 'Invalid value';
    this.errors.push(`${path}: ${shown}${value === undefined ? '' : `: ${JSON.stringify(value)}`}: ${detail}`);
  }

  /** One schema node of the structural part (not inside a value-validation branch). */
  node(schema: Schema, path: string, level: Level, inMetadata: boolean, cardinality: number): void {
    this.supported(schema, path);
    const intOrString = schema['x-kubernetes-int-or-string'] === true;
    const preserve = schema['x-kubernetes-preserve-unknown-fields'];
    const type = schema['type'];
    if (type === undefined && !intOrString && preserve !== true) {
      this.error(`${path}.type`, 'Required', level === 'root' ? 'must not be empty at the root' : level === 'item' ? 'must not be empty for specified array items' : 'must not be empty for specified object fields');
    }
    if (level === 'root' && type !== undefined && type !== 'object') this.error(`${path}.type`, 'Invalid', 'must be object at the root', type);
    if (intOrString && preserve === true) this.error(`${path}.x-kubernetes-preserve-unknown-fields`, 'Invalid', 'must be false if x-kubernetes-int-or-string is true', true);
    if (preserve !== undefined && preserve !== true) this.error(`${path}.x-kubernetes-preserve-unknown-fields`, 'Invalid', 'must be true or undefined', preserve);
    if (type === 'array' && !isObject(schema['items'])) this.error(`${path}.items`, 'Required', 'must be specified');
    if (schema['additionalProperties'] !== undefined) {
      if (level === 'root') this.error(`${path}.additionalProperties`, 'Forbidden', 'must not be used at the root');
      if (Object.keys(properties(schema)).length > 0) this.error(`${path}.additionalProperties`, 'Forbidden', 'additionalProperties and properties are mutual exclusive');
    }
    this.listType(schema, path);
    this.valueValidation(schema, path, level);
    this.completeness(schema, path);
    this.defaults(schema, path, inMetadata);
    this.rules(schema, path, level === 'root', cardinality);
    if (level === 'root') this.rootMetadata(schema, path);
    for (const [key, child] of Object.entries(properties(schema))) {
      if (level === 'root' && key === 'metadata') continue;
      this.node(child, `${path}.properties[${key}]`, 'field', inMetadata, cardinality);
    }
    if (isObject(schema['items'])) this.node(schema['items'], `${path}.items`, 'item', inMetadata, cardinality * cardinalityOf(schema, UNBOUNDED_ELEMENTS));
    if (isObject(schema['additionalProperties'])) {
      this.node(schema['additionalProperties'], `${path}.additionalProperties`, 'field', inMetadata, cardinality * cardinalityOf(schema, UNBOUNDED_ELEMENTS));
    }
  }

  private supported(schema: Schema, path: string): void {
    for (const [key, detail] of Object.entries(UNSUPPORTED)) if (schema[key] !== undefined) this.error(`${path}.${key}`, 'Forbidden', detail);
    const type = schema['type'];
    if (type === 'null') this.error(`${path}.type`, 'Forbidden', 'type cannot be set to null, use nullable as an alternative');
    else if (type !== undefined && !TYPES.includes(String(type))) this.error(`${path}.type`, 'Unsupported', `supported values: ${TYPES.map((t) => `"${t}"`).join(', ')}`, type);
    if (schema['uniqueItems'] === true) this.error(`${path}.uniqueItems`, 'Forbidden', 'uniqueItems cannot be set to true since the runtime complexity becomes quadratic');
    if (Array.isArray(schema['items'])) this.error(`${path}.items`, 'Forbidden', 'items must be a schema object and not an array');
    if (typeof schema['pattern'] === 'string') {
      try {
        new RegExp(schema['pattern'], 'u');
      } catch (error) {
        this.error(`${path}.pattern`, 'Invalid', `must be a valid regular expression, but isn't: ${(error as Error).message}`, schema['pattern']);
      }
    }
  }

  private listType(schema: Schema, path: string): void {
    const listType = schema['x-kubernetes-list-type'];
    const keys = schema['x-kubernetes-list-map-keys'];
    if (listType !== undefined && schema['type'] !== 'array') this.error(`${path}.type`, 'Invalid', 'must be array if x-kubernetes-list-type is specified', schema['type']);
    if (listType !== undefined && !['atomic', 'set', 'map'].includes(String(listType))) this.error(`${path}.x-kubernetes-list-type`, 'Unsupported', 'supported values: "atomic", "set", "map"', listType);
    if (Array.isArray(keys) && keys.length > 0 && listType !== 'map') this.error(`${path}.x-kubernetes-list-type`, 'Invalid', 'must be map if x-kubernetes-list-map-keys is non-empty', listType);
    if (listType !== 'map') return;
    if (!Array.isArray(keys) || keys.length === 0) this.error(`${path}.x-kubernetes-list-map-keys`, 'Required', 'must not be empty if x-kubernetes-list-type is map');
    const items = isObject(schema['items']) ? schema['items'] : undefined;
    if (items === undefined) return;
    if (items['type'] !== 'object') this.error(`${path}.items.type`, 'Invalid', 'must be object if parent array\'s x-kubernetes-list-type is map', items['type']);
    const required = Array.isArray(items['required']) ? items['required'] as string[] : [];
    for (const key of Array.isArray(keys) ? keys as string[] : []) {
      const property = properties(items)[key];
      if (property === undefined) this.error(`${path}.x-kubernetes-list-map-keys`, 'Invalid', 'entries must all be names of item properties', keys);
      else if (!['string', 'integer', 'number', 'boolean'].includes(String(property['type']))) this.error(`${path}.items.properties[${key}].type`, 'Invalid', 'must be a scalar type if parent array\'s x-kubernetes-list-type is map', property['type']);
      else if (property['default'] === undefined && !required.includes(key)) this.error(`${path}.items.properties[${key}].default`, 'Required', 'this property is in x-kubernetes-list-map-keys, so it must have a default or be a required property');
    }
  }

  /** anyOf/allOf/oneOf/not of a structural node (validation.go validateValueValidation). */
  private valueValidation(schema: Schema, path: string, level: Level, skipAnyOf = isIntOrStringPattern(schema['anyOf'])): void {
    const allOf = Array.isArray(schema['allOf']) ? schema['allOf'] as Schema[] : [];
    const skipFirstAllOfAnyOf = allOf.length > 0 && isIntOrStringPattern(allOf[0]?.['anyOf']);
    for (const key of BRANCHES) {
      const branches = Array.isArray(schema[key]) ? schema[key] as unknown[] : [];
      branches.forEach((branch, i) => {
        if (key === 'anyOf' && skipAnyOf) return;
        if (isObject(branch)) this.nested(branch, `${path}.${key}[${i}]`, level, key === 'allOf' && i === 0 && skipFirstAllOfAnyOf);
      });
    }
    if (isObject(schema['not'])) this.nested(schema['not'], `${path}.not`, level, false);
  }

  private nested(branch: Schema, path: string, level: Level, skipAnyOf: boolean): void {
    this.supported(branch, path);
    this.valueValidation(branch, path, level, skipAnyOf);
    if (isObject(branch['items'])) this.nested(branch['items'], `${path}.items`, level, false);
    for (const [key, child] of Object.entries(properties(branch))) this.nested(child, `${path}.properties[${key}]`, 'field', false);
    for (const [key, detail] of Object.entries(FORBIDDEN_IN_BRANCH)) {
      const value = branch[key];
      if (value === undefined || value === false || (Array.isArray(value) && value.length === 0)) continue;
      this.error(`${path}.${key}`, 'Forbidden', detail);
    }
    if (isObject(branch['additionalProperties'])) this.nested(branch['additionalProperties'], `${path}.additionalProperties`, level, false);
    if (properties(branch)['metadata'] !== undefined) this.error(`${path}.properties[metadata]`, 'Forbidden', 'must not be specified in a nested context');
  }

  /** Fields named in value validations must exist in the structural part (complete.go). */
  private completeness(schema: Schema, path: string): void {
    const visit = (branch: Schema, branchPath: string, structural: Schema | undefined, structuralPath: string): void => {
      if (structural === undefined) {
        this.error(structuralPath, 'Required', `because it is defined in ${branchPath}`);
        return;
      }
      for (const [key, child] of Object.entries(properties(branch))) {
        const declared = properties(structural)[key] ?? (isObject(structural['additionalProperties']) ? structural['additionalProperties'] : undefined);
        if (declared === undefined && structural['x-kubernetes-preserve-unknown-fields'] === true) continue;
        visit(child, `${branchPath}.properties[${key}]`, declared, `${structuralPath}.properties[${key}]`);
      }
      if (isObject(branch['items'])) visit(branch['items'], `${branchPath}.items`, isObject(structural['items']) ? structural['items'] : undefined, `${structuralPath}.items`);
      for (const key of BRANCHES) {
        (Array.isArray(branch[key]) ? branch[key] as unknown[] : []).forEach((child, i) => {
          if (isObject(child)) visit(child, `${branchPath}.${key}[${i}]`, structural, structuralPath);
        });
      }
    };
    for (const key of BRANCHES) {
      (Array.isArray(schema[key]) ? schema[key] as unknown[] : []).forEach((branch, i) => {
        if (isObject(branch)) visit(branch, `${path}.${key}[${i}]`, schema, path);
      });
    }
    if (isObject(schema['not'])) visit(schema['not'], `${path}.not`, schema, path);
  }

  private defaults(schema: Schema, path: string, inMetadata: boolean): void {
    if (schema['default'] === undefined) return;
    if (inMetadata) {
      this.error(`${path}.default`, 'Forbidden', 'must not be set inside metadata');
      return;
    }
    const value = structuredClone(schema['default']);
    if (isObject(value) || Array.isArray(value)) {
      prune(value, schema, 'x');
      if (!jsonEqual(value, schema['default'])) this.error(`${path}.default`, 'Invalid', 'must not have unknown fields', schema['default']);
    }
    for (const cause of validate(schema['default'], schema)) {
      this.error(`${path}.default${cause.field === '' ? '' : `.${cause.field}`}`, 'Invalid', cause.message);
    }
  }

  private rules(schema: Schema, path: string, isRoot: boolean, cardinality: number): void {
    const rules = Array.isArray(schema['x-kubernetes-validations']) ? schema['x-kubernetes-validations'] as unknown[] : [];
    rules.forEach((rule, i) => {
      const rulePath = `${path}.x-kubernetes-validations[${i}]`;
      const source = isObject(rule) ? rule['rule'] : undefined;
      if (typeof source !== 'string' || source.trim() === '') {
        this.error(`${rulePath}.rule`, 'Required', 'rule is not specified');
        return;
      }
      const message = isObject(rule) ? rule['message'] : undefined;
      if (message !== undefined && (typeof message !== 'string' || message.trim() === '')) this.error(`${rulePath}.message`, 'Invalid', 'must be non-empty if specified', message);
      if (typeof message === 'string' && message.includes('\n')) this.error(`${rulePath}.message`, 'Invalid', 'must not contain line breaks', message);
      const checked = checkRule(source, schema, isRoot);
      for (const detail of checked.errors) this.error(`${rulePath}.rule`, 'Invalid', `compilation failed: ERROR: <input>: ${detail}`, source);
      const cost = checked.cost * cardinality;
      if (cost > RULE_COST_LIMIT) this.error(`${rulePath}.rule`, 'Forbidden', costMessage('estimated rule cost', cost, RULE_COST_LIMIT));
      this.totalCost += cost;
    });
  }

  /** At the root, metadata may only restrict name and generateName. */
  private rootMetadata(schema: Schema, path: string): void {
    for (const key of ['kind', 'apiVersion']) {
      const property = properties(schema)[key];
      if (property !== undefined && property['type'] !== 'string') this.error(`${path}.properties[${key}].type`, 'Invalid', 'must be string', property['type']);
    }
    const metadata = properties(schema)['metadata'];
    if (metadata === undefined) return;
    if (metadata['type'] !== 'object') this.error(`${path}.properties[metadata].type`, 'Invalid', 'must be object', metadata['type']);
    const extra = Object.keys(metadata).filter((key) => !['type', 'properties'].includes(key));
    const named = Object.keys(properties(metadata)).filter((key) => !['name', 'generateName'].includes(key));
    if (extra.length > 0 || named.length > 0) {
      this.error(`${path}.properties[metadata]`, 'Forbidden', 'must not specify anything other than name and generateName, but metadata is implicitly specified');
    }
  }

  finish(path: string): void {
    if (this.totalCost > SCHEMA_COST_LIMIT) this.error(path, 'Forbidden', costMessage('x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema', this.totalCost, SCHEMA_COST_LIMIT));
  }
}

/** Every reason a real API server would refuse this openAPIV3Schema; empty when it would accept it. */
export function schemaErrors(schema: unknown, path: string): string[] {
  if (!isObject(schema)) return [`${path}: Required value: schemas are required`];
  const checker = new SchemaChecker();
  checker.node(schema, path, 'root', false, 1);
  checker.finish(path);
  return checker.errors;
}
