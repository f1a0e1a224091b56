// Certified l2 Lipschitz constants of individual graph operators (pure numbers in, numbers out).
// Every value returned here is an UPPER bound on the operator's l2 Lipschitz constant; where an
// operator is not globally Lipschitz, or we cannot prove a constant, the function says so
// (value null + reason) instead of guessing. The graph walk (walk.ts) reads attributes and
// constants off the ONNX nodes and calls these. Computed constants are rounded upward (rounding.ts):
// the float returned is >= the real-number constant.

/** A constant with the reason it holds, or null with the reason it cannot be certified. */
export type Certified = { value: number; why: string } | { value: null; why: string };

import { addDown, divUp, mulUp, sqrtDown, sqrtUp, subUp } from '../linalg/rounding.js';

const ok = (value: number, why: string): Certified => ({ value, why });
const no = (why: string): Certified => ({ value: null, why });

// ---------------------------------------------------------------------------------------------
// Scalar activations. Applied elementwise, f has l2 Lipschitz constant sup|f'| (per coordinate
// |f(a)-f(b)| <= sup|f'| |a-b|; sum the squares). The constants below that have no closed form
// were computed by locating the zero of f'' (golden-section search on |f'| around the grid maximum
// of a 1e-4 grid on [-20, 20], double precision; scratch derivation reproduced by
// test/op-constants.test.ts against onnxruntime's own evaluation) and rounded UP in the 6th digit.

/**
 * Exact (erf) GELU x*Phi(x): f' = Phi(x) + x phi(x), f'' = phi(x)(2 - x^2) vanishes at x = sqrt 2, so
 * sup|f'| = Phi(sqrt2) + sqrt2 phi(sqrt2) = (1 + erf(1))/2 + 1/(e sqrt(pi)) = 1.12890414518...
 * (the minimum, at -sqrt2, is -0.1289). Rounded up.
 */
export const GELU_ERF_CONSTANT = 1.12891;
/** tanh-approximate GELU 0.5x(1+tanh(sqrt(2/pi)(x+0.044715x^3))): sup|f'| = 1.12899306866 at x ~ 1.4185. */
export const GELU_TANH_CONSTANT = 1.129;
/** SiLU/Swish x*sigmoid(x): f' = s(1 + x(1-s)), maximal where 2 + x(1-2s) = 0, x ~ 2.3994: 1.09983932013. */
export const SILU_CONSTANT = 1.09984;
/** Mish x*tanh(softplus(x)): sup|f'| = 1.08849816125 at x ~ 1.4906. */
export const MISH_CONSTANT = 1.0885;
/** erf: sup|erf'| = 2/sqrt(pi) at 0 (Math.PI < pi, and sqrt rounded down, / up: >= the real value). */
export const ERF_CONSTANT = divUp(2, sqrtDown(Math.PI));

/**
 * x * clip(alpha x + beta, 0, 1) with alpha > 0 (ONNX HardSwish is alpha = 1/6, beta = 1/2).
 * On the ramp (-beta/alpha, (1-beta)/alpha) f' = 2 alpha x + beta, which runs linearly from -beta
 * to 2 - beta; outside f' is 0 or 1. So sup|f'| = max(1, |beta|, |2 - beta|) (HardSwish: 1.5).
 */
export function hardSwishConstant(alpha: number, beta: number): Certified {
  if (!(alpha > 0)) return no(`x*HardSigmoid(x) with alpha=${alpha} <= 0 is not handled`);
  return ok(Math.max(1, Math.abs(beta), subUp(2, beta), subUp(beta, 2)), `x*clip(${alpha}x+${beta},0,1): max(1,|beta|,|2-beta|)`);
}

/**
 * x * s clip(a x + b, 0, m) with a, s, m > 0 (HardSwish written out: x * clip(x + 3, 0, 6), then / 6):
 * it is s m x clip((a/m) x + b/m, 0, 1), so s m times the x*HardSigmoid constant at beta = b/m,
 * which does not depend on the slope. `betaLo..betaHi` encloses b/m (rounding of the chain).
 */
