// [spectral] "dense per group" route for a one-group conv whose real operator is too large for the
// banded Gram matrix of dense-groups.ts but small enough for a dense one (full convs on tiny maps,
// where the torus and sup routes are loosest): G is assembled from the products of the tap matrices
// (one DGEMM), started from the power method's vector and certified by the Cholesky test (blocked,
// on DGEMM, from order 512).
// Derivation: docs/derivations.md#dense-route-for-full-convs-on-tiny-maps
import type { ConvLayer } from '../model/layer.js';
import { operatorGeometry, weightOffset, type OperatorGeometry } from './dense-groups.js';
import { certifyRealGram, effectiveTolerance } from './dense-norm.js';
import { newTarget } from '../linalg/eigen-certificate.js';
import { addABt, mirrorLower } from '../linalg/gram.js';
import { UNIT_ROUNDOFF, roundUp, weightScale } from '../linalg/rounding.js';
import { NATIVE_MIN_MACS, gramNative } from '../native/blas.js';
import { powerRun } from '../native/power.js';
import { withScratch } from '../util/scratch.js';

/**
 * The operator A of a one-group conv as blocks: A's block (long position l, small position s) is the
 * tap matrix B_t (cl x cs) of the tap t joining them, where "small" is the side of A with fewer
 * entries (G = A^T A on the input side, A A^T on the output side, order n = positions x cs).
 */
export interface FullGramPlan {
  geo: OperatorGeometry;
  n: number;
  /** Channels per position on the small side (cs) and on the long side (cl). */
  cs: number;
  cl: number;
  smallIsInput: boolean;
  /** Per long position, its (small position, tap) pairs, flattened. */
  lists: Int32Array[];
  /** Most long positions sharing one small position: each entry of G sums at most terms x cl products. */
  terms: number;
  /** Block pairs added into G: sum over long positions of (list length)^2. */
  pairs: number;
}

/** The plan of a one-group conv with a known input size whose Gram order is <= maxOrder, else null. */
export function fullGramPlan(layer: ConvLayer, maxOrder: number): FullGramPlan | null {
  const geo = operatorGeometry(layer);
  if (!geo || geo.groups !== 1) return null;
  const { coutG, cinG, kw, axes, inSp, outSp } = geo;
  const sIn = inSp[0] * inSp[1];
  const sOut = outSp[0] * outSp[1];
  const smallIsInput = cinG * sIn <= coutG * sOut;
  const n = smallIsInput ? cinG * sIn : coutG * sOut;
  if (n > maxOrder) return null;
  const longCount = smallIsInput ? sOut : sIn;
  const build: number[][] = Array.from({ length: longCount }, () => []);
  const perSmall = new Int32Array(smallIsInput ? sIn : sOut);
  for (const [p1, q1, t1] of axes[0])
    for (const [p2, q2, t2] of axes[1]) {
      const pos = p1 * outSp[1] + p2;
      const qos = q1 * inSp[1] + q2;
      const small = smallIsInput ? qos : pos;
      build[smallIsInput ? pos : qos].push(small, t1 * kw + t2);
      perSmall[small]++;
    }
  return {
    geo,
    n,
    cs: smallIsInput ? cinG : coutG,
    cl: smallIsInput ? coutG : cinG,
    smallIsInput,
    lists: build.map((l) => Int32Array.from(l)),
    terms: Math.max(1, ...perSmall),
    pairs: build.reduce((sum, l) => sum + (l.length / 2) ** 2, 0),
  };
}

/**
 * Work of the route whatever the weights, in JS multiply-adds: forming G (block pairs x cs^2, in JS)
 * plus the tap products and one Cholesky test (n^3 / 6) on native DGEMM, counted at a quarter.
 */
export function fullGramWork(p: FullGramPlan): number {
  const tc = p.geo.taps * p.cs;
  return p.pairs * p.cs * p.cs + (tc * tc * p.cl + p.n ** 3 / 6) / 4;
}

