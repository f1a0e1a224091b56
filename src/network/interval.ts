// Interval bound propagation (IBP): a certified box [lo, hi] for every element of every tensor the
// graph computes in real arithmetic from inputs in a given box, with outward rounding. Pure.
// Rules and rounding margins: docs/derivations.md#local-bounds-over-an-input-box
import type { GraphNode, GraphSummary } from '../model/graph.js';
import type { ConvLayer, DenseLayer, Layer } from '../model/layer.js';
import { UNIT_ROUNDOFF, divDown, nextDown, nextUp, sqrtDown } from '../linalg/rounding.js';
import { padAxisMap, type PadMode } from './op-constants.js';
import { multiplyAtB } from '../native/blas.js';

/** A certified box for one tensor (row-major, shape with batch). */
export interface Box {
  shape: number[];
  lo: Float64Array;
  hi: Float64Array;
}

export interface Propagation {
  boxes: Map<string, Box>;
  /** Nodes whose outputs got no box (first reason each); everything downstream has none either. */
  failed: { node: string; op: string; reason: string }[];
}

/** Relative widening after a few correctly rounded or libm (<= 2 ulp) operations: 2^-44 >> 16 u. */
const REL = 2 ** -44;
/** Absolute widening for underflow (each operation loses at most 2^-1074). */
const ABS = 2 ** -1000;

const prod = (xs: readonly number[]) => xs.reduce((a, b) => a * b, 1);
const concrete = (s: readonly number[] | null | undefined): s is number[] => !!s && s.every((d) => Number.isInteger(d) && d >= 0);

function box(shape: number[], n = prod(shape)): Box {
  return { shape, lo: new Float64Array(n), hi: new Float64Array(n) };
}

/** Widens [l, h] past the rounding of a few floating-point operations of magnitude <= |l|, |h| (or mag). */
function widenLo(l: number, mag = Math.abs(l)): number {
  return l - mag * REL - ABS;
}
function widenHi(h: number, mag = Math.abs(h)): number {
  return h + mag * REL + ABS;
}

/** Applies a monotone (non-decreasing) elementwise f computed with <= a few ulp error. */
function monotone(b: Box, f: (x: number) => number): Box {
  const o = box(b.shape);
  for (let i = 0; i < b.lo.length; i++) {
    o.lo[i] = widenLo(f(b.lo[i]));
    o.hi[i] = widenHi(f(b.hi[i]));
  }
  return o;
}

/**
 * Elementwise f given as: f at the endpoints and, for non-monotone f, extra extreme values attained
 * inside the interval (critical points: `extremes(l, h)` returns values f takes at critical points
 * inside [l, h], rounded outward by the caller's constants).
 */
function elementwise(b: Box, f: (x: number) => number, extremes: (l: number, h: number) => number[]): Box {
  const o = box(b.shape);
  for (let i = 0; i < b.lo.length; i++) {
    const l = b.lo[i];
    const h = b.hi[i];
    const vals = [f(l), f(h), ...extremes(l, h)];
    o.lo[i] = widenLo(Math.min(...vals));
    o.hi[i] = widenHi(Math.max(...vals));
  }
  return o;
}

/** The logistic function, without overflow on either side. */
export const sigmoid = (x: number) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x)));

/** erf by Abramowitz & Stegun 7.1.26: |error| <= 1.5e-7 for every x. */
function erfApprox(x: number): number {
  const ax = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * ax);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-ax * ax);
  return x < 0 ? -y : y;
}

/** Row-major strides. */
function strides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length).fill(1);
  for (let a = shape.length - 2; a >= 0; a--) s[a] = s[a + 1] * shape[a + 1];
  return s;
}

/** Recent broadcast maps, at most 2^23 entries (32 MB): a network repeats a few patterns (a LayerNorm's mean, a per-channel scale). */
const broadcastCache = new Map<string, Int32Array | null>();
const BROADCAST_CACHE_ENTRIES = 1 << 23;
let broadcastCached = 0;

/**
 * For every output index of a numpy broadcast, the index of the input element it reads. The array is
 * shared between callers (cached): read it, never write it.
 */
export function broadcastIndex(inShape: readonly number[], outShape: readonly number[]): Int32Array | null {
  const key = `${inShape.join(',')}|${outShape.join(',')}`;
  const hit = broadcastCache.get(key);
  if (hit !== undefined) {
    broadcastCache.delete(key); // most recent last
    broadcastCache.set(key, hit);
    return hit;
  }
  const map = buildBroadcastIndex(inShape, outShape);
  const size = map?.length ?? 0;
  if (size <= BROADCAST_CACHE_ENTRIES) {
    for (const [k, v] of broadcastCache) {
      if (broadcastCached + size <= BROADCAST_CACHE_ENTRIES) break;
      broadcastCache.delete(k);
      broadcastCached -= v?.length ?? 0;
    }
    broadcastCache.set(key, map);
    broadcastCached += size;
  }
  return map;
}

function buildBroadcastIndex(inShape: readonly number[], outShape: readonly number[]): Int32Array | null {
  if (inShape.length > outShape.length) return null;
  const off = outShape.length - inShape.length;
  for (let a = 0; a < inShape.length; a++) if (inShape[a] !== 1 && inShape[a] !== outShape[a + off]) return null;
  const rank = outShape.length;
  const map = new Int32Array(prod(outShape));
  if (rank === 0) return map;
  // input stride of each output axis (0 where the input is broadcast)
  const inS = strides(inShape);
  const st = outShape.map((_, a) => (a < off || inShape[a - off] === 1 ? 0 : inS[a - off]));
  const inner = outShape[rank - 1];
  const sInner = st[rank - 1];
  const idx = new Array<number>(rank).fill(0);
  let base = 0;
  for (let k = 0; k < map.length; k += inner) {
    for (let t = 0; t < inner; t++) map[k + t] = base + t * sInner;
    // next row: odometer over the outer axes, the base moving by their strides
    for (let a = rank - 2; a >= 0; a--) {
      base += st[a];
      if (++idx[a] < outShape[a]) break;
      base -= st[a] * outShape[a];
      idx[a] = 0;
    }
  }
  return map;
}

/** Element lists per group of a reduction over `axes` (group = the non-reduced index). */
export function reductionGroups(shape: readonly number[], axes: readonly number[]): { groups: number; size: number; groupOf: Int32Array } {
  const red = new Set(axes.map((a) => (a < 0 ? a + shape.length : a)));
  const outShape = shape.map((d, a) => (red.has(a) ? 1 : d));
  const map = broadcastIndex(outShape, shape)!;
  return { groups: prod(outShape), size: prod(shape) / prod(outShape), groupOf: map };
}

/**
 * A lower bound on min over the box of sum_i (x_i - mean(x))^2 for one group of intervals
 * [lo_i, hi_i]: min_x min_t ||x - t 1||^2 = min_t sum_i dist(t, [lo_i, hi_i])^2, a convex piecewise
 * quadratic in t scanned over the segments between sorted endpoints (exact in real arithmetic),
 * minus a rigorous bound on the floating-point error of that scan.
 */
export function minSquaredDeviation(lo: ArrayLike<number>, hi: ArrayLike<number>): number {
  const n = lo.length;
  if (n <= 1) return 0;
  // shift by a centre (variance is shift invariant); shifted intervals rounded outward
  let c = 0;
  for (let i = 0; i < n; i++) c += (lo[i] + hi[i]) / (2 * n);
  const L = new Float64Array(n);
  const H = new Float64Array(n);
  let qAbs = 0;
  let vMax = 0;
  for (let i = 0; i < n; i++) {
    L[i] = nextDown(lo[i] - c);
    H[i] = nextUp(hi[i] - c);
    qAbs += L[i] * L[i] + H[i] * H[i];
    vMax = Math.max(vMax, Math.abs(L[i]), Math.abs(H[i]));
  }
  // events in ascending order (a lo before a hi at the same point): crossing lo_i leaves B (terms
  // lo_i - t), crossing hi_i joins A (terms t - hi_i); two typed sorts and a merge
  const los = L.slice().sort();
  const his = H.slice().sort();
  const evT = new Float64Array(2 * n);
  const evLo = new Uint8Array(2 * n);
  for (let k = 0, i = 0, j = 0; k < 2 * n; k++) {
    const lo = j >= n || (i < n && los[i] <= his[j]);
    evT[k] = lo ? los[i++] : his[j++];
    evLo[k] = lo ? 1 : 0;
  }
  let m = n;
  let S = 0;
  let Q = 0;
  for (let i = 0; i < n; i++) {
    S += L[i];
    Q += L[i] * L[i];
  }
  let best = Infinity;
  const q = (t: number) => m * t * t - 2 * S * t + Q;
  for (let k = 0; k <= 2 * n; k++) {
    const t1 = k === 0 ? -Infinity : evT[k - 1];
    const t2 = k === 2 * n ? Infinity : evT[k];
    if (m > 0) {
      const v = S / m;
      if (v >= t1 && v <= t2) best = Math.min(best, Q - (S * S) / m);
    }
    if (Number.isFinite(t2)) best = Math.min(best, q(t2));
    if (k === 2 * n) break;
    const v = evT[k];
    if (evLo[k]) {
      m--;
      S -= v;
      Q -= v * v;
    } else {
      m++;
      S += v;
      Q += v * v;
    }
  }
  // every quantity above is a sum of at most 4n + 8 terms of magnitude <= qAbs + n vMax^2
  const margin = 8 * (4 * n + 16) * UNIT_ROUNDOFF * (qAbs + n * vMax * vMax) + ABS;
  return Math.max(0, best - margin);
}

/** An interval op: writes [lo, hi] of the result into out[0], out[1] (no allocation per element); a string when there is none. */
type IntervalOp = (al: number, ah: number, bl: number, bh: number, out: Float64Array) => string | void;

