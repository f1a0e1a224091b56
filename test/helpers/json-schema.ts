// JSON Schema validation for the tests, by ajv for the draft the schema declares (2020-12 for
// src/report/json-schema.ts). Strict mode: a keyword ajv does not know fails loudly instead of being
// ignored, so the schema cannot silently promise what nothing checks.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

type Schema = Record<string, unknown>;

const DRAFT_2020_12 = 'https://json-schema.org/draft/2020-12/schema';
const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
const compiled = new WeakMap<Schema, ValidateFunction>();

/** Every violation as `/json/pointer: problem`; empty when the value conforms. */
export function validateJsonSchema(schema: Schema, value: unknown): string[] {
  if (schema.$schema !== undefined && schema.$schema !== DRAFT_2020_12) throw new Error(`schema declares ${String(schema.$schema)}, not draft 2020-12`);
  let validate = compiled.get(schema);
  if (!validate) compiled.set(schema, (validate = ajv.compile(schema)));
  if (validate(value)) return [];
  return (validate.errors ?? []).map((e) => {
    const extra =
      e.keyword === 'additionalProperties' ? ` (${String(e.params.additionalProperty)})` : e.keyword === 'const' ? ` (${JSON.stringify(e.params.allowedValue)})` : '';
    return `${e.instancePath || '/'}: ${e.message}${extra}`;
  });
}