/**
 * G (n x n, full symmetric storage, exactly symmetric) of a plan and the layer's weights divided by
 * `scale` (a power of two: exact), and ||A||_F^2 in the same units. The tap products
 * P[t, u] = B_t^T B_u are the blocks of X X^T (X's row t cs + i is column i of B_t), its lower block
 * triangle multiplied and mirrored (exactly symmetric); G's block (s, s') is the sum of P[t, u] over
 * the long positions joining s by t and s' by u. tableLimit: gatherBlocks up to that many block pairs.
 */
export async function assembleFullGram(
  p: FullGramPlan,
  weight: ArrayLike<number>,
  scale: number,
  g: Float64Array = new Float64Array(p.n * p.n),
  tableLimit = PAIR_TABLE_LIMIT,
): Promise<{ g: Float64Array; frob2: number }> {
  const { geo, cs, cl, n } = p;
  const taps = geo.taps;
  const tc = taps * cs;
  const x = new Float64Array(tc * cl);
  const tapNorm2 = new Float64Array(taps);
  for (let t = 0; t < taps; t++)
    for (let i = 0; i < cs; i++)
      for (let j = 0; j < cl; j++) {
        const v = weight[p.smallIsInput ? weightOffset(geo, j, i, t) : weightOffset(geo, i, j, t)] / scale;
        x[(t * cs + i) * cl + j] = v;
        tapNorm2[t] += v * v;
      }
  return withScratch('tap-products', tc * tc, async (pm) => {
    // P = X X^T, exactly symmetric (its lower triangle computed and mirrored), on DGEMM when large
    if ((tc * tc * cl) / 2 >= NATIVE_MIN_MACS) {
      await gramNative(tc, cl, (c0, w, out) => {
        for (let r = 0; r < tc; r++) out.set(x.subarray(r * cl + c0, r * cl + c0 + w), r * w);
      }, pm);
    } else {
      pm.fill(0);
      addABt(x, 0, x, 0, tc, cl, pm, true);
      mirrorLower(pm, tc);
    }
    // G[s][s'] and G[s'][s] then add the same numbers in the same order (long positions in turn; one
    // contribution per long position, since the small position determines the tap): G is exactly symmetric
    g.fill(0);
    let frob2 = 0;
    for (const list of p.lists) for (let a = 1; a < list.length; a += 2) frob2 += tapNorm2[list[a]];
    if (p.pairs <= tableLimit) gatherBlocks(p, pm, g);
    else scatterBlocks(p, pm, g);
    return { g, frob2 };
  });
}

/** Most block pairs (p.pairs, in all; two int32 each) listed before G is formed by scattering instead. */
const PAIR_TABLE_LIMIT = 4e6;

/**
 * G += the P blocks, block by block of G: each block's (t, u) pairs in long-position order, its rows
 * summed while in cache (memory traffic ~ the P blocks read, against three times that by scattering).
 */
function gatherBlocks(p: FullGramPlan, pm: Float64Array, g: Float64Array): void {
  const { cs, n } = p;
  const tc = p.geo.taps * cs;
  const positions = n / cs;
  const start = new Int32Array(positions * positions + 1);
  for (const list of p.lists)
    for (let a = 0; a < list.length; a += 2) for (let b = 0; b < list.length; b += 2) start[list[a] * positions + list[b] + 1]++;
  for (let k = 0; k < positions * positions; k++) start[k + 1] += start[k];
  const fill = start.slice(0, positions * positions);
  const tu = new Int32Array(2 * start[positions * positions]);
  for (const list of p.lists)
    for (let a = 0; a < list.length; a += 2)
      for (let b = 0; b < list.length; b += 2) {
        const at = fill[list[a] * positions + list[b]]++;
        tu[2 * at] = list[a + 1];
        tu[2 * at + 1] = list[b + 1];
      }
  for (let s = 0; s < positions; s++)
    for (let s2 = 0; s2 < positions; s2++) {
      const [k0, k1] = [start[s * positions + s2], start[s * positions + s2 + 1]];
      for (let i = 0; i < cs; i++) {
        const dst = (s * cs + i) * n + s2 * cs;
        for (let k = k0; k < k1; k++) {
          const src = (tu[2 * k] * cs + i) * tc + tu[2 * k + 1] * cs;
          for (let j = 0; j < cs; j++) g[dst + j] += pm[src + j];
        }
      }
    }
}

