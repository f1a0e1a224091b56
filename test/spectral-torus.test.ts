// The spectral bound's torus route on the layer's real operator: the torus size derived in torus.ts,
// checked against the explicit matrix's exact norm (test/helpers/exact.ts) on every layer kind and on a
// seeded random sweep of strides, dilations, pads, groups, transposes and 1-D layers.
import { describe, expect, it } from 'vitest';
import { boundLayer } from '../src/layer/engine.js';
import { kernelVariants } from '../src/layer/kernel-variants.js';
import { spectralBound, spectralTorusBound } from '../src/layer/spectral.js';
import { axisTorus, layerTorus } from '../src/layer/torus.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/layer/types.js';
import type { ConvLayer } from '../src/model/layer.js';
import { seededRandom } from '../src/util/random.js';
import { ownValue } from './helpers/chain.js';
import { exactNorm, makeConv, type ConvSpec } from './helpers/exact.js';

const TOL = 1e-4;
const OPTS = { samples: 50, tolerance: TOL };

async function torusValue(layer: ConvLayer): Promise<{ value: number; torus: number[]; sup: number }> {
  const torus = layerTorus(layer);
  if (torus === null) throw new Error('no torus');
  const v = kernelVariants(layer).variants.find((x) => x.exact);
  if (!v) throw new Error('no exact variant');
  return { value: (await spectralTorusBound(v.blocks, torus, OPTS)).value, torus, sup: (await spectralBound(v.blocks, OPTS)).value };
}

describe('torus size', () => {
  it('per axis: padded length, then the gcd / dilation / polyphase split', async () => {
    expect(axisTorus(7, 1, 1, 1, 1)).toBe(9); // ResNet-50 last stage
    expect(axisTorus(14, 1, 1, 2, 1)).toBe(8); // stride 2: ceil(16 / 2)
    expect(axisTorus(15, 1, 1, 2, 1)).toBe(9); // ceil(17 / 2)
    expect(axisTorus(10, 2, 2, 1, 2)).toBe(7); // dilation 2: ceil(14 / 2)
    expect(axisTorus(12, 0, 0, 2, 3)).toBe(6); // coprime stride 2, dilation 3: polyphase ceil(12 / 2)
    expect(axisTorus(12, 0, 1, 2, 4)).toBe(4); // gcd 2: ceil(13 / 2) = 7, then dilation 2: ceil(7 / 2)
    expect(axisTorus(12, 0, 0, 4, 2)).toBe(3); // gcd 2: 6, then stride 2: 3
    // stride 1, no dilation, kernel length known: compression on both sides, N = max(n + max(pb, pe), m)
    expect(axisTorus(7, 1, 1, 1, 1, 3)).toBe(8);
    expect(axisTorus(4, 1, 1, 1, 1, 3)).toBe(5); // CIFAR ResNet-18's last stage
    expect(axisTorus(5, 3, 3, 1, 1, 3)).toBe(9); // pads >= extent: the m = 9 outputs decide
    expect(axisTorus(7, 0, 2, 1, 1, 2)).toBe(9);
    expect(axisTorus(7, 1, 1, 2, 1, 3)).toBe(5); // strided: the padded-length rule, ceil(9 / 2)
    expect(axisTorus(0, 1, 1, 1, 1)).toBeNull();
    expect(axisTorus(5, -1, 0, 1, 1)).toBeNull();
  });

  it('layers: ConvTranspose uses its output length, 1-D gets N2 = 1, unknown shapes give null', async () => {
    // ConvTranspose 5 -> (5-1)*2 + 1 + 3 - 2 = 10 outputs; adjoint conv on 10 + 2 pads, stride 2: 6
    const t = makeConv({ cout: 3, cin: 4, kernel: [3, 3], input: [5, 5], strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1], transpose: true });
    expect(t.outputShape).toEqual([3, 10, 10]);
    expect(layerTorus(t)).toEqual([6, 6]);
    expect(layerTorus(makeConv({ cout: 3, cin: 2, kernel: [3], input: [12], strides: [2], pads: [1, 1] }))).toEqual([7, 1]);
    const noShape = makeConv({ cout: 2, cin: 2, kernel: [3, 3], input: [6, 6] });
    noShape.inputShape = null;
    expect(layerTorus(noShape)).toBeNull();
  });
});

