// Structural-schema handling of custom resources, in the API server's order: prune
// unknown fields (or report them under fieldValidation=Strict), apply defaults, then
// validate types, formats, bounds, enums, required fields and CEL rules. Messages follow
// the API server's wording so what a user sees here is what a real cluster prints.

import { compileCel } from './cel.js';
import { isObject, type JsonObject, type StatusCause } from './types.js';

type Schema = JsonObject;

function props(schema: Schema): Record<string, Schema> {
  return isObject(schema['properties']) ? schema['properties'] as Record<string, Schema> : {};
}

const ROOT_KEEP = new Set(['apiVersion', 'kind', 'metadata']);

/** Removes fields the schema does not know; returns their paths. */
export function prune(value: unknown, schema: Schema, path: string, unknown: string[] = []): string[] {
  if (Array.isArray(value)) {
    if (isObject(schema['items'])) value.forEach((item, i) => prune(item, schema['items'] as Schema, `${path}[${i}]`, unknown));
    return unknown;
  }
  if (!isObject(value)) return unknown;
  const known = props(schema);
  const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
  const additional = schema['additionalProperties'];
  for (const key of Object.keys(value)) {
    const child = path === '' ? key : `${path}.${key}`;
    if (path === '' && ROOT_KEEP.has(key)) continue;
    if (Object.hasOwn(known, key)) prune(value[key], known[key]!, child, unknown);
    else if (isObject(additional)) prune(value[key], additional, child, unknown);
    else if (additional === true || preserve) continue;
    else {
      unknown.push(child);
      delete value[key];
    }
  }
  return unknown;
}

/** Fills in defaults of absent fields, then recurses (a defaulted `{}` gets its own defaults). */
export function applyDefaults(value: unknown, schema: Schema): void {
  if (Array.isArray(value)) {
    if (isObject(schema['items'])) for (const item of value) applyDefaults(item, schema['items'] as Schema);
    return;
  }
  if (!isObject(value)) return;
  for (const [key, child] of Object.entries(props(schema))) {
    if (value[key] === undefined && child['default'] !== undefined) value[key] = structuredClone(child['default']);
    if (value[key] !== undefined) applyDefaults(value[key], child);
  }
  if (isObject(schema['additionalProperties'])) {
    for (const key of Object.keys(value)) applyDefaults(value[key], schema['additionalProperties'] as Schema);
  }
}

function typeName(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}

function shown(value: unknown): string {
  return typeof value === 'object' && value !== null ? `"${typeName(value) === 'array' ? 'array' : 'object'}"` : JSON.stringify(value);
}

function typeMatches(type: string, value: unknown): boolean {
  const actual = typeName(value);
  return type === actual || (type === 'number' && actual === 'integer');
}

class Validator {
  readonly causes: StatusCause[] = [];

  private fail(field: string, reason: string, message: string): void {
    this.causes.push({ reason, field, message });
  }

  run(value: unknown, schema: Schema, path: string, old: unknown, hasOld: boolean): void {
    if (value === null && schema['nullable'] === true) return;
    if (!this.checkType(value, schema, path)) return;
    this.checkScalar(value, schema, path);
    this.checkCollections(value, schema, path, old, hasOld);
    this.checkRules(value, schema, path, old, hasOld);
  }

  private checkType(value: unknown, schema: Schema, path: string): boolean {
    if (schema['x-kubernetes-int-or-string'] === true) {
      if (typeName(value) !== 'integer' && typeof value !== 'string') {
        this.fail(path, 'FieldValueInvalid', `Invalid value: ${shown(value)}: ${path} in body must be of type integer or string: "${typeName(value)}"`);
        return false;
      }
      const branches = Array.isArray(schema['anyOf']) ? schema['anyOf'] as Schema[] : [];
      const branch = branches.find((candidate) => typeMatches(String(candidate['type']), value));
      if (branch !== undefined) this.checkScalar(value, branch, path);
      return true;
    }
    const type = schema['type'];
    if (typeof type === 'string' && !typeMatches(type, value)) {
      this.fail(path, 'FieldValueTypeInvalid', `Invalid value: ${shown(value)}: ${path} in body must be of type ${type}: "${typeName(value)}"`);
      return false;
    }
    return true;
  }

