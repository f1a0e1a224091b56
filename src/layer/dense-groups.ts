// [spectral] "dense per group" route: the certified norm of a conv layer's REAL operator (its zero
// padding, stride, dilation, output size; ConvTranspose as the scatter) on the layer's input size, when
// each group's operator is small: one banded Gram matrix per group (depthwise: per channel), certified
// with the eigen certificate against one target shared by all groups; the max over groups is the norm.
// Derivation: docs/derivations.md#dense-per-group-route-the-real-operator-of-small-groups
import type { ConvLayer } from '../model/layer.js';
import type { Kernel2D } from './kernel.js';
import { bandIndex, bandedGershgorin, bandedGramOps } from '../linalg/cholesky-banded.js';
import { certifyGram, newTarget } from '../linalg/eigen-certificate.js';
import { UNIT_ROUNDOFF, roundUp, weightScale } from '../linalg/rounding.js';
import { normalArray } from '../util/random.js';
import { convOutputSize, convTransposeOutputSize } from '../native/normal-operator.js';
import { effectiveTolerance } from './dense-norm.js';

/**
 * The sparsity pattern of one group's explicit matrix A (every group has the same one), arranged for
 * the Gram matrix on its smaller side: G = B B^T with B = A (rows <= cols) or A^T. Small-side indices
 * are position-major (position * channels + channel), so G is banded with half-bandwidth `band`.
 */
export interface GroupPattern {
  groups: number;
  /** Weight entries per group (group g's weights start at g * groupStride). */
  groupStride: number;
  /** Order of G (the smaller side of A). */
  n: number;
  /** Length of the long side of A. */
  k: number;
  band: number;
  /** CSR over the long side: entries start[l] .. start[l+1]-1, sorted by small index. */
  start: Int32Array;
  small: Int32Array;
  /** Offset of the entry's weight inside its group's slice. */
  wOff: Int32Array;
  /** Most products summed into one entry of G (nonzeros in a row of B). */
  terms: number;
  /** Pairs formed per group: sum over the long side of len (len + 1) / 2. */
  pairs: number;
}

/** (output index, input index, tap) along one axis of the layer's real operator. */
function axisTriples(nIn: number, nOut: number, k: number, s: number, d: number, pb: number, transpose: boolean): number[][] {
  const out: number[][] = [];
  if (!transpose) {
    // Conv: y[p] reads x[s p - pb + d t]
    for (let p = 0; p < nOut; p++)
      for (let t = 0; t < k; t++) {
        const q = s * p - pb + d * t;
        if (q >= 0 && q < nIn) out.push([p, q, t]);
      }
  } else {
    // ConvTranspose: x[q] scatters into y[s q - pb + d t]
    for (let q = 0; q < nIn; q++)
      for (let t = 0; t < k; t++) {
        const p = s * q - pb + d * t;
        if (p >= 0 && p < nOut) out.push([p, q, t]);
      }
  }
  return out;
}

/**
 * The geometry of a conv layer's real operator on its input size (per group: coutG outputs and cinG
 * inputs per position; per spatial axis, the (output, input, tap) triples). 1-D layers get a second
 * axis of length 1. (onnx/conv-attrs.ts's ConvGeometry is the attributes, this is the operator.)
 */
export interface OperatorGeometry {
  transpose: boolean;
  groups: number;
  coutG: number;
  cinG: number;
  taps: number;
  /** Taps along the second axis (1 for 1-D). */
  kw: number;
  axes: number[][][];
  inSp: number[];
  outSp: number[];
}

