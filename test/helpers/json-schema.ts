// A small JSON Schema validator for the keywords src/report/json-schema.ts uses (no new deps):
// type (incl. 'integer' and type lists), const, enum, properties, required, additionalProperties
// (false or a schema), items, minItems, minimum, exclusiveMinimum, pattern, oneOf.
// Unknown keywords fail loudly so the schema cannot silently use one this validator ignores.

type Schema = Record<string, unknown>;

const KNOWN = new Set([
  '$schema', '$id', 'title', 'type', 'const', 'enum', 'properties', 'required', 'additionalProperties',
  'items', 'minItems', 'minimum', 'exclusiveMinimum', 'pattern', 'oneOf',
]);

/** Every violation as `path: problem`; empty when the value conforms. */
export function validateJsonSchema(schema: Schema, value: unknown, at = '$'): string[] {
  const unknown = Object.keys(schema).filter((k) => !KNOWN.has(k));
  if (unknown.length > 0) throw new Error(`validator does not implement ${unknown.join(', ')} (at ${at})`);
  const errors: string[] = [];
  const fail = (problem: string) => errors.push(`${at}: ${problem}`);

  if (schema.type !== undefined) {
    const types = Array.isArray(schema.type) ? (schema.type as string[]) : [schema.type as string];
    if (!types.some((t) => hasType(value, t))) {
      fail(`expected ${types.join(' | ')}, got ${typeOf(value)}`);
      return errors;
    }
  }
  if ('const' in schema && !deepEqual(value, schema.const)) fail(`expected ${JSON.stringify(schema.const)}`);
  if (schema.enum !== undefined && !(schema.enum as unknown[]).some((v) => deepEqual(v, value))) {
    fail(`expected one of ${JSON.stringify(schema.enum)}, got ${JSON.stringify(value)}`);
  }
  if (typeof value === 'number') {
    if (typeof schema.minimum === 'number' && value < schema.minimum) fail(`${value} < minimum ${schema.minimum}`);
    if (typeof schema.exclusiveMinimum === 'number' && value <= schema.exclusiveMinimum) fail(`${value} <= exclusiveMinimum ${schema.exclusiveMinimum}`);
  }
  if (typeof value === 'string' && typeof schema.pattern === 'string' && !new RegExp(schema.pattern, 'u').test(value)) {
    fail(`${JSON.stringify(value)} does not match ${schema.pattern}`);
  }
  if (Array.isArray(value)) {
    if (typeof schema.minItems === 'number' && value.length < schema.minItems) fail(`fewer than ${schema.minItems} items`);
    if (schema.items !== undefined) value.forEach((item, i) => errors.push(...validateJsonSchema(schema.items as Schema, item, `${at}[${i}]`)));
  }
  if (isObject(value)) {
    const props = (schema.properties ?? {}) as Record<string, Schema>;
    for (const key of (schema.required ?? []) as string[]) if (!(key in value)) fail(`missing required key ${key}`);
    for (const [key, v] of Object.entries(value)) {
      if (key in props) errors.push(...validateJsonSchema(props[key], v, `${at}.${key}`));
      else if (schema.additionalProperties === false) fail(`unexpected key ${key}`);
      else if (isObject(schema.additionalProperties)) errors.push(...validateJsonSchema(schema.additionalProperties, v, `${at}.${key}`));
    }
  }
  if (schema.oneOf !== undefined) {
    const passing = (schema.oneOf as Schema[]).filter((s) => validateJsonSchema(s, value, at).length === 0).length;
    if (passing !== 1) fail(`matches ${passing} of the oneOf schemas, expected exactly 1`);
  }
  return errors;
}

function hasType(value: unknown, type: string): boolean {
  switch (type) {
    case 'null': return value === null;
    case 'boolean': return typeof value === 'boolean';
    case 'string': return typeof value === 'string';
    case 'number': return typeof value === 'number' && Number.isFinite(value);
    case 'integer': return typeof value === 'number' && Number.isInteger(value);
    case 'array': return Array.isArray(value);
    case 'object': return isObject(value);
    default: throw new Error(`unknown type ${type}`);
  }
}

function typeOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'array';
  return typeof value;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
