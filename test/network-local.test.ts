// The local Lipschitz bound over an input box (src/network/local.ts, interval.ts): interval boxes
// checked against onnxruntime's intermediate values, and the certified local bound against an
// empirical lower bound measured inside the box, on gated models that have no global bound.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { boundLayers } from '../src/layer/engine.js';
import { DEFAULT_ENGINE_OPTIONS } from '../src/layer/types.js';
import { localNetworkBound, parseInputRange, inputBox, type InputRange } from '../src/network/local.js';
import { broadcastIndex, minSquaredDeviation, minVariances, propagateBoxes, propagateBoxesNative } from '../src/network/interval.js';
import { networkBound } from '../src/network/walk.js';
import { nativeTime } from '../src/native/clock.js';
import { attr, buildModel, floatTensor, node, valueInfo, type ModelSpec } from '../src/onnx/build.js';
import { loadModel } from '../src/onnx/load.js';
import { normalArray, seededRandom } from '../src/util/random.js';
import { allTensorValues, empiricalLipschitzInBox } from './helpers/empirical.js';
import { add, cmp, exact, mul } from './helpers/rational.js';
import type { ConvLayer } from '../src/model/layer.js';
import { tempDir } from './helpers/tmp.js';

const dir = tempDir('lipcheck-local');

function he(n: number, fanIn: number, seed: number, gain = 1): Float32Array {
  return Float32Array.from(normalArray(n, seed), (v) => gain * v * Math.sqrt(2 / fanIn));
}
const scalar = (name: string, v: number) => floatTensor(name, [], [v]);

