// Linear maps built from layers, for the norms the network bound multiplies (blocks.ts). Exact merges
// with no nonlinearity between: a 1x1 conv after or before a kxk conv is one kxk conv (1x1 channel
// mixing commutes with zero padding and subsampling), two dense layers are one matrix, and a residual
// identity or 1x1 shortcut adds at the aligned tap. Across an activation, a kxk after a kxk is one
// conv on the plane (composeThroughPadding) with its sections (extendOutput, extendInput); a run's
// 1x1 ends can be replaced by same-norm Gram roots (compressEnd). Derivations:
// docs/derivations.md#network-walk-and-op-constants. Pure: plain arrays in, layer records out.
import type { ConvLayer, DenseLayer } from '../model/layer.js';
import { gramRootCost, gramRootLower } from '../linalg/gram-root.js';
import { UNIT_ROUNDOFF, gamma } from '../linalg/rounding.js';
import { convOutputSize } from '../onnx/geometry.js';
import { gcd } from '../util/numbers.js';
import { gramNative, multiplyAtB, NATIVE_MIN_MACS } from '../native/blas.js';

const U32 = 2 ** -24;

/**
 * A linear map as one dense-in-channels kernel, computed in float64, with an absolute Frobenius
 * bound on its distance to the real-arithmetic network's map (stored weights' own rounding plus
 * everything computed here). Conv: kernel[o][c][tap]; dense: a matrix [out][in] with one tap.
 */
export interface DerivedKernel {
  kind: 'conv' | 'dense';
  cout: number;
  cin: number;
  /** Kernel extent per spatial axis ([] for dense). */
  kernel: number[];
  strides: number[];
  dilations: number[];
  /** [begin..., end...] */
  pads: number[];
  values: Float64Array;
  /** || values - exact ||_F <= errorF. */
  errorF: number;
  inputShape: number[] | null;
  inputSizeAssumed: boolean;
  /** Layer names merged, for notes. */
  names: string[];
}

const taps = (k: DerivedKernel) => k.kernel.reduce((a, b) => a * b, 1);

function frobenius(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * a[i];
  return Math.sqrt(s);
}

const isOneByOne = (k: DerivedKernel) => k.kind === 'conv' && taps(k) === 1 && k.pads.every((p) => p === 0);

/** A layer record as a derived kernel (groups expanded to a block-sparse full kernel); null for ConvTranspose. */
export function fromLayer(layer: ConvLayer | DenseLayer): DerivedKernel | null {
  const rounding = (layer.weightRounding ?? 0) * frobenius(layer.weight);
  if (layer.kind === 'dense') {
    const [out, inp] = layer.weightShape;
    return {
      kind: 'dense', cout: out, cin: inp, kernel: [], strides: [], dilations: [], pads: [],
      values: Float64Array.from(layer.weight), errorF: rounding, inputShape: layer.inputShape, inputSizeAssumed: Boolean(layer.inputSizeAssumed), names: [layer.name],
    };
  }
  if (layer.op === 'ConvTranspose' || layer.outputPadding.some((p) => p !== 0)) return null;
  const [cout, cinG, ...kernel] = layer.weightShape;
  const g = layer.group;
  const cin = cinG * g;
  const t = kernel.reduce((a, b) => a * b, 1);
  const values = new Float64Array(cout * cin * t);
  const perGroupOut = cout / g;
  for (let o = 0; o < cout; o++) {
    const c0 = Math.floor(o / perGroupOut) * cinG;
    for (let c = 0; c < cinG; c++)
      for (let k = 0; k < t; k++) values[(o * cin + c0 + c) * t + k] = layer.weight[(o * cinG + c) * t + k];
  }
  return {
    kind: 'conv', cout, cin, kernel, strides: [...layer.strides], dilations: [...layer.dilations], pads: [...layer.pads],
    values, errorF: rounding, inputShape: layer.inputShape, inputSizeAssumed: Boolean(layer.inputSizeAssumed), names: [layer.name],
  };
}

