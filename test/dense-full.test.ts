// The dense route for one-group convs (layer/dense-full.ts): its Gram matrix against the explicit
// operator's, its certified value against the dense SVD of the explicit matrix, and when the engine
// takes it.
import { describe, expect, it } from 'vitest';
import { assembleFullGram, denseFullNorm, fullGramPlan, fullGramWork } from '../src/layer/dense-full.js';
import { boundLayer } from '../src/layer/engine.js';
import { kernelVariants } from '../src/layer/kernel-variants.js';
import { spectralTorusBound } from '../src/layer/spectral.js';
import { layerTorus } from '../src/layer/torus.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/layer/types.js';
import type { ConvLayer } from '../src/model/layer.js';
import { exactNorm, explicitMatrix, makeConv, type ConvSpec } from './helpers/exact.js';

const TOL = 1e-6;

async function route(layer: ConvLayer): Promise<number> {
  const p = fullGramPlan(layer, 1 << 16);
  if (p === null) throw new Error('no plan');
  return (await denseFullNorm(layer, p, { tolerance: TOL, seed: 1 })).value;
}

/** assembleFullGram (both ways of forming G) = the explicit operator's Gram matrix, exactly symmetric, and ||A||_F^2. */
async function expectExplicitGram(layer: ConvLayer): Promise<void> {
  const p = fullGramPlan(layer, 1 << 16)!;
  const { a, rows, cols } = explicitMatrix(layer);
  expect(p.n).toBe(Math.min(rows, cols));
  expect(p.smallIsInput).toBe(cols <= rows);
  // explicit indices are channel-major (c * positions + s); G's are position-major (s * cs + c)
  const positions = p.n / p.cs;
  const at = (i: number) => (i % p.cs) * positions + Math.floor(i / p.cs);
  const ref = new Float64Array(p.n * p.n);
  let trace = 0;
  for (let i = 0; i < p.n; i++)
    for (let j = 0; j < p.n; j++) {
      const [x, y] = [at(i), at(j)];
      let s = 0;
      if (p.smallIsInput) for (let r = 0; r < rows; r++) s += a[r * cols + x] * a[r * cols + y];
      else for (let c = 0; c < cols; c++) s += a[x * cols + c] * a[y * cols + c];
      ref[i * p.n + j] = s;
      if (i === j) trace += s;
    }
  // the plan's counts from the explicit matrix's nonzero blocks (weights are nonzero): `terms` (the most
  // long positions one small position meets, in G's rounding margin) and `pairs` (sum over long positions
  // of the small positions they meet, squared: the work)
  const [longPos, longCh] = p.smallIsInput ? [rows / p.cl, p.cl] : [cols / p.cl, p.cl];
  const meets = (l: number, s: number) => {
    for (let c = 0; c < longCh; c++)
      for (let d = 0; d < p.cs; d++) {
        const [li, si] = [c * longPos + l, d * positions + s];
        if ((p.smallIsInput ? a[li * cols + si] : a[si * cols + li]) !== 0) return true;
      }
    return false;
  };
  let terms = 0;
  let pairs = 0;
  for (let s = 0; s < positions; s++) {
    let k = 0;
    for (let l = 0; l < longPos; l++) if (meets(l, s)) k++;
    terms = Math.max(terms, k);
  }
  for (let l = 0; l < longPos; l++) {
    let k = 0;
    for (let s = 0; s < positions; s++) if (meets(l, s)) k++;
    pairs += k * k;
  }
  expect(p.terms).toBe(Math.max(1, terms));
  expect(p.pairs).toBe(pairs);
  // both ways of forming G: block by block from a table of pairs, and scattering (tableLimit 0)
  for (const tableLimit of [undefined, 0]) {
    const { g, frob2 } = await assembleFullGram(p, layer.weight, 1, undefined, tableLimit);
    let worst = 0;
    let asymmetric = 0;
    for (let i = 0; i < p.n; i++)
      for (let j = 0; j < p.n; j++) {
        if (g[i * p.n + j] !== g[j * p.n + i]) asymmetric++;
        worst = Math.max(worst, Math.abs(g[i * p.n + j] - ref[i * p.n + j]));
      }
    expect(asymmetric).toBe(0); // exactly symmetric: the Cholesky test reads either triangle
    expect(worst).toBeLessThan(1e-12 * trace);
    expect(frob2).toBeCloseTo(trace, 10);
  }
}