/** Builder for small test graphs: conv layers with He weights and biases, named tensors. */
class Net {
  nodes: ReturnType<typeof node>[] = [];
  inits: ReturnType<typeof floatTensor>[] = [];
  private k = 0;
  constructor(readonly seed: number) {}
  conv(x: string, cin: number, cout: number, k: number, o: { stride?: number; group?: number } = {}): string {
    const n = `c${this.k++}`;
    const g = o.group ?? 1;
    this.inits.push(floatTensor(`${n}.w`, [cout, cin / g, k, k], he((cout * cin * k * k) / g, (cin / g) * k * k, this.seed + this.k)));
    this.inits.push(floatTensor(`${n}.b`, [cout], Float32Array.from(normalArray(cout, this.seed + 100 + this.k), (v) => 0.1 * v)));
    this.nodes.push(node('Conv', [x, `${n}.w`, `${n}.b`], [n], { pads: attr.ints(Array(4).fill(k >> 1)), strides: attr.ints([o.stride ?? 1, o.stride ?? 1]), group: attr.i(g) }, n));
    return n;
  }
  /** A 1x1 conv with identity weights (norm 1): the loader needs a layer. */
  eye(x: string, c: number): string {
    const n = `e${this.k++}`;
    this.inits.push(floatTensor(`${n}.w`, [c, c, 1, 1], Float32Array.from({ length: c * c }, (_, i) => (i % (c + 1) === 0 ? 1 : 0))));
    this.nodes.push(node('Conv', [x, `${n}.w`], [n], {}, n));
    return n;
  }
  op(op: string, inputs: string[], attrs: Record<string, ReturnType<typeof attr.i>> = {}): string {
    const n = `t${this.k++}`;
    this.nodes.push(node(op, inputs, [n], attrs, n));
    return n;
  }
  const(v: number): string {
    const n = `k${this.k++}`;
    this.inits.push(scalar(n, v));
    return n;
  }
  tensor(dims: number[], data: ArrayLike<number>): string {
    const n = `k${this.k++}`;
    this.inits.push(floatTensor(n, dims, data));
    return n;
  }
  /** Squeeze-and-excitation: x * hardsigmoid(W2 relu(W1 GAP(x))), or EfficientNet's x * sigmoid(W2 silu(W1 GAP(x))). */
  se(x: string, c: number, efficientNet = false): string {
    const g = this.op('GlobalAveragePool', [x]);
    const z = this.conv(g, c, Math.max(1, c >> 1), 1);
    const h = efficientNet ? this.silu(z) : this.op('Relu', [z]);
    const u = this.conv(h, Math.max(1, c >> 1), c, 1);
    const s = efficientNet ? this.op('Sigmoid', [u]) : this.op('HardSigmoid', [u], { alpha: attr.f(1 / 6), beta: attr.f(0.5) });
    return this.op('Mul', [x, s]);
  }
  /** SiLU as exported before opset 14: x * sigmoid(x). */
  silu(x: string): string {
    return this.op('Mul', [x, this.op('Sigmoid', [x])]);
  }
  /** HardSwish written out as x * clip(x + 3, 0, 6) / 6 (PaddleOCR exports). */
  hardSwishWritten(x: string): string {
    const c = this.op('Clip', [this.op('Add', [x, this.const(3)]), this.const(0), this.const(6)]);
    return this.op('Div', [this.op('Mul', [x, c]), this.const(6)]);
  }
  /** GELU written out before opset 20: x * (1 + erf(x / sqrt 2)) * 0.5. */
  geluWritten(x: string): string {
    const e = this.op('Erf', [this.op('Div', [x, this.const(Math.SQRT2)])]);
    return this.op('Mul', [this.op('Mul', [x, this.op('Add', [e, this.const(1)])]), this.const(0.5)]);
  }
  /** LayerNorm over the channel axis written out (ReduceMean/Sub/Pow/ReduceMean/Add/Sqrt/Div), with gamma and beta. */
  layerNormWritten(x: string, c: number): string {
    const m = this.op('ReduceMean', [x], { axes: attr.ints([1]) });
    const u = this.op('Sub', [x, m]);
    const v = this.op('ReduceMean', [this.op('Pow', [u, this.const(2)])], { axes: attr.ints([1]) });
    const z = this.op('Div', [u, this.op('Sqrt', [this.op('Add', [v, this.const(1e-5)])])]);
    const gamma = this.tensor([1, c, 1, 1], Float32Array.from(normalArray(c, this.seed + 7), (t) => 1 + 0.3 * t));
    const beta = this.tensor([1, c, 1, 1], Float32Array.from(normalArray(c, this.seed + 8), (t) => 0.1 * t));
    return this.op('Add', [this.op('Mul', [z, gamma]), beta]);
  }
  /** LayerNormalization op over channels (NHWC transpose around it). */
  layerNormOp(x: string, c: number): string {
    const t = this.op('Transpose', [x], { perm: attr.ints([0, 2, 3, 1]) });
    const gamma = this.tensor([c], Float32Array.from(normalArray(c, this.seed + 9), (v) => 1 + 0.3 * v));
    const beta = this.tensor([c], Float32Array.from(normalArray(c, this.seed + 10), (v) => 0.1 * v));
    const n = this.op('LayerNormalization', [t, gamma, beta], { axis: attr.i(-1), epsilon: attr.f(1e-5) });
    return this.op('Transpose', [n], { perm: attr.ints([0, 3, 1, 2]) });
  }
  spec(inShape: number[], out: string): ModelSpec {
    return { nodes: this.nodes, initializers: this.inits, inputs: [valueInfo('x', ['N', ...inShape.slice(1)])], outputs: [valueInfo(out, null)] };
  }
}

interface Case {
  name: string;
  shape: number[];
  range: string;
  build(n: Net): string;
  /** Single-op cases whose local bound is (near) exact: it must also be within this factor of the measurement (LayerNorm: max|gamma| need not align with the worst direction). */
  tight?: number;
}