/** The layer's OperatorGeometry, or null when the input size is unknown or assumed or the output size disagrees with the record. */
export function operatorGeometry(layer: ConvLayer): OperatorGeometry | null {
  const nd = layer.spatialDims;
  const shape = layer.inputShape;
  if (layer.inputSizeAssumed || !shape || shape.length !== nd + 1 || (nd !== 1 && nd !== 2)) return null;
  const transpose = layer.op === 'ConvTranspose';
  const g = layer.group || 1;
  const [w0, w1] = layer.weightShape;
  // Conv weight [cout, cin/g, k]; ConvTranspose [cin, cout/g, k]: per group cinG inputs, coutG outputs
  const coutG = transpose ? w1 : w0 / g;
  const cinG = transpose ? w0 / g : w1;
  if (!Number.isInteger(coutG) || !Number.isInteger(cinG) || shape[0] !== cinG * g) return null;
  const kernel = layer.weightShape.slice(2);
  const taps = kernel.reduce((a, b) => a * b, 1);
  const axes: number[][][] = [];
  const inSp: number[] = [];
  const outSp: number[] = [];
  for (let a = 0; a < nd; a++) {
    const [n, k, s, d, pb, pe] = [shape[1 + a], kernel[a], layer.strides[a] ?? 1, layer.dilations[a] ?? 1, layer.pads[a] ?? 0, layer.pads[a + nd] ?? 0];
    if (![n, k, s, d, pb, pe].every(Number.isInteger) || n < 1 || k < 1 || s < 1 || d < 1 || pb < 0 || pe < 0) return null;
    const m = transpose ? convTransposeOutputSize(n, k, s, d, pb, pe, layer.outputPadding[a] ?? 0) : convOutputSize(n, k, s, d, pb, pe);
    if (m < 1 || (layer.outputShape && layer.outputShape[1 + a] !== m)) return null;
    axes.push(axisTriples(n, m, k, s, d, pb, transpose));
    inSp.push(n);
    outSp.push(m);
  }
  if (nd === 1) {
    axes.push([[0, 0, 0]]);
    inSp.push(1);
    outSp.push(1);
  }
  return { transpose, groups: g, coutG, cinG, taps, kw: nd === 2 ? kernel[1] : 1, axes, inSp, outSp };
}

/** Offset of weight (output o, input c, tap) inside its group's slice. */
export function weightOffset(geo: OperatorGeometry, o: number, c: number, tap: number): number {
  return (geo.transpose ? c * geo.coutG + o : o * geo.cinG + c) * geo.taps + tap;
}

/**
 * The pattern of the layer's operator on its input size, or null when operatorGeometry is null, G's
 * order would exceed maxOrder, or merely forming every group's G would cost more than maxWork
 * multiply-adds.
 */
export function convGroupPattern(layer: ConvLayer, maxOrder: number, maxWork = Infinity): GroupPattern | null {
  const geo = operatorGeometry(layer);
  if (!geo) return null;
  const { groups: g, coutG, cinG, taps, kw, axes, inSp, outSp } = geo;
  const rows = coutG * outSp[0] * outSp[1];
  const cols = cinG * inSp[0] * inSp[1];
  const n = Math.min(rows, cols);
  if (n > maxOrder) return null;
  const rowsSmall = rows <= cols;
  const k = Math.max(rows, cols);
  const entries = axes[0].length * axes[1].length * coutG * cinG;
  // every entry is at least one product per group when G is formed (twice)
  if (2 * entries * g > maxWork) return null;
  // entries (long, small, wOff) of the group's matrix, positions row-major, channels innermost
  const longIdx = new Int32Array(entries);
  const smallIdx = new Int32Array(entries);
  const wOffs = new Int32Array(entries);
  let e = 0;
  for (const [p1, q1, t1] of axes[0]) {
    for (const [p2, q2, t2] of axes[1]) {
      const pos = p1 * outSp[1] + p2;
      const qos = q1 * inSp[1] + q2;
      const tap = t1 * kw + t2;
      for (let o = 0; o < coutG; o++) {
        for (let c = 0; c < cinG; c++, e++) {
          const row = pos * coutG + o;
          const col = qos * cinG + c;
          longIdx[e] = rowsSmall ? col : row;
          smallIdx[e] = rowsSmall ? row : col;
          wOffs[e] = weightOffset(geo, o, c, tap);
        }
      }
    }
  }
  // CSR over the long side (counting sort), each list then sorted by small index (lists are short)
  const count = new Int32Array(k + 1);
  for (let i = 0; i < entries; i++) count[longIdx[i] + 1]++;
  for (let l = 0; l < k; l++) count[l + 1] += count[l];
  const fill = count.slice(0, k);
  const small = new Int32Array(entries);
  const wOff = new Int32Array(entries);
  for (let i = 0; i < entries; i++) {
    const at = fill[longIdx[i]]++;
    small[at] = smallIdx[i];
    wOff[at] = wOffs[i];
  }
  for (let l = 0; l < k; l++) {
    for (let i = count[l] + 1; i < count[l + 1]; i++) {
      const sv = small[i];
      const wv = wOff[i];
      let j = i - 1;
      for (; j >= count[l] && small[j] > sv; j--) {
        small[j + 1] = small[j];
        wOff[j + 1] = wOff[j];
      }
      small[j + 1] = sv;
      wOff[j + 1] = wv;
    }
  }
  let band = 0;
  let pairs = 0;
  const perSmall = new Int32Array(n);
  for (let l = 0; l < k; l++) {
    const len = count[l + 1] - count[l];
    if (len > 0) band = Math.max(band, small[count[l + 1] - 1] - small[count[l]]);
    // formGram counts each pair once: an entry of A must not come twice (a tap is determined by p, q)
    for (let e = count[l] + 1; e < count[l + 1]; e++) if (small[e] === small[e - 1]) throw new Error('repeated entry in a conv pattern');
    pairs += (len * (len + 1)) / 2;
    for (let e = count[l]; e < count[l + 1]; e++) perSmall[small[e]]++;
  }
  let terms = 0;
  for (let i = 0; i < n; i++) terms = Math.max(terms, perSmall[i]);
  return { groups: g, groupStride: coutG * cinG * taps, n, k, band, start: count, small, wOff, terms, pairs };
}