describe('exact <= torus route <= sup route', () => {
  const kinds: Array<[string, ConvSpec]> = [
    ['plain 3x3, pad 1', { cout: 3, cin: 2, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1] }],
    ['asymmetric pads, 2x3 kernel', { cout: 2, cin: 3, kernel: [2, 3], input: [5, 7], pads: [0, 1, 1, 2] }],
    ['stride 2', { cout: 3, cin: 2, kernel: [3, 3], input: [7, 7], strides: [2, 2], pads: [1, 1, 1, 1] }],
    ['strides (3,2), no pad', { cout: 2, cin: 2, kernel: [5, 4], input: [10, 9], strides: [3, 2] }],
    ['dilation 2', { cout: 2, cin: 2, kernel: [3, 3], input: [8, 8], dilations: [2, 2], pads: [2, 2, 2, 2] }],
    ['stride 2 + dilation 3', { cout: 2, cin: 2, kernel: [3, 3], input: [10, 10], dilations: [3, 3], strides: [2, 2] }],
    ['stride 2 + dilation 4 (gcd 2)', { cout: 2, cin: 1, kernel: [2, 2], input: [11, 11], dilations: [4, 4], strides: [2, 2], pads: [0, 1, 0, 1] }],
    ['grouped g=2', { cout: 4, cin: 4, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], group: 2 }],
    ['depthwise stride 2', { cout: 3, cin: 3, kernel: [3, 3], input: [8, 8], pads: [1, 1, 1, 1], strides: [2, 2], group: 3 }],
    ['ConvTranspose stride 2', { cout: 2, cin: 3, kernel: [3, 3], input: [4, 4], strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1], transpose: true }],
    ['ConvTranspose grouped, strides (3,2)', { cout: 4, cin: 2, kernel: [2, 3], input: [4, 3], strides: [3, 2], pads: [0, 1, 1, 0], outputPadding: [2, 1], group: 2, transpose: true }],
    ['conv1d stride 2', { cout: 3, cin: 2, kernel: [3], input: [12], strides: [2], pads: [1, 1] }],
    ['conv1d dilation 3, asymmetric pad', { cout: 2, cin: 2, kernel: [4], input: [9], dilations: [3], pads: [3, 1] }],
    ['conv1d transpose', { cout: 2, cin: 3, kernel: [4], input: [7], strides: [2], pads: [1, 2], outputPadding: [1], transpose: true }],
    // pads >= the (dilated) kernel extent: border outputs read only zeros, the torus grows with the pads
    ['pads = kernel extent', { cout: 2, cin: 2, kernel: [3, 3], input: [5, 5], pads: [3, 3, 3, 3] }],
    ['pads > extent, asymmetric, stride 2', { cout: 2, cin: 3, kernel: [2, 3], input: [6, 5], strides: [2, 2], pads: [4, 0, 1, 5] }],
    ['pads > dilated extent (5), dilation 2', { cout: 2, cin: 2, kernel: [3, 3], input: [6, 6], dilations: [2, 2], pads: [6, 5, 7, 6] }],
    ['pads > extent, stride 2 + dilation 4 (gcd 2)', { cout: 2, cin: 1, kernel: [2, 2], input: [7, 7], dilations: [4, 4], strides: [2, 2], pads: [6, 5, 7, 9] }],
    ['conv1d pads > extent, stride 3', { cout: 2, cin: 2, kernel: [3], input: [7], strides: [3], pads: [5, 4] }],
    ['ConvTranspose, crop pads >= extent', { cout: 2, cin: 2, kernel: [3, 3], input: [4, 4], strides: [3, 3], pads: [3, 3, 4, 3], transpose: true }],
  ];
  for (const [name, spec] of kinds) {
    it(name, async () => {
      const layer = makeConv({ seed: 5, ...spec });
      const exact = exactNorm(layer);
      const r = await torusValue(layer);
      expect(r.value).toBeGreaterThanOrEqual(exact);
      expect(r.value).toBeLessThanOrEqual(r.sup * (1 + TOL) ** 2);
      // the compact torus (stride-1 undilated axes) is a valid bound too
      const compact = layerTorus(layer, true)!;
      const v = kernelVariants(layer).variants.find((x) => x.exact)!;
      if (v.blocks.every((b) => b.kh <= compact[0] && b.kw <= compact[1]))
        expect((await spectralTorusBound(v.blocks, compact, OPTS)).value).toBeGreaterThanOrEqual(exact);
    });
  }

  it('pads past the extent with a peak at pi: a torus too small (pads dropped, wrap-around) would fall below the exact norm', async () => {
    // [1, -1]: |f(w)| = 2 |sin(w/2)|, peak 2 at w = pi. Any zero padding >= 1 per side makes the layer the
    // full convolution on n points, norm 2 cos(pi / (2 (n + 1))); an odd n-point torus (pads ignored)
    // peaks at 2 cos(pi / (2n)), below it.
    const n = 7;
    const layer = makeConv({ cout: 1, cin: 1, kernel: [2], input: [n], pads: [3, 2], weight: Float32Array.from([1, -1]) });
    const exact = 2 * Math.cos(Math.PI / (2 * (n + 1)));
    expect(exactNorm(layer)).toBeCloseTo(exact, 10);
    expect(2 * Math.cos(Math.PI / (2 * n))).toBeLessThan(exact * (1 - 5e-3));
    const r = await torusValue(layer);
    expect(r.value).toBeGreaterThanOrEqual(exact);
    expect(r.torus).toEqual([n + 5, 1]);
    // the compact torus: the m = n + pb + pe - k + 1 = n + 4 outputs set it (odd: pi is not on its grid)
    const compact = layerTorus(layer, true)!;
    expect(compact).toEqual([n + 4, 1]);
    const v = kernelVariants(layer).variants.find((x) => x.exact)!;
    expect((await spectralTorusBound(v.blocks, compact, OPTS)).value).toBeGreaterThanOrEqual(exact);
    // 2-D: the separable [1, -1] x [1, -1] with pads past the extent on every side
    const w2 = Float32Array.from([1, -1, -1, 1]);
    const layer2 = makeConv({ cout: 1, cin: 1, kernel: [2, 2], input: [5, 7], pads: [2, 3, 4, 2], weight: w2 });
    const exact2 = 4 * Math.cos(Math.PI / 12) * Math.cos(Math.PI / 16);
    expect(exactNorm(layer2)).toBeCloseTo(exact2, 10);
    expect((await torusValue(layer2)).value).toBeGreaterThanOrEqual(exact2);
  });

  it('a seeded sweep of 60 random layers, pads up to past the kernel extent: torus >= exact', async () => {
    const rnd = seededRandom(2024);
    const pick = (lo: number, hi: number) => lo + Math.floor(rnd() * (hi - lo + 1));
    let checked = 0;
    let padsPastExtent = 0;
    let tightest = Infinity;
    while (checked < 60) {
      const nd = rnd() < 0.3 ? 1 : 2;
      const group = rnd() < 0.3 ? 2 : 1;
      const cout = group * pick(1, 2);
      const cin = group * pick(1, 2);
      const kernel = Array.from({ length: nd }, () => pick(1, 4));
      const strides = Array.from({ length: nd }, () => pick(1, 3));
      const dilations = Array.from({ length: nd }, () => pick(1, 3));
      const pads = Array.from({ length: 2 * nd }, () => (rnd() < 0.3 ? pick(3, 9) : pick(0, 2)));
      const input = Array.from({ length: nd }, () => pick(nd === 1 ? 4 : 3, nd === 1 ? 14 : 7));
      const transpose = rnd() < 0.3;
      const outputPadding = strides.map((s) => (transpose ? pick(0, s - 1) : 0));
      const spec: ConvSpec = { cout, cin, kernel, input, strides, dilations, pads, group, transpose, outputPadding, seed: checked + 1 };
      const layer = makeConv(spec);
      if (!layer.outputShape!.slice(1).every((m) => m >= 1)) continue;
      const exact = exactNorm(layer);
      const r = await torusValue(layer);
      expect(r.value, JSON.stringify(spec)).toBeGreaterThanOrEqual(exact);
      tightest = Math.min(tightest, r.value / exact);
      if (kernel.some((k, a) => Math.max(pads[a], pads[a + nd]) >= dilations[a] * (k - 1) + 1)) padsPastExtent++;
      checked++;
    }
    // the route is not trivially loose: some layers sit close to their torus norm
    expect(tightest).toBeLessThan(1.05);
    // and pads at or past the kernel extent are really covered
    expect(padsPastExtent).toBeGreaterThanOrEqual(20);
  });
});