const CASES: Case[] = [
  // single ops where the local constant is the exact sup of the Jacobian norm over the box
  { name: 'x * x', shape: [1, 2, 2, 2], range: '1:2', build: (n) => n.eye(n.op('Mul', ['x', 'x']), 2), tight: 1.05 },
  { name: '1 / x', shape: [1, 2, 2, 2], range: '1:2', build: (n) => n.eye(n.op('Div', [n.const(1), 'x']), 2), tight: 1.05 },
  { name: 'sigmoid on [2, 3]', shape: [1, 2, 2, 2], range: '2:3', build: (n) => n.eye(n.op('Sigmoid', ['x']), 2), tight: 1.05 },
  { name: 'SE gate x * sigmoid(mean x)', shape: [1, 2, 2, 2], range: '0.5:1', build: (n) => n.eye(n.op('Mul', ['x', n.op('Sigmoid', [n.op('GlobalAveragePool', ['x'])])]), 2), tight: 1.3 },
  { name: 'LayerNorm written out, separated channels', shape: [1, 3, 1, 2], range: '0:0.2,1:1.2,2:2.2', build: (n) => n.eye(n.layerNormWritten('x', 3), 3), tight: 1.4 },
  { name: 'LayerNormalization op, separated channels', shape: [1, 3, 1, 2], range: '0:0.2,1:1.2,2:2.2', build: (n) => n.eye(n.layerNormOp('x', 3), 3), tight: 1.4 },
  { name: 'SE block', shape: [1, 4, 6, 6], range: '0:1', build: (n) => n.conv(n.se(n.op('Relu', [n.conv('x', 4, 4, 3)]), 4), 4, 3, 1) },
  { name: 'HardSwish written out', shape: [1, 3, 5, 5], range: '-1:1', build: (n) => n.conv(n.hardSwishWritten(n.conv('x', 3, 4, 3)), 4, 3, 3) },
  { name: 'GELU written out (erf)', shape: [1, 3, 5, 5], range: '-1:1', build: (n) => n.conv(n.geluWritten(n.conv('x', 3, 4, 3)), 4, 3, 3) },
  { name: 'LayerNorm written out', shape: [1, 3, 4, 4], range: '-2.12:2.25,-2.04:2.43,-1.8:2.64', build: (n) => n.conv(n.layerNormWritten(n.conv('x', 3, 6, 3), 6), 6, 4, 1) },
  { name: 'LayerNormalization op', shape: [1, 3, 4, 4], range: '0:1', build: (n) => n.conv(n.layerNormOp(n.conv('x', 3, 6, 3), 6), 6, 4, 1) },
  {
    name: 'EfficientNet-style',
    shape: [1, 3, 12, 12],
    range: '0:1',
    build: (n) => {
      const stem = n.silu(n.conv('x', 3, 8, 3, { stride: 2 }));
      const dw = n.silu(n.conv(n.silu(n.conv(stem, 8, 16, 1)), 16, 16, 3, { group: 16 }));
      const block = n.op('Add', [stem, n.conv(n.se(dw, 16, true), 16, 8, 1)]);
      const head = n.op('Flatten', [n.op('GlobalAveragePool', [n.silu(n.conv(block, 8, 16, 1))])]);
      return n.op('MatMul', [head, n.tensor([16, 5], he(80, 16, 78))]);
    },
  },
  {
    name: 'MobileNetV3-style',
    shape: [1, 3, 12, 12],
    range: '0:1',
    build: (n) => {
      const stem = n.op('HardSwish', [n.conv('x', 3, 8, 3, { stride: 2 })]);
      const dw = n.hardSwishWritten(n.conv(stem, 8, 8, 3, { group: 8 }));
      const block = n.op('Add', [stem, n.conv(n.se(dw, 8), 8, 8, 1)]);
      const head = n.op('Flatten', [n.op('GlobalAveragePool', [n.op('HardSwish', [n.conv(block, 8, 16, 1)])])]);
      const w = n.tensor([16, 5], he(80, 16, 77));
      return n.op('MatMul', [head, w]);
    },
  },
];

async function prepare(c: Case, seed: number) {
  const net = new Net(seed);
  const out = c.build(net);
  const spec = net.spec(c.shape, out);
  const bytes = buildModel(spec);
  const file = path.join(dir, `${c.name.replace(/\W+/g, '-')}.onnx`);
  writeFileSync(file, bytes);
  const model = await loadModel(file, { inputShape: c.shape });
  const bounds = await boundLayers(model.layers, { ...DEFAULT_ENGINE_OPTIONS, methods: ['toeplitz', 'spectral', 'frobenius'] });
  return { bytes, model, best: bounds.map((b) => b.best), range: parseInputRange(c.range) };
}

