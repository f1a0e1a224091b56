// The independent exact reference every bound is tested against: the explicit matrix of a
// small conv/dense layer built straight from the ONNX operator definitions, and its largest
// singular value from a dense symmetric eigensolver (cyclic Jacobi). Shares no code with src/.
import type { ConvLayer, DenseLayer } from '../../src/model/layer.js';
import { normalArray } from '../../src/util/random.js';

export interface ConvSpec {
  cout: number;
  cin: number;
  /** kernel spatial dims: [k] (1-D) or [kh, kw] */
  kernel: number[];
  /** input spatial dims: [n] or [h, w] */
  input: number[];
  strides?: number[];
  dilations?: number[];
  /** [begin..., end...] */
  pads?: number[];
  group?: number;
  /** ConvTranspose: weight is [cin, cout/group, ...kernel] */
  transpose?: boolean;
  outputPadding?: number[];
  seed?: number;
  weight?: Float32Array;
}

const prod = (xs: number[]) => xs.reduce((a, b) => a * b, 1);

/** A ConvLayer record as the loader would produce it, with He-scaled seeded weights. */
export function makeConv(o: ConvSpec): ConvLayer {
  const nd = o.kernel.length;
  const group = o.group ?? 1;
  const strides = o.strides ?? Array(nd).fill(1);
  const dilations = o.dilations ?? Array(nd).fill(1);
  const pads = o.pads ?? Array(2 * nd).fill(0);
  const outputPadding = o.outputPadding ?? Array(nd).fill(0);
  if (o.cout % group || o.cin % group) throw new Error('channels not divisible by group');
  const weightShape = o.transpose ? [o.cin, o.cout / group, ...o.kernel] : [o.cout, o.cin / group, ...o.kernel];
  const n = prod(weightShape);
  let weight = o.weight;
  if (!weight) {
    const fanIn = (o.transpose ? o.cout / group : o.cin / group) * prod(o.kernel);
    const g = normalArray(n, o.seed ?? 7);
    weight = Float32Array.from(g, (v) => v * Math.sqrt(2 / fanIn));
  }
  if (weight.length !== n) throw new Error('weight length mismatch');
  const outSpatial = o.input.map((len, a) => {
    const k = dilations[a] * (o.kernel[a] - 1) + 1;
    return o.transpose
      ? strides[a] * (len - 1) + outputPadding[a] + k - pads[a] - pads[a + nd]
      : Math.floor((len + pads[a] + pads[a + nd] - k) / strides[a]) + 1;
  });
  return {
    kind: 'conv',
    name: o.transpose ? 'convT' : 'conv',
    op: o.transpose ? 'ConvTranspose' : 'Conv',
    nodeIndex: 0,
    notes: [],
    weight,
    weightShape,
    spatialDims: nd,
    strides,
    dilations,
    pads,
    autoPad: 'NOTSET',
    group,
    outputPadding,
    hasBias: false,
    foldedBatchNorm: false,
    inputShape: [o.cin, ...o.input],
    outputShape: [o.cout, ...outSpatial],
  };
}

/** A dense layer y = W x with W [rows, cols], He-scaled seeded weights. */
export function makeDense(rows: number, cols: number, seed = 11): DenseLayer {
  const g = normalArray(rows * cols, seed);
  return {
    kind: 'dense',
    name: 'dense',
    op: 'Gemm',
    nodeIndex: 0,
    notes: [],
    weight: Float32Array.from(g, (v) => v * Math.sqrt(2 / cols)),
    weightShape: [rows, cols],
    hasBias: false,
    foldedBatchNorm: false,
    inputShape: [cols],
    outputShape: [rows],
  };
}

/** Iterate every index tuple of the given dims (row-major). */
function* indices(dims: number[]): Generator<number[]> {
  const idx = Array(dims.length).fill(0);
  const total = prod(dims);
  for (let t = 0; t < total; t++) {
    yield idx.slice();
    for (let a = dims.length - 1; a >= 0; a--) {
      if (++idx[a] < dims[a]) break;
      idx[a] = 0;
    }
  }
}

const flat = (idx: number[], dims: number[]) => idx.reduce((acc, v, a) => acc * dims[a] + v, 0);

/**
 * Explicit row-major matrix A (y = A x) of the layer on its inputShape, x and y flattened in
 * ONNX NCHW order with batch 1. Conv: y[o, p] = sum W[o, c', k] x[c, p*s - pad_begin + k*d].
 * ConvTranspose: x[c, q] scatters W[c, o', k] into y[o, q*s - pad_begin + k*d].
 */