/** Interval [a*b] with outward rounding. */
const mulIv: IntervalOp = (al, ah, bl, bh, out) => {
  // 0 * inf: the real product is 0
  let p = al * bl;
  if (p !== p) p = 0;
  let mn = p;
  let mx = p;
  p = al * bh;
  if (p !== p) p = 0;
  if (p < mn) mn = p;
  if (p > mx) mx = p;
  p = ah * bl;
  if (p !== p) p = 0;
  if (p < mn) mn = p;
  if (p > mx) mx = p;
  p = ah * bh;
  if (p !== p) p = 0;
  if (p < mn) mn = p;
  if (p > mx) mx = p;
  out[0] = widenLo(mn);
  out[1] = widenHi(mx);
};

/** Center/radius product of a box with a fixed linear map, rounded outward (docs: "Linear layers"). */
class LinearAcc {
  mid: Float64Array;
  rad: Float64Array;
  abs: Float64Array;
  constructor(b: Box) {
    const n = b.lo.length;
    this.mid = new Float64Array(n);
    this.rad = new Float64Array(n);
    this.abs = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const m = (b.lo[i] + b.hi[i]) / 2;
      this.mid[i] = Number.isFinite(m) ? m : 0;
      // [lo, hi] inside [m - r, m + r]: one rounding in each difference, covered by nextUp
      this.rad[i] = nextUp(Math.max(b.hi[i] - this.mid[i], this.mid[i] - b.lo[i]));
      this.abs[i] = Math.abs(this.mid[i]);
    }
  }
}

/**
 * Finishes one output of a linear map: c = sum w mid, r = sum |w| rad, a = sum |w| |mid| (terms
 * k), plus a float bias. The exact outputs for every input in the box and every weight within
 * relative `wr` of the stored one lie in [c + b - r - e, c + b + r + e].
 */
function finish(o: Box, at: number, c: number, r: number, a: number, bias: number, k: number, wr: number): void {
  const gamma = 2 * (k + 8) * UNIT_ROUNDOFF;
  const e = gamma * (Math.abs(c) + Math.abs(bias) + a + r) + wr * (1 + 1e-6) * (a + r) + (k + 8) * ABS;
  const r2 = r * (1 + gamma) + e;
  o.lo[at] = nextDown(c + bias - r2);
  o.hi[at] = nextUp(c + bias + r2);
}

/** A conv node's own weight, bias and weight rounding, as interval propagation uses them. */
function convWeights(node: GraphNode, layer: ConvLayer): { w: Float32Array; bias: Float32Array | null; wr: number } | string {
  if (layer.op !== 'Conv' && layer.op !== 'ConvTranspose') return `${layer.op} not handled by interval propagation`;
  // the node's own weight (the BatchNormalization folded into the layer is propagated as its own node)
  const w = node.constInputs[1] ?? (layer.foldedBatchNorm ? null : layer.weight);
  if (!w) return 'conv weight is not a known constant';
  const bias = node.inputs[2] ? node.constInputs[2] : null;
  if (node.inputs[2] && !bias) return 'conv bias is not a known constant';
  // stored float32 weight vs the model's: the layer's rounding, and at most 2^-23 when the layer's weight was a BN fold
  return { w, bias, wr: Math.max(layer.weightRounding ?? 0, layer.foldedBatchNorm ? 2 ** -23 : 0) };
}

/** The geometry convBox and its native form share: 1D convs as 2D with height 1. */
function convGeometry(layer: ConvLayer, x: Box, outShape: number[]) {
  const sd = layer.spatialDims;
  const ws = layer.weightShape;
  return {
    N: x.shape[0], C: x.shape[1], Co: outShape[1],
    inH: sd === 2 ? x.shape[2] : 1, inW: x.shape[sd + 1], outH: sd === 2 ? outShape[2] : 1, outW: outShape[sd + 1],
    kh: sd === 2 ? ws[2] : 1, kw: ws[sd + 1],
    sh: sd === 2 ? layer.strides[0] : 1, sw: sd === 2 ? layer.strides[1] : layer.strides[0],
    dh: sd === 2 ? layer.dilations[0] : 1, dw: sd === 2 ? layer.dilations[1] : layer.dilations[0],
    ph: sd === 2 ? layer.pads[0] : 0, pw: sd === 2 ? layer.pads[1] : layer.pads[0],
  };
}

/** The outputs o whose input index o s - p + k d lies in [0, len): o in [firstOut, endOut). */
const firstOut = (k: number, s: number, p: number, d: number) => Math.max(0, Math.ceil((p - k * d) / s));
const endOut = (k: number, s: number, p: number, d: number, len: number, out: number) => Math.min(out, Math.floor((len - 1 + p - k * d) / s) + 1);

/** Im2col entries per product (float64 values, K x columns): sizes the chunk of output rows one DGEMM covers. */
const IM2COL_CHUNK = 2 ** 21;

/**
 * convBox for a one-group Conv on native float64 DGEMM: per chunk of output rows, the input
 * patches as columns X (im2col; zero outside the input, which adds nothing), then c = W mid and
 * [r | a] = |W| [rad | abs]. Any summation order meets the gamma_k bound finish() charges.
 */
async function convBoxNative(node: GraphNode, layer: ConvLayer, x: Box, outShape: number[]): Promise<Box | string> {
  const p = convWeights(node, layer);
  if (typeof p === 'string') return p;
  const { w, bias, wr } = p;
  const { N, C, Co, inH, inW, outH, outW, kh, kw, sh, sw, dh, dw, ph, pw } = convGeometry(layer, x, outShape);
  const K = C * kh * kw; // weight row [ci][u][v], as ONNX lays it out
  const at = new Float64Array(K * Co);
  const atAbs = new Float64Array(K * Co);
  for (let co = 0; co < Co; co++)
    for (let q = 0; q < K; q++) {
      at[q * Co + co] = w[co * K + q];
      atAbs[q * Co + co] = Math.abs(w[co * K + q]);
    }
  const acc = new LinearAcc(x);
  const o = box(outShape);
  if (kh === 1 && kw === 1 && sh === 1 && sw === 1 && ph === 0 && pw === 0 && outH === inH && outW === inW) {
    // pointwise: the input planes are already the columns
    const hw = inH * inW;
    const slice = (v: Float64Array, b: number) => v.subarray(b * C * hw, (b + 1) * C * hw);
    const out = [new Float64Array(Co * hw), new Float64Array(Co * hw), new Float64Array(Co * hw)];
    for (let b = 0; b < N; b++) {
      const c = await multiplyAtB(at, slice(acc.mid, b), C, Co, hw, out[0]);
      const r = await multiplyAtB(atAbs, slice(acc.rad, b), C, Co, hw, out[1]);
      const a = await multiplyAtB(atAbs, slice(acc.abs, b), C, Co, hw, out[2]);
      for (let t = 0; t < Co * hw; t++) finish(o, b * Co * hw + t, c[t], r[t], a[t], bias ? bias[Math.floor(t / hw)] : 0, K, wr);
    }
    return o;
  }
  const rows = Math.max(1, Math.min(outH, Math.floor(IM2COL_CHUNK / (K * outW))));
  const cols = rows * outW;
  const xm = new Float64Array(K * cols);
  const xra = new Float64Array(K * 2 * cols);
  const c = new Float64Array(Co * cols);
  const ra = new Float64Array(Co * 2 * cols);
  for (let b = 0; b < N; b++) {
    const xo = b * C * inH * inW;
    for (let r0 = 0; r0 < outH; r0 += rows) {
      const nr = Math.min(rows, outH - r0);
      const m = nr * outW; // columns of this chunk
      xm.fill(0);
      xra.fill(0);
      const { mid, rad, abs } = acc;
      for (let ci = 0; ci < C; ci++)
        for (let u = 0; u < kh; u++) {
          const [oh0, oh1] = [Math.max(r0, firstOut(u, sh, ph, dh)), Math.min(r0 + nr, endOut(u, sh, ph, dh, inH, outH))];
          for (let v = 0; v < kw; v++) {
            const q = (ci * kh + u) * kw + v;
            const [ow0, ow1] = [firstOut(v, sw, pw, dw), endOut(v, sw, pw, dw, inW, outW)];
            for (let oh = oh0; oh < oh1; oh++) {
              const rowIn = xo + (ci * inH + oh * sh - ph + u * dh) * inW - pw + v * dw;
              const t0 = (oh - r0) * outW;
              for (let ow = ow0; ow < ow1; ow++) {
                const j = rowIn + ow * sw;
                const t = t0 + ow;
                xm[q * m + t] = mid[j];
                xra[q * 2 * m + t] = rad[j];
                xra[q * 2 * m + m + t] = abs[j];
              }
            }
          }
        }
      const cm = await multiplyAtB(at, xm.subarray(0, K * m), K, Co, m, c.subarray(0, Co * m));
      const rm = await multiplyAtB(atAbs, xra.subarray(0, K * 2 * m), K, Co, 2 * m, ra.subarray(0, Co * 2 * m));
      for (let co = 0; co < Co; co++)
        for (let t = 0; t < m; t++) {
          finish(o, b * Co * outH * outW + co * outH * outW + r0 * outW + t, cm[co * m + t], rm[co * 2 * m + t], rm[co * 2 * m + m + t], bias ? bias[co] : 0, K, wr);
        }
    }
  }
  return o;
}