function boxOf(range: InputRange, shape: number[]) {
  const b = inputBox(range, shape);
  if (typeof b === 'string') throw new Error(b);
  return b;
}

describe('parseInputRange', () => {
  it('reads one interval or one per channel, and refuses malformed text with one line', () => {
    expect(parseInputRange('0:1')).toEqual({ lo: [0], hi: [1], axis: 'element' });
    expect(parseInputRange('-2.12:2.25, -2.04:2.43,-1.80:2.64')).toEqual({ lo: [-2.12, -2.04, -1.8], hi: [2.25, 2.43, 2.64], axis: 'channel' });
    for (const bad of ['', '1', '0:1:2', 'a:b', '2:1', '0:1,', ':1', '0:Infinity'])
      expect(() => parseInputRange(bad), bad).toThrow(/^input range .*[^\n]$/);
  });
});

describe('broadcastIndex', () => {
  // reference: the numpy rule, index by index
  const naive = (inShape: number[], outShape: number[]) => {
    const off = outShape.length - inShape.length;
    const n = outShape.reduce((a, b) => a * b, 1);
    return Array.from({ length: n }, (_, k) => {
      let j = 0;
      let rest = k;
      const idx = outShape.map(() => 0);
      for (let a = outShape.length - 1; a >= 0; a--) [idx[a], rest] = [rest % outShape[a], Math.floor(rest / outShape[a])];
      for (let a = 0; a < inShape.length; a++) j = j * inShape[a] + (inShape[a] === 1 ? 0 : idx[a + off]);
      return j;
    });
  };
  it('matches the numpy rule on random shapes, twice (the second from the cache), and refuses mismatches', () => {
    const rnd = seededRandom(8);
    for (let trial = 0; trial < 200; trial++) {
      const rank = 1 + Math.floor(rnd() * 4);
      const outShape = Array.from({ length: rank }, () => 1 + Math.floor(rnd() * 4));
      const inShape = outShape.slice(Math.floor(rnd() * rank)).map((d) => (rnd() < 0.5 ? 1 : d));
      const want = naive(inShape, outShape);
      expect(Array.from(broadcastIndex(inShape, outShape)!)).toEqual(want);
      expect(Array.from(broadcastIndex(inShape, outShape)!)).toEqual(want);
    }
    expect(broadcastIndex([3], [2, 4])).toBeNull();
    expect(broadcastIndex([2, 3], [3])).toBeNull();
    expect(Array.from(broadcastIndex([], [2])!)).toEqual([0, 0]);
  });
});

describe('minimum variance over a box', () => {
  it('is a lower bound on the variance of every sampled point and tight at the minimiser', () => {
    const rnd = seededRandom(3);
    for (let trial = 0; trial < 50; trial++) {
      const n = 2 + Math.floor(rnd() * 8);
      const lo = Array.from({ length: n }, () => 4 * rnd() - 2);
      const hi = lo.map((l) => l + 2 * rnd() * rnd());
      const m = minSquaredDeviation(lo, hi);
      let sampledMin = Infinity;
      for (let s = 0; s < 400; s++) {
        const x = lo.map((l, i) => l + rnd() * (hi[i] - l));
        const mean = x.reduce((a, b) => a + b, 0) / n;
        sampledMin = Math.min(sampledMin, x.reduce((a, b) => a + (b - mean) ** 2, 0));
      }
      expect(m).toBeLessThanOrEqual(sampledMin);
      // brute force over t: min_t sum dist(t, I_i)^2 on a fine grid is within the grid's error of m
      let grid = Infinity;
      for (let t = -3; t <= 3; t += 1e-4) grid = Math.min(grid, lo.reduce((a, l, i) => a + (t < l ? (l - t) ** 2 : t > hi[i] ? (t - hi[i]) ** 2 : 0), 0));
      expect(m).toBeGreaterThanOrEqual(grid - 1e-6);
    }
  });
});