/**
 * Per tap, out[o][c] = sum_m b[o][m] a[m][c]. Grouped and depthwise kernels are block-sparse once
 * expanded: the JS loop runs over each row's nonzeros only, so a small or sparse merge costs about its
 * output; a large dense one (a bottleneck's 512-channel runs: ~1e9 multiply-adds) goes to native
 * DGEMM, one product per tap. Either way each entry is a float64 sum of the same products, within
 * gamma_mid |B||A| of the exact value (any summation order), which productError accounts for.
 */
async function channelProduct(
  b: (o: number, m: number, t: number) => number,
  a: (m: number, c: number, t: number) => number,
  cout: number, mid: number, cin: number, t: number,
): Promise<Float64Array> {
  const cols: Int32Array[] = [];
  const vals: Float64Array[] = [];
  for (let m = 0; m < mid; m++)
    for (let k = 0; k < t; k++) {
      const idx: number[] = [];
      const v: number[] = [];
      for (let c = 0; c < cin; c++) {
        const x = a(m, c, k);
        if (x !== 0) {
          idx.push(c);
          v.push(x);
        }
      }
      cols.push(Int32Array.from(idx));
      vals.push(Float64Array.from(v));
    }
  let sparseWork = 0;
  for (let o = 0; o < cout; o++) for (let m = 0; m < mid; m++) for (let k = 0; k < t; k++) if (b(o, m, k) !== 0) sparseWork += cols[m * t + k].length;
  const out = new Float64Array(cout * cin * t);
  if (sparseWork >= NATIVE_MIN_MACS && cout * mid * cin * t <= 16 * sparseWork) {
    const bt = new Float64Array(mid * cout);
    const ak = new Float64Array(mid * cin);
    for (let k = 0; k < t; k++) {
      for (let m = 0; m < mid; m++) {
        for (let o = 0; o < cout; o++) bt[m * cout + o] = b(o, m, k);
        for (let c = 0; c < cin; c++) ak[m * cin + c] = a(m, c, k);
      }
      const pk = await multiplyAtB(bt, ak, mid, cout, cin, new Float64Array(cout * cin));
      for (let i = 0; i < cout * cin; i++) out[i * t + k] = pk[i];
    }
    return out;
  }
  for (let o = 0; o < cout; o++)
    for (let m = 0; m < mid; m++)
      for (let k = 0; k < t; k++) {
        const bv = b(o, m, k);
        if (bv === 0) continue;
        const base = o * cin * t + k;
        const ci = cols[m * t + k];
        const cv = vals[m * t + k];
        for (let j = 0; j < ci.length; j++) out[base + ci[j] * t] += bv * cv[j];
      }
  return out;
}

/**
 * The error of a product B A from the factors' errors: (B+dB)(A+dA) - BA, plus float64 rounding of
 * sums of `terms` products. `spread`: sqrt(taps of B x taps of A) when both have several taps (the
 * plane composition: ||B * A||_F <= sum_r,t ||B_r||_F ||A_t||_F <= spread ||B||_F ||A||_F), else 1.
 */
function productError(b: DerivedKernel, a: DerivedKernel, terms: number, spread = 1): number {
  const nb = frobenius(b.values);
  const na = frobenius(a.values);
  // per tap ||dB A_t + B dA_t + dB dA_t||_F, summed in squares over taps (Minkowski; one side is 1x1),
  // and the float64 sums: |fl - exact| <= gamma_terms |B||A_t| entrywise
  return spread * (b.errorF * (na + a.errorF) + nb * a.errorF + gamma(terms) * nb * na);
}

/** Largest multiply-add count a merge may cost (native DGEMM once large: ~0.1 s per 1e9). */
export const MAX_MERGE_MACS = 1.5e9;

/**
 * The exact merge of `first` then `second` (second(first(x))), or null when it is not one layer
 * (kxk after kxk: the zero padding between them is not a convolution) or too costly.
 */