/** Multiply-adds (JS) of one power step and of one banded Cholesky test on a pattern's Gram matrix. */
function stepCosts(p: GroupPattern): { product: number; cholesky: number } {
  const w = p.band + 1;
  return { product: p.n * (2 * w - 1), cholesky: (p.n * w * w) / 2 };
}

/**
 * Multiply-adds the route spends whatever the weights: the cheap bound of every group (the torus value
 * of one-row blocks, else forming G for its Gershgorin bound) and one certified group (a few products,
 * one Cholesky test). The groups the cheap bound does not clear add a Cholesky test each: the run
 * counts them and gives up past its work limit (denseGroupsNorm).
 */
export function denseGroupsBaseCost(p: GroupPattern, filter?: TorusFilter): number {
  const c = stepCosts(p);
  const cheap = torusFilterCost(filter, p.groups) ?? p.groups * (p.pairs + c.product);
  return cheap + p.pairs + 30 * c.product + c.cholesky;
}

/**
 * Group gr's Gram matrix (weights divided by `scale`, exactly) into g (lower band storage, zeroed
 * first); returns ||A_g||_F^2 in the same units.
 */
function formGram(p: GroupPattern, weight: ArrayLike<number>, gr: number, scale: number, g: Float64Array): number {
  g.fill(0);
  const base = gr * p.groupStride;
  const b = p.band;
  let frob2 = 0;
  for (let l = 0; l < p.k; l++) {
    const e1 = p.start[l + 1];
    for (let e = p.start[l]; e < e1; e++) {
      const i = p.small[e];
      const vi = weight[base + p.wOff[e]] / scale;
      if (vi === 0) continue;
      frob2 += vi * vi;
      // j = i (diagonal) down to the list's first entry: j <= i, i - j <= band
      for (let f = p.start[l]; f <= e; f++) g[bandIndex(i, p.small[f], b)] += vi * (weight[base + p.wOff[f]] / scale);
    }
  }
  return frob2;
}

/** A group's block of the layer's exact kernel variant and the torus of the layer (torus.ts). */
export interface TorusFilter {
  blocks: Kernel2D[];
  torus: number[];
}

/** Multiply-adds of torusRowBounds per group (one-row blocks only), or null when it does not apply. */
function torusFilterCost(f: TorusFilter | undefined, groups: number): number | null {
  if (!f || f.blocks.length !== groups) return null;
  const [n1, n2] = f.torus;
  let cost = 0;
  for (const b of f.blocks) {
    if (Math.min(b.cout, b.cin) !== 1 || b.kh > n1 || b.kw > n2) return null;
    cost += Math.max(b.cout, b.cin) * b.kh * n2 * (b.kw + Math.floor(n1 / 2) + 1);
  }
  return cost;
}