function convBox(node: GraphNode, layer: ConvLayer, x: Box, outShape: number[]): Box | string {
  const p = convWeights(node, layer);
  if (typeof p === 'string') return p;
  const { w, bias, wr } = p;
  const { N, C, Co, inH, inW, outH, outW, kh, kw, sh, sw, dh, dw, ph, pw } = convGeometry(layer, x, outShape);
  const ws = layer.weightShape;
  const g = layer.group;
  const acc = new LinearAcc(x);
  const o = box(outShape);
  const n = Co * outH * outW;
  const c = new Float64Array(n);
  const r = new Float64Array(n);
  const a = new Float64Array(n);
  const transpose = layer.op === 'ConvTranspose';
  const cinG = C / g;
  const coutG = Co / g;
  const taps = transpose ? ws[0] / g : ws[1];
  for (let b = 0; b < N; b++) {
    c.fill(0);
    r.fill(0);
    a.fill(0);
    const xo = b * C * inH * inW;
    if (!transpose) {
      const { mid, rad, abs } = acc;
      // a block of output rows (~512 values) stays in cache while every input channel and tap adds to it
      const rows = Math.max(1, Math.floor(512 / outW));
      for (let co = 0; co < Co; co++) {
        const grp = Math.floor(co / coutG);
        for (let rb = 0; rb < outH; rb += rows)
        for (let cl = 0; cl < ws[1]; cl++) {
          const ci = grp * cinG + cl;
          for (let u = 0; u < kh; u++) {
            const [oh0, oh1] = [Math.max(rb, firstOut(u, sh, ph, dh)), Math.min(rb + rows, endOut(u, sh, ph, dh, inH, outH))];
            for (let v = 0; v < kw; v++) {
              const wv = w[((co * ws[1] + cl) * kh + u) * kw + v];
              if (wv === 0) continue;
              const aw = Math.abs(wv);
              const [ow0, ow1] = [firstOut(v, sw, pw, dw), endOut(v, sw, pw, dw, inW, outW)];
              for (let oh = oh0; oh < oh1; oh++) {
                const ih = oh * sh - ph + u * dh;
                const rowIn = xo + (ci * inH + ih) * inW - pw + v * dw;
                const rowOut = (co * outH + oh) * outW;
                for (let ow = ow0; ow < ow1; ow++) {
                  const j = rowIn + ow * sw;
                  const t = rowOut + ow;
                  c[t] += wv * mid[j];
                  r[t] += aw * rad[j];
                  a[t] += aw * abs[j];
                }
              }
            }
          }
        }
      }
    } else {
      // ConvTranspose: weight [cin, cout/g, k]; input (ih, iw) scatters to ih*s - pad + u*d
      for (let ci = 0; ci < C; ci++) {
        const grp = Math.floor(ci / cinG);
        for (let cl = 0; cl < ws[1]; cl++) {
          const co = grp * coutG + cl;
          for (let u = 0; u < kh; u++)
            for (let v = 0; v < kw; v++) {
              const wv = w[((ci * ws[1] + cl) * kh + u) * kw + v];
              if (wv === 0) continue;
              const aw = Math.abs(wv);
              for (let ih = 0; ih < inH; ih++) {
                const oh = ih * sh - ph + u * dh;
                if (oh < 0 || oh >= outH) continue;
                for (let iw = 0; iw < inW; iw++) {
                  const ow = iw * sw - pw + v * dw;
                  if (ow < 0 || ow >= outW) continue;
                  const j = xo + (ci * inH + ih) * inW + iw;
                  const t = (co * outH + oh) * outW + ow;
                  c[t] += wv * acc.mid[j];
                  r[t] += aw * acc.rad[j];
                  a[t] += aw * acc.abs[j];
                }
              }
            }
        }
      }
    }
    const k = taps * kh * kw * (transpose ? Math.max(1, Math.ceil((kh * kw) / (sh * sw))) : 1);
    for (let t = 0; t < n; t++) {
      finish(o, b * n + t, c[t], r[t], a[t], bias ? bias[Math.floor(t / (outH * outW))] : 0, k, wr);
    }
  }
  return o;
}

function denseBox(node: GraphNode, layer: DenseLayer, x: Box, outShape: number[]): Box | string {
  const [out, inn] = layer.weightShape;
  if (node.constInputs[0] !== null || (node.op === 'Gemm' && (node.attrs.transA ?? 0) !== 0)) return `${node.op} with the weight as first operand is not handled`;
  if (x.shape[x.shape.length - 1] !== inn || outShape[outShape.length - 1] !== out) return `${node.op} shapes do not match its weight`;
  const rows = x.lo.length / inn;
  let bias: Float64Array | null = null;
  if (node.op === 'Gemm' && node.inputs[2]) {
    const cv = node.constInputs[2];
    const cs = node.constShapes[2] ?? (cv ? [cv.length] : null);
    if (!cv || !cs) return 'Gemm C is not a known constant';
    const map = broadcastIndex(cs, outShape);
    if (!map) return 'Gemm C does not broadcast to the output';
    const beta = typeof node.attrs.beta === 'number' ? node.attrs.beta : 1;
    bias = Float64Array.from(map, (j) => beta * cv[j]); // a product of two float32 values is exact in float64
  }
  const w = layer.weight;
  const wr = layer.weightRounding ?? 0;
  const acc = new LinearAcc(x);
  const o = box(outShape);
  for (let row = 0; row < rows; row++)
    for (let p = 0; p < out; p++) {
      let c = 0;
      let r = 0;
      let a = 0;
      for (let q = 0; q < inn; q++) {
        const wv = w[p * inn + q];
        const aw = Math.abs(wv);
        const j = row * inn + q;
        c += wv * acc.mid[j];
        r += aw * acc.rad[j];
        a += aw * acc.abs[j];
      }
      finish(o, row * out + p, c, r, a, bias ? bias[row * out + p] : 0, inn, wr);
    }
  return o;
}

/** Copies a box onto a new shape with the same number of elements (reshape-like ops). */
function reshaped(b: Box, shape: number[]): Box | string {
  if (prod(shape) !== b.lo.length) return `element count changes (${b.shape.join('x')} -> ${shape.join('x')})`;
  return { shape, lo: b.lo, hi: b.hi };
}

/** Gathers along every axis by per-axis source index lists (-1: a fill with value `fill`). */
function gatherAxes(b: Box, lists: number[][], fill = 0): Box {
  const shape = lists.map((l) => l.length);
  const o = box(shape);
  const inS = strides(b.shape);
  const n = prod(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < n; k++) {
    let j = 0;
    let isFill = false;
    for (let a = 0; a < shape.length; a++) {
      const s = lists[a][idx[a]];
      if (s < 0) isFill = true;
      j += s * inS[a];
    }
    o.lo[k] = isFill ? fill : b.lo[j];
    o.hi[k] = isFill ? fill : b.hi[j];
    for (let a = shape.length - 1; a >= 0; a--) {
      if (++idx[a] < shape[a]) break;
      idx[a] = 0;
    }
  }
  return o;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

function attrInts(node: GraphNode, name: string): number[] | null {
  const v = node.attrs[name];
  return Array.isArray(v) && v.every((x) => typeof x === 'number') ? (v as number[]) : null;
}
const attrNum = (node: GraphNode, name: string, d: number) => (typeof node.attrs[name] === 'number' ? (node.attrs[name] as number) : d);

/** Reduce axes of a Reduce* node (attribute or constant input), or null when not known. */
export function reduceAxes(node: GraphNode, rank: number): number[] | null {
  const fromInput = node.inputs.length > 1 && node.inputs[1];
  const ax = fromInput ? (node.constInputs[1] ? Array.from(node.constInputs[1]) : null) : attrInts(node, 'axes');
  if (fromInput && !ax) return null;
  if (!ax || ax.length === 0) return attrNum(node, 'noop_with_empty_axes', 0) ? [] : range(rank);
  return ax.map((a) => (a < 0 ? a + rank : a));
}

/** Sums (or means) of the box over groups with rounding margins. */
function reduceSum(b: Box, axes: number[], mean: boolean, outShape: number[]): Box | string {
  const { groups, size, groupOf } = reductionGroups(b.shape, axes);
  if (prod(outShape) !== groups) return 'reduction output size mismatch';
  const sl = new Float64Array(groups);
  const sh = new Float64Array(groups);
  const mag = new Float64Array(groups);
  for (let i = 0; i < b.lo.length; i++) {
    const gI = groupOf[i];
    sl[gI] += b.lo[i];
    sh[gI] += b.hi[i];
    mag[gI] += Math.max(Math.abs(b.lo[i]), Math.abs(b.hi[i]));
  }
  const o = box(outShape);
  const gamma = 2 * (size + 4) * UNIT_ROUNDOFF;
  const d = mean ? size : 1;
  for (let gI = 0; gI < groups; gI++) {
    const e = gamma * mag[gI] + (size + 4) * ABS;
    o.lo[gI] = nextDown((sl[gI] - e) / d);
    o.hi[gI] = nextUp((sh[gI] + e) / d);
  }
  return o;
}

function reduceExtreme(b: Box, axes: number[], outShape: number[], max: boolean): Box {
  const { groups, groupOf } = reductionGroups(b.shape, axes);
  const o = box(outShape);
  o.lo.fill(max ? -Infinity : Infinity);
  o.hi.fill(max ? -Infinity : Infinity);
  for (let i = 0; i < b.lo.length; i++) {
    const gI = groupOf[i];
    o.lo[gI] = max ? Math.max(o.lo[gI], b.lo[i]) : Math.min(o.lo[gI], b.lo[i]);
    o.hi[gI] = max ? Math.max(o.hi[gI], b.hi[i]) : Math.min(o.hi[gI], b.hi[i]);
  }
  void groups;
  return o;
}

/** Window taps along one axis for pooling: source indices (-1 = padding) per output position. */
function poolWindows(dim: number, out: number, k: number, s: number, d: number, pb: number): number[][] {
  return range(out).map((o) => range(k).map((t) => {
    const i = o * s - pb + t * d;
    return i >= 0 && i < dim ? i : -1;
  }));
}

function pool(node: GraphNode, b: Box, outShape: number[], max: boolean): Box | string {
  const kernel = attrInts(node, 'kernel_shape');
  if (!kernel) return 'kernel_shape missing';
  const nd = kernel.length;
  if (b.shape.length !== nd + 2) return 'pool rank mismatch';
  const st = attrInts(node, 'strides') ?? Array(nd).fill(1);
  const dl = attrInts(node, 'dilations') ?? Array(nd).fill(1);
  let pads = attrInts(node, 'pads') ?? Array(2 * nd).fill(0);
  const autoPad = typeof node.attrs.auto_pad === 'string' ? node.attrs.auto_pad : 'NOTSET';
  if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
    pads = Array(2 * nd).fill(0);
    for (let a = 0; a < nd; a++) {
      const dim = b.shape[a + 2];
      const total = Math.max(0, (outShape[a + 2] - 1) * st[a] + dl[a] * (kernel[a] - 1) + 1 - dim);
      const small = Math.floor(total / 2);
      pads[a] = autoPad === 'SAME_UPPER' ? small : total - small;
    }
  } else if (autoPad === 'VALID') pads = Array(2 * nd).fill(0);
  const windows = range(nd).map((a) => poolWindows(b.shape[a + 2], outShape[a + 2], kernel[a], st[a], dl[a], pads[a]));
  const [N, C] = b.shape;
  const o = box(outShape);
  const inS = strides(b.shape);
  const outSp = prod(outShape.slice(2));
  const countIncludePad = attrNum(node, 'count_include_pad', 0) === 1;
  const kSize = prod(kernel);
  for (let nc = 0; nc < N * C; nc++)
    for (let p = 0; p < outSp; p++) {
      // output position -> per-axis index
      let rem = p;
      const pos: number[] = [];
      for (let a = nd - 1; a >= 0; a--) {
        pos[a] = rem % outShape[a + 2];
        rem = Math.floor(rem / outShape[a + 2]);
      }
      // all taps of the window (cartesian product)
      let taps: number[] = [nc * inS[1]];
      let padded = false;
      for (let a = 0; a < nd; a++) {
        const w = windows[a][pos[a]];
        if (w.some((i) => i < 0)) padded = true;
        const inside = w.filter((i) => i >= 0);
        taps = taps.flatMap((t) => inside.map((i) => t + i * inS[a + 2]));
      }
      let lo = max ? -Infinity : 0;
      let hi = max ? -Infinity : 0;
      let mag = 0;
      for (const t of taps) {
        if (max) {
          lo = Math.max(lo, b.lo[t]);
          hi = Math.max(hi, b.hi[t]);
        } else {
          lo += b.lo[t];
          hi += b.hi[t];
          mag += Math.max(Math.abs(b.lo[t]), Math.abs(b.hi[t]));
        }
      }
      const q = nc * outSp + p;
      if (max) {
        if (taps.length === 0) return 'MaxPool window with no input element';
        o.lo[q] = lo;
        o.hi[q] = hi;
      } else {
        if (taps.length === 0) return 'AveragePool window with no input element';
        // the divisor runtimes use lies between the in-range count and the kernel size: take the hull
        const divs = countIncludePad || padded ? [taps.length, kSize] : [taps.length];
        const e = 2 * (taps.length + 4) * UNIT_ROUNDOFF * mag + ABS;
        o.lo[q] = nextDown(Math.min(...divs.map((d) => (lo - e) / d)));
        o.hi[q] = nextUp(Math.max(...divs.map((d) => (hi + e) / d)));
      }
    }
  return o;
}