export function clippedGateConstant(s: number, m: number, betaLo: number, betaHi: number): Certified {
  if (!(s > 0 && m > 0 && Number.isFinite(s * m) && betaLo <= betaHi)) return no('x*clip(ax+b,0,m) with a non-positive or infinite scale');
  const c = Math.max(1, Math.abs(betaLo), Math.abs(betaHi), subUp(2, betaLo), subUp(betaHi, 2));
  return ok(mulUp(mulUp(s, m), c), `x*${s === 1 ? '' : `${s}*`}clip(ax+b,0,${m}): ${m === 1 && s === 1 ? '' : 's*m*'}max(1,|b/m|,|2-b/m|)`);
}

export type AttrGetter = {
  f(name: string, dflt: number): number;
  s(name: string, dflt: string): string;
};

const LIPSCHITZ_1: Record<string, string> = {
  Relu: 'max(0,x)',
  Abs: '|x|',
  Neg: '-x',
  Tanh: "sup|tanh'| = 1 at 0",
  Softplus: "softplus' = sigmoid < 1",
  Softsign: "softsign' = 1/(1+|x|)^2 <= 1",
  Sin: "|sin'| <= 1",
  Cos: "|cos'| <= 1",
  Atan: "atan' = 1/(1+x^2) <= 1",
  Asinh: "asinh' = 1/sqrt(1+x^2) <= 1",
  Clip: 'projection onto an interval',
  HardTanh: 'projection onto an interval',
  Identity: 'identity',
};

/** Why the common non-Lipschitz elementwise ops are refused (a clearer message than "unknown op"). */
export const NOT_LIPSCHITZ: Record<string, string> = {
  Exp: 'unbounded derivative (not globally Lipschitz)',
  Log: 'unbounded derivative near 0',
  Sqrt: 'unbounded derivative near 0',
  Reciprocal: 'unbounded derivative near 0',
  Pow: 'not globally Lipschitz',
  Sinh: 'unbounded derivative',
  Cosh: 'unbounded derivative',
  Tan: 'unbounded derivative',
  Asin: 'unbounded derivative near +-1',
  Acos: 'unbounded derivative near +-1',
  Acosh: 'unbounded derivative near 1',
  Atanh: 'unbounded derivative near +-1',
  Round: 'discontinuous',
  Floor: 'discontinuous',
  Ceil: 'discontinuous',
  Sign: 'discontinuous',
  ArgMax: 'discontinuous',
  ArgMin: 'discontinuous',
  NonZero: 'discontinuous',
  TopK: 'indices output is discontinuous (not handled)',
  QuantizeLinear: 'rounding to integers is discontinuous',
  DynamicQuantizeLinear: 'rounding to integers is discontinuous',
  LayerNormalization: 'divides by the runtime standard deviation: not globally Lipschitz',
  InstanceNormalization: 'divides by the runtime standard deviation: not globally Lipschitz',
  GroupNormalization: 'divides by the runtime standard deviation: not globally Lipschitz',
  LpNormalization: 'divides by the runtime norm: not globally Lipschitz',
  MeanVarianceNormalization: 'divides by the runtime standard deviation: not globally Lipschitz',
  LRN: 'local response normalization: no certified constant implemented',
  RandomNormal: 'random output',
  RandomUniform: 'random output',
  RandomNormalLike: 'random output',
  RandomUniformLike: 'random output',
  Bernoulli: 'random output',
  Multinomial: 'random output',
};

/**
 * The constant of an elementwise activation with ONNX semantics and defaults, or null when
 * unknown / not Lipschitz. `domain` '' is the default ONNX domain; a few com.microsoft
 * contrib activations with published definitions are accepted as well.
 */