/**
 * Certified upper bounds on ||A_g||_2^2 (units of scale^2) from the torus route, for blocks with one row
 * or one column: ||A_g|| <= max over the torus grid of sigma_max(F_g(w)), and for a one-row F,
 * sigma_max^2 = sum_j |f_j(w)|^2: a 2-D DFT per entry, no eigenvalue. Real kernels make
 * |f(-w)| = |f(w)|, so half the grid (a <= N1 / 2) suffices.
 */
function torusRowBounds(f: TorusFilter, scale: number): Float64Array {
  const [n1, n2] = f.torus;
  const half = Math.floor(n1 / 2) + 1;
  const table = (m: number, len: number) => {
    // angle 2 pi (t a mod m) / m, reduced on integers first
    const c = new Float64Array(len * m);
    const sn = new Float64Array(len * m);
    for (let t = 0; t < len; t++)
      for (let a = 0; a < m; a++) {
        const th = (2 * Math.PI * ((t * a) % m)) / m;
        c[t * m + a] = Math.cos(th);
        sn[t * m + a] = Math.sin(th);
      }
    return { c, sn };
  };
  const out = new Float64Array(f.blocks.length);
  // blocks of one layer share their shape: tables and scratch are made once
  const kh0 = Math.max(...f.blocks.map((b) => b.kh));
  const kw0 = Math.max(...f.blocks.map((b) => b.kw));
  const t1 = table(n1, kh0);
  const t2 = table(n2, kw0);
  const acc = new Float64Array(half * n2);
  const xr = new Float64Array(kh0 * n2);
  const xi = new Float64Array(kh0 * n2);
  for (const [gi, b] of f.blocks.entries()) {
    const { kh, kw } = b;
    const entries = b.cout * b.cin;
    acc.fill(0);
    let err2 = 0;
    for (let j = 0; j < entries; j++) {
      const base = j * kh * kw;
      let abs = 0;
      // along the second axis: X[h][b] = sum_v K[h, v] e^{-i 2 pi v b / n2}
      for (let h = 0; h < kh; h++)
        for (let bb = 0; bb < n2; bb++) {
          let re = 0;
          let im = 0;
          for (let v = 0; v < kw; v++) {
            const kv = b.data[base + h * kw + v] / scale;
            re += kv * t2.c[v * n2 + bb];
            im -= kv * t2.sn[v * n2 + bb];
          }
          xr[h * n2 + bb] = re;
          xi[h * n2 + bb] = im;
        }
      for (let t = 0; t < kh * kw; t++) abs += Math.abs(b.data[base + t] / scale);
      // |f_hat - f| <= e_j: two-stage sums of kh and kw terms, twiddles within a few ulps
      const e = 8 * (kh + kw + 8) * UNIT_ROUNDOFF * abs;
      err2 += e * e;
      // along the first axis: f(a, b) = sum_h X[h][b] e^{-i 2 pi h a / n1}
      for (let a = 0; a < half; a++)
        for (let bb = 0; bb < n2; bb++) {
          let re = 0;
          let im = 0;
          for (let h = 0; h < kh; h++) {
            const c = t1.c[h * n1 + a];
            const sn = t1.sn[h * n1 + a];
            const pr = xr[h * n2 + bb];
            const pi = xi[h * n2 + bb];
            re += pr * c + pi * sn;
            im += pi * c - pr * sn;
          }
          acc[a * n2 + bb] += re * re + im * im;
        }
    }
    let mx = 0;
    for (let i = 0; i < acc.length; i++) if (acc[i] > mx) mx = acc[i];
    // sum_j |f_j|^2 <= sum_j (|f_hat_j| + e_j)^2 <= (sqrt(sum |f_hat_j|^2) + sqrt(sum e_j^2))^2 (Cauchy-Schwarz);
    // the float sum of `entries` squares is within gamma_{entries + 4} of its exact value
    const root = Math.sqrt(mx * (1 + 2 * (entries + 4) * UNIT_ROUNDOFF)) + Math.sqrt(err2);
    out[gi] = roundUp(root * root);
  }
  return out;
}