export async function compose(first: DerivedKernel, second: DerivedKernel): Promise<DerivedKernel | null> {
  if (first.cout !== second.cin) return null;
  const names = [...first.names, ...second.names];
  if (first.kind === 'dense' && second.kind === 'dense') {
    const mid = first.cout;
    if (second.cout * mid * first.cin > MAX_MERGE_MACS) return null;
    const values = await channelProduct((o, m) => second.values[o * mid + m], (m, c) => first.values[m * first.cin + c], second.cout, mid, first.cin, 1);
    return { ...first, cout: second.cout, values, errorF: productError(second, first, mid), names };
  }
  if (first.kind !== 'conv' || second.kind !== 'conv' || first.kernel.length !== second.kernel.length) return null;
  const mid = first.cout;
  if (isOneByOne(second)) {
    // 1x1 after kxk: per-tap channel products; strides multiply (subsampling a strided conv's output)
    const t = taps(first);
    if (second.cout * mid * first.cin * t > MAX_MERGE_MACS) return null;
    const values = await channelProduct((o, m) => second.values[o * mid + m], (m, c, k) => first.values[(m * first.cin + c) * t + k], second.cout, mid, first.cin, t);
    return {
      ...first, cout: second.cout, values, strides: first.strides.map((s, i) => s * second.strides[i]),
      errorF: productError(second, first, mid), names,
    };
  }
  if (isOneByOne(first)) {
    // kxk after a 1x1 with stride s: the kxk reads the subsampled map, i.e. x at s times its taps:
    // dilation, stride and begin pads scale by s; end pads grow so no real output row is lost
    const t = taps(second);
    if (second.cout * mid * first.cin * t > MAX_MERGE_MACS) return null;
    const s = first.strides;
    const nd = second.kernel.length;
    const values = await channelProduct((o, m, k) => second.values[(o * mid + m) * t + k], (m, c) => first.values[m * first.cin + c], second.cout, mid, first.cin, t);
    const pads = [
      ...second.pads.slice(0, nd).map((p, i) => p * s[i]),
      ...second.pads.slice(nd).map((p, i) => (p + 1) * s[i]),
    ];
    return {
      ...second, cin: first.cin, values, strides: second.strides.map((v, i) => v * s[i]), dilations: second.dilations.map((d, i) => d * s[i]),
      pads, errorF: productError(second, first, mid), inputShape: first.inputShape, inputSizeAssumed: first.inputSizeAssumed, names,
    };
  }
  return null;
}

/** Spatial output lengths of a conv kernel on its input shape, or null when the shape is unknown. */
function outputLengths(k: DerivedKernel): number[] | null {
  return k.kind === 'conv' && k.inputShape ? convOutputSize(k.inputShape.slice(1), k.kernel, k.strides, k.dilations, k.pads) : null;
}

/** Positions a conv reads of its input (of these lengths), per axis: [lo, hi], lo = -begin pad. */
function readRange(k: DerivedKernel, inputLengths: number[]): [number, number][] {
  const m = convOutputSize(inputLengths, k.kernel, k.strides, k.dilations, k.pads);
  return k.kernel.map((kk, a) => [-k.pads[a], (m[a] - 1) * k.strides[a] + k.dilations[a] * (kk - 1) - k.pads[a]]);
}

/**
 * The plane composition of two convs across an activation: R C2 C1 E, the second conv applied to the
 * first's output computed everywhere on the plane (x zero outside its window), not to the zero-padded
 * output. It is one conv (strides multiply, taps at s1 d2 r + d1 t, begin pads p1 + s1 p2). The real
 * block reads zeros where this reads C1 x outside the window: the activation's slope there is taken as
 * 0, so its range must contain 0 (blocks.ts widens it), and splitting the product at that activation
 * needs the extended sections (extendOutput, extendInput). Null for anything but two convs, when the
 * second has no output, or too costly.
 * docs/derivations.md#kxk-after-kxk-through-zero-padding
 */
