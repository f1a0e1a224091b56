// The spectral bound's "dense per group" route (layer/dense-groups.ts): the certified norm of the layer's
// real operator, checked against the dense SVD of the explicit matrix (test/helpers/exact.ts) on every
// layer kind, with and without the torus pre-filter, against power iteration and the torus route in the
// engine, and the banded Cholesky test against the dense one.
import { describe, expect, it } from 'vitest';
import { convGroupPattern, denseGroupsNorm, type TorusFilter } from '../src/layer/dense-groups.js';
import { boundLayer } from '../src/layer/engine.js';
import { kernelVariants } from '../src/layer/kernel-variants.js';
import { layerTorus } from '../src/layer/torus.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/layer/types.js';
import { bandIndex, bandedGershgorin, choleskyTestBanded } from '../src/linalg/cholesky-banded.js';
import { choleskyTestReal } from '../src/linalg/cholesky-real.js';
import type { ConvLayer } from '../src/model/layer.js';
import { normalArray, seededRandom } from '../src/util/random.js';
import { exactNorm, makeConv, symmetricEigenvalues, type ConvSpec } from './helpers/exact.js';

const TOL = 1e-6;

function torusFilter(layer: ConvLayer): TorusFilter | undefined {
  const torus = layerTorus(layer);
  const v = kernelVariants(layer).variants.find((x) => x.exact);
  return torus && v ? { blocks: v.blocks, torus } : undefined;
}

async function route(layer: ConvLayer, filtered: boolean): Promise<number> {
  const p = convGroupPattern(layer, 1 << 16);
  if (p === null) throw new Error('no pattern');
  const r = await denseGroupsNorm(p, layer.weight, TOL, Infinity, filtered ? torusFilter(layer) : undefined);
  if (r === null) throw new Error('over the work limit');
  return r.value;
}