/** The elementwise binary ops with an interval rule. */
type BinaryKind = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min';

/**
 * Elementwise binary op with broadcasting: one loop per kind, so each loop stays monomorphic and its
 * rule inlines (ConvNeXt-LN stack: 1.77 s -> 1.44 s of self time against one loop with a switch; most
 * of the rest is first touching the fresh output box), and index maps only for an operand that is
 * actually broadcast.
 */
function binary(a: Box, b: Box, outShape: number[], kind: BinaryKind): Box | string {
  const same = (x: Box) => x.shape.length === outShape.length && x.shape.every((d, i) => d === outShape[i]);
  const ma = same(a) ? null : broadcastIndex(a.shape, outShape);
  const mb = same(b) ? null : broadcastIndex(b.shape, outShape);
  if ((!ma && !same(a)) || (!mb && !same(b))) return 'operands do not broadcast to the output shape';
  if (kind === 'div') {
    for (let j = 0; j < b.lo.length; j++) if (!(b.lo[j] > 0 || b.hi[j] < 0)) return 'divisor interval contains 0';
    // a / b = a * [1/bh, 1/bl], the reciprocal rounded outward
    const r = box(b.shape);
    for (let j = 0; j < b.lo.length; j++) {
      r.lo[j] = widenLo(1 / b.hi[j]);
      r.hi[j] = widenHi(1 / b.lo[j]);
    }
    return BINARY_LOOPS.mul(a, r, ma, mb, box(outShape));
  }
  return BINARY_LOOPS[kind](a, b, ma, mb, box(outShape));
}

type BinaryLoop = (a: Box, b: Box, ma: Int32Array | null, mb: Int32Array | null, o: Box) => Box;

const BINARY_LOOPS: Record<Exclude<BinaryKind, 'div'>, BinaryLoop> = {
  add: (a, b, ma, mb, o) => {
    const [al, ah, bl, bh, ol, oh] = [a.lo, a.hi, b.lo, b.hi, o.lo, o.hi];
    for (let k = 0; k < ol.length; k++) {
      const i = ma === null ? k : ma[k];
      const j = mb === null ? k : mb[k];
      ol[k] = widenLo(al[i] + bl[j]);
      oh[k] = widenHi(ah[i] + bh[j]);
    }
    return o;
  },
  sub: (a, b, ma, mb, o) => {
    const [al, ah, bl, bh, ol, oh] = [a.lo, a.hi, b.lo, b.hi, o.lo, o.hi];
    for (let k = 0; k < ol.length; k++) {
      const i = ma === null ? k : ma[k];
      const j = mb === null ? k : mb[k];
      ol[k] = widenLo(al[i] - bh[j]);
      oh[k] = widenHi(ah[i] - bl[j]);
    }
    return o;
  },
  mul: (a, b, ma, mb, o) => {
    const [al, ah, bl, bh, ol, oh] = [a.lo, a.hi, b.lo, b.hi, o.lo, o.hi];
    const t = new Float64Array(2);
    for (let k = 0; k < ol.length; k++) {
      const i = ma === null ? k : ma[k];
      const j = mb === null ? k : mb[k];
      mulIv(al[i], ah[i], bl[j], bh[j], t);
      ol[k] = t[0];
      oh[k] = t[1];
    }
    return o;
  },
  max: (a, b, ma, mb, o) => {
    const [al, ah, bl, bh, ol, oh] = [a.lo, a.hi, b.lo, b.hi, o.lo, o.hi];
    for (let k = 0; k < ol.length; k++) {
      const i = ma === null ? k : ma[k];
      const j = mb === null ? k : mb[k];
      ol[k] = Math.max(al[i], bl[j]);
      oh[k] = Math.max(ah[i], bh[j]);
    }
    return o;
  },
  min: (a, b, ma, mb, o) => {
    const [al, ah, bl, bh, ol, oh] = [a.lo, a.hi, b.lo, b.hi, o.lo, o.hi];
    for (let k = 0; k < ol.length; k++) {
      const i = ma === null ? k : ma[k];
      const j = mb === null ? k : mb[k];
      ol[k] = Math.min(al[i], bl[j]);
      oh[k] = Math.min(ah[i], bh[j]);
    }
    return o;
  },
};

/** The exported LayerNorm pattern (x - m) / sqrt(mean((x - m)^2) + eps), m = mean(x), matched at its Div. */
export interface LayerNormPattern {
  x: string;
  axes: number[];
  eps: number;
}

/** Recognizes Div(u, Sqrt(Add(ReduceMean(Pow(u, 2) | Mul(u, u)), eps))) with u = Sub(x, ReduceMean(x)) over the same axes. */
export function matchLayerNorm(div: GraphNode, producer: (t: string) => GraphNode | undefined, rankOf: (t: string) => number | null): LayerNormPattern | null {
  const onnx = (n: GraphNode | undefined, op: string) => (n && n.op === op && n.domain === '' ? n : undefined);
  if (!onnx(div, 'Div') || div.inputs.length !== 2) return null;
  const u = div.inputs[0];
  const sub = onnx(producer(u), 'Sub');
  const sqrt = onnx(producer(div.inputs[1]), 'Sqrt');
  if (!sub || !sqrt) return null;
  const add = onnx(producer(sqrt.inputs[0]), 'Add');
  if (!add || add.inputs.length !== 2) return null;
  const ei = add.constInputs[0] ? 0 : 1;
  const epsC = add.constInputs[ei];
  if (!epsC || epsC.length !== 1 || !(epsC[0] >= 0)) return null;
  const varMean = onnx(producer(add.inputs[1 - ei]), 'ReduceMean');
  const mean = onnx(producer(sub.inputs[1]), 'ReduceMean');
  if (!varMean || !mean || mean.inputs[0] !== sub.inputs[0]) return null;
  const sq = producer(varMean.inputs[0]);
  const squares = (onnx(sq, 'Pow') && sq!.inputs[0] === u && sq!.constInputs[1]?.length === 1 && sq!.constInputs[1]![0] === 2)
    || (onnx(sq, 'Mul') && sq!.inputs[0] === u && sq!.inputs[1] === u);
  if (!squares) return null;
  const x = sub.inputs[0];
  const rank = rankOf(x);
  if (rank === null) return null;
  const a1 = reduceAxes(mean, rank);
  const a2 = reduceAxes(varMean, rank);
  if (!a1 || !a2 || a1.length === 0 || [...a1].sort().join() !== [...a2].sort().join()) return null;
  if (attrNum(mean, 'keepdims', 1) !== 1 || attrNum(varMean, 'keepdims', 1) !== 1) return null;
  return { x, axes: a1, eps: epsC[0] };
}

