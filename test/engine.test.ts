// The engine end to end on layer records: every layer kind against the exact reference
// (exact <= spectral <= toeplitz <= frobenius on each method's OWN value, power just below exact),
// closed forms, and the degenerate inputs (unsupported, non-finite, zero).
import { describe, expect, it } from 'vitest';
import { boundLayer, boundLayers } from '../src/layer/engine.js';
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions, type LayerBounds } from '../src/layer/types.js';
import type { ConvLayer, DenseLayer, Layer } from '../src/model/layer.js';
import { chainViolations, ownValue } from './helpers/chain.js';
import { exactNorm, makeConv, makeDense } from './helpers/exact.js';

// tight power settings so the power assertion measures the method, not an early stop (see power.test.ts)
const OPTS: EngineOptions = { ...DEFAULT_ENGINE_OPTIONS, iterations: 8000, tolerance: 1e-8 };

function value(b: LayerBounds, m: 'toeplitz' | 'spectral' | 'power' | 'frobenius'): number {
  const r = b.methods[m];
  expect(r, m).toBeDefined();
  expect(r!.error, `${m}: ${r!.error}`).toBeUndefined();
  expect(r!.value, m).not.toBeNull();
  expect(r!.ms).toBeGreaterThanOrEqual(0);
  return r!.value!;
}

/** Every number anywhere inside a plain object. */
function numbersIn(x: unknown): number[] {
  if (typeof x === 'number') return [x];
  if (x !== null && typeof x === 'object') return Object.values(x).flatMap(numbersIn);
  return [];
}

const CASES: Array<[string, ConvLayer | DenseLayer]> = [
  ['plain 3x3, pad 1', makeConv({ cout: 4, cin: 3, kernel: [3, 3], input: [8, 8], pads: [1, 1, 1, 1] })],
  ['stride 2', makeConv({ cout: 4, cin: 3, kernel: [3, 3], input: [9, 9], strides: [2, 2], pads: [1, 1, 1, 1] })],
  ['strides (3,2), 5x4 kernel', makeConv({ cout: 2, cin: 3, kernel: [5, 4], input: [10, 9], strides: [3, 2] })],
  ['dilation 2', makeConv({ cout: 3, cin: 2, kernel: [3, 3], input: [10, 10], dilations: [2, 2], pads: [2, 2, 2, 2] })],
  ['stride 2 + dilation 3', makeConv({ cout: 2, cin: 2, kernel: [3, 3], input: [12, 12], dilations: [3, 3], strides: [2, 2] })],
  ['grouped (g=2)', makeConv({ cout: 6, cin: 4, kernel: [3, 3], input: [8, 8], pads: [1, 1, 1, 1], group: 2 })],
  ['depthwise, stride 2', makeConv({ cout: 3, cin: 3, kernel: [3, 3], input: [8, 8], pads: [1, 1, 1, 1], strides: [2, 2], group: 3 })],
  ['ConvTranspose stride 2', makeConv({ cout: 3, cin: 4, kernel: [3, 3], input: [5, 5], strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1], transpose: true })],
  ['ConvTranspose grouped, strides (3,2)', makeConv({ cout: 4, cin: 2, kernel: [2, 3], input: [4, 3], strides: [3, 2], pads: [0, 1, 1, 0], outputPadding: [2, 1], group: 2, transpose: true })],
  ['conv1d stride 2', makeConv({ cout: 3, cin: 2, kernel: [3], input: [12], strides: [2], pads: [1, 1] })],
  ['conv1d transpose', makeConv({ cout: 2, cin: 3, kernel: [4], input: [7], strides: [2], pads: [1, 2], outputPadding: [1], transpose: true })],
  ['even non-square 2x4, stride (1,2)', makeConv({ cout: 3, cin: 2, kernel: [2, 4], input: [7, 9], strides: [1, 2], pads: [0, 1, 1, 2] })],
  ['1x1', makeConv({ cout: 5, cin: 3, kernel: [1, 1], input: [4, 4] })],
  ['dense 20x30', makeDense(20, 30)],
];

/** Each upper method's own certified value (before the engine's min over the chain). */
function own(b: LayerBounds, m: 'toeplitz' | 'spectral' | 'frobenius'): number {
  value(b, m);
  const v = ownValue(b.methods[m]);
  expect(v, m).not.toBeNull();
  return v!;
}