export function activationConstant(op: string, domain: string, a: AttrGetter): Certified | undefined {
  const onnx = domain === '' || domain === 'ai.onnx';
  const ms = domain === 'com.microsoft';
  if (!onnx && !ms) return undefined;
  if (onnx && op in LIPSCHITZ_1) return ok(1, LIPSCHITZ_1[op]);
  if (onnx && op in NOT_LIPSCHITZ) return no(`${op}: ${NOT_LIPSCHITZ[op]}`);
  switch (onnx ? op : `ms.${op}`) {
    case 'LeakyRelu': {
      const alpha = a.f('alpha', 0.01);
      return ok(Math.max(1, Math.abs(alpha)), `slopes 1 and alpha=${alpha}`);
    }
    case 'Elu': {
      // alpha(e^x - 1) for x < 0 has derivative alpha e^x, |.| <= |alpha|
      const alpha = a.f('alpha', 1);
      return ok(Math.max(1, Math.abs(alpha)), `slopes 1 and alpha e^x, alpha=${alpha}`);
    }
    case 'Selu': {
      const alpha = a.f('alpha', 1.67326319217681884765625);
      const gamma = a.f('gamma', 1.05070102214813232421875);
      return ok(mulUp(Math.abs(gamma), Math.max(1, Math.abs(alpha))), `gamma*max(1,alpha), gamma=${gamma}, alpha=${alpha}`);
    }
    case 'Celu': {
      // x<0: alpha(exp(x/alpha)-1), derivative exp(x/alpha) <= 1 for alpha > 0
      const alpha = a.f('alpha', 1);
      return alpha > 0 ? ok(1, "celu' <= 1 for alpha > 0") : no(`Celu with alpha=${alpha} <= 0`);
    }
    case 'ThresholdedRelu': {
      const alpha = a.f('alpha', 1);
      return alpha === 0 ? ok(1, 'alpha = 0 is Relu') : no(`ThresholdedRelu with alpha=${alpha} jumps at alpha (discontinuous)`);
    }
    case 'Shrink': {
      // continuous only when bias = lambd (soft shrink); hard shrink jumps by lambd - bias
      const lambd = a.f('lambd', 0.5);
      const bias = a.f('bias', 0);
      return lambd >= 0 && bias === lambd ? ok(1, 'soft shrink (bias = lambd)') : no(`Shrink with bias=${bias} != lambd=${lambd} is discontinuous`);
    }
    case 'Sigmoid':
      return ok(0.25, "sigmoid' = s(1-s) <= 1/4");
    case 'HardSigmoid': {
      const alpha = a.f('alpha', 0.2);
      return ok(Math.abs(alpha), `slope alpha=${alpha} on the ramp, 0 elsewhere`);
    }
    case 'HardSwish':
      return hardSwishConstant(1 / 6, 0.5);
    case 'Erf':
      return ok(ERF_CONSTANT, 'sup|erf\'| = 2/sqrt(pi)');
    case 'Mish':
      return ok(MISH_CONSTANT, 'Mish sup|f\'| (numerical, rounded up)');
    case 'Gelu': {
      const approx = a.s('approximate', 'none');
      if (approx === 'none') return ok(GELU_ERF_CONSTANT, 'exact GELU: (1+erf(1))/2 + 1/(e sqrt(pi)), rounded up');
      if (approx === 'tanh') return ok(GELU_TANH_CONSTANT, 'tanh GELU (numerical, rounded up)');
      return no(`Gelu with approximate='${approx}'`);
    }
    case 'Swish': {
      // ONNX opset 24: x * sigmoid(alpha x); f'(x) = silu'(alpha x), same sup for alpha > 0
      const alpha = a.f('alpha', 1);
      return alpha > 0 ? ok(SILU_CONSTANT, 'x*sigmoid(alpha x), alpha>0: sup = SiLU constant') : no(`Swish with alpha=${alpha} <= 0`);
    }
    case 'ms.Gelu':
      return ok(GELU_ERF_CONSTANT, 'com.microsoft Gelu (exact erf form)');
    case 'ms.FastGelu':
      return ok(GELU_TANH_CONSTANT, 'com.microsoft FastGelu (tanh form)');
    case 'ms.QuickGelu': {
      const alpha = a.f('alpha', 1.702);
      return alpha > 0 ? ok(SILU_CONSTANT, 'x*sigmoid(alpha x), alpha>0: sup = SiLU constant') : no(`QuickGelu with alpha=${alpha} <= 0`);
    }
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------------------------------------
// Pooling. Windows factor over the spatial axes (a window is a box), so the per-axis structure
// decides everything: the number of windows holding an input element is the product of per-axis
// counts, and a separable average is a Kronecker product of per-axis matrices whose l2 norm is the
// product of the per-axis norms.

export interface PoolAxis {
  /** Input length along this axis, or null when unknown. */
  dim: number | null;
  kernel: number;
  stride: number;
  dilation: number;
  padBegin: number;
  padEnd: number;
}

/** Resolve SAME_UPPER / SAME_LOWER padding for a known length (ONNX: output = ceil(dim / stride)). */
export function samePads(dim: number, kernel: number, stride: number, dilation: number, upper: boolean): [number, number] {
  const span = dilation * (kernel - 1) + 1;
  const total = Math.max(0, (Math.ceil(dim / stride) - 1) * stride + span - dim);
  const small = Math.floor(total / 2);
  return upper ? [small, total - small] : [total - small, small];
}

/**
 * Window start positions along one axis (relative to the unpadded input; may be negative).
 * With ceil_mode we keep the extra partial window whatever the runtime's rule for dropping it:
 * an extra window only adds rows to the operator, which can never lower the bound.
 */
function windowStarts(ax: PoolAxis & { dim: number }, ceilMode: boolean): number[] {
  const span = ax.dilation * (ax.kernel - 1) + 1;
  const room = ax.dim + ax.padBegin + ax.padEnd - span;
  if (room < 0) return [];
  const n = (ceilMode ? Math.ceil(room / ax.stride) : Math.floor(room / ax.stride)) + 1;
  return Array.from({ length: n }, (_, o) => o * ax.stride - ax.padBegin);
}

/**
 * Largest number of windows that contain one input element along an axis. Known length: counted
 * exactly. Unknown length: on an infinite line element i lies in the windows o with
 * o*stride = i + padBegin - k*dilation, i.e. one per tap k with k*dilation in i's residue class
 * mod stride; the max over residues bounds every finite length (boundaries only remove windows).
 */
export function maxWindowCount(ax: PoolAxis, ceilMode: boolean): number {
  if (ax.dim === null) {
    let best = 0;
    for (let r = 0; r < ax.stride; r++) {
      let c = 0;
      for (let k = 0; k < ax.kernel; k++) if ((((k * ax.dilation - r) % ax.stride) + ax.stride) % ax.stride === 0) c++;
      best = Math.max(best, c);
    }
    return best;
  }
  const counts = new Array<number>(ax.dim).fill(0);
  for (const s of windowStarts({ ...ax, dim: ax.dim }, ceilMode))
    for (let k = 0; k < ax.kernel; k++) {
      const i = s + k * ax.dilation;
      if (i >= 0 && i < ax.dim) counts[i]++;
    }
  return Math.max(0, ...counts);
}

/**
 * MaxPool: each output is 1-Lipschitz in the l_inf norm of its window, |max a - max b| <= max|a-b|
 * <= ||a-b||_2 over the window, so ||f(x)-f(y)||^2 <= sum_i count_i (x_i-y_i)^2 <= maxcount ||x-y||^2.
 * Tight: raise one element of maximal count above everything else in its windows.
 */
export function maxPoolConstant(axes: PoolAxis[], ceilMode: boolean): number {
  return sqrtUp(axes.reduce((p, ax) => p * maxWindowCount(ax, ceilMode), 1)); // integer product: exact
}

/**
 * Certified upper bound on the l2 norm of a nonnegative rows x cols matrix (row-major).
 * Collatz-Wielandt: for nonnegative symmetric G and ANY positive v, lambda_max(G) <= max_i (Gv)_i / v_i.
 * G is the smaller Gram matrix and v comes from power iteration (any v is valid; a good v is tight).
 * Also capped by the Schur test sqrt(max col sum * max row sum).
 */
export function nonnegativeMatrixNorm(a: Float64Array, rows: number, cols: number, iterations = 300): number {
  let colMax = 0;
  let rowMax = 0;
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < cols; j++) s += a[i * cols + j];
    rowMax = Math.max(rowMax, s);
  }
  for (let j = 0; j < cols; j++) {
    let s = 0;
    for (let i = 0; i < rows; i++) s += a[i * cols + j];
    colMax = Math.max(colMax, s);
  }
  const schur = Math.sqrt(colMax * rowMax);
  const n = Math.min(rows, cols);
  if (n === 0) return 0;
  const g = new Float64Array(n * n);
  const byRows = rows <= cols;
  for (let p = 0; p < n; p++)
    for (let q = p; q < n; q++) {
      let s = 0;
      if (byRows) for (let k = 0; k < cols; k++) s += a[p * cols + k] * a[q * cols + k];
      else for (let k = 0; k < rows; k++) s += a[k * cols + p] * a[k * cols + q];
      g[p * n + q] = g[q * n + p] = s;
    }
  let v = new Float64Array(n).fill(1);
  const gv = new Float64Array(n);
  const mul = (x: Float64Array) => {
    for (let p = 0; p < n; p++) {
      let s = 0;
      for (let q = 0; q < n; q++) s += g[p * n + q] * x[q];
      gv[p] = s;
    }
  };
  for (let it = 0; it < iterations; it++) {
    mul(v);
    const m = Math.max(...gv);
    if (!(m > 0)) return 0;
    // a floor keeps v strictly positive (the certificate needs v > 0; zero rows of G give 0/floor = 0)
    v = Float64Array.from(gv, (x) => Math.max(x / m, 1e-12));
  }
  mul(v);
  let lambda = 0;
  for (let p = 0; p < n; p++) lambda = Math.max(lambda, gv[p] / v[p]);
  // relative slack for rounding in the Gram sums (terms are nonnegative: error <= n * eps)
  const cw = Math.sqrt(lambda * (1 + 1e-12 * (n + cols + rows)));
  return Math.min(cw, schur * (1 + 1e-12 * (rows + cols)));
}