export async function composeThroughPadding(first: DerivedKernel, second: DerivedKernel): Promise<DerivedKernel | null> {
  if (first.kind !== 'conv' || second.kind !== 'conv' || first.cout !== second.cin || first.kernel.length !== second.kernel.length) return null;
  const nd = first.kernel.length;
  const mid = first.cout;
  const t1 = taps(first);
  const t2 = taps(second);
  // per axis: merged dilation g (the gcd of both step sizes), extent, stride, begin pad
  const step2 = second.dilations.map((d, a) => first.strides[a] * d);
  const dil = step2.map((s, a) => gcd(s, first.dilations[a]));
  const kernel = first.kernel.map((k1, a) => (step2[a] * (second.kernel[a] - 1) + first.dilations[a] * (k1 - 1)) / dil[a] + 1);
  const strides = first.strides.map((s, a) => s * second.strides[a]);
  const begin = first.pads.slice(0, nd).map((p, a) => p + first.strides[a] * second.pads[a]);
  let end = first.pads.slice(nd).map((p, a) => p + first.strides[a] * second.pads[a + nd]);
  if (second.cout * mid * first.cin * t1 * t2 > MAX_MERGE_MACS) return null;
  const m1 = outputLengths(first);
  if (m1) {
    const m2 = convOutputSize(m1, second.kernel, second.strides, second.dilations, second.pads);
    if (m2.some((m) => m < 1)) return null;
    // end pads so the merged conv has the second's outputs (more only when it can have no fewer: extra rows only loosen)
    end = kernel.map((k, a) => Math.max(0, strides[a] * (m2[a] - 1) + dil[a] * (k - 1) - begin[a] - first.inputShape![1 + a] + 1));
  }
  // output tap of each pair (r of second, t of first), row-major over axes
  const unflat = (i: number, dims: number[]) => {
    const out = Array<number>(dims.length);
    for (let a = dims.length - 1; a >= 0; a--) {
      out[a] = i % dims[a];
      i = Math.floor(i / dims[a]);
    }
    return out;
  };
  const T = kernel.reduce((a, b) => a * b, 1);
  const pairs: [number, number][][] = Array.from({ length: T }, () => []);
  for (let r = 0; r < t2; r++) {
    const rr = unflat(r, second.kernel);
    for (let t = 0; t < t1; t++) {
      const tt = unflat(t, first.kernel);
      let tau = 0;
      for (let a = 0; a < nd; a++) tau = tau * kernel[a] + (step2[a] * rr[a] + first.dilations[a] * tt[a]) / dil[a];
      pairs[tau].push([r, t]);
    }
  }
  const values = new Float64Array(second.cout * first.cin * T);
  let most = 0;
  for (let tau = 0; tau < T; tau++) {
    const list = pairs[tau];
    if (list.length === 0) continue;
    most = Math.max(most, list.length);
    // one channel product per output tap, the pairs side by side along the inner dimension
    const p = await channelProduct(
      (o, j) => second.values[(o * mid + (j % mid)) * t2 + list[Math.floor(j / mid)][0]],
      (j, c) => first.values[((j % mid) * first.cin + c) * t1 + list[Math.floor(j / mid)][1]],
      second.cout, mid * list.length, first.cin, 1,
    );
    for (let i = 0; i < p.length; i++) values[i * T + tau] = p[i];
  }
  return {
    kind: 'conv', cout: second.cout, cin: first.cin, kernel, strides, dilations: dil, pads: [...begin, ...end], values,
    errorF: productError(second, first, mid * most, Math.sqrt(t1 * t2)),
    inputShape: first.inputShape, inputSizeAssumed: first.inputSizeAssumed || second.inputSizeAssumed, names: [...first.names, ...second.names],
  };
}

/**
 * `k` (a conv) with its outputs extended to every position its taps reach from the input window
 * (J C E in the derivation: the support of its output on the plane, zero rows at most added). Without
 * a known input size, the same kernel and no shape: the sup route then bounds every section of it.
 */
export function extendOutput(k: DerivedKernel): DerivedKernel | null {
  if (k.kind !== 'conv') return null;
  const names = [`full(${k.names.join('*')})`];
  if (!k.inputShape) return { ...k, inputShape: null, names };
  const nd = k.kernel.length;
  const begin: number[] = [];
  const end: number[] = [];
  for (let a = 0; a < nd; a++) {
    const [n, s, d, span] = [k.inputShape[1 + a], k.strides[a], k.dilations[a], k.dilations[a] * (k.kernel[a] - 1)];
    // outputs i with s i + d t - B in [0, n) for some tap t; from floor, so the new begin pad is >= 0
    const first = Math.floor((k.pads[a] - span) / s);
    const last = Math.floor((n - 1 + k.pads[a]) / s);
    if (last < first) return null;
    begin.push(k.pads[a] - s * first);
    end.push(Math.max(0, s * (last - first) + span - begin[a] - n + 1));
  }
  return { ...k, pads: [...begin, ...end], names };
}