  private checkScalar(value: unknown, schema: Schema, path: string): void {
    if (Array.isArray(schema['enum']) && !schema['enum'].some((allowed) => allowed === value)) {
      const list = (schema['enum'] as unknown[]).map((allowed) => JSON.stringify(allowed)).join(', ');
      this.fail(path, 'FieldValueNotSupported', `Unsupported value: ${JSON.stringify(value)}: supported values: ${list}`);
    }
    if (typeof value === 'number') {
      const min = schema['minimum'];
      const max = schema['maximum'];
      if (typeof min === 'number' && value < min) {
        this.fail(path, 'FieldValueInvalid', `Invalid value: ${value}: ${path} in body should be greater than or equal to ${min}`);
      }
      if (typeof max === 'number' && value > max) {
        this.fail(path, 'FieldValueInvalid', `Invalid value: ${value}: ${path} in body should be less than or equal to ${max}`);
      }
    }
    if (typeof value === 'string') {
      const { minLength, maxLength, pattern } = schema as { minLength?: number; maxLength?: number; pattern?: string };
      if (minLength !== undefined && value.length < minLength) {
        this.fail(path, 'FieldValueInvalid', `Invalid value: ${JSON.stringify(value)}: ${path} in body should be at least ${minLength} chars long`);
      }
      if (maxLength !== undefined && value.length > maxLength) {
        this.fail(path, 'FieldValueTooLong', `Too long: may not be more than ${maxLength} bytes`);
      }
      if (pattern !== undefined && !new RegExp(pattern, 'u').test(value)) {
        this.fail(path, 'FieldValueInvalid', `Invalid value: ${JSON.stringify(value)}: ${path} in body should match '${pattern}'`);
      }
    }
  }

  private checkCollections(value: unknown, schema: Schema, path: string, old: unknown, hasOld: boolean): void {
    if (Array.isArray(value)) {
      const { minItems, maxItems } = schema as { minItems?: number; maxItems?: number };
      if (maxItems !== undefined && value.length > maxItems) {
        this.fail(path, 'FieldValueTooMany', `Too many: ${value.length}: must have at most ${maxItems} items`);
      }
      if (minItems !== undefined && value.length < minItems) {
        this.fail(path, 'FieldValueInvalid', `Invalid value: ${value.length}: ${path} in body should have at least ${minItems} items`);
      }
      if (isObject(schema['items'])) value.forEach((item, i) => this.run(item, schema['items'] as Schema, `${path}[${i}]`, undefined, false));
      return;
    }
    if (!isObject(value)) return;
    const oldObject = hasOld && isObject(old) ? old : undefined;
    for (const required of (schema['required'] as string[] | undefined) ?? []) {
      if (value[required] === undefined) this.fail(path === '' ? required : `${path}.${required}`, 'FieldValueRequired', 'Required value');
    }
    for (const [key, child] of Object.entries(props(schema))) {
      if (value[key] === undefined) continue;
      const childOld = oldObject !== undefined && Object.hasOwn(oldObject, key);
      this.run(value[key], child, path === '' ? key : `${path}.${key}`, oldObject?.[key], childOld);
    }
    if (isObject(schema['additionalProperties'])) {
      for (const [key, child] of Object.entries(value)) this.run(child, schema['additionalProperties'] as Schema, `${path}[${key}]`, undefined, false);
    }
  }

  private checkRules(value: unknown, schema: Schema, path: string, old: unknown, hasOld: boolean): void {
    const rules = Array.isArray(schema['x-kubernetes-validations']) ? schema['x-kubernetes-validations'] as Schema[] : [];
    for (const rule of rules) {
      const source = String(rule['rule']);
      let passed: boolean;
      try {
        const compiled = compileCel(source);
        if (compiled.usesOldSelf && !hasOld) continue;
        passed = compiled.run({ self: value, oldSelf: old });
      } catch (error) {
        this.fail(path, 'FieldValueInvalid', `Invalid value: ${shown(value)}: rule evaluation failed: ${(error as Error).message}`);
        continue;
      }
      if (passed) continue;
      const message = typeof rule['message'] === 'string' ? rule['message'] : `failed rule: ${source}`;
      const fieldPath = typeof rule['fieldPath'] === 'string' ? `${path}${rule['fieldPath']}` : path;
      this.fail(fieldPath, 'FieldValueInvalid', `Invalid value: "${typeName(value)}": ${message}`);
    }
  }
}

/** Validates a whole custom resource (or only its status) against the schema. */
export function validate(value: unknown, schema: Schema, old?: unknown): StatusCause[] {
  const validator = new Validator();
  validator.run(value, schema, '', old, old !== undefined);
  return validator.causes;
}