/**
 * AveragePool along one axis as a matrix: output o averages the in-range taps of its window,
 * divided by the number of in-range taps (count_include_pad = 0) or by the kernel size when the
 * window lies inside the padded extent [-padBegin, dim + padEnd) (count_include_pad = 1).
 */
export function averagePoolAxisMatrix(ax: PoolAxis & { dim: number }, ceilMode: boolean, countIncludePad: boolean): { a: Float64Array; rows: number; cols: number } {
  const starts = windowStarts(ax, ceilMode);
  const rows = starts.length;
  const cols = ax.dim;
  const a = new Float64Array(rows * cols);
  starts.forEach((s, o) => {
    const taps: number[] = [];
    let padded = 0;
    for (let k = 0; k < ax.kernel; k++) {
      const i = s + k * ax.dilation;
      if (i >= -ax.padBegin && i < ax.dim + ax.padEnd) padded++;
      if (i >= 0 && i < ax.dim) taps.push(i);
    }
    // A ceil_mode window that runs past the padded extent has no agreed divisor (runtimes use the
    // kernel size, the padded count or the in-range count): take the smallest, the in-range count,
    // so the weights are never underestimated (the norm of a nonnegative matrix grows with its entries).
    const divisor = countIncludePad && padded === ax.kernel ? padded : countIncludePad ? Math.min(padded, taps.length) : taps.length;
    for (const i of taps) a[o * cols + i] += 1 / divisor;
  });
  return { a, rows, cols };
}