/**
 * `k` (a conv that reads zero padding) reading the real values there instead: no pads, its input the
 * whole range its outputs read (R C J in the derivation). Without a known input size, no pads, no shape.
 */
export function extendInput(k: DerivedKernel): DerivedKernel | null {
  if (k.kind !== 'conv') return null;
  const nd = k.kernel.length;
  const pads = Array<number>(2 * nd).fill(0);
  const names = [`open(${k.names.join('*')})`];
  if (!k.inputShape) return { ...k, pads, inputShape: null, names };
  const range = readRange(k, k.inputShape.slice(1));
  if (range.some(([lo, hi]) => hi < lo)) return null;
  return { ...k, pads, inputShape: [k.inputShape[0], ...range.map(([lo, hi]) => hi - lo + 1)], names };
}

/**
 * coef * branch + shortcut, where the shortcut (identity when null, else a 1x1 conv or a matrix)
 * reads the same input positions as the branch's tap `t` (stride and offset aligned). Null when no
 * tap aligns, the channels differ, or the output sizes could differ.
 */
export function addShortcut(branch: DerivedKernel, coef: number, shortcut: DerivedKernel | null, outputShape: { branch: number[] | null; shortcut: number[] | null }): DerivedKernel | null {
  const cout = branch.cout;
  const cin = branch.cin;
  const t = Math.max(1, taps(branch));
  if (shortcut && (shortcut.cout !== cout || shortcut.cin !== cin)) return null;
  if (!shortcut && cout !== cin) return null;
  // equal shapes, symbolic dims included (the same symbol is the same length at every input size)
  if (!outputShape.branch || !outputShape.shortcut || outputShape.branch.join() !== outputShape.shortcut.join()) return null;
  let tap = 0;
  if (branch.kind === 'conv') {
    // branch reads x[s n + d k - pb]; a 1x1 shortcut with stride s' and no pads reads x[s' n]
    const sStrides = shortcut ? shortcut.strides : branch.strides.map(() => 1);
    if (shortcut && !isOneByOne(shortcut)) return null;
    let stride = 1;
    for (let i = branch.kernel.length - 1; i >= 0; i--) {
      if (branch.strides[i] !== sStrides[i]) return null;
      const k = branch.pads[i] / branch.dilations[i];
      if (!Number.isInteger(k) || k < 0 || k >= branch.kernel[i]) return null;
      tap += k * stride;
      stride *= branch.kernel[i];
    }
  } else if (shortcut && shortcut.kind !== 'dense') return null;
  const values = Float64Array.from(branch.values, (v) => coef * v);
  const sv = shortcut?.values;
  for (let o = 0; o < cout; o++)
    for (let c = 0; c < cin; c++) {
      const add = sv ? sv[o * cin + c] : o === c ? 1 : 0;
      values[(o * cin + c) * t + tap] += add;
    }
  const nb = frobenius(branch.values);
  const ns = sv ? frobenius(sv) : Math.sqrt(cout);
  // coef is a product of a few activation midpoints (exact for ReLU's 1/2): its own rounding, the
  // scaling and the addition cost a few units of roundoff each, entrywise
  const errorF = Math.abs(coef) * branch.errorF + (shortcut?.errorF ?? 0) + 8 * UNIT_ROUNDOFF * (Math.abs(coef) * nb + ns);
  return { ...branch, values, errorF, names: [...branch.names, shortcut ? shortcut.names.join('+') : 'identity'] };
}

/** Largest Gram-root factorisation a compression may cost (multiply-adds; the Gram on native DGEMM once large). */
const MAX_ROOT_MACS = 4e9;

/**
 * The channel count a run's end keeps after compressEnd (a 1x1 conv without pads, or dense, that is
 * wide at the input end or tall at the output end), or null when it is not compressed. One rule for
 * compressEnd and the cost estimate of blocks.ts.
 */
