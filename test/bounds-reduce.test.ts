// Reduction of every conv layer kind to stride-1 blocks (reduce.ts), checked structurally and
// against the exact reference: exact <= toeplitz <= frobenius for EVERY variant.
import { describe, expect, it } from 'vitest';
import { kernelVariants } from '../src/layer/kernel-variants.js';
import { toeplitzBound } from '../src/layer/toeplitz.js';
import { frobeniusBound } from '../src/layer/frobenius.js';
import { exactNorm, makeConv, type ConvSpec } from './helpers/exact.js';

describe('structure of the reduction', () => {
  it('plain conv: one stride-1 variant, one block equal to the weight', () => {
    const layer = makeConv({ cout: 3, cin: 2, kernel: [3, 2], input: [6, 6] });
    const { variants } = kernelVariants(layer);
    expect(variants.map((v) => [v.label, v.exact])).toEqual([['stride-1', true]]);
    const [b] = variants[0].blocks;
    expect(b).toMatchObject({ cout: 3, cin: 2, kh: 3, kw: 2 });
    expect(Array.from(b.data)).toEqual(Array.from(layer.weight));
  });

  it('depthwise: one cout/g x 1 block per group, never a dense cout x cin matrix', () => {
    const layer = makeConv({ cout: 6, cin: 3, kernel: [3, 3], input: [6, 6], group: 3 });
    const { variants, handling } = kernelVariants(layer);
    expect(variants[0].blocks).toHaveLength(3);
    for (const [g, b] of variants[0].blocks.entries()) {
      expect(b).toMatchObject({ cout: 2, cin: 1, kh: 3, kw: 3 });
      expect(Array.from(b.data)).toEqual(Array.from(layer.weight.subarray(g * 18, (g + 1) * 18)));
    }
    expect(handling.join(';')).toMatch(/depthwise: 3 blocks of 2x1/);
  });

  it('ConvTranspose: weight [cin, cout/g, k] read as the adjoint Conv weight [cin, cout/g, k]', () => {
    const layer = makeConv({ cout: 2, cin: 4, kernel: [3, 3], input: [5, 5], transpose: true, group: 2 });
    const { variants, handling } = kernelVariants(layer);
    expect(variants[0].blocks).toHaveLength(2);
    expect(variants[0].blocks[0]).toMatchObject({ cout: 2, cin: 1, kh: 3, kw: 3 });
    expect(handling.join(';')).toMatch(/adjoint/);
  });

  it('Conv1d: kw = 1', () => {
    const { variants } = kernelVariants(makeConv({ cout: 2, cin: 3, kernel: [5], input: [12] }));
    expect(variants[0].blocks[0]).toMatchObject({ cout: 2, cin: 3, kh: 5, kw: 1 });
  });

  it('dilation is dropped (interleaved copies of the undilated conv)', () => {
    const layer = makeConv({ cout: 2, cin: 2, kernel: [3, 3], input: [9, 9], dilations: [2, 3] });
    const { variants, handling } = kernelVariants(layer);
    expect(variants).toHaveLength(1);
    expect(variants[0].blocks[0]).toMatchObject({ kh: 3, kw: 3 });
    expect(handling.join(';')).toMatch(/dilation \(2,3\)/);
  });

  it('polyphase index map, stride (2,2), 3x3: K\'[i, (2j+a)2+b, t, u] = K[i, j, 2t+a, 2u+b]', () => {
    const layer = makeConv({ cout: 2, cin: 3, kernel: [3, 3], input: [8, 8], strides: [2, 2] });
    const { variants } = kernelVariants(layer);
    expect(variants.map((v) => [v.label, v.exact ?? false])).toEqual([
      ['stride-1', false],
      ['polyphase s=(2,2)', true],
    ]);
    const p = variants[1].blocks[0];
    expect(p).toMatchObject({ cout: 2, cin: 12, kh: 2, kw: 2 });
    const w = layer.weight;
    for (let i = 0; i < 2; i++)
      for (let j = 0; j < 3; j++)
        for (let a = 0; a < 2; a++)
          for (let b = 0; b < 2; b++)
            for (let t = 0; t < 2; t++)
              for (let u = 0; u < 2; u++) {
                const h = 2 * t + a;
                const v = 2 * u + b;
                const want = h < 3 && v < 3 ? w[((i * 3 + j) * 3 + h) * 3 + v] : 0;
                expect(p.data[((i * 12 + (2 * j + a) * 2 + b) * 2 + t) * 2 + u]).toBe(want);
              }
  });

  it('per-axis stride (1,2) and uneven kernel 2x5: polyphase kernel (cout, 2cin, 2, 3)', () => {
    const { variants } = kernelVariants(makeConv({ cout: 2, cin: 3, kernel: [2, 5], input: [8, 8], strides: [1, 2] }));
    expect(variants[1].blocks[0]).toMatchObject({ cout: 2, cin: 6, kh: 2, kw: 3 });
  });

  it('stride with dilation: gcd(s,d) is divided out; coprime pairs use the general phase map', () => {
    // s = d = 2: only even inputs are read -> undilated stride-1 conv on them, no polyphase variant
    const even = kernelVariants(makeConv({ cout: 1, cin: 1, kernel: [3], input: [12], strides: [2], dilations: [2] }));
    expect(even.variants.map((v) => v.label)).toEqual(['stride-1']);
    // s = 3, d = 2, k = 4: taps at 0,2,4,6 -> (phase, offset) = (0,0), (2,0), (1,1), (0,2)
    const odd = kernelVariants(makeConv({ cout: 1, cin: 1, kernel: [4], input: [20], strides: [3], dilations: [2], weight: Float32Array.from([1, 2, 3, 4]) }));
    const p = odd.variants[1];
    expect(p.label).toBe('polyphase s=3 d=2');
    expect(p.blocks[0]).toMatchObject({ cout: 1, cin: 3, kh: 3, kw: 1 });
    // rows = phases 0, 1, 2; columns = offsets 0, 1, 2
    expect(Array.from(p.blocks[0].data)).toEqual([1, 0, 4, 0, 3, 0, 2, 0, 0]);
  });

  it('1x1 strided kernel: the polyphase form would equal the kernel, so no second variant', () => {
    const { variants } = kernelVariants(makeConv({ cout: 2, cin: 5, kernel: [1, 1], input: [8, 8], strides: [2, 2] }));
    expect(variants).toHaveLength(1);
  });
});