describe('minVariances', () => {
  it('per group of the reduced axes: the variance bound of that group\'s intervals, gathered by hand', () => {
    const rnd = seededRandom(12);
    const shape = [2, 3, 4, 5];
    const n = shape.reduce((a, b) => a * b, 1);
    const lo = Float64Array.from({ length: n }, () => 4 * rnd() - 2);
    const hi = lo.map((l) => l + rnd());
    for (const axes of [[1], [2, 3], [1, 3], [3]]) {
      const { groups, size, varMin } = minVariances({ shape, lo, hi }, axes);
      const keyOf = (i: number) => {
        const idx = shape.map((_, a) => Math.floor(i / shape.slice(a + 1).reduce((p, q) => p * q, 1)) % shape[a]);
        return idx.filter((_, a) => !axes.includes(a)).join(',');
      };
      const members = new Map<string, number[]>();
      for (let i = 0; i < n; i++) members.set(keyOf(i), [...(members.get(keyOf(i)) ?? []), i]);
      expect(groups).toBe(members.size);
      expect(size).toBe(n / groups);
      const want = [...members.values()].map((m) => minSquaredDeviation(m.map((i) => lo[i]), m.map((i) => hi[i])) / size);
      // groups in the order of the kept axes (row-major), each within one division's rounding
      want.forEach((w, g) => expect(Math.abs(varMin[g] - w)).toBeLessThanOrEqual(Math.abs(w) * 2 ** -50));
    }
  });
});

describe('interval propagation vs onnxruntime', () => {
  for (const c of CASES)
    it(`${c.name}: every sampled intermediate value lies in its box`, async () => {
      const { bytes, model, range } = await prepare(c, 11);
      const inBox = boxOf(range, c.shape);
      const { boxes, failed } = propagateBoxes(model.graph!, model.layers, new Map([[model.graph!.inputs[0], inBox]]));
      expect(failed).toEqual([]);
      const rnd = seededRandom(5);
      const xs = Array.from({ length: 24 }, (_, s) => inBox.lo.map((l, i) => (s === 0 ? l : s === 1 ? inBox.hi[i] : l + rnd() * (inBox.hi[i] - l))));
      const values = await allTensorValues(bytes, c.shape, xs);
      let checked = 0;
      for (const [t, samples] of values) {
        const b = boxes.get(t);
        if (!b) continue;
        for (const v of samples)
          for (let i = 0; i < v.length; i++) {
            // onnxruntime evaluates in float32: allow its rounding (relative 1e-5 of the element's scale)
            const tol = 1e-5 * (1 + Math.abs(b.lo[i]) + Math.abs(b.hi[i]));
            if (!(v[i] >= b.lo[i] - tol && v[i] <= b.hi[i] + tol)) throw new Error(`${t}[${i}] = ${v[i]} outside [${b.lo[i]}, ${b.hi[i]}]`);
            checked++;
          }
      }
      expect(checked).toBeGreaterThan(100);
    });
});