describe('every layer kind: exact <= spectral <= toeplitz <= frobenius (own values), power ~ exact from below', () => {
  for (const [name, layer] of CASES) {
    it(name, async () => {
      const exact = exactNorm(layer);
      const b = await boundLayer(layer, OPTS);
      expect(b.kind).toBe(layer.kind);
      expect(b.handling.length).toBeGreaterThan(0);
      const [t, s, p, f] = (['toeplitz', 'spectral', 'power', 'frobenius'] as const).map((m) => value(b, m));
      const [ot, os, of] = (['toeplitz', 'spectral', 'frobenius'] as const).map((m) => own(b, m));
      if (layer.kind === 'conv') {
        for (const m of ['toeplitz', 'spectral', 'frobenius'] as const) expect(b.methods[m]!.details.ownValue, m).toBeTypeOf('number');
      }
      // each method's own certificate is an upper bound (no help from a looser method's min)
      expect(os).toBeGreaterThanOrEqual(exact);
      expect(ot).toBeGreaterThanOrEqual(exact);
      expect(of).toBeGreaterThanOrEqual(exact);
      const spectralFactor = (b.methods.spectral!.details.factor as number | undefined) ?? 1;
      expect(chainViolations({ kind: layer.kind, values: { power: p, spectral: os, toeplitz: ot, frobenius: of }, tolerance: OPTS.tolerance, spectralFactor })).toEqual([]);
      // reported values: on a conv the min down the chain (so spectral <= toeplitz <= frobenius by
      // construction); a dense layer reports each method's own value
      if (layer.kind === 'conv') expect([t, s, f]).toEqual([Math.min(ot, of), Math.min(os, ot, of), of]);
      else expect([t, s, f]).toEqual([ot, os, of]);
      expect(p).toBeLessThanOrEqual(exact * (1 + 1e-6)); // float32 operator
      // tightness (not a soundness property): power converged to within 1e-4 of the exact norm
      expect(p).toBeGreaterThanOrEqual(exact * (1 - 1e-4));
      expect(b.methods.power!.kind).toBe('lower');
      expect(b.best).toBe(Math.min(t, s, f));
      expect(b.methods[b.bestMethod!]!.value).toBe(b.best);
    });
  }

  it('a crossing the chain allows: a non-negative depthwise kernel on the sup route, spectral tightened to toeplitz, own value kept', async () => {
    // |f(w)| peaks at w = 0 (a grid point) at sum|K| = 9: the paper bound's triangle cap gives exactly 9,
    // the spectral sup route multiplies its grid maximum by the grid factor 1.008 (80x80: no torus route)
    const weight = new Float32Array(18).fill(1);
    const layer = makeConv({ cout: 2, cin: 2, kernel: [3, 3], input: [80, 80], pads: [1, 1, 1, 1], group: 2, weight });
    const b = await boundLayer(layer, { ...OPTS, methods: ['toeplitz', 'spectral', 'frobenius'] });
    const s = b.methods.spectral!;
    expect(s.details.route).toBe('sup');
    expect(own(b, 'toeplitz')).toBeCloseTo(9, 12);
    expect(own(b, 'spectral')).toBeGreaterThan(9 * 1.007);
    expect(s.details.tightenedBy).toBe('toeplitz');
    expect(s.value).toBe(b.methods.toeplitz!.value); // (itself frobenius's 9 + 3e-15: equal up to rounding here)
    expect(s.value).toBeLessThanOrEqual(own(b, 'toeplitz'));
    // still within spectral's stated slack (grid factor x tolerance): the chain check passes
    const values = { spectral: own(b, 'spectral'), toeplitz: own(b, 'toeplitz'), frobenius: own(b, 'frobenius') };
    expect(chainViolations({ kind: 'conv', values, tolerance: OPTS.tolerance, spectralFactor: s.details.factor as number })).toEqual([]);
    expect(chainViolations({ kind: 'conv', values, tolerance: OPTS.tolerance, spectralFactor: 1 })).toHaveLength(1);
  });

  it('strided layers take the polyphase variant, which beats stride-1', async () => {
    const b = await boundLayer(CASES[1][1], { ...OPTS, methods: ['toeplitz', 'spectral', 'frobenius'] });
    for (const m of ['toeplitz', 'spectral', 'frobenius'] as const) expect(b.methods[m]!.details.variant).toBe('polyphase s=(2,2)');
    for (const m of ['toeplitz', 'frobenius'] as const) {
      expect(b.methods[m]!.details.variants).toMatch(/^stride-1: [\d.]+; polyphase s=\(2,2\): [\d.]+$/);
    }
    // spectral runs on the exact (polyphase) variant only
    expect(b.methods.spectral!.details.variants).toMatch(/^polyphase s=\(2,2\): [\d.]+$/);
    expect(b.methods.toeplitz!.details).toMatchObject({ grid: [50, 50], samples: 50, gridEnlarged: false });
  });

  it('dense: toeplitz and spectral report the one certified spectral norm, frobenius ||W||_F', async () => {
    const layer = makeDense(12, 7, 3);
    const b = await boundLayer(layer, { ...OPTS, methods: ['toeplitz', 'spectral', 'frobenius'] });
    const exact = exactNorm(layer);
    expect(value(b, 'toeplitz')).toBe(value(b, 'spectral'));
    expect(value(b, 'spectral')).toBeGreaterThanOrEqual(exact);
    expect(value(b, 'spectral') / exact).toBeLessThan(1 + 1e-5);
    let f2 = 0;
    for (const w of layer.weight) f2 += w * w;
    expect(value(b, 'frobenius')).toBeCloseTo(Math.sqrt(f2), 12);
    expect(b.bestMethod).toBe('spectral');
  });
});