describe('every variant is a valid bound: exact <= toeplitz <= frobenius', () => {
  const specs: Array<[string, ConvSpec]> = [
    ['plain 3x3 padded', { cout: 3, cin: 2, kernel: [3, 3], input: [8, 8], pads: [1, 1, 1, 1] }],
    ['stride 2', { cout: 3, cin: 2, kernel: [3, 3], input: [10, 10], strides: [2, 2], pads: [1, 1, 1, 1] }],
    ['stride 2, even 4x4', { cout: 2, cin: 3, kernel: [4, 4], input: [10, 10], strides: [2, 2], pads: [1, 1, 1, 1] }],
    ['stride (2,3), 3x2', { cout: 2, cin: 2, kernel: [3, 2], input: [9, 10], strides: [2, 3] }],
    ['dilation 2', { cout: 2, cin: 2, kernel: [3, 3], input: [12, 12], dilations: [2, 2], pads: [2, 2, 2, 2] }],
    ['stride (3,2) dilation (2,3)', { cout: 2, cin: 2, kernel: [3, 3], input: [12, 12], dilations: [2, 3], strides: [3, 2] }],
    ['stride 2 dilation 2', { cout: 2, cin: 2, kernel: [3, 3], input: [12, 12], dilations: [2, 2], strides: [2, 2] }],
    ['groups 2', { cout: 4, cin: 4, kernel: [3, 3], input: [8, 8], group: 2, pads: [1, 1, 1, 1] }],
    ['depthwise', { cout: 4, cin: 4, kernel: [3, 3], input: [8, 8], group: 4, pads: [1, 1, 1, 1] }],
    ['depthwise x2, stride 2', { cout: 8, cin: 4, kernel: [3, 3], input: [8, 8], group: 4, strides: [2, 2] }],
    ['transpose stride 2', { cout: 2, cin: 3, kernel: [3, 3], input: [6, 6], transpose: true, strides: [2, 2], pads: [1, 1, 1, 1], outputPadding: [1, 1] }],
    ['transpose 4x4 stride 2', { cout: 4, cin: 2, kernel: [4, 4], input: [5, 5], transpose: true, strides: [2, 2], pads: [1, 1, 1, 1] }],
    ['transpose groups 2 stride 2', { cout: 4, cin: 4, kernel: [3, 3], input: [5, 5], transpose: true, group: 2, strides: [2, 2] }],
    ['conv1d stride 2', { cout: 3, cin: 2, kernel: [5], input: [20], strides: [2], pads: [2, 2] }],
    ['conv1d stride 3 dilation 2', { cout: 3, cin: 2, kernel: [4], input: [20], strides: [3], dilations: [2] }],
    ['1x1 stride 2', { cout: 2, cin: 5, kernel: [1, 1], input: [8, 8], strides: [2, 2] }],
    ['2x4 stride (1,2)', { cout: 3, cin: 3, kernel: [2, 4], input: [10, 10], strides: [1, 2] }],
  ];
  for (const [name, spec] of specs) {
    it(name, () => {
      const layer = makeConv(spec);
      const exact = exactNorm(layer);
      const { variants } = kernelVariants(layer);
      const values = variants.map((v) => ({
        label: v.label,
        toeplitz: toeplitzBound(v.blocks, { samples: 50 }).value,
        frobenius: frobeniusBound(v.blocks),
      }));
      for (const v of values) {
        expect(v.toeplitz, v.label).toBeGreaterThanOrEqual(exact);
        expect(v.frobenius * (1 + 1e-12), v.label).toBeGreaterThanOrEqual(v.toeplitz); // equal for 1x1 kernels
      }
      // the polyphase form, where there is one, is the tighter one
      if (values.length > 1) expect(values[1].toeplitz).toBeLessThan(values[0].toeplitz);
    });
  }
});