/**
 * AveragePool: the operator is the Kronecker product of per-axis averaging matrices (windows are
 * boxes and the divisor is a product of per-axis counts), so its norm is the product of per-axis
 * norms. Known length: certified nonnegative-matrix bound (Collatz-Wielandt, near exact). Unknown
 * length: Schur test with row sums <= 1 (divisor >= in-range taps) and column sums <= count
 * (each weight <= 1), i.e. sqrt(maxWindowCount).
 */
export function averagePoolConstant(axes: PoolAxis[], ceilMode: boolean, countIncludePad: boolean): number {
  let bound = 1;
  for (const ax of axes) {
    if (ax.dim === null) bound = mulUp(bound, sqrtUp(maxWindowCount(ax, ceilMode)));
    else {
      const { a, rows, cols } = averagePoolAxisMatrix({ ...ax, dim: ax.dim }, ceilMode, countIncludePad);
      bound = mulUp(bound, nonnegativeMatrixNorm(a, rows, cols));
    }
  }
  return bound;
}

// ---------------------------------------------------------------------------------------------
// Selections: outputs that copy input elements (Pad, nearest Resize, Gather, Tile, broadcasting).
// Such an operator has one 1 per row and columns with disjoint row supports, so A^T A is diagonal
// with the copy counts: ||A|| = sqrt(max number of copies of one input element). Per-axis copy
// maps multiply (the operator is a Kronecker product).