describe('dense per group: exact <= value <= exact (1 + tol)^2 on every layer kind', () => {
  const kinds: Array<[string, ConvSpec]> = [
    ['depthwise 5x5 on 7x7', { cout: 6, cin: 6, kernel: [5, 5], input: [7, 7], pads: [2, 2, 2, 2], group: 6 }],
    ['depthwise 7x7 on 7x7 (kernel = map)', { cout: 4, cin: 4, kernel: [7, 7], input: [7, 7], pads: [3, 3, 3, 3], group: 4 }],
    ['depthwise stride 2', { cout: 3, cin: 3, kernel: [3, 3], input: [8, 8], pads: [1, 1, 1, 1], strides: [2, 2], group: 3 }],
    ['depthwise channel multiplier 2', { cout: 6, cin: 3, kernel: [3, 3], input: [5, 5], pads: [1, 1, 1, 1], group: 3 }],
    ['grouped g=2', { cout: 4, cin: 4, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], group: 2 }],
    ['plain (one group)', { cout: 3, cin: 2, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1] }],
    ['asymmetric pads, even 2x4 kernel', { cout: 2, cin: 2, kernel: [2, 4], input: [5, 7], pads: [0, 1, 1, 2], group: 2 }],
    ['strides (3,2), no pad', { cout: 2, cin: 2, kernel: [5, 4], input: [10, 9], strides: [3, 2] }],
    ['dilation 2', { cout: 2, cin: 2, kernel: [3, 3], input: [8, 8], dilations: [2, 2], pads: [2, 2, 2, 2], group: 2 }],
    ['stride 2 + dilation 3', { cout: 2, cin: 2, kernel: [3, 3], input: [10, 10], dilations: [3, 3], strides: [2, 2] }],
    ['pads past the kernel extent', { cout: 2, cin: 2, kernel: [2, 3], input: [6, 5], strides: [2, 2], pads: [4, 0, 1, 5], group: 2 }],
    ['ConvTranspose stride 2', { cout: 2, cin: 3, kernel: [3, 3], input: [4, 4], strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1], transpose: true }],
    ['ConvTranspose grouped, strides (3,2)', { cout: 4, cin: 2, kernel: [2, 3], input: [4, 3], strides: [3, 2], pads: [0, 1, 1, 0], outputPadding: [2, 1], group: 2, transpose: true }],
    ['ConvTranspose depthwise', { cout: 3, cin: 3, kernel: [3, 3], input: [4, 4], strides: [2, 2], pads: [1, 1, 1, 1], group: 3, transpose: true }],
    ['conv1d depthwise, dilation 3, asymmetric pad', { cout: 2, cin: 2, kernel: [4], input: [9], dilations: [3], pads: [3, 1], group: 2 }],
    ['conv1d transpose', { cout: 2, cin: 3, kernel: [4], input: [7], strides: [2], pads: [1, 2], outputPadding: [1], transpose: true }],
  ];
  for (const [name, spec] of kinds) {
    it(name, async () => {
      const layer = makeConv({ seed: 5, ...spec });
      const exact = exactNorm(layer);
      for (const filtered of [false, true]) {
        const v = await route(layer, filtered);
        expect(v).toBeGreaterThanOrEqual(exact);
        expect(v).toBeLessThanOrEqual(exact * (1 + TOL) ** 2 * (1 + 1e-9));
      }
    });
  }

  it('identical channels (every group ties: one target, no group skipped wrongly) and zero weights', async () => {
    const w = normalArray(9, 3);
    const layer = makeConv({ cout: 5, cin: 5, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], group: 5, weight: Float32Array.from({ length: 45 }, (_, i) => w[i % 9]) });
    expect(await route(layer, true)).toBeGreaterThanOrEqual(exactNorm(layer));
    const zero = makeConv({ cout: 2, cin: 2, kernel: [3, 3], input: [4, 4], group: 2, weight: new Float32Array(18) });
    expect(await route(zero, false)).toBe(0);
  });

  it('many depthwise 7x7 channels on a 7x7 map: the torus pre-filter never skips a channel above the target', async () => {
    // torus / exact ratios spread widely here (1.1 - 1.6), so ordering channels by their torus value is not
    // their exact order: a pre-filter that undercut the torus value would skip the true maximum
    const C = 48;
    const layer = makeConv({ cout: C, cin: C, kernel: [7, 7], input: [7, 7], pads: [3, 3, 3, 3], group: C, seed: 21 });
    const per = (c: number) =>
      exactNorm(makeConv({ cout: 1, cin: 1, kernel: [7, 7], input: [7, 7], pads: [3, 3, 3, 3], weight: layer.weight.slice(c * 49, (c + 1) * 49) }));
    const exact = Math.max(...Array.from({ length: C }, (_, c) => per(c)));
    const p = convGroupPattern(layer, 1 << 16)!;
    const r = (await denseGroupsNorm(p, layer.weight, TOL, Infinity, torusFilter(layer)))!;
    expect(r.filter).toBe('torus');
    expect(r.skipped).toBeGreaterThan(0);
    expect(r.value).toBeGreaterThanOrEqual(exact);
    expect(r.value).toBeLessThanOrEqual(exact * (1 + TOL) ** 2 * (1 + 1e-9));
  });

  it('the channel with the largest torus value is not the largest one: the other is still certified', async () => {
    // channel 0: a random 7x7 kernel scaled to norm 0.97 on the 7x7 map (its torus value is ~1.3);
    // channel 1: a single tap 1 (norm = torus value = 1). Sorted by torus value, channel 0 sets the
    // target to ~0.97^2 first; channel 1's bound (1) must not be undercut, or the max (1) is missed.
    const one = (w: Float32Array) => makeConv({ cout: 1, cin: 1, kernel: [7, 7], input: [7, 7], pads: [3, 3, 3, 3], weight: w });
    const rand = Float32Array.from(normalArray(49, 8));
    const scaled = Float32Array.from(rand, (v) => (v * 0.97) / exactNorm(one(rand)));
    const weight = new Float32Array(98);
    weight.set(scaled);
    weight[49 + 24] = 1;
    const layer = makeConv({ cout: 2, cin: 2, kernel: [7, 7], input: [7, 7], pads: [3, 3, 3, 3], group: 2, weight });
    expect(exactNorm(layer)).toBeCloseTo(1, 12);
    const p = convGroupPattern(layer, 1 << 16)!;
    const r = (await denseGroupsNorm(p, layer.weight, TOL, Infinity, torusFilter(layer)))!;
    expect(r.filter).toBe('torus');
    expect(r.value).toBeGreaterThanOrEqual(1);
    expect(r.value).toBeLessThanOrEqual((1 + TOL) ** 2 * (1 + 1e-9));
  });

  it('a seeded sweep of 40 random small layers: value >= exact', async () => {
    const rnd = seededRandom(19);
    const pick = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
    let checked = 0;
    while (checked < 40) {
      const nd = rnd() < 0.3 ? 1 : 2;
      const group = pick(1, 3);
      const spec: ConvSpec = {
        cout: group * pick(1, 2),
        cin: group * pick(1, 2),
        kernel: Array.from({ length: nd }, () => pick(1, 4)),
        input: Array.from({ length: nd }, () => pick(3, nd === 1 ? 12 : 7)),
        strides: Array.from({ length: nd }, () => pick(1, 3)),
        dilations: Array.from({ length: nd }, () => pick(1, 2)),
        pads: Array.from({ length: 2 * nd }, () => pick(0, 3)),
        group,
        transpose: rnd() < 0.25,
        seed: checked + 1,
      };
      let layer: ConvLayer;
      try {
        layer = makeConv(spec);
      } catch {
        continue;
      }
      if (layer.outputShape!.slice(1).some((m) => m < 1)) continue;
      const exact = exactNorm(layer);
      const v = await route(layer, rnd() < 0.5);
      expect(v, JSON.stringify(spec)).toBeGreaterThanOrEqual(exact);
      expect(v, JSON.stringify(spec)).toBeLessThanOrEqual(exact * (1 + TOL) ** 2 * (1 + 1e-9) + 1e-300);
      checked++;
    }
  });
});