describe('the polyphase form is exact, not just valid', () => {
  // One output row: the paper's bound is then sup_w ||F(w)||, the norm of the lattice operator,
  // which long finite inputs approach from below.
  const specs: Array<[string, ConvSpec]> = [
    ['conv1d k=5 s=2', { cout: 1, cin: 1, kernel: [5], input: [400], strides: [2], pads: [2, 2] }],
    ['conv1d k=6 s=3', { cout: 1, cin: 1, kernel: [6], input: [400], strides: [3] }],
    ['conv1d k=4 s=3 d=2', { cout: 1, cin: 2, kernel: [4], input: [400], strides: [3], dilations: [2] }],
    ['convT k=3 s=2', { cout: 2, cin: 1, kernel: [3], input: [150], strides: [2], transpose: true }],
    ['conv2d 3x3 s=2', { cout: 1, cin: 1, kernel: [3, 3], input: [24, 24], strides: [2, 2] }],
  ];
  for (const [name, spec] of specs) {
    it(name, () => {
      const layer = makeConv(spec);
      const exact = exactNorm(layer);
      const { variants } = kernelVariants(layer);
      const poly = toeplitzBound(variants[1].blocks, { samples: 200 }).value;
      const plain = toeplitzBound(variants[0].blocks, { samples: 200 }).value;
      expect(poly).toBeGreaterThanOrEqual(exact);
      expect(poly / exact).toBeLessThan(1.01);
      expect(plain / exact).toBeGreaterThan(1.05); // stride-1 alone is visibly loose on these
    });
  }
});

describe('resource limits', () => {
  it('skips a polyphase kernel that a huge dilation would blow up, keeping the valid stride-1 bound', () => {
    // stride 3, dilation 200: the polyphase kernel would hold 64 x (64*9) x 134 x 134 = 6.6e8 values
    const layer = makeConv({ cout: 64, cin: 64, kernel: [3, 3], input: [401, 401], strides: [3, 3], dilations: [200, 200] });
    const { variants, handling } = kernelVariants(layer);
    expect(variants.map((v) => v.label)).toEqual(['stride-1']);
    expect(variants[0].exact).toBeFalsy();
    expect(handling.join('\n')).toMatch(/polyphase form skipped: its kernel would hold 661929984 values/);
    // The stride-1 kernel still bounds the strided, dilated operator: check on a small case of the same kind.
    const small = makeConv({ cout: 1, cin: 1, kernel: [3, 3], input: [9, 9], strides: [2, 2], dilations: [3, 3] });
    expect(toeplitzBound(kernelVariants(small).variants[0].blocks, { samples: 50 }).value).toBeGreaterThanOrEqual(exactNorm(small));
  });
});
