// JSON Schema (draft 2020-12) of `lipcheck --json` output, schemaVersion 1. Shipped in the
// package (dist/report/json-schema.js, exported from the package entry as REPORT_JSON_SCHEMA)
// so consumers can validate what they pipe; the tests validate every CLI run against it.
// Keep it in step with ./types.ts: adding an optional key is compatible, renaming is not.

const number = { type: 'number' } as const;
const numberOrNull = { type: ['number', 'null'] } as const;
const nonNegative = { type: 'number', minimum: 0 } as const;
const positiveOrNull = { type: ['number', 'null'], exclusiveMinimum: 0 } as const;
const boundOrNull = { type: ['number', 'null'], minimum: 0 } as const;
const string = { type: 'string' } as const;
const stringOrNull = { type: ['string', 'null'] } as const;
const boolean = { type: 'boolean' } as const;
const intArray = { type: 'array', items: { type: 'integer' } } as const;
const intArrayOrNull = { type: ['array', 'null'], items: { type: 'integer' } } as const;
const strings = { type: 'array', items: string } as const;
const methodName = { enum: ['toeplitz', 'spectral', 'power', 'frobenius'] } as const;

const budgetCheck = {
  type: 'object',
  required: ['limit', 'value', 'passed', 'source', 'reason'],
  additionalProperties: false,
  properties: { limit: { type: 'number', exclusiveMinimum: 0 }, value: boundOrNull, passed: boolean, source: string, reason: stringOrNull },
} as const;

const methodDetails = {
  type: 'object',
  required: ['kind', 'ms', 'error'],
  properties: { kind: { enum: ['upper', 'lower'] }, ms: nonNegative, error: stringOrNull },
  // Per-method trust data (grid, factor, iterations, converged, route, ...): plain JSON values only.
  additionalProperties: { type: ['number', 'string', 'boolean', 'null', 'array'], items: number },
} as const;

const layer = {
  type: 'object',
  required: [
    'name', 'op', 'kind', 'weightShape', 'inputShape', 'outputShape', 'strides', 'pads', 'dilations', 'group',
    'foldedBatchNorm', 'bounds', 'best', 'bestMethod', 'tightness', 'details', 'handling', 'notes', 'unsupportedReason', 'budget',
  ],
  additionalProperties: false,
  properties: {
    name: string,
    op: string,
    kind: { enum: ['conv', 'dense', 'unsupported'] },
    weightShape: intArrayOrNull,
    inputShape: intArrayOrNull,
    outputShape: intArrayOrNull,
    strides: intArrayOrNull,
    pads: intArrayOrNull,
    dilations: intArrayOrNull,
    group: { type: ['integer', 'null'], minimum: 1 },
    foldedBatchNorm: boolean,
    bounds: {
      type: 'object',
      required: ['toeplitz', 'spectral', 'power', 'frobenius'],
      additionalProperties: false,
      properties: { toeplitz: boundOrNull, spectral: boundOrNull, power: boundOrNull, frobenius: boundOrNull },
    },
    best: boundOrNull,
    bestMethod: { enum: ['toeplitz', 'spectral', 'power', 'frobenius', null] },
    tightness: positiveOrNull,
    details: {
      type: 'object',
      additionalProperties: false,
      properties: { toeplitz: methodDetails, spectral: methodDetails, power: methodDetails, frobenius: methodDetails },
    },
    handling: strings,
    notes: strings,
    unsupportedReason: stringOrNull,
    budget: { oneOf: [budgetCheck, { type: 'null' }] },
  },
} as const;

export const REPORT_JSON_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  $id: 'https://github.com/lipcheck/lipcheck/report.schema.json',
  title: 'lipcheck report',
  type: 'object',
  required: ['schemaVersion', 'tool', 'model', 'settings', 'layers', 'network', 'budget', 'timing', 'warnings'],
  additionalProperties: false,
  properties: {
    schemaVersion: { const: 1 },
    tool: {
      type: 'object',
      required: ['name', 'version'],
      additionalProperties: false,
      properties: { name: { const: 'lipcheck' }, version: string },
    },
    model: {
      type: 'object',
      required: ['path', 'sha256', 'opset', 'producer', 'irVersion'],
      additionalProperties: false,
      properties: { path: string, sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' }, opset: { type: ['integer', 'null'] }, producer: string, irVersion: { type: 'integer' } },
    },
    settings: {
      type: 'object',
      required: ['methods', 'samples', 'iterations', 'tolerance', 'seed', 'inputShape', 'inputShapeSource', 'layers', 'budgetMethod'],
      additionalProperties: false,
      properties: {
        methods: { type: 'array', items: methodName, minItems: 1 },
        samples: { type: 'integer', minimum: 1 },
        iterations: { type: 'integer', minimum: 1 },
        tolerance: { type: 'number', exclusiveMinimum: 0 },
        seed: { type: 'integer', minimum: 0 },
        inputShape: intArrayOrNull,
        inputShapeSource: { enum: ['model', 'flag', 'assumed', 'unknown'] },
        layers: stringOrNull,
        budgetMethod: { enum: ['toeplitz', 'spectral', 'power', 'frobenius', null] },
      },
    },
    layers: { type: 'array', items: layer },
    network: {
      type: 'object',
      required: ['bound', 'method', 'certified', 'notes', 'naiveProduct', 'uncertifiedOps', 'layerCount', 'perOutput'],
      additionalProperties: false,
      properties: {
        bound: boundOrNull,
        method: { const: 'graph' },
        certified: boolean,
        notes: strings,
        naiveProduct: boundOrNull,
        uncertifiedOps: strings,
        layerCount: { type: 'integer', minimum: 0 },
        perOutput: {
          type: 'array',
          items: { type: 'object', required: ['name', 'bound'], additionalProperties: false, properties: { name: string, bound: boundOrNull } },
        },
      },
    },
    budget: {
      type: 'object',
      required: ['limit', 'passed', 'failures'],
      additionalProperties: false,
      properties: {
        limit: positiveOrNull,
        passed: boolean,
        failures: {
          type: 'array',
          items: {
            type: 'object',
            required: ['scope', 'name', 'value', 'limit', 'reason'],
            additionalProperties: false,
            properties: { scope: { enum: ['network', 'layer'] }, name: stringOrNull, value: numberOrNull, limit: number, reason: string },
          },
        },
      },
    },
    timing: {
      type: 'object',
      required: ['totalMs', 'loadMs', 'boundsMs'],
      additionalProperties: false,
      properties: { totalMs: nonNegative, loadMs: nonNegative, boundsMs: nonNegative },
    },
    warnings: strings,
  },
} as const;