describe('engine route selection', () => {
  it('small inputs take the torus route (tighter than the sup), unknown shapes the sup route', async () => {
    const layer = makeConv({ cout: 4, cin: 3, kernel: [3, 3], input: [7, 7], pads: [1, 1, 1, 1], seed: 9 });
    const opts = { ...DEFAULT_ENGINE_OPTIONS, methods: ['spectral' as const] };
    const b = await boundLayer(layer, opts);
    const s = b.methods.spectral!;
    // so small a layer is certified on its real operator (dense-groups.test.ts); the torus route it beat is named
    expect(s.details.route).toBe('dense per group');
    expect(s.details.otherRoute).toMatch(/^torus 9x9: /);
    expect(s.details.factor).toBe(1);
    expect(ownValue(s)!).toBeGreaterThanOrEqual(exactNorm(layer));
    const blind = { ...layer, inputShape: null };
    const sb = (await boundLayer(blind, opts)).methods.spectral!;
    expect(sb.details.route).toBe('sup');
    expect(ownValue(s)!).toBeLessThanOrEqual(ownValue(sb)! * (1 + TOL) ** 2);
  });

  it('tiny maps also run the compact torus and keep the smaller of the two', async () => {
    // two groups of 80 channels on 4x4: too wide for the banded dense route (order 1280 per group) and
    // not one group (the dense route for full convs), so a torus reports.
    // Validity of each torus against exact norms: the cases above; here the engine's choice.
    const layer = makeConv({ cout: 160, cin: 160, kernel: [3, 3], input: [4, 4], pads: [1, 1, 1, 1], group: 2, seed: 4 });
    const s = (await boundLayer(layer, { ...DEFAULT_ENGINE_OPTIONS, methods: ['spectral'] })).methods.spectral!;
    expect(String(s.details.tori)).toMatch(/^torus 5x5: [\d.]+; torus 6x6: ([\d.]+|above, stopped)$/);
    const v = kernelVariants(layer).variants.find((x) => x.exact)!;
    const [t6, t5] = [(await spectralTorusBound(v.blocks, [6, 6], OPTS)).value, (await spectralTorusBound(v.blocks, [5, 5], OPTS)).value];
    expect(ownValue(s)!).toBe(Math.min(t6, t5));
    expect(s.details.route).toBe(t5 < t6 ? 'torus 5x5' : 'torus 6x6');
    // abortAbove: a run that cannot beat the limit stops with Infinity; one that can is unchanged
    expect((await spectralTorusBound(v.blocks, [6, 6], { ...OPTS, abortAbove: t6 * 0.99 })).value).toBe(Infinity);
    expect((await spectralTorusBound(v.blocks, [6, 6], { ...OPTS, abortAbove: t6 * 1.01 })).value).toBe(t6);
    // larger maps keep the padded-length torus alone
    const big = makeConv({ cout: 160, cin: 160, kernel: [3, 3], input: [6, 6], pads: [1, 1, 1, 1], group: 2, seed: 4 });
    const sb = (await boundLayer(big, { ...DEFAULT_ENGINE_OPTIONS, methods: ['spectral'] })).methods.spectral!;
    expect(sb.details.route).toBe('torus 8x8');
    expect(sb.details.tori).toBeUndefined();
  });

  it('pads past the kernel extent: the engine takes the torus of the padded length, >= the exact norm', async () => {
    // 5 + 4 + 6 = 15 padded rows, stride 2: ceil(15 / 2) = 8; columns 6 + 0 + 5 = 11
    const layer = makeConv({ cout: 3, cin: 2, kernel: [3, 2], input: [5, 6], strides: [2, 1], pads: [4, 0, 6, 5], seed: 4 });
    const b = await boundLayer(layer, { ...DEFAULT_ENGINE_OPTIONS, methods: ['spectral'] });
    const s = b.methods.spectral!;
    expect(s.details.otherRoute).toMatch(/^torus 8x11: /);
    expect(ownValue(s)!).toBeGreaterThanOrEqual(exactNorm(layer));
  });

  it('large inputs (torus grid > 2x the sup grid) keep the sup route', async () => {
    const layer = makeConv({ cout: 2, cin: 2, kernel: [3, 3], input: [80, 80], pads: [1, 1, 1, 1], seed: 9 });
    const b = await boundLayer(layer, { ...DEFAULT_ENGINE_OPTIONS, methods: ['spectral'] });
    expect(b.methods.spectral!.details.route).toBe('sup');
  });
});

