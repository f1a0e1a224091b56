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

const ratioOrNull = { type: ['number', 'null'], minimum: 0 } as const;
const methodValues = {
  type: 'object',
  required: ['toeplitz', 'spectral', 'power', 'frobenius'],
  additionalProperties: false,
  properties: { toeplitz: ratioOrNull, spectral: ratioOrNull, power: ratioOrNull, frobenius: ratioOrNull },
} as const;
const growthSide = {
  type: 'object',
  required: ['name', 'best', 'bestMethod', 'bounds'],
  additionalProperties: false,
  properties: { name: string, best: boundOrNull, bestMethod: { enum: ['toeplitz', 'spectral', 'power', 'frobenius', null] }, bounds: methodValues },
} as const;
const unmatchedLayer = {
  type: 'object',
  required: ['index', 'name', 'op', 'weightShape', 'best'],
  additionalProperties: false,
  properties: { index: { type: 'integer', minimum: 0 }, name: string, op: string, weightShape: intArrayOrNull, best: boundOrNull },
} as const;
const growthFailure = {
  type: 'object',
  required: ['scope', 'name', 'ratio', 'limit', 'reason'],
  additionalProperties: false,
  properties: { scope: { enum: ['network', 'layer'] }, name: stringOrNull, ratio: ratioOrNull, limit: number, reason: string },
} as const;

/** --baseline: the growth gate against a baseline file (the diff report's layers, network and gate). */
const baselineComparison = {
  type: 'object',
  required: ['file', 'toolVersion', 'sha256', 'sameModel', 'maxGrowth', 'layers', 'grewMost', 'unmatched', 'network', 'gate'],
  additionalProperties: false,
  properties: {
    file: string,
    toolVersion: string,
    sha256: { type: 'string', pattern: '^[0-9a-f]{64}$' },
    sameModel: boolean,
    maxGrowth: positiveOrNull,
    layers: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name', 'matchedBy', 'op', 'weightShape', 'a', 'b', 'ratio', 'ratios', 'gate', 'notes'],
        additionalProperties: false,
        properties: {
          name: string,
          matchedBy: { enum: ['name', 'order+shape'] },
          op: string,
          weightShape: intArrayOrNull,
          a: growthSide,
          b: growthSide,
          ratio: ratioOrNull,
          ratios: methodValues,
          gate: {
            oneOf: [
              { type: 'object', required: ['limit', 'passed', 'reason'], additionalProperties: false, properties: { limit: number, passed: boolean, reason: stringOrNull } },
              { type: 'null' },
            ],
          },
          notes: strings,
        },
      },
    },
    grewMost: { type: 'array', items: { type: 'object', required: ['name', 'ratio'], additionalProperties: false, properties: { name: string, ratio: number } } },
    unmatched: {
      type: 'object',
      required: ['baseline', 'current'],
      additionalProperties: false,
      properties: { baseline: { type: 'array', items: unmatchedLayer }, current: { type: 'array', items: unmatchedLayer } },
    },
    network: {
      type: 'object',
      required: ['a', 'b', 'ratio', 'naiveA', 'naiveB', 'naiveRatio', 'gated', 'notes'],
      additionalProperties: false,
      properties: {
        a: boundOrNull, b: boundOrNull, ratio: ratioOrNull, naiveA: boundOrNull, naiveB: boundOrNull, naiveRatio: ratioOrNull,
        gated: { enum: ['graph', 'naive', null] }, notes: strings,
      },
    },
    gate: {
      type: 'object',
      required: ['maxGrowth', 'passed', 'failures'],
      additionalProperties: false,
      properties: { maxGrowth: positiveOrNull, passed: boolean, failures: { type: 'array', items: growthFailure } },
    },
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
        // not in `required`: reports from before these keys (same schemaVersion) have none
        networkMethod: { enum: ['graph', 'merged', 'averaging'] },
        networkEffort: { type: 'number', minimum: 0 },
        inputRange: stringOrNull,
      },
    },
    layers: { type: 'array', items: layer },
    network: {
      type: 'object',
      required: ['bound', 'method', 'graphBound', 'blocks', 'certified', 'notes', 'naiveProduct', 'uncertifiedOps', 'layerCount', 'perOutput', 'local', 'gated'],
      additionalProperties: false,
      properties: {
        bound: boundOrNull,
        method: { enum: ['graph', 'merged', 'block-averaging'] },
        graphBound: boundOrNull,
        blocks: {
          type: 'array',
          items: {
            type: 'object',
            required: ['node', 'rule', 'detail', 'bound', 'graphBound'],
            additionalProperties: false,
            properties: { node: string, rule: { enum: ['merged', 'block-averaging'] }, detail: string, bound: { type: 'number', minimum: 0 }, graphBound: { type: 'number', minimum: 0 } },
          },
        },
        certified: boolean,
        notes: strings,
        naiveProduct: boundOrNull,
        uncertifiedOps: strings,
        layerCount: { type: 'integer', minimum: 0 },
        perOutput: {
          type: 'array',
          items: { type: 'object', required: ['name', 'bound'], additionalProperties: false, properties: { name: string, bound: boundOrNull } },
        },
        local: {
          oneOf: [
            { type: 'null' },
            {
              type: 'object',
              required: ['range', 'bound', 'certified', 'method', 'notes', 'uncertifiedOps'],
              additionalProperties: false,
              properties: { range: string, bound: boundOrNull, certified: boolean, method: { const: 'local' }, notes: strings, uncertifiedOps: strings },
            },
          ],
        },
        gated: { enum: ['global', 'local', null] },
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
    // Not in `required`: reports from before --baseline (same schemaVersion) have no such key.
    baseline: { oneOf: [baselineComparison, { type: 'null' }] },
    timing: {
      type: 'object',
      required: ['totalMs', 'loadMs', 'boundsMs'],
      additionalProperties: false,
      // processes: not in `required` (reports from before --jobs have none)
      properties: { totalMs: nonNegative, loadMs: nonNegative, boundsMs: nonNegative, processes: { type: 'integer', minimum: 1 } },
    },
    warnings: strings,
  },
} as const;