describe('self-gated products x * f(x): the box keeps that both factors are the same x', () => {
  // x * clip(x + 3, 0, 6) has minimum -2.25 at -1.5; x * sigmoid(x) has minimum -0.2784645 at -1.2784645
  const gates: { name: string; f: (x: number) => number; min: number; build: (n: Net) => string }[] = [
    { name: 'x * clip(x + 3, 0, 6)', f: (x) => x * Math.min(6, Math.max(0, x + 3)), min: -2.25, build: (n) => n.op('Mul', ['x', n.op('Clip', [n.op('Add', ['x', n.const(3)]), n.const(0), n.const(6)])]) },
    { name: 'x * sigmoid(x)', f: (x) => x / (1 + Math.exp(-x)), min: -0.27846454276107, build: (n) => n.op('Mul', [n.op('Sigmoid', ['x']), 'x']) },
  ];
  const ranges = ['-100:50', '-10:-2', '-1:0.5', '2:7'];
  for (const g of gates)
    it(`${g.name}: contains f on a fine grid of each input interval, and is within 10% of its minimum (the plain product gives -h f(h))`, async () => {
      const net = new Net(1);
      const y = net.eye(g.build(net), ranges.length);
      const file = path.join(dir, `gate-${g.name.replace(/\W+/g, '-')}.onnx`);
      writeFileSync(file, buildModel(net.spec([1, ranges.length, 1, 1], y)));
      const model = await loadModel(file, { inputShape: [1, ranges.length, 1, 1] });
      const inBox = boxOf(parseInputRange(ranges.join(',')), [1, ranges.length, 1, 1]);
      const { boxes, failed } = propagateBoxes(model.graph!, model.layers, new Map([[model.graph!.inputs[0], inBox]]));
      expect(failed).toEqual([]);
      const mul = model.graph!.nodes.find((q) => q.op === 'Mul')!;
      const b = boxes.get(mul.outputs[0])!;
      for (let c = 0; c < ranges.length; c++) {
        const [l, h] = [inBox.lo[c], inBox.hi[c]];
        let [mn, mx] = [Infinity, -Infinity];
        for (let k = 0; k <= 100_000; k++) {
          const v = g.f(l + ((h - l) * k) / 100_000);
          [mn, mx] = [Math.min(mn, v), Math.max(mx, v)];
        }
        if (l <= -1.5 && h >= -1) mn = Math.min(mn, g.min);
        expect(b.lo[c]).toBeLessThanOrEqual(mn);
        expect(b.hi[c]).toBeGreaterThanOrEqual(mx);
        // one-sided tightness: the lower end within 10% of the true minimum (or of 0 when that is the minimum)
        expect(b.lo[c]).toBeGreaterThanOrEqual(mn < 0 ? 1.1 * Math.min(mn, g.min) : mn - 1e-9 * Math.abs(mx));
        // the upper end h f(h) is exact for h > 0 (for h <= 0 the rule's h f(l) is only an upper bound)
        if (h > 0) expect(b.hi[c]).toBeLessThanOrEqual(mx + 1e-9 * Math.max(1, Math.abs(mx)));
        else expect(b.hi[c]).toBeLessThanOrEqual(1e-290); // 0, plus the outward rounding of a Clip at 0
      }
    });
});