export interface DenseGroupsResult {
  /** Certified upper bound on the layer operator's norm (max over groups). */
  value: number;
  /** sqrt of the largest Rayleigh quotient seen: a lower estimate. */
  lower: number;
  route: string;
  /** Order and half-bandwidth of each group's Gram matrix. */
  order: number;
  band: number;
  groups: number;
  /** Groups certified by their cheap bound alone (below the shared target). */
  skipped: number;
  /** The cheap bound: 'torus' (one-row blocks) or 'Gershgorin'. */
  filter: string;
  certificates: number;
  choleskyFailures: number;
  iterations: number;
  /** Multiply-adds counted against the work limit. */
  work: number;
  ms: number;
}

/** Power steps on each group before its Cholesky test (the shared target is usually already above it). */
const WARM_ITERATIONS = 4;
const MAX_ITERATIONS = 3000;

/**
 * Certified max over groups of ||A_g||_2 for a pattern and the layer's weights, or null once the work
 * (counted in multiply-adds, so the outcome does not depend on the machine) would pass maxWork.
 * Groups go in decreasing order of their Gershgorin bound, so the target reaches the max early and the
 * tail is certified by Gershgorin alone (once a group's bound is below the target, so are all later ones).
 */
export async function denseGroupsNorm(
  p: GroupPattern,
  weight: ArrayLike<number>,
  tolerance: number,
  maxWork = Infinity,
  filter?: TorusFilter,
): Promise<DenseGroupsResult | null> {
  const t0 = performance.now();
  const { maxAbs, scale } = weightScale(weight);
  const { n, band } = p;
  const g = new Float64Array(n * (band + 1));
  const work = new Float64Array(n * (band + 1));
  // ||G_hat - G||_2 <= gamma_terms ||A_g||_F^2, generously (as the dense norm)
  const formError = (frob2: number) => 2 * (p.terms + 4) * UNIT_ROUNDOFF * frob2;
  // A cheap certified bound on each group's lambda_max: the torus value where it is cheap (one-row blocks:
  // it needs no Gram matrix), else Gershgorin (a pass forming every G).
  const filterCost = torusFilterCost(filter, p.groups);
  const torusBounds = filter && filterCost !== null ? torusRowBounds(filter, scale) : null;
  const cost = stepCosts(p);
  let spent = filterCost ?? 0;
  const keys: { gr: number; bound: number }[] = [];
  for (let gr = 0; gr < p.groups; gr++) {
    if (torusBounds) {
      keys.push({ gr, bound: torusBounds[gr] });
      continue;
    }
    const frob2 = formGram(p, weight, gr, scale, g);
    keys.push({ gr, bound: bandedGershgorin(g, n, band) + formError(frob2) });
    spent += p.pairs + cost.product;
  }
  keys.sort((a, b) => b.bound - a.bound);
  const target = newTarget(effectiveTolerance(tolerance));
  const bufs = { x: normalArray(n, 1), y: new Float64Array(n), z: new Float64Array(n) };
  let skipped = 0;
  for (const [idx, { gr, bound }] of keys.entries()) {
    if (bound <= target.tau) {
      // lambda_max(G_true) <= its cheap bound <= tau, for this group and every later one
      skipped = p.groups - idx;
      break;
    }
    if (spent + p.pairs + WARM_ITERATIONS * cost.product + cost.cholesky > maxWork) return null;
    const frob2 = formGram(p, weight, gr, scale, g);
    const before = { it: target.iterations, runs: target.choleskyRuns };
    await certifyGram(bandedGramOps(g, n, band, work), target, bufs, formError(frob2), WARM_ITERATIONS, MAX_ITERATIONS);
    spent += p.pairs + (target.iterations - before.it) * cost.product + (target.choleskyRuns - before.runs) * cost.cholesky;
  }
  return {
    value: maxAbs === 0 ? 0 : roundUp(Math.sqrt(target.tau)) * scale,
    lower: Math.sqrt(target.lower) * scale,
    route: 'dense per group',
    order: n,
    band,
    groups: p.groups,
    skipped,
    filter: torusBounds ? 'torus' : 'Gershgorin',
    certificates: target.choleskyRuns - target.choleskyFailures,
    choleskyFailures: target.choleskyFailures,
    iterations: target.iterations,
    work: spent,
    ms: performance.now() - t0,
  };
}