/** G += the P blocks, long position by long position: no table (few channels, huge kernels). */
function scatterBlocks(p: FullGramPlan, pm: Float64Array, g: Float64Array): void {
  const { cs, n } = p;
  const tc = p.geo.taps * cs;
  for (const list of p.lists)
    for (let a = 0; a < list.length; a += 2) {
      const [s, t] = [list[a], list[a + 1]];
      for (let i = 0; i < cs; i++) {
        const row = (s * cs + i) * n;
        const prow = (t * cs + i) * tc;
        for (let b = 0; b < list.length; b += 2) {
          const dst = row + list[b] * cs;
          const src = prow + list[b + 1] * cs;
          for (let j = 0; j < cs; j++) g[dst + j] += pm[src + j];
        }
      }
    }
}

export interface DenseFullResult {
  /** Certified upper bound on the layer operator's norm. */
  value: number;
  /** sqrt of the largest Rayleigh quotient seen on G: a lower estimate. */
  lower: number;
  route: string;
  gram: string;
  order: number;
  groups: number;
  tolerance: number;
  /** Operator applications of the power run behind the start vector. */
  startIterations: number;
  /** Milliseconds in the power run, in forming G, and in certifying it. */
  startMs: number;
  gramMs: number;
  certifyMs: number;
  iterations: number;
  certificates: number;
  choleskyFailures: number;
  ms: number;
}

/**
 * Certified ||A|| of a plan's layer: the power method (float32, on the operator) gives G's start
 * vector, so the Lanczos start on G and the first Cholesky test usually suffice; the certificate never
 * depends on that vector.
 */
export async function denseFullNorm(
  layer: ConvLayer,
  p: FullGramPlan,
  opts: { tolerance: number; seed: number; threads?: number },
): Promise<DenseFullResult> {
  const t0 = performance.now();
  const weight = layer.weight;
  const { maxAbs, scale } = weightScale(weight);
  const tol = effectiveTolerance(opts.tolerance);
  const target = newTarget(tol);
  let startIterations = 0;
  const ms = { start: 0, gram: 0, certify: 0 };
  if (maxAbs > 0) {
    // the power run's vector lives on the input side (layout [channel, position]); G's index is position-major
    let start: Float64Array | undefined;
    if (p.smallIsInput) {
      const t1 = performance.now();
      const run = await powerRun(layer, { iterations: 300, tolerance: tol / 10, seed: opts.seed, threads: opts.threads });
      startIterations = Number(run.result.details.iterations ?? 0);
      ms.start = performance.now() - t1;
      const v = run.vector;
      const positions = p.n / p.cs;
      if (v && v.length === p.n) {
        start = new Float64Array(p.n);
        for (let c = 0; c < p.cs; c++) for (let s = 0; s < positions; s++) start[s * p.cs + c] = v[c * positions + s];
      }
    }
    await withScratch('gram', p.n * p.n, async (buf) => {
      const t2 = performance.now();
      const { g, frob2 } = await assembleFullGram(p, weight, scale, buf);
      ms.gram = performance.now() - t2;
      // each entry of G sums at most terms x cl products (in some order): ||G_hat - G|| <= gamma ||A||_F^2
      const formError = 2 * (p.terms * p.cl + 4) * UNIT_ROUNDOFF * frob2;
      await certifyRealGram(g, p.n, target, formError, 2000, opts.seed, start);
      ms.certify = performance.now() - t2 - ms.gram;
    });
    return result(roundUp(Math.sqrt(target.tau)) * scale, Math.sqrt(target.lower) * scale);
  }
  return result(0, 0);

  function result(value: number, lower: number): DenseFullResult {
    return {
      value,
      lower,
      route: 'dense per group',
      gram: 'tap products',
      order: p.n,
      groups: 1,
      tolerance: tol,
      startIterations,
      startMs: ms.start,
      gramMs: ms.gram,
      certifyMs: ms.certify,
      iterations: target.iterations,
      certificates: target.choleskyRuns - target.choleskyFailures,
      choleskyFailures: target.choleskyFailures,
      ms: performance.now() - t0,
    };
  }
}