/** Per group of the normalized axes: a certified lower bound on the (population) variance over the box. */
export function minVariances(b: Box, axes: number[]): { groups: number; size: number; groupOf: Int32Array; varMin: Float64Array } {
  const { groups, size, groupOf } = reductionGroups(b.shape, axes);
  // every group's intervals gathered contiguously (groups are equal-sized, members in index order)
  const lo = new Float64Array(groupOf.length);
  const hi = new Float64Array(groupOf.length);
  const fill = new Int32Array(groups);
  for (let i = 0; i < groupOf.length; i++) {
    const at = groupOf[i] * size + fill[groupOf[i]]++;
    lo[at] = b.lo[i];
    hi[at] = b.hi[i];
  }
  const varMin = new Float64Array(groups);
  for (let g = 0; g < groups; g++) varMin[g] = divDown(minSquaredDeviation(lo.subarray(g * size, (g + 1) * size), hi.subarray(g * size, (g + 1) * size)), size);
  return { groups, size, groupOf, varMin };
}

/**
 * Box of a normalization z = (x - mean) / sqrt(var + eps) over groups: |z_i| <= sqrt(n - 1) always,
 * and z_i in [min(0, nl / s), max(0, nh / s)] with nl, nh the bounds of x_i - mean and s the lower
 * bound on sqrt(var + eps).
 */
function normalizedBox(b: Box, axes: number[], eps: number): Box {
  const { size, groupOf, varMin } = minVariances(b, axes);
  const means = reduceSum(b, axes, true, [varMin.length]) as Box;
  const cap = Math.sqrt(Math.max(0, size - 1)) * (1 + REL);
  const o = box(b.shape);
  for (let i = 0; i < b.lo.length; i++) {
    const gI = groupOf[i];
    const s = sqrtDown(varMin[gI] + eps) * (1 - REL);
    const nl = widenLo(b.lo[i] - means.hi[gI]);
    const nh = widenHi(b.hi[i] - means.lo[gI]);
    o.lo[i] = s > 0 ? Math.max(-cap, widenLo(Math.min(0, nl / s))) : -cap;
    o.hi[i] = s > 0 ? Math.min(cap, widenHi(Math.max(0, nh / s))) : cap;
  }
  return o;
}

/** Multiplies z by gamma and adds beta, both broadcast along `shape` from the given constant shapes. */
function affine(z: Box, gamma: Float32Array | null, gShape: number[], beta: Float32Array | null, bShape: number[]): Box | string {
  let out: Box | string = z;
  if (gamma) {
    out = binary(out, constBox(gamma, gShape), z.shape, 'mul');
    if (typeof out === 'string') return out;
  }
  if (beta) out = binary(out, constBox(beta, bShape), z.shape, 'add');
  return out;
}

function constBox(v: Float32Array, shape: number[] | null): Box {
  const lo = Float64Array.from(v);
  return { shape: shape ?? [v.length], lo, hi: lo };
}

/** Slice with constant starts/ends/axes/steps (ONNX clamping). */
function sliceLists(node: GraphNode, shape: number[]): number[][] | string {
  const get = (i: number, attr: string): number[] | null => {
    if (node.inputs.length > i && node.inputs[i]) return node.constInputs[i] ? Array.from(node.constInputs[i]!) : null;
    return attrInts(node, attr);
  };
  const starts = get(1, 'starts');
  const ends = get(2, 'ends');
  if (!starts || !ends) return 'Slice starts/ends are not known constants';
  const axes = (node.inputs.length > 3 && node.inputs[3] ? get(3, '') : attrInts(node, 'axes')) ?? range(starts.length);
  const steps = (node.inputs.length > 4 && node.inputs[4] ? get(4, '') : null) ?? Array(starts.length).fill(1);
  const lists = shape.map((d) => range(d));
  for (let k = 0; k < axes.length; k++) {
    const ax = axes[k] < 0 ? axes[k] + shape.length : axes[k];
    const d = shape[ax];
    const step = steps[k];
    if (!step) return 'Slice step 0';
    const clampIdx = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v < 0 ? v + d : v));
    const s = step > 0 ? clampIdx(starts[k], 0, d) : clampIdx(starts[k], 0, d - 1);
    const e = step > 0 ? clampIdx(ends[k], 0, d) : clampIdx(ends[k], -1, d - 1);
    const l: number[] = [];
    for (let i = s; step > 0 ? i < e : i > e; i += step) l.push(i);
    lists[ax] = l;
  }
  return lists;
}

interface Ctx {
  node: GraphNode;
  layer: Layer | null;
  box(i: number): Box | undefined;
  outShape(i: number): number[] | null;
  producer(t: string): GraphNode | undefined;
  /** Box of any tensor already propagated. */
  boxOf(t: string): Box | undefined;
}

type Handler = (c: Ctx) => Box[] | Box | string;

const unary = (f: (b: Box, c: Ctx) => Box[] | Box | string): Handler => (c) => (c.box(0) ? f(c.box(0)!, c) : 'input has no box');

/** Values of x at the critical points of f inside [l, h]: used for the non-monotone activations. */
const crit = (points: [number, number, number][]) => (l: number, h: number) =>
  points.filter(([p]) => p >= l && p <= h).flatMap(([, lo, hi]) => [lo, hi]);