export function explicitMatrix(layer: ConvLayer | DenseLayer): { a: Float64Array; rows: number; cols: number } {
  if (layer.kind === 'dense') {
    const [rows, cols] = layer.weightShape;
    return { a: Float64Array.from(layer.weight), rows, cols };
  }
  if (!layer.inputShape || !layer.outputShape) throw new Error('shapes unknown');
  const nd = layer.spatialDims;
  const [cin, ...inSp] = layer.inputShape;
  const [cout, ...outSp] = layer.outputShape;
  const kernel = layer.weightShape.slice(2);
  const g = layer.group;
  const cols = cin * prod(inSp);
  const rows = cout * prod(outSp);
  const a = new Float64Array(rows * cols);
  const w = layer.weight;
  const wIndex = (c0: number, c1: number, k: number[]) => flat([c0, c1, ...k], layer.weightShape);
  const kIdx = [...indices(kernel)];
  if (layer.op === 'ConvTranspose') {
    const coutG = cout / g;
    const cinG = cin / g;
    for (let c = 0; c < cin; c++) {
      const grp = Math.floor(c / cinG);
      for (const q of indices(inSp)) {
        const col = c * prod(inSp) + flat(q, inSp);
        for (let oo = 0; oo < coutG; oo++) {
          const o = grp * coutG + oo;
          for (const k of kIdx) {
            const p = q.map((qa, ax) => qa * layer.strides[ax] - layer.pads[ax] + k[ax] * layer.dilations[ax]);
            if (p.some((pa, ax) => pa < 0 || pa >= outSp[ax])) continue;
            const row = o * prod(outSp) + flat(p, outSp);
            a[row * cols + col] += w[wIndex(c, oo, k)];
          }
        }
      }
    }
  } else {
    const coutG = cout / g;
    const cinG = cin / g;
    for (let o = 0; o < cout; o++) {
      const grp = Math.floor(o / coutG);
      for (const p of indices(outSp)) {
        const row = o * prod(outSp) + flat(p, outSp);
        for (let cc = 0; cc < cinG; cc++) {
          const c = grp * cinG + cc;
          for (const k of kIdx) {
            const q = p.map((pa, ax) => pa * layer.strides[ax] - layer.pads[ax] + k[ax] * layer.dilations[ax]);
            if (q.some((qa, ax) => qa < 0 || qa >= inSp[ax])) continue;
            const col = c * prod(inSp) + flat(q, inSp);
            a[row * cols + col] += w[wIndex(o, cc, k)];
          }
        }
      }
    }
  }
  void nd;
  return { a, rows, cols };
}

/** B A for row-major B (br x bc) and A (bc x ac), in float64. */
export function matMul(b: Float64Array, br: number, bc: number, a: Float64Array, ac: number): Float64Array {
  const out = new Float64Array(br * ac);
  for (let i = 0; i < br; i++)
    for (let k = 0; k < bc; k++) {
      const v = b[i * bc + k];
      if (v !== 0) for (let j = 0; j < ac; j++) out[i * ac + j] += v * a[k * ac + j];
    }
  return out;
}

/** A x (or A^T x) for a row-major rows x cols matrix, in float64. */
export function matVec(a: Float64Array, rows: number, cols: number, x: ArrayLike<number>, transpose = false): Float64Array {
  const out = new Float64Array(transpose ? cols : rows);
  for (let i = 0; i < rows; i++)
    for (let j = 0; j < cols; j++) {
      if (transpose) out[j] += a[i * cols + j] * x[i];
      else out[i] += a[i * cols + j] * x[j];
    }
  return out;
}

/** Eigenvalues of a symmetric n x n matrix (row-major, copied) by cyclic Jacobi rotations. */
export function symmetricEigenvalues(m: Float64Array, n: number): Float64Array {
  const s = Float64Array.from(m);
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    let diag = 0;
    for (let i = 0; i < n; i++) {
      diag += s[i * n + i] ** 2;
      for (let j = i + 1; j < n; j++) off += s[i * n + j] ** 2;
    }
    if (off <= 1e-30 * Math.max(diag, 1e-300)) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = s[p * n + q];
        if (apq === 0) continue;
        const app = s[p * n + p];
        const aqq = s[q * n + q];
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const sn = t * c;
        for (let k = 0; k < n; k++) {
          const skp = s[k * n + p];
          const skq = s[k * n + q];
          s[k * n + p] = c * skp - sn * skq;
          s[k * n + q] = sn * skp + c * skq;
        }
        for (let k = 0; k < n; k++) {
          const spk = s[p * n + k];
          const sqk = s[q * n + k];
          s[p * n + k] = c * spk - sn * sqk;
          s[q * n + k] = sn * spk + c * sqk;
        }
      }
    }
  }
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = s[i * n + i];
  return out;
}

/** Largest singular value of a row-major rows x cols matrix, via the eigenvalues of the smaller Gram matrix. */
export function largestSingularValue(a: Float64Array, rows: number, cols: number): number {
  const n = Math.min(rows, cols);
  const gram = new Float64Array(n * n);
  if (rows <= cols) {
    for (let i = 0; i < rows; i++)
      for (let j = i; j < rows; j++) {
        let acc = 0;
        for (let k = 0; k < cols; k++) acc += a[i * cols + k] * a[j * cols + k];
        gram[i * n + j] = gram[j * n + i] = acc;
      }
  } else {
    for (let i = 0; i < cols; i++)
      for (let j = i; j < cols; j++) {
        let acc = 0;
        for (let k = 0; k < rows; k++) acc += a[k * cols + i] * a[k * cols + j];
        gram[i * n + j] = gram[j * n + i] = acc;
      }
  }
  const ev = symmetricEigenvalues(gram, n);
  return Math.sqrt(Math.max(0, ...ev));
}

/** The layer's exact l2 operator norm on its input size. */
export function exactNorm(layer: ConvLayer | DenseLayer): number {
  const { a, rows, cols } = explicitMatrix(layer);
  return largestSingularValue(a, rows, cols);
}