const kinds: Array<[string, ConvSpec]> = [
  ['3x3 same on 4x4 (input side smaller)', { cout: 5, cin: 3, kernel: [3, 3], input: [4, 4], pads: [1, 1, 1, 1] }],
  ['3x3 stride 2 (output side smaller)', { cout: 3, cin: 3, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], strides: [2, 2] }],
  ['asymmetric pads, even 2x4 kernel', { cout: 2, cin: 3, kernel: [2, 4], input: [5, 7], pads: [0, 1, 1, 2] }],
  ['strides (3,2), no pad', { cout: 2, cin: 2, kernel: [5, 4], input: [10, 9], strides: [3, 2] }],
  ['dilation 2', { cout: 2, cin: 3, kernel: [3, 3], input: [8, 8], dilations: [2, 2], pads: [2, 2, 2, 2] }],
  ['pads past the kernel extent', { cout: 2, cin: 2, kernel: [2, 3], input: [6, 5], strides: [2, 2], pads: [4, 0, 1, 5] }],
  ['kernel larger than the map', { cout: 3, cin: 2, kernel: [5, 5], input: [3, 3], pads: [2, 2, 2, 2] }],
  ['ConvTranspose stride 2', { cout: 2, cin: 3, kernel: [3, 3], input: [4, 4], strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1], transpose: true }],
  ['ConvTranspose strides (3,2)', { cout: 4, cin: 2, kernel: [2, 3], input: [4, 3], strides: [3, 2], pads: [0, 1, 1, 0], outputPadding: [2, 1], transpose: true }],
  ['conv1d dilation 3, asymmetric pad', { cout: 2, cin: 3, kernel: [4], input: [9], dilations: [3], pads: [3, 1] }],
  ['conv1d transpose', { cout: 2, cin: 3, kernel: [4], input: [7], strides: [2], pads: [1, 2], outputPadding: [1], transpose: true }],
];