const HANDLERS: Record<string, Handler> = {
  Relu: unary((b) => monotone(b, (x) => Math.max(0, x))),
  LeakyRelu: unary((b, c) => {
    const al = attrNum(c.node, 'alpha', 0.01);
    return elementwise(b, (x) => (x >= 0 ? x : al * x), (l, h) => (l < 0 && h > 0 ? [0] : []));
  }),
  PRelu: (c) => {
    const b = c.box(0);
    const s = c.node.constInputs[1];
    if (!b || !s) return 'PRelu slope is not a known constant';
    const map = broadcastIndex(c.node.constShapes[1] ?? [s.length], b.shape);
    if (!map) return 'PRelu slope does not broadcast';
    const o = box(b.shape);
    for (let i = 0; i < b.lo.length; i++) {
      const f = (x: number) => (x >= 0 ? x : s[map[i]] * x);
      const v = [f(b.lo[i]), f(b.hi[i]), ...(b.lo[i] < 0 && b.hi[i] > 0 ? [0] : [])];
      o.lo[i] = widenLo(Math.min(...v));
      o.hi[i] = widenHi(Math.max(...v));
    }
    return o;
  },
  Clip: unary((b, c) => {
    const bound = (i: number, attr: string, d: number) => {
      if (c.node.inputs.length > i && c.node.inputs[i]) return c.node.constInputs[i] ? c.node.constInputs[i]![0] : NaN;
      return attrNum(c.node, attr, d);
    };
    const mn = bound(1, 'min', -Infinity);
    const mx = bound(2, 'max', Infinity);
    if (Number.isNaN(mn) || Number.isNaN(mx)) return 'Clip bounds are not known constants';
    return monotone(b, (x) => Math.min(mx, Math.max(mn, x)));
  }),
  Sigmoid: unary((b) => monotone(b, sigmoid)),
  HardSigmoid: unary((b, c) => {
    const al = attrNum(c.node, 'alpha', 0.2);
    const be = attrNum(c.node, 'beta', 0.5);
    const f = (x: number) => Math.min(1, Math.max(0, al * x + be));
    return elementwise(b, f, () => []); // monotone either way: endpoints
  }),
  // x * relu6(x + 3) / 6: minimum -3/8 at x = -3/2
  HardSwish: unary((b) => elementwise(b, (x) => x * Math.min(1, Math.max(0, x / 6 + 0.5)), crit([[-1.5, -0.375, -0.375]]))),
  Tanh: unary((b) => monotone(b, Math.tanh)),
  Softplus: unary((b) => monotone(b, (x) => (x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x))))),
  Exp: unary((b) => monotone(b, Math.exp)),
  // erf is increasing; the approximation is within 1.5e-7 of it (float evaluation adds ~1e-15)
  Erf: unary((b) => {
    const o = box(b.shape);
    for (let i = 0; i < b.lo.length; i++) {
      o.lo[i] = Math.max(-1, erfApprox(b.lo[i]) - 2e-7);
      o.hi[i] = Math.min(1, erfApprox(b.hi[i]) + 2e-7);
    }
    return o;
  }),
  Neg: unary((b) => ({ shape: b.shape, lo: b.hi.map((v) => -v), hi: b.lo.map((v) => -v) })),
  Abs: unary((b) => elementwise(b, Math.abs, (l, h) => (l < 0 && h > 0 ? [0] : []))),
  Sqrt: unary((b) => (b.lo.every((v) => v >= 0) ? monotone(b, Math.sqrt) : 'Sqrt of an interval reaching below 0')),
  Reciprocal: unary((b) => {
    const o = box(b.shape);
    for (let i = 0; i < b.lo.length; i++) {
      if (!(b.lo[i] > 0 || b.hi[i] < 0)) return 'Reciprocal of an interval containing 0';
      o.lo[i] = widenLo(1 / b.hi[i]);
      o.hi[i] = widenHi(1 / b.lo[i]);
    }
    return o;
  }),
  // x sigmoid(x): minimum -0.278464542761074 at x = -1.278464542761074
  Swish: unary((b, c) => {
    const al = attrNum(c.node, 'alpha', 1);
    if (!(al > 0)) return 'Swish alpha <= 0';
    return elementwise(b, (x) => x * sigmoid(al * x), crit([[-1.2784645427610738 / al, -0.2784645428 / al, -0.2784645428 / al]]));
  }),
  Elu: unary((b, c) => {
    const al = attrNum(c.node, 'alpha', 1);
    return al >= 0 ? monotone(b, (x) => (x >= 0 ? x : al * Math.expm1(x))) : 'Elu alpha < 0';
  }),
  Softsign: unary((b) => monotone(b, (x) => x / (1 + Math.abs(x)))),
  Identity: unary((b) => b),
  Dropout: unary((b) => b),
  Cast: unary((b, c) => ([1, 10, 11, 16].includes(attrNum(c.node, 'to', 0)) ? b : 'Cast to a non-float type')),
  Flatten: unary((b, c) => reshaped(b, c.outShape(0)!)),
  Reshape: unary((b, c) => reshaped(b, c.outShape(0)!)),
  Squeeze: unary((b, c) => reshaped(b, c.outShape(0)!)),
  Unsqueeze: unary((b, c) => reshaped(b, c.outShape(0)!)),
  Add: (c) => binaryOp(c, 'add'),
  Sub: (c) => binaryOp(c, 'sub'),
  Mul: (c) => {
    const r = binaryOp(c, 'mul');
    return typeof r === 'string' ? r : selfGatedProduct(c, r);
  },
  Div: (c) => {
    const r = binaryOp(c, 'div');
    if (typeof r === 'string') return r;
    // a LayerNorm written out: intersect with the normalization's own box (|z| <= sqrt(n - 1), variance bound of x's box)
    const p = matchLayerNorm(c.node, c.producer, (t) => c.boxOf(t)?.shape.length ?? null);
    const xb = p && c.boxOf(p.x);
    if (!p || !xb || xb.lo.length !== r.lo.length) return r;
    const z = normalizedBox(xb, p.axes, p.eps);
    for (let i = 0; i < r.lo.length; i++) {
      r.lo[i] = Math.max(r.lo[i], z.lo[i]);
      r.hi[i] = Math.min(r.hi[i], z.hi[i]);
    }
    return r;
  },
  Pow: (c) => {
    const b = c.box(0);
    const e = c.node.constInputs[1];
    if (!b || !e || e.length !== 1) return 'Pow exponent is not a known scalar constant';
    const p = e[0];
    if (p === 2) return elementwise(b, (x) => x * x, (l, h) => (l < 0 && h > 0 ? [0] : []));
    if (p === 1) return b;
    if (p === 0.5) return b.lo.every((v) => v >= 0) ? monotone(b, Math.sqrt) : 'Pow 0.5 below 0';
    if (Number.isInteger(p) && p > 0 && b.lo.every((v) => v >= 0)) return monotone(b, (x) => x ** p);
    return `Pow with exponent ${p} not handled`;
  },
  Max: (c) => naryOp(c, 'max'),
  Min: (c) => naryOp(c, 'min'),
  Sum: (c) => naryOp(c, 'add'),
  Concat: (c) => {
    const out = c.outShape(0)!;
    const boxes = c.node.inputs.map((_, i) => c.box(i));
    if (boxes.some((b) => !b)) return 'input has no box';
    const ax0 = attrNum(c.node, 'axis', 0);
    const ax = ax0 < 0 ? ax0 + out.length : ax0;
    const o = box(out);
    const outer = prod(out.slice(0, ax));
    const inner = prod(out.slice(ax + 1));
    let off = 0;
    for (const b of boxes as Box[]) {
      const len = b.shape[ax];
      for (let p = 0; p < outer; p++)
        for (let q = 0; q < len * inner; q++) {
          const t = (p * out[ax] + off) * inner + q;
          o.lo[t] = b.lo[p * len * inner + q];
          o.hi[t] = b.hi[p * len * inner + q];
        }
      off += len;
    }
    return o;
  },
  Slice: unary((b, c) => {
    const l = sliceLists(c.node, b.shape);
    return typeof l === 'string' ? l : gatherAxes(b, l);
  }),
  Split: unary((b, c) => {
    const ax0 = attrNum(c.node, 'axis', 0);
    const ax = ax0 < 0 ? ax0 + b.shape.length : ax0;
    let off = 0;
    const outs: Box[] = [];
    for (let k = 0; k < c.node.outputs.length; k++) {
      const s = c.outShape(k);
      if (!s) return 'Split output shape unknown';
      outs.push(gatherAxes(b, b.shape.map((d, a) => (a === ax ? range(s[a]).map((i) => i + off) : range(d)))));
      off += s[ax];
    }
    return outs;
  }),
  Gather: unary((b, c) => {
    const idx = c.node.constInputs[1];
    const ishape = c.node.constShapes[1];
    if (!idx || !ishape || ishape.length > 1) return 'Gather indices are not a known constant scalar or vector';
    const ax0 = attrNum(c.node, 'axis', 0);
    const ax = ax0 < 0 ? ax0 + b.shape.length : ax0;
    const g = gatherAxes(b, b.shape.map((d, a) => (a === ax ? Array.from(idx, (i) => (i < 0 ? i + d : i)) : range(d))));
    return reshaped(g, c.outShape(0)!);
  }),
  Expand: unary((b, c) => {
    const map = broadcastIndex(b.shape, c.outShape(0)!);
    if (!map) return 'Expand shapes do not broadcast';
    return { shape: c.outShape(0)!, lo: Float64Array.from(map, (j) => b.lo[j]), hi: Float64Array.from(map, (j) => b.hi[j]) };
  }),
  Pad: (c) => {
    const b = c.box(0);
    if (!b) return 'input has no box';
    const mode = (typeof c.node.attrs.mode === 'string' ? c.node.attrs.mode : 'constant') as PadMode;
    const pads = c.node.inputs.length > 1 && c.node.inputs[1] ? (c.node.constInputs[1] ? Array.from(c.node.constInputs[1]) : null) : attrInts(c.node, 'pads');
    if (!pads) return 'Pad pads are not known constants';
    if (c.node.inputs.length > 3 && c.node.inputs[3]) return 'Pad with axes is not handled';
    const value = c.node.inputs.length > 2 && c.node.inputs[2] ? c.node.constInputs[2]?.[0] : attrNum(c.node, 'value', 0);
    if (value === undefined) return 'Pad value is not a known constant';
    const n = b.shape.length;
    const lists: number[][] = [];
    for (let a = 0; a < n; a++) {
      const m = padAxisMap(b.shape[a], pads[a], pads[a + n], mode);
      if (!m) return 'invalid pads';
      lists.push(m);
    }
    return gatherAxes(b, lists, value);
  },
  BatchNormalization: unary((b, c) => {
    const [scale, bias, mean, variance] = [1, 2, 3, 4].map((i) => c.node.constInputs[i]);
    if (!scale || !bias || !mean || !variance) return 'BatchNormalization parameters are not known constants';
    if (attrNum(c.node, 'training_mode', 0)) return 'BatchNormalization in training mode';
    const eps = attrNum(c.node, 'epsilon', 1e-5);
    const C = b.shape[1];
    const inner = prod(b.shape.slice(2));
    const o = box(b.shape);
    const at = (v: Float32Array, ch: number) => v[v.length === 1 ? 0 : ch];
    for (let i = 0; i < b.lo.length; i++) {
      const ch = Math.floor(i / inner) % C;
      const a = at(scale, ch) / Math.sqrt(at(variance, ch) + eps);
      const m = at(mean, ch);
      const be = at(bias, ch);
      const f = (x: number) => a * (x - m) + be;
      const mag = Math.abs(a) * (Math.max(Math.abs(b.lo[i]), Math.abs(b.hi[i])) + Math.abs(m)) + Math.abs(be);
      const v1 = f(b.lo[i]);
      const v2 = f(b.hi[i]);
      o.lo[i] = widenLo(Math.min(v1, v2), mag);
      o.hi[i] = widenHi(Math.max(v1, v2), mag);
    }
    return o;
  }),
  ReduceMean: unary((b, c) => reduceOp(b, c, (ax, out) => {
    const r = reduceSum(b, ax, true, out);
    if (typeof r === 'string') return r;
    // the variance of a written-out LayerNorm: never below the box's minimum variance
    const lnVar = layerNormVariance(c, ax);
    if (lnVar) for (let g = 0; g < r.lo.length; g++) r.lo[g] = Math.max(r.lo[g], lnVar[g]);
    return r;
  })),
  ReduceSum: unary((b, c) => reduceOp(b, c, (ax, out) => reduceSum(b, ax, false, out))),
  ReduceMax: unary((b, c) => reduceOp(b, c, (ax, out) => reduceExtreme(b, ax, out, true))),
  ReduceMin: unary((b, c) => reduceOp(b, c, (ax, out) => reduceExtreme(b, ax, out, false))),
  GlobalAveragePool: unary((b, c) => reduceSum(b, range(b.shape.length).slice(2), true, c.outShape(0)!)),
  GlobalMaxPool: unary((b, c) => reduceExtreme(b, range(b.shape.length).slice(2), c.outShape(0)!, true)),
  MaxPool: unary((b, c) => pool(c.node, b, c.outShape(0)!, true)),
  AveragePool: unary((b, c) => pool(c.node, b, c.outShape(0)!, false)),
  // Softmax outputs are probabilities
  Softmax: unary((b) => ({ shape: b.shape, lo: new Float64Array(b.lo.length), hi: new Float64Array(b.lo.length).fill(1) })),
  // nearest and linear Resize output convex combinations (copies) of one channel's elements: the channel hull
  Resize: unary((b, c) => resizeHull(b, c)),
  Upsample: unary((b, c) => resizeHull(b, c)),
  MatMul: (c) => {
    const [a, b] = [c.box(0), c.box(1)];
    if (!a || !b) return 'input has no box';
    return matmulBox(a, b, c.outShape(0)!);
  },
  LayerNormalization: unary((b, c) => {
    const ax0 = attrNum(c.node, 'axis', -1);
    const ax = ax0 < 0 ? ax0 + b.shape.length : ax0;
    const z = normalizedBox(b, range(b.shape.length).slice(ax), attrNum(c.node, 'epsilon', 1e-5));
    const [g, be] = [c.node.constInputs[1], c.node.inputs[2] ? c.node.constInputs[2] : null];
    if (!g || (c.node.inputs[2] && !be)) return 'LayerNormalization scale/bias are not known constants';
    return affine(z, g, c.node.constShapes[1] ?? [g.length], be, c.node.constShapes[2] ?? [be?.length ?? 1]);
  }),
  InstanceNormalization: unary((b, c) => {
    const z = normalizedBox(b, range(b.shape.length).slice(2), attrNum(c.node, 'epsilon', 1e-5));
    const [g, be] = [c.node.constInputs[1], c.node.constInputs[2]];
    if (!g || !be) return 'InstanceNormalization scale/bias are not known constants';
    const chShape = [b.shape[1], ...b.shape.slice(2).map(() => 1)];
    return affine(z, g, chShape, be, chShape);
  }),
};