describe('the certified value sits within tol/100 of its own lower estimate', () => {
  // A 1x1 conv's torus norm is its weight matrix's norm exactly, so the value must land in
  // [exact, exact (1 + tol/100)]: with the target spaced at tol (as before), it sat ~tol above.
  it('1x1 conv, 40 x 24 weight: exact <= value <= exact (1 + 1.01e-6)', async () => {
    const layer = makeConv({ cout: 40, cin: 24, kernel: [1, 1], input: [5, 5] });
    const exact = exactNorm(layer);
    const v = kernelVariants(layer).variants.find((x) => x.exact)!;
    const r = await spectralTorusBound(v.blocks, layerTorus(layer)!, OPTS);
    expect(r.value).toBeGreaterThanOrEqual(exact);
    expect(r.value).toBeLessThanOrEqual(exact * (1 + 1.01e-6));
  });

  it('3x3 convs, sup and torus routes: lower <= grid maximum <= lower (1 + 1.01e-6)', async () => {
    for (const seed of [3, 4, 5]) {
      const layer = makeConv({ cout: 12, cin: 10, kernel: [3, 3], input: [9, 9], pads: [1, 1, 1, 1], seed });
      const v = kernelVariants(layer).variants.find((x) => x.exact)!;
      for (const r of [await spectralBound(v.blocks, OPTS), await spectralTorusBound(v.blocks, layerTorus(layer)!, OPTS)]) {
        expect(r.gridMax).toBeGreaterThanOrEqual(r.lower);
        expect(r.gridMax).toBeLessThanOrEqual(r.lower * (1 + 1.01e-6));
      }
    }
  });
});