describe('one-group convs on native DGEMM (propagateBoxesNative)', () => {
  it('a conv box on a random (non-uniform) input box contains the exact one, in exact rational arithmetic, natively and in JS', async () => {
    // exact: bias + sum over in-range taps of min / max (w lo, w hi), every product and sum exact (BigInt);
    // a box missing its outward rounding would cut into it on about half the entries
    const net = new Net(7);
    const y = net.conv('x', 16, 32, 3);
    const shape = [1, 16, 24, 24];
    const file = path.join(dir, 'conv-native-exact.onnx');
    writeFileSync(file, buildModel(net.spec(shape, y)));
    const model = await loadModel(file, { inputShape: shape });
    const rnd = seededRandom(21);
    const lo = Float64Array.from({ length: 16 * 24 * 24 }, () => 4 * rnd() - 2);
    const hi = lo.map((l) => l + 2 * rnd() * rnd());
    const inputs = new Map([[model.graph!.inputs[0], { lo, hi, shape }]]);
    const layer = model.layers[0] as ConvLayer;
    const bias = model.graph!.nodes.find((n) => n.op === 'Conv')!.constInputs[2]!;
    const boxes = [(await propagateBoxesNative(model.graph!, model.layers, inputs)).boxes.get(y)!, propagateBoxes(model.graph!, model.layers, inputs).boxes.get(y)!];
    let checked = 0;
    for (let e = 0; e < 32 * 24 * 24; e += 7) {
      const [o, p, q] = [Math.floor(e / 576), Math.floor(e / 24) % 24, e % 24];
      let [el, eh] = [exact(bias[o]), exact(bias[o])];
      for (let c = 0; c < 16; c++)
        for (let u = 0; u < 3; u++)
          for (let v = 0; v < 3; v++) {
            const [r, s] = [p + u - 1, q + v - 1];
            if (r < 0 || r >= 24 || s < 0 || s >= 24) continue;
            const w = layer.weight[((o * 16 + c) * 3 + u) * 3 + v];
            const [a, b] = [w * 1, lo[(c * 24 + r) * 24 + s]].map(exact);
            const bh = exact(hi[(c * 24 + r) * 24 + s]);
            const [x1, x2] = [mul(a, b), mul(a, bh)];
            el = add(el, cmp(x1, x2) <= 0 ? x1 : x2);
            eh = add(eh, cmp(x1, x2) <= 0 ? x2 : x1);
          }
      for (const box of boxes) {
        expect(cmp(exact(box.lo[e]), el)).toBeLessThanOrEqual(0);
        expect(cmp(exact(box.hi[e]), eh)).toBeGreaterThanOrEqual(0);
      }
      checked++;
    }
    expect(checked).toBeGreaterThan(2500);
  });

  const cases: { name: string; shape: number[]; calls: number; batch?: boolean; build: (n: Net) => string }[] = [
    // 3x3 pad 1 (5.3e6 multiply-adds) and 3x3 stride 2 (2.7e6) natively, the last 1x1 (3.7e4) in JS
    { name: 'pad 1, stride 2, then JS', shape: [1, 16, 24, 24], calls: 4, build: (n) => n.conv(n.op('Relu', [n.conv(n.op('Relu', [n.conv('x', 16, 64, 3)]), 64, 32, 3, { stride: 2 })]), 32, 8, 1) },
    // 576 x 64 columns per output row: two chunks of output rows (56 + 8)
    { name: 'im2col in two chunks', shape: [1, 64, 64, 64], calls: 4, build: (n) => n.conv('x', 64, 8, 3) },
    // pointwise (the input planes are the columns): 64 -> 64 1x1 on 16 x 16, 1.05e6 multiply-adds, three products
    { name: 'pointwise', shape: [1, 64, 16, 16], calls: 3, build: (n) => n.conv(n.op('Relu', [n.conv('x', 64, 64, 1)]), 64, 8, 1) },
    { name: 'pointwise, batch of 2', shape: [2, 64, 16, 16], calls: 6, batch: true, build: (n) => n.conv('x', 64, 64, 1) },
    // two batch items (the JS boxes only: the onnxruntime helper samples one item at a time)
    { name: 'batch of 2', shape: [2, 16, 24, 24], calls: 4, batch: true, build: (n) => n.conv(n.op('Relu', [n.conv('x', 16, 64, 3)]), 64, 32, 3, { stride: 2 }) },
  ];
  for (const c of cases)
    it(`${c.name}: the JS boxes up to summation order, and every onnxruntime value inside`, async () => {
      const net = new Net(5);
      const y = c.build(net);
      const file = path.join(dir, `conv-native-${c.name.replace(/\W+/g, '-')}.onnx`);
      const bytes = buildModel(net.spec(c.shape, y));
      writeFileSync(file, bytes);
      const model = await loadModel(file, { inputShape: c.shape });
      const inBox = boxOf(parseInputRange('-1:1'), c.shape);
      const inputs = new Map([[model.graph!.inputs[0], inBox]]);
      const js = propagateBoxes(model.graph!, model.layers, inputs);
      const calls = nativeTime().calls;
      const nat = await propagateBoxesNative(model.graph!, model.layers, inputs);
      expect(nat.failed).toEqual([]);
      expect(nativeTime().calls - calls).toBeGreaterThanOrEqual(c.calls); // per native conv: c = W mid and [r | a] = |W| [rad | abs]
      let compared = 0;
      for (const [t, b] of js.boxes) {
        const n = nat.boxes.get(t)!;
        for (let i = 0; i < b.lo.length; i++) {
          const tol = 1e-12 * (Math.abs(b.lo[i]) + Math.abs(b.hi[i]) + 1);
          if (!(Math.abs(n.lo[i] - b.lo[i]) <= tol && Math.abs(n.hi[i] - b.hi[i]) <= tol)) throw new Error(`${t}[${i}]: native [${n.lo[i]}, ${n.hi[i]}], JS [${b.lo[i]}, ${b.hi[i]}]`);
          compared++;
        }
      }
      expect(compared).toBeGreaterThan(c.shape.reduce((p, q) => p * q, 1));
      if (c.batch) return;
      const rnd = seededRandom(9);
      const xs = Array.from({ length: 4 }, () => inBox.lo.map((l, i) => l + rnd() * (inBox.hi[i] - l)));
      for (const [t, samples] of await allTensorValues(bytes, c.shape, xs)) {
        const b = nat.boxes.get(t);
        if (!b) continue;
        for (const v of samples)
          for (let i = 0; i < v.length; i++) {
            const tol = 1e-5 * (1 + Math.abs(b.lo[i]) + Math.abs(b.hi[i]));
            if (!(v[i] >= b.lo[i] - tol && v[i] <= b.hi[i] + tol)) throw new Error(`${t}[${i}] = ${v[i]} outside [${b.lo[i]}, ${b.hi[i]}]`);
          }
      }
    });
});