HANDLERS.Transpose = unary((b, c) => {
  const perm = attrInts(c.node, 'perm') ?? range(b.shape.length).reverse();
  const shape = perm.map((p) => b.shape[p]);
  const inS = strides(b.shape);
  const o = box(shape);
  const idx = new Array<number>(shape.length).fill(0);
  for (let k = 0; k < o.lo.length; k++) {
    let j = 0;
    for (let a = 0; a < shape.length; a++) j += idx[a] * inS[perm[a]];
    o.lo[k] = b.lo[j];
    o.hi[k] = b.hi[j];
    for (let a = shape.length - 1; a >= 0; a--) {
      if (++idx[a] < shape[a]) break;
      idx[a] = 0;
    }
  }
  return o;
});
HANDLERS.Silu = HANDLERS.Swish;

function resizeHull(b: Box, c: Ctx): Box | string {
  const mode = typeof c.node.attrs.mode === 'string' ? c.node.attrs.mode : 'nearest';
  if (mode !== 'nearest' && mode !== 'linear') return `Resize mode ${mode} can overshoot`;
  const coord = c.node.attrs.coordinate_transformation_mode;
  if (coord === 'tf_crop_and_resize') return 'Resize tf_crop_and_resize extrapolates';
  const out = c.outShape(0)!;
  if (out.length < 2 || out[0] !== b.shape[0] || out[1] !== b.shape[1]) return 'Resize changes batch or channel dims';
  const inner = prod(b.shape.slice(2));
  const outInner = prod(out.slice(2));
  const o = box(out);
  for (let nc = 0; nc < b.shape[0] * b.shape[1]; nc++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let q = 0; q < inner; q++) {
      lo = Math.min(lo, b.lo[nc * inner + q]);
      hi = Math.max(hi, b.hi[nc * inner + q]);
    }
    // linear weights are computed in float: a convex combination up to a few ulp
    o.lo.fill(widenLo(lo, Math.max(Math.abs(lo), Math.abs(hi))), nc * outInner, (nc + 1) * outInner);
    o.hi.fill(widenHi(hi, Math.max(Math.abs(lo), Math.abs(hi))), nc * outInner, (nc + 1) * outInner);
  }
  return o;
}

/** Batched interval matrix product (batch dims equal), center/radius form. */
function matmulBox(a: Box, b: Box, out: number[]): Box | string {
  if (a.shape.length < 2 || b.shape.length < 2) return 'MatMul of vectors not handled';
  const [m, k] = a.shape.slice(-2);
  const [k2, n] = b.shape.slice(-2);
  if (k !== k2) return 'MatMul inner dims differ';
  const batch = prod(out.slice(0, -2));
  const ab = a.lo.length / (m * k);
  const bb = b.lo.length / (k * n);
  if ((ab !== batch && ab !== 1) || (bb !== batch && bb !== 1)) return 'MatMul batch broadcasting not handled';
  const A = new LinearAcc(a);
  const B = new LinearAcc(b);
  const o = box(out);
  for (let t = 0; t < batch; t++) {
    const ao = ab === 1 ? 0 : t * m * k;
    const bo = bb === 1 ? 0 : t * k * n;
    for (let i = 0; i < m; i++)
      for (let j = 0; j < n; j++) {
        let c = 0;
        let r = 0;
        let s = 0;
        for (let q = 0; q < k; q++) {
          const x = ao + i * k + q;
          const y = bo + q * n + j;
          c += A.mid[x] * B.mid[y];
          // |a b - am bm| <= |am| rb + ra |bm| + ra rb
          r += A.abs[x] * B.rad[y] + A.rad[x] * (B.abs[y] + B.rad[y]);
          s += A.abs[x] * B.abs[y];
        }
        finish(o, t * m * n + i * n + j, c, r, s, 0, k + 2, 0);
      }
  }
  return o;
}

/** A scalar constant input of `n` (index i), or null. */
const scalarAt = (n: GraphNode, i: number) => (n.constInputs[i]?.length === 1 ? n.constInputs[i]![0] : null);

/**
 * The nodes from x to g (in graph order) when g = f(x) for an elementwise, non-decreasing f built from
 * ops with scalar constants only (so f is the same function at every position); else null.
 */
function monotoneChain(g: string, x: string, producer: (t: string) => GraphNode | undefined): GraphNode[] | null {
  const chain: GraphNode[] = [];
  let t = g;
  while (t !== x) {
    const p = producer(t);
    if (!p || p.domain !== '' || p.layerIndex !== null || chain.length >= 8) return null;
    // the run-time input: first for Sub / Div, either for Add / Mul
    const ri = (p.op === 'Add' || p.op === 'Mul') && p.inputs.length === 2 && p.constInputs[0] !== null ? 1 : 0;
    const k = scalarAt(p, 1 - ri);
    const ok =
      ['Relu', 'Sigmoid', 'Softplus', 'Exp', 'Tanh', 'Erf', 'Identity'].includes(p.op) && p.inputs.length === 1 ? true
      : p.op === 'Clip' ? p.inputs.slice(1).every((s, i) => !s || scalarAt(p, i + 1) !== null)
      : p.op === 'HardSigmoid' ? attrNum(p, 'alpha', 0.2) > 0
      : p.op === 'LeakyRelu' ? attrNum(p, 'alpha', 0.01) >= 0
      : p.op === 'Add' || p.op === 'Sub' ? p.inputs.length === 2 && k !== null
      : p.op === 'Mul' || p.op === 'Div' ? p.inputs.length === 2 && k !== null && k > 0
      : false;
    if (!ok) return null;
    chain.unshift(p);
    t = p.inputs[ri];
  }
  return chain.length > 0 ? chain : null;
}

/**
 * y = x * f(x) with f non-decreasing and >= 0 (HardSwish and SiLU written out): the plain interval
 * product forgets that both factors are the same x, and gives [-h f(h), h f(h)] where y stays above a
 * small constant. For x in [l, h] (docs: "Self-gated products"):
 *   y <= h f(h) (h > 0), h f(l) (h <= 0);   y >= l f(l) (l >= 0), max(M, l f(min(h, 0))) (l < 0),
 * with M = min over pieces [a, b] of [min l, 0] of a f(b). f is evaluated by the chain's own interval
 * rules on point boxes. Returns the plain product `r` intersected with these.
 */
function selfGatedProduct(c: Ctx, r: Box): Box {
  const n = c.node;
  if (n.inputs.length !== 2) return r;
  for (const [xi, gi] of [[0, 1], [1, 0]]) {
    const [x, g] = [n.inputs[xi], n.inputs[gi]];
    const chain = monotoneChain(g, x, c.producer);
    const [xb, gb] = [c.boxOf(x), c.boxOf(g)];
    if (!chain || !xb || !gb || xb.lo.length !== r.lo.length || gb.lo.length !== r.lo.length) continue;
    // f >= 0 up to the outward rounding of the chain's boxes (-2^-1000 for a Clip at 0): with d that
    // slack, x f(x) = x (f(x) + d) - d x, and the rules below use f + d
    let d = 0;
    for (const v of gb.lo) d = Math.max(d, -v);
    if (!(d <= 2 ** -900)) continue;
    const N = r.lo.length;
    // upper ends of f at any points, through the chain's own interval rules on a flat box of them
    // (the chain has scalar constants only, so position does not matter)
    const fUp = (points: Float64Array): Float64Array | null => {
      const flat = chain.map((q) => ({
        ...q,
        outputShapes: q.outputShapes.map(() => [points.length]),
        constShapes: q.constShapes.map((d, i) => (q.constInputs[i]?.length === 1 ? [] : d)), // scalars stored as [1, 1, 1, 1]
      }));
      const out = propagateBoxes({ inputs: [x], outputs: [g], nodes: flat }, [], new Map([[x, { shape: [points.length], lo: points, hi: points }]])).boxes.get(g);
      return out ? out.hi : null;
    };
    let lMin = 0;
    for (const v of xb.lo) lMin = Math.min(lMin, v);
    let M = 0;
    if (lMin < 0) {
      // pieces [p_{k+1}, p_k] from 0 down to lMin, geometric below a tiny first piece
      const K = 512;
      const first = Math.max(-lMin * 2 ** -40, 2 ** -900);
      const ratio = Math.pow(-lMin / first, 1 / Math.max(1, K - 1));
      const ends = new Float64Array(K);
      const starts = new Float64Array(K);
      for (let k = 0; k < K; k++) {
        ends[k] = k === 0 ? 0 : -first * Math.pow(ratio, k - 1);
        starts[k] = k === K - 1 ? lMin : -first * Math.pow(ratio, k);
      }
      const f = fUp(ends);
      if (!f) continue;
      M = Infinity;
      for (let k = 0; k < K; k++) M = Math.min(M, widenLo(Math.min(starts[k], ends[k]) * (f[k] + d)));
    }
    const at = new Float64Array(N);
    for (let i = 0; i < N; i++) at[i] = Math.min(xb.hi[i], 0);
    const fh = fUp(at);
    if (!fh) continue;
    for (let i = 0; i < N; i++) {
      const [l, h] = [xb.lo[i], xb.hi[i]];
      const [gl, gh] = [gb.lo[i] + d, gb.hi[i] + d]; // exact or rounded up: d is far below their ulp unless 0
      const hi = h > 0 ? widenHi(h * gh) : widenHi(h * Math.max(0, gl));
      const lo = l >= 0 ? widenLo(l * Math.max(0, gl)) : Math.max(M, widenLo(l * (fh[i] + d)));
      const slack = d * Math.max(-l, h) * 2;
      r.lo[i] = Math.max(r.lo[i], lo - slack);
      r.hi[i] = Math.min(r.hi[i], hi + slack);
    }
    return r;
  }
  return r;
}

