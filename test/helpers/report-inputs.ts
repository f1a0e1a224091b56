// Hand-made loader layers and engine results for reporter tests (no loader, no engine).
import type { NetworkBound } from '../../src/network/walk.js';
import type { LayerBounds, MethodName, MethodResult } from '../../src/layer/types.js';
import type { ConvLayer, DenseLayer, Layer, ModelInfo, UnsupportedLayer } from '../../src/model/layer.js';
import { resolveBudgets, type BudgetFlags, type BudgetConfig } from '../../src/report/budget.js';
import { buildReport, type ReportInput } from '../../src/report/build.js';
import type { LipcheckReport } from '../../src/report/types.js';

export const MODEL_INFO: ModelInfo = {
  path: 'model.onnx',
  sha256: 'a'.repeat(64),
  opset: 17,
  producer: 'test',
  irVersion: 8,
  inputShape: [1, 3, 8, 8],
  inputShapeSource: 'model',
};

export function convLayer(name: string, extra: Partial<ConvLayer> = {}): ConvLayer {
  return {
    kind: 'conv', name, op: 'Conv', nodeIndex: 0, notes: [],
    weight: new Float32Array(4 * 3 * 3 * 3), weightShape: [4, 3, 3, 3], spatialDims: 2,
    strides: [1, 1], dilations: [1, 1], pads: [1, 1, 1, 1], autoPad: 'NOTSET', group: 1, outputPadding: [0, 0],
    hasBias: true, foldedBatchNorm: false, inputShape: [3, 8, 8], outputShape: [4, 8, 8],
    ...extra,
  };
}

export function denseLayer(name: string): DenseLayer {
  return {
    kind: 'dense', name, op: 'Gemm', nodeIndex: 1, notes: [], weight: new Float32Array(10 * 256), weightShape: [10, 256],
    hasBias: true, foldedBatchNorm: false, inputShape: [256], outputShape: [10],
  };
}

export function unsupportedLayer(name: string, reason: string): UnsupportedLayer {
  return { kind: 'unsupported', name, op: 'Conv', nodeIndex: 2, notes: [], reason };
}

/** An engine result with the given values; `best` is the smallest upper bound, as the engine defines it. */
export function boundsFor(layer: Layer, values: Partial<Record<MethodName, number | null>>, errors: Partial<Record<MethodName, string>> = {}): LayerBounds {
  const methods: Partial<Record<MethodName, MethodResult>> = {};
  let best: number | null = null;
  let bestMethod: MethodName | null = null;
  for (const [m, value] of Object.entries(values) as [MethodName, number | null][]) {
    const kind = m === 'power' ? 'lower' : 'upper';
    methods[m] = { value, kind, ms: 1.5, details: m === 'power' ? { iterations: 12, converged: true } : { grid: 50 }, ...(errors[m] ? { error: errors[m] } : {}) };
    if (kind === 'upper' && value !== null && Number.isFinite(value) && (best === null || value < best)) {
      best = value;
      bestMethod = m;
    }
  }
  return { name: layer.name, op: layer.op, kind: layer.kind, methods, best, bestMethod, handling: layer.kind === 'unsupported' ? [] : ['stride 1'] };
}

export interface MakeReportOptions {
  flags?: BudgetFlags;
  config?: BudgetConfig | null;
  totalLayers?: number;
  methods?: MethodName[];
  /** The engine's network result; default: what the graph walk gives on a plain chain of these layers. */
  network?: NetworkBound | null;
}

/** The graph walk's result on a plain chain (layers joined by 1-Lipschitz ops): the product, or uncertified. */
export function chainNetwork(layers: Layer[], bounds: LayerBounds[]): NetworkBound {
  const missing = layers.filter((_, i) => (bounds[i]?.best ?? null) === null);
  const product = missing.length > 0 ? null : bounds.reduce((acc, b) => acc * (b.best as number), 1);
  return {
    bound: product,
    naiveProduct: product,
    certified: product !== null,
    method: 'graph',
    graphBound: product,
    blocks: [],
    uncertifiedOps: missing.map((l) => `${l.op} (${l.name})`),
    uncertifiedNodes: missing.map((l) => ({ op: l.op, node: l.name, reason: 'no certified layer bound' })),
    notes: [],
    perOutput: [{ name: 'y', bound: product }],
  };
}

export function makeReport(layers: Layer[], bounds: LayerBounds[], opts: MakeReportOptions = {}): LipcheckReport {
  const input: ReportInput = {
    toolVersion: '0.1.0',
    model: MODEL_INFO,
    settings: {
      methods: opts.methods ?? ['toeplitz', 'spectral', 'power', 'frobenius'],
      samples: 50, iterations: 200, tolerance: 1e-4, seed: 1, inputShape: null, layers: null,
      budgetMethod: opts.flags?.budgetMethod ?? opts.config?.budgetMethod ?? null,
      networkMethod: 'averaging', networkEffort: 0.15, inputRange: null,
    },
    layers,
    bounds,
    totalLayers: opts.totalLayers ?? layers.length,
    network: opts.network !== undefined ? opts.network : (opts.totalLayers ?? layers.length) > layers.length ? null : chainNetwork(layers, bounds),
    naiveProduct: chainNetwork(layers, bounds).naiveProduct,
    budgets: resolveBudgets(opts.flags ?? {}, opts.config ?? null),
    timing: { totalMs: 1234, loadMs: 100, boundsMs: 1000 },
    warnings: [],
  };
  return buildReport(input);
}