describe('closed forms through the engine', () => {
  it('multichannel identity 3x3 (same padding): spectral 1, toeplitz sqrt(c), frobenius 3 sqrt(c), power 1', async () => {
    const c = 4;
    const weight = new Float32Array(c * c * 9);
    for (let i = 0; i < c; i++) weight[(i * c + i) * 9 + 4] = 1;
    const layer = makeConv({ cout: c, cin: c, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], weight });
    const b = await boundLayer(layer, OPTS);
    expect(exactNorm(layer)).toBeCloseTo(1, 10);
    expect(own(b, 'spectral')).toBeGreaterThanOrEqual(1);
    expect(own(b, 'spectral')).toBeLessThan(1.01); // the grid factor at m = 50 is 1.008
    expect(own(b, 'toeplitz')).toBeCloseTo(2, 12);
    expect(own(b, 'frobenius')).toBeCloseTo(6, 12);
    expect(value(b, 'power')).toBeCloseTo(1, 6);
    expect(b.bestMethod).toBe('spectral');
  });

  it('1x1 conv with matrix A: spectral = ||A||_2 (no grid), toeplitz = frobenius = ||A||_F', async () => {
    // A = [[3, 0], [4, 5]]: ||A||_F = sqrt(50), singular values sqrt(45), sqrt(5)
    const layer = makeConv({ cout: 2, cin: 2, kernel: [1, 1], input: [3, 3], weight: Float32Array.from([3, 0, 4, 5]) });
    const b = await boundLayer(layer, { ...OPTS, methods: ['toeplitz', 'spectral', 'frobenius'] });
    expect(own(b, 'spectral')).toBeGreaterThanOrEqual(Math.sqrt(45));
    expect(own(b, 'spectral')).toBeLessThan(Math.sqrt(45) * (1 + 2e-6));
    expect(own(b, 'toeplitz')).toBeCloseTo(Math.sqrt(50), 12);
    expect(own(b, 'frobenius')).toBeCloseTo(Math.sqrt(50), 12);
  });

  it('zero kernel: every method 0', async () => {
    const layer = makeConv({ cout: 2, cin: 3, kernel: [3, 3], input: [5, 5], weight: new Float32Array(54) });
    const b = await boundLayer(layer, OPTS);
    for (const m of ['toeplitz', 'spectral', 'power', 'frobenius'] as const) expect(value(b, m)).toBe(0);
    expect(b.best).toBe(0);
  });
});

describe('degenerate inputs', () => {
  it('non-finite weights: every method errors with value null, no NaN anywhere', async () => {
    const conv = makeConv({ cout: 2, cin: 2, kernel: [3, 3], input: [5, 5] });
    conv.weight[7] = NaN;
    const dense = makeDense(3, 4);
    dense.weight[2] = Infinity;
    for (const layer of [conv, dense]) {
      const b = await boundLayer(layer, OPTS);
      for (const m of ['toeplitz', 'spectral', 'power', 'frobenius'] as const) {
        expect(b.methods[m]!.value).toBeNull();
        expect(b.methods[m]!.error).toMatch(/non-finite/);
      }
      expect(b.best).toBeNull();
      expect(b.bestMethod).toBeNull();
      expect(numbersIn(b).every(Number.isFinite)).toBe(true);
    }
  });

  it('unsupported layer: kind unsupported, no methods, reason in handling', async () => {
    const layer: Layer = { kind: 'unsupported', name: 'c3d', op: 'Conv', nodeIndex: 4, notes: [], reason: '3-D convolution' };
    const b = await boundLayer(layer, OPTS);
    expect(b).toMatchObject({ kind: 'unsupported', methods: {}, best: null, bestMethod: null });
    expect(b.handling).toEqual(['not bounded: 3-D convolution']);
  });

  it('only the requested methods run; boundLayers keeps order and reports progress', async () => {
    const layers = [CASES[0][1], CASES[9][1], CASES[13][1]];
    const seen: Array<[number, number, string]> = [];
    const out = await boundLayers(layers, { ...OPTS, methods: ['frobenius'] }, (d, t, n) => seen.push([d, t, n]));
    expect(out.map((b) => b.name)).toEqual(layers.map((l) => l.name));
    for (const b of out) expect(Object.keys(b.methods)).toEqual(['frobenius']);
    expect(seen).toEqual(layers.map((l, i) => [i + 1, 3, l.name]));
  });
});