describe('route selection in the engine', () => {
  const opts = { ...DEFAULT_ENGINE_OPTIONS, methods: ['spectral' as const, 'power' as const], iterations: 4000, tolerance: 1e-6 };

  it('depthwise 5x5 on a 7x7 map: "dense per group", >= exact and power, below the torus route', async () => {
    const layer = makeConv({ cout: 16, cin: 16, kernel: [5, 5], input: [7, 7], pads: [2, 2, 2, 2], group: 16, seed: 9 });
    const b = await boundLayer(layer, opts);
    const s = b.methods.spectral!;
    expect(s.details.route).toBe('dense per group');
    const exact = exactNorm(layer);
    expect(s.value!).toBeGreaterThanOrEqual(exact);
    expect(s.value!).toBeGreaterThanOrEqual(b.methods.power!.value!);
    const torus = String(s.details.otherRoute);
    expect(torus).toMatch(/^torus 11x11: /);
    // the circular conv's norm is well above the real operator's on so small a map
    expect(s.value!).toBeLessThan(Number(torus.split(': ')[1]) / 1.05);
  });

  it('an assumed input size never takes it (the route is exact for one size only)', async () => {
    const layer = makeConv({ cout: 4, cin: 4, kernel: [5, 5], input: [7, 7], pads: [2, 2, 2, 2], group: 4, seed: 9 });
    layer.inputSizeAssumed = true;
    const b = await boundLayer(layer, opts);
    expect(b.methods.spectral!.details.route).toBe('sup');
    expect(b.methods.spectral!.details.otherRoute).toBeUndefined();
    expect(convGroupPattern(layer, 1 << 16)).toBeNull();
  });

  it('too large an order or too much work: no pattern / no value, and the torus value stands', async () => {
    const layer = makeConv({ cout: 2, cin: 2, kernel: [3, 3], input: [12, 12], pads: [1, 1, 1, 1], group: 2, seed: 4 });
    expect(convGroupPattern(layer, 143)).toBeNull();
    const p = convGroupPattern(layer, 144)!;
    expect(p.n).toBe(144);
    expect(await denseGroupsNorm(p, layer.weight, TOL, 1000)).toBeNull();
    const wide = makeConv({ cout: 64, cin: 64, kernel: [3, 3], input: [8, 8], pads: [1, 1, 1, 1], seed: 4 });
    const b = await boundLayer(wide, opts);
    expect(b.methods.spectral!.details.route).toMatch(/^torus/);
  });
});

describe('banded Cholesky test', () => {
  it('decides as the dense test on banded SPD matrices around lambda_max; Gershgorin >= lambda_max', () => {
    const rnd = seededRandom(7);
    for (let trial = 0; trial < 20; trial++) {
      const n = 5 + Math.floor(rnd() * 20);
      const b = Math.floor(rnd() * n);
      // G = B B^T with B lower-banded of half-bandwidth ceil(b/2): G has half-bandwidth <= b
      const hb = Math.ceil(b / 2);
      const B = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = Math.max(0, i - hb); j <= i; j++) B[i * n + j] = rnd() - 0.5;
      const dense = new Float64Array(n * n);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += B[i * n + k] * B[j * n + k];
        dense[i * n + j] = s;
      }
      const band = new Float64Array(n * (b + 1));
      for (let i = 0; i < n; i++) for (let j = Math.max(0, i - b); j <= i; j++) band[bandIndex(i, j, b)] = dense[i * n + j];
      const lmax = Math.max(...symmetricEigenvalues(dense, n));
      expect(bandedGershgorin(band, n, b)).toBeGreaterThanOrEqual(lmax);
      for (const t of [lmax * 0.99, lmax * 1.01]) {
        const xb = new Float64Array(n);
        const xd = new Float64Array(n);
        const rb = choleskyTestBanded(band, n, b, t, new Float64Array(n * (b + 1)), xb);
        const rd = choleskyTestReal(dense, n, t, new Float64Array(n * n), xd);
        expect(rb).toBe(rd);
        expect(rb === -1).toBe(t > lmax);
        if (rb >= 0) for (let i = 0; i < n; i++) expect(xb[i]).toBeCloseTo(xd[i], 8);
      }
    }
  });
});