/** Largest number of times one source index appears in `map` (entries < 0 are fills, not copies). */
export function maxMultiplicity(map: ArrayLike<number>): number {
  const counts = new Map<number, number>();
  let best = 0;
  for (let i = 0; i < map.length; i++) {
    const s = map[i];
    if (s < 0) continue;
    const c = (counts.get(s) ?? 0) + 1;
    counts.set(s, c);
    best = Math.max(best, c);
  }
  return best;
}

export type PadMode = 'constant' | 'reflect' | 'edge' | 'wrap';

/** Source index of each output position of a padded axis (-1 = constant fill). Negative pads crop. */
export function padAxisMap(dim: number, begin: number, end: number, mode: PadMode): number[] | null {
  const out = dim + begin + end;
  if (out < 0 || dim <= 0) return null;
  const map: number[] = [];
  for (let p = 0; p < out; p++) {
    let i = p - begin;
    if (i < 0 || i >= dim) {
      if (mode === 'constant') i = -1;
      else if (mode === 'edge') i = Math.min(dim - 1, Math.max(0, i));
      else if (mode === 'wrap') i = ((i % dim) + dim) % dim;
      else {
        if (dim === 1) i = 0;
        else {
          const period = 2 * (dim - 1);
          const r = ((i % period) + period) % period;
          i = r < dim ? r : period - r;
        }
      }
    }
    map.push(i);
  }
  return map;
}

/**
 * Largest copy count of one element along a reflect/edge/wrap padded axis of ANY length >= 1.
 * The map differs from the identity only within |begin| + |end| + 1 positions of either end, and
 * counts there depend on the distance to that end, not on the length; once the length exceeds
 * 2(|begin| + |end| + 1) the two end zones are disjoint and the maximum no longer changes. So the
 * maximum over lengths 1 .. 2(|begin| + |end|) + 3 is the maximum over all lengths (null: invalid pads).
 */
export function padSizeFreeCopies(begin: number, end: number, mode: PadMode): number | null {
  if (begin === 0 && end === 0) return 1;
  let best = 0;
  for (let dim = 1; dim <= 2 * (Math.abs(begin) + Math.abs(end)) + 3; dim++) {
    const map = padAxisMap(dim, begin, end, mode);
    if (map) best = Math.max(best, maxMultiplicity(map));
  }
  return best > 0 ? best : null;
}

/** Resize coordinate transforms and rounding modes (the per-axis rules are in resize.ts). */
export type CoordinateMode = 'half_pixel' | 'half_pixel_symmetric' | 'pytorch_half_pixel' | 'align_corners' | 'asymmetric';
export type NearestMode = 'round_prefer_floor' | 'round_prefer_ceil' | 'floor' | 'ceil';

/**
 * Gather along an axis with constant indices: input slice j is copied once per occurrence of j.
 * Negative indices count from the end; with the axis length unknown a negative index may alias
 * any non-negative one, so all negatives are added to the worst non-negative count.
 */