describe('local bound >= empirical lower bound inside the box', () => {
  for (const c of CASES)
    it(`${c.name}`, async () => {
      const { bytes, model, best, range } = await prepare(c, 11);
      const global = networkBound(model.graph!, best);
      const local = await localNetworkBound(model.graph!, model.layers, best, range, c.shape);
      expect(local.certified, local.notes.join('; ')).toBe(true);
      const inBox = boxOf(range, c.shape);
      const emp = await empiricalLipschitzInBox(bytes, c.shape, inBox.lo, inBox.hi, { pairs: 64, steps: 40, seed: 3 });
      console.log(`${c.name}: local ${local.bound!.toPrecision(4)}, empirical ${emp.toPrecision(4)}, global ${global.bound === null ? 'none' : global.bound.toPrecision(4)}`);
      expect(local.bound!).toBeGreaterThanOrEqual(emp * (1 - 1e-6));
      if (c.tight) expect(local.bound!).toBeLessThanOrEqual(emp * c.tight);
      if (global.bound !== null) expect(local.bound!).toBeLessThanOrEqual(global.bound);
    });
});

describe('a Pad merged into the next conv (fixture pad-conv)', () => {
  it('propagates: the Pad gets its padded box, the conv reads the unpadded one, every sampled value lies in its box', async () => {
    const file = path.join(path.dirname(new URL(import.meta.url).pathname), '..', 'fixtures', 'pad-conv.onnx');
    const model = await loadModel(file);
    const shape = [1, ...model.info.inputShape!.slice(1)];
    const inBox = boxOf(parseInputRange('0:1'), shape);
    const { boxes, failed } = propagateBoxes(model.graph!, model.layers, new Map([[model.graph!.inputs[0], inBox]]));
    expect(failed).toEqual([]);
    const rnd = seededRandom(3);
    const xs = Array.from({ length: 12 }, () => inBox.lo.map((l, i) => l + rnd() * (inBox.hi[i] - l)));
    const values = await allTensorValues(new Uint8Array(readFileSync(file)), shape, xs);
    let checked = 0;
    for (const [t, samples] of values) {
      const b = boxes.get(t);
      if (!b) continue;
      for (const v of samples) {
        expect(v.length).toBe(b.lo.length);
        for (let i = 0; i < v.length; i++) {
          const tol = 1e-5 * (1 + Math.abs(b.lo[i]) + Math.abs(b.hi[i]));
          if (!(v[i] >= b.lo[i] - tol && v[i] <= b.hi[i] + tol)) throw new Error(`${t}[${i}] = ${v[i]} outside [${b.lo[i]}, ${b.hi[i]}]`);
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThan(1000);
  });
});