export function compressedWidth(oneByOne: boolean, cout: number, cin: number, end: 'input' | 'output'): number | null {
  const [small, big] = end === 'input' ? [cout, cin] : [cin, cout];
  return oneByOne && small < big && gramRootCost(small, big) <= MAX_ROOT_MACS ? small : null;
}

/**
 * A norm-dominating stand-in for a channel-mixing map at one end of a run (1x1 conv without pads, or
 * dense): at the run's input end a wide map W (cout < cin) becomes L (cout x cout) with
 * L L^T >= W W^T, at its output end a tall map (cout > cin) becomes R (cin x cin) with R^T R >= W^T W.
 * Then ||rest o W|| <= ||rest o L|| and ||W o rest|| <= ||R o rest|| for any linear `rest` (1x1 maps act
 * per position, so subsampling strides stay as they are), with equality in exact arithmetic: the run
 * keeps its norm but its merged operator has min(cin, cout) channels on that side. Null when W is not
 * such a map, is not smaller that way, or the factorisation would cost too much. The result's errorF
 * is 0: it dominates every map within W's own errorF, not just W.
 */
export async function compressEnd(k: DerivedKernel, end: 'input' | 'output'): Promise<DerivedKernel | null> {
  const small = compressedWidth(k.kind === 'dense' || isOneByOne(k), k.cout, k.cin, end);
  if (small === null) return null;
  const wide = end === 'input';
  const big = wide ? k.cin : k.cout;
  // rows of A: the small side's channels
  let a = k.values;
  if (!wide) {
    a = new Float64Array(small * big);
    for (let o = 0; o < big; o++) for (let c = 0; c < small; c++) a[c * big + o] = k.values[o * small + c];
  }
  const native = small * small * big >= NATIVE_MIN_MACS;
  const l = await gramRootLower(a, small, big, k.errorF, native
    ? (rows) => gramNative(small, big, (c0, w, out) => {
      for (let i = 0; i < small; i++) out.set(rows.subarray(i * big + c0, i * big + c0 + w), i * w);
    })
    : undefined);
  if (!l) return null;
  let values = l;
  if (!wide) {
    // R = L^T
    values = new Float64Array(small * small);
    for (let i = 0; i < small; i++) for (let j = 0; j < small; j++) values[i * small + j] = l[j * small + i];
  }
  const inputShape = wide && k.inputShape ? [small, ...k.inputShape.slice(1)] : k.inputShape;
  return { ...k, cout: small, cin: small, values, errorF: 0, inputShape, names: [`root(${k.names.join('*')})`] };
}

/** The merged operator as a layer record the per-layer engine bounds (weights rounded once to float32, error recorded). */
export function toLayer(k: DerivedKernel, name: string): ConvLayer | DenseLayer | null {
  const weight = Float32Array.from(k.values);
  const n32 = frobenius(weight);
  const n64 = frobenius(k.values);
  if (!(n32 > 0) || !Number.isFinite(n32)) return null;
  // ||W32 - exact||_F <= errorF + u ||W64||_F (+ subnormal slack); as a relative Frobenius bound on W32
  const absolute = k.errorF + U32 * n64 + 2 ** -149 * Math.sqrt(weight.length);
  const weightRounding = (absolute / n32) * (1 + 1e-12);
  const notes = [`merged: ${k.names.join(' -> ')}`];
  if (k.kind === 'dense') {
    return {
      kind: 'dense', name, op: 'Merged', nodeIndex: -1, notes, weight, weightShape: [k.cout, k.cin], hasBias: false, foldedBatchNorm: false,
      inputShape: null, outputShape: null, weightRounding,
    };
  }
  const nd = k.kernel.length;
  return {
    kind: 'conv', name, op: 'Conv', nodeIndex: -1, notes, weight, weightShape: [k.cout, k.cin, ...k.kernel], spatialDims: nd,
    strides: k.strides, dilations: k.dilations, pads: k.pads, autoPad: 'NOTSET', group: 1, outputPadding: Array(nd).fill(0),
    hasBias: false, foldedBatchNorm: false, inputShape: k.inputShape, outputShape: null, inputSizeAssumed: k.inputSizeAssumed, weightRounding,
  };
}