export function gatherMultiplicity(indices: ArrayLike<number>, axisDim: number | null): number {
  const idx = Array.from(indices, Math.round);
  if (axisDim !== null) return maxMultiplicity(idx.map((i) => (i < 0 ? i + axisDim : i)));
  const neg = idx.filter((i) => i < 0);
  const pos = idx.filter((i) => i >= 0);
  return maxMultiplicity(pos) + (neg.length > 0 ? Math.max(maxMultiplicity(neg), neg.length) : 0);
}

// ---------------------------------------------------------------------------------------------
// Broadcasting and normalization (the broadcast shape itself: model/shape.ts).

// Dims < 0 are symbolic (GraphNode.inputShapes): equal negative values are the same length,
// anything else about them is unknown (any length >= 1).

/**
 * How many copies of each input element a broadcast from `inShape` to `outShape` makes (every
 * element is copied equally often), an upper bound valid for every value of the symbolic dims:
 * null when it cannot be decided from the shapes, or is unbounded over the symbolic lengths (a
 * length-1 or symbolic input dim broadcast to a different symbolic output dim).
 */
export function broadcastReplication(inShape: number[] | null, outShape: number[] | null): number | null {
  if (!inShape || !outShape || inShape.length > outShape.length) return null;
  let rep = 1;
  for (let a = 0; a < outShape.length; a++) {
    const o = outShape[a];
    const i = inShape[a - (outShape.length - inShape.length)] ?? 1;
    if (!Number.isInteger(i) || !Number.isInteger(o) || i === 0 || o === 0) return null;
    if (i === o) continue; // same length (same symbol): no copies
    if (o >= 1 && (i === 1 || i < 0)) rep *= o; // a symbolic input dim is o or 1: at most o copies
    else if (o < 0 && i > 1) continue; // valid broadcasting forces the symbolic output length to be i
    else return null;
  }
  return rep;
}

/** True when the shapes broadcast an input dim to a symbolic output dim it may differ from (copies grow with the input size). */
export function sizeDependentBroadcast(inShape: number[] | null, outShape: number[] | null): boolean {
  if (!inShape || !outShape || inShape.length > outShape.length) return false;
  return outShape.some((o, a) => {
    const i = inShape[a - (outShape.length - inShape.length)] ?? 1;
    return o < 0 && i !== o && !(i > 1);
  });
}

/** Unfolded BatchNormalization y = gamma (x - mean)/sqrt(var + eps) + beta: a diagonal map. */
export function batchNormConstant(scale: ArrayLike<number>, variance: ArrayLike<number>, epsilon: number): Certified {
  if (scale.length !== variance.length && scale.length !== 1 && variance.length !== 1) return no('BatchNormalization scale/var lengths differ');
  const n = Math.max(scale.length, variance.length);
  let m = 0;
  for (let c = 0; c < n; c++) {
    const g = scale[scale.length === 1 ? 0 : c];
    const v = addDown(variance[variance.length === 1 ? 0 : c], epsilon);
    if (!(v > 0) || !Number.isFinite(g)) return no('BatchNormalization with var + eps <= 0 or non-finite scale');
    m = Math.max(m, divUp(Math.abs(g), sqrtDown(v)));
  }
  return ok(m, 'max |gamma / sqrt(var + eps)|');
}

/** max |c| of a constant multiplier (Mul), or 1 / min |c| of a constant divisor (Div). */
export function scaleConstant(values: ArrayLike<number>, divide: boolean): Certified {
  let mx = 0;
  let mn = Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = Math.abs(values[i]);
    if (!Number.isFinite(v)) return no('non-finite constant');
    mx = Math.max(mx, v);
    mn = Math.min(mn, v);
  }
  if (values.length === 0) return no('empty constant');
  if (divide) return mn > 0 ? ok(divUp(1, mn), '1 / min |divisor|') : no('division by a constant containing 0');
  return ok(mx, 'max |multiplier|');
}