describe('dense route for one-group convs', () => {
  for (const [name, spec] of kinds) {
    it(`${name}: G is the explicit operator's Gram matrix; exact <= value <= exact (1 + tol)^2`, async () => {
      const layer = makeConv({ seed: 3, ...spec });
      await expectExplicitGram(layer);
      const exact = exactNorm(layer);
      const v = await route(layer);
      expect(v).toBeGreaterThanOrEqual(exact);
      expect(v).toBeLessThanOrEqual(exact * (1 + TOL) ** 2 * (1 + 1e-9));
    });
  }

  it('wide blocks: the tap products on native DGEMM (block row by block row) give the same G', async () => {
    // 128 channels, 3x3 taps: P is 1152 x 1152 over 128 products, past the native threshold
    const layer = makeConv({ cout: 128, cin: 128, kernel: [3, 3], input: [2, 2], pads: [1, 1, 1, 1], seed: 8 });
    await expectExplicitGram(layer);
  });

  it('zero weights give 0; a single tap gives that tap matrix norm exactly (closed form)', async () => {
    const zero = makeConv({ cout: 2, cin: 2, kernel: [3, 3], input: [4, 4], pads: [1, 1, 1, 1], weight: new Float32Array(36) });
    expect(await route(zero)).toBe(0);
    // only the centre tap, value 1 on channel 0 -> 0 and 3 on 1 -> 1: a "same" conv that is diag(1, 3) per position
    const w = new Float32Array(36);
    w[(0 * 2 + 0) * 9 + 4] = 1;
    w[(1 * 2 + 1) * 9 + 4] = 3;
    const v = await route(makeConv({ cout: 2, cin: 2, kernel: [3, 3], input: [4, 4], pads: [1, 1, 1, 1], weight: w }));
    expect(v).toBeGreaterThanOrEqual(3);
    expect(v).toBeLessThanOrEqual(3 * (1 + TOL) ** 2 * (1 + 1e-9));
  });

  it('non-finite weights are refused wherever they are (a NaN first must not be overwritten by later entries)', async () => {
    const layer = makeConv({ cout: 2, cin: 2, kernel: [3, 3], input: [4, 4], pads: [1, 1, 1, 1], seed: 1 });
    for (const at of [0, 17, 35]) {
      const w = Float32Array.from(layer.weight);
      w[at] = NaN;
      await expect(denseFullNorm({ ...layer, weight: w }, fullGramPlan(layer, 1 << 16)!, { tolerance: TOL, seed: 1 })).rejects.toThrow(/non-finite/);
    }
  });

  it('few channels, a huge kernel on a tiny map: block pairs counted in the work, G formed without a table of them', async () => {
    // 21x21 taps on 40x40: 1.9e8 block pairs of 1x1 blocks (a table of them once exhausted the heap)
    const layer = makeConv({ cout: 4, cin: 1, kernel: [21, 21], input: [40, 40], pads: [10, 10, 10, 10], seed: 2 });
    const p = fullGramPlan(layer, 1 << 16)!;
    expect(p.pairs).toBeGreaterThan(1.5e8);
    expect(fullGramWork(p)).toBeGreaterThan(p.pairs);
    const b = await boundLayer(layer, { ...DEFAULT_ENGINE_OPTIONS, methods: ['spectral', 'power'], tolerance: 1e-6, iterations: 2000 });
    expect(b.methods.spectral!.details.route).toBe('dense per group');
    expect(b.methods.spectral!.value!).toBeGreaterThanOrEqual(b.methods.power!.value!);
    expect(b.methods.spectral!.value!).toBeLessThanOrEqual(b.methods.power!.value! * (1 + 1e-5));
  });

  it('no plan for an assumed input size, several groups, or an order over the limit', () => {
    const layer = makeConv({ cout: 4, cin: 4, kernel: [3, 3], input: [4, 4], pads: [1, 1, 1, 1], seed: 2 });
    expect(fullGramPlan(layer, 64)?.n).toBe(64);
    expect(fullGramPlan(layer, 63)).toBeNull();
    expect(fullGramPlan({ ...layer, inputSizeAssumed: true }, 1 << 16)).toBeNull();
    expect(fullGramPlan(makeConv({ cout: 4, cin: 4, kernel: [3, 3], input: [4, 4], group: 2 }), 1 << 16)).toBeNull();
  });
});

describe('route selection in the engine', () => {
  const opts = { ...DEFAULT_ENGINE_OPTIONS, methods: ['spectral' as const, 'power' as const], iterations: 4000, tolerance: 1e-6 };

  it('a 72-channel 3x3 conv on a 4x4 map (order 1152, past the banded route): "dense per group", within 1e-5 of power', async () => {
    const layer = makeConv({ cout: 72, cin: 72, kernel: [3, 3], input: [4, 4], pads: [1, 1, 1, 1], seed: 6 });
    const b = await boundLayer(layer, opts);
    const s = b.methods.spectral!;
    expect(s.details.route).toBe('dense per group');
    expect(s.details.order).toBe(1152);
    const power = b.methods.power!.value!;
    expect(s.value!).toBeGreaterThanOrEqual(power);
    // exact up to its own tolerance: within it of power (a lower bound)
    expect(s.value!).toBeLessThanOrEqual(power * (1 + 1e-5));
    // and below the routes it replaces, both tori (a 6x6 and a compact 5x5) by several percent here
    const blocks = kernelVariants(layer).variants.find((v) => v.exact)!.blocks;
    for (const torus of [layerTorus(layer)!, layerTorus(layer, true)!]) {
      const t = await spectralTorusBound(blocks, torus, { samples: opts.samples, tolerance: 1e-6 });
      expect(s.value!).toBeLessThan(t.value / 1.03);
    }
  });

  it('the same conv on an 8x8 map (not tiny, too costly to be run anyway) keeps the torus route', async () => {
    const layer = makeConv({ cout: 72, cin: 72, kernel: [3, 3], input: [8, 8], pads: [1, 1, 1, 1], seed: 6 });
    const b = await boundLayer(layer, opts);
    expect(b.methods.spectral!.details.route).toMatch(/^torus/);
  });
});