function binaryOp(c: Ctx, f: BinaryKind): Box | string {
  const [a, b] = [c.box(0), c.box(1)];
  if (!a || !b) return 'input has no box';
  return binary(a, b, c.outShape(0)!, f);
}

function naryOp(c: Ctx, f: BinaryKind): Box | string {
  const boxes = c.node.inputs.map((_, i) => c.box(i));
  if (boxes.some((b) => !b)) return 'input has no box';
  let acc: Box | string = boxes[0]!;
  for (const b of boxes.slice(1)) {
    if (typeof acc === 'string') return acc;
    acc = binary(acc, b!, c.outShape(0)!, f);
  }
  if (typeof acc !== 'string' && c.node.op === 'Mean') {
    const n = boxes.length;
    return { shape: acc.shape, lo: acc.lo.map((v) => widenLo(v / n)), hi: acc.hi.map((v) => widenHi(v / n)) };
  }
  return typeof acc === 'string' ? acc : reshaped(acc, c.outShape(0)!);
}
HANDLERS.Mean = (c) => naryOp(c, 'add');

function reduceOp(b: Box, c: Ctx, f: (axes: number[], out: number[]) => Box | string): Box | string {
  const axes = reduceAxes(c.node, b.shape.length);
  if (!axes) return `${c.node.op} axes are not known constants`;
  if (axes.length === 0) return b;
  return f(axes, c.outShape(0)!);
}

/** For the variance ReduceMean of a written-out LayerNorm: per group, the box's minimum variance of x. */
function layerNormVariance(c: Ctx, axes: number[]): Float64Array | null {
  // find a Div consumer pattern: this ReduceMean must be mean((x - mean(x))^2)
  const sq = c.producer(c.node.inputs[0]);
  if (!sq || (sq.op !== 'Pow' && sq.op !== 'Mul')) return null;
  if (sq.op === 'Pow' && !(sq.constInputs[1]?.length === 1 && sq.constInputs[1][0] === 2)) return null;
  if (sq.op === 'Mul' && sq.inputs[0] !== sq.inputs[1]) return null;
  const sub = c.producer(sq.inputs[0]);
  if (!sub || sub.op !== 'Sub') return null;
  const mean = c.producer(sub.inputs[1]);
  if (!mean || mean.op !== 'ReduceMean' || mean.inputs[0] !== sub.inputs[0]) return null;
  const xb = c.boxOf(sub.inputs[0]);
  if (!xb) return null;
  const axesMean = reduceAxes(mean, xb.shape.length);
  if (!axesMean || [...axesMean].sort().join() !== [...axes].sort().join()) return null;
  return minVariances(xb, axes).varMin;
}

const RESHAPES = new Set(['Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Identity', 'Cast', 'Transpose', 'Expand']);

/** A conv or dense layer's box, asked of the driver of the propagation loop. */
interface LayerJob {
  node: GraphNode;
  layer: ConvLayer | DenseLayer;
  x: Box;
  outShape: number[];
}

const layerBox = (j: LayerJob) => (j.layer.kind === 'conv' ? convBox(j.node, j.layer, j.x, j.outShape) : denseBox(j.node, j.layer, j.x, j.outShape));

/**
 * Boxes for every tensor reachable from `inputs`, layers in JS (synchronous). Conv and dense nodes use
 * their layer record (geometry) and the node's own weight; absorbed nodes are propagated as their own
 * ops (a folded BatchNormalization) or skipped (a Pad merged into the conv's pads).
 */
export function propagateBoxes(graph: GraphSummary, layers: readonly Layer[], inputs: ReadonlyMap<string, Box>): Propagation {
  const run = propagation(graph, layers, inputs);
  for (let step = run.next(); ; ) {
    if (step.done) return step.value;
    step = run.next(layerBox(step.value));
  }
}

/** From here a one-group conv's box is faster natively: the JS loop runs three sums per multiply-add. */
const NATIVE_CONV_MACS = 1e6;

/** propagateBoxes with the large one-group convs on native DGEMM (the bulk of every CNN's multiply-adds). */
export async function propagateBoxesNative(graph: GraphSummary, layers: readonly Layer[], inputs: ReadonlyMap<string, Box>): Promise<Propagation> {
  const run = propagation(graph, layers, inputs);
  for (let step = run.next(); ; ) {
    if (step.done) return step.value;
    const j = step.value;
    const l = j.layer;
    const native = l.kind === 'conv' && l.op === 'Conv' && l.group === 1 && l.weight.length * (j.outShape.reduce((p, q) => p * q, 1) / j.outShape[1]) >= NATIVE_CONV_MACS;
    step = run.next(native ? await convBoxNative(j.node, l as ConvLayer, j.x, j.outShape) : layerBox(j));
  }
}

/** The propagation loop: yields each layer's box to its driver. */
function* propagation(graph: GraphSummary, layers: readonly Layer[], inputs: ReadonlyMap<string, Box>): Generator<LayerJob, Propagation, Box | string> {
  const boxes = new Map<string, Box>(inputs);
  const producers = new Map<string, GraphNode>();
  const failed: Propagation['failed'] = [];
    for (const node of graph.nodes) {
      node.outputs.forEach((t) => t && producers.set(t, node));
      if (node.constant) continue;
      const get = (i: number): Box | undefined => {
        const t = node.inputs[i];
        if (!t) return undefined;
        const b = boxes.get(t);
        if (b) return b;
        const v = node.constInputs[i];
        return v ? constBox(v, node.constShapes[i]) : undefined;
      };
      // only nodes with a boxed (runtime) input compute boxes; constant subgraphs and shape arithmetic are skipped
      // (a reshape of a constant by a shape computed at run time is a constant: boxed from its value)
      const constReshape = RESHAPES.has(node.op) && node.constInputs[0] !== null;
      if (!node.inputs.some((t) => t && boxes.has(t)) && !constReshape) continue;
      const fail = (reason: string) => failed.push({ node: node.name, op: node.op, reason });
      const outShapes = node.outputs.map((_, k) => node.outputShapes[k]);
      if (outShapes.some((s, k) => node.outputs[k] && !concrete(s))) {
        if (!['Shape', 'Size'].includes(node.op)) fail('output shape unknown or symbolic');
        continue;
      }
      const layer = node.layerIndex !== null ? layers[node.layerIndex] ?? null : null;
      let res: Box[] | Box | string;
      // a MatMul of two run-time tensors is a layer record the engine cannot bound: propagate it as an op
      if (layer) {
        if (layer.kind === 'unsupported' && node.op === 'MatMul' && node.domain === '') {
          res = HANDLERS.MatMul({ node, layer, box: get, outShape: (k) => outShapes[k] ?? null, producer: (t) => producers.get(t), boxOf: (t) => boxes.get(t) });
        } else {
        let x = node.inputs.map((t, i) => (t && boxes.has(t) ? get(i) : undefined)).find((b) => b);
        // a Pad merged into this conv's pads: the conv reads the unpadded tensor (the Pad's own box is the padded one)
        const pad = node.inputs[0] ? producers.get(node.inputs[0]) : undefined;
        if (pad && pad.op === 'Pad' && pad.absorbedInto === layer.name && pad.inputs[0]) x = boxes.get(pad.inputs[0]);
        if (!x) res = 'layer input has no box';
        else if (layer.kind === 'conv' || layer.kind === 'dense') res = yield { node, layer, x, outShape: outShapes[0]! };
        else res = `unsupported layer: ${layer.reason}`;
        }
      } else if (node.domain !== '') res = `op from domain '${node.domain}'`;
      else if (node.op === 'Shape' || node.op === 'Size') continue;
      else {
        const h = HANDLERS[node.op];
        res = h
          ? h({ node, layer, box: get, outShape: (k) => outShapes[k] ?? null, producer: (t) => producers.get(t), boxOf: (t) => boxes.get(t) })
          : `no interval rule for ${node.op}`;
      }
      if (typeof res === 'string') {
        fail(res);
        continue;
      }
      const list = Array.isArray(res) ? res : [res];
      node.outputs.forEach((t, k) => {
        const b = list[k];
        if (!t || !b) return;
        let bad = false;
        for (let i = 0; i < b.lo.length && !bad; i++) bad = !(Number.isFinite(b.lo[i]) && Number.isFinite(b.hi[i]) && b.lo[i] <= b.hi[i]);
        if (bad) {
          fail('interval bounds are not finite or ordered');
          return;
        }
        boxes.set(t, { ...b, shape: outShapes[k]! });
      });
    }
  return { boxes, failed };
}
