// Certified spectral norm of a dense matrix (Gemm / MatMul weights, 1x1 convs): the Gram matrix on
// the smaller side, formed in float64, and a certified bound on its largest eigenvalue.
// Derivation: docs/derivations.md#certified-dense-matrix-norm
import { NATIVE_CHOLESKY_MIN, addABt, mirrorLower, realGramOps } from '../linalg/gram.js';
import { certifyGram, newTarget, type EigenTarget } from '../linalg/eigen-certificate.js';
import { lanczosStart } from '../linalg/lanczos.js';
import { UNIT_ROUNDOFF, roundUp, weightScale } from '../linalg/rounding.js';
import { normalArray } from '../util/random.js';
import { withScratch } from '../util/scratch.js';
import { NATIVE_MIN_MACS, gramNative, multiplyABt } from '../native/blas.js';

export interface DenseNormResult {
  /** Certified upper bound on sigma_max. */
  value: number;
  /** Power-iteration lower estimate (sqrt of the best Rayleigh quotient). */
  lower: number;
  iterations: number;
  certified: boolean;
  /** Where the Gram matrix was formed: 'js' or 'native float64 DGEMM' (onnxruntime). */
  gram: string;
  ms: number;
}

/** Most Lanczos steps before the first Cholesky test of a large Gram matrix. */
const LANCZOS_STEPS = 80;

/** Columns of the long side copied (as float64) per Gram update: bounds the scratch to n * CHUNK. */
const CHUNK = 256;

/**
 * Real Gram matrix on the smaller side of a row-major rows x cols matrix (full storage, float64),
 * with its order n, the long side k and ||W||_F^2 (for the rounding margin). Entries are divided by
 * `scale` (a power of two, so exactly) while copied.
 */
export function smallSideGram(
  weight: ArrayLike<number>,
  rows: number,
  cols: number,
  scale = 1,
): { g: Float64Array; n: number; k: number; frob2: number } {
  const n = Math.min(rows, cols);
  const k = Math.max(rows, cols);
  const g = new Float64Array(n * n);
  const chunk = new Float64Array(n * Math.min(CHUNK, k));
  let frob2 = 0;
  for (let c0 = 0; c0 < k; c0 += CHUNK) {
    const w = Math.min(CHUNK, k - c0);
    // chunk[i][c] = A[i][c0 + c] where A = W (rows <= cols) or W^T
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < w; c++) {
        const v = (rows <= cols ? weight[i * cols + c0 + c] : weight[(c0 + c) * cols + i]) / scale;
        chunk[i * w + c] = v;
        frob2 += v * v;
      }
    }
    addABt(chunk, 0, chunk, 0, n, w, g, true);
  }
  mirrorLower(g, n);
  return { g, n, k, frob2 };
}

/**
 * smallSideGram, on native float64 DGEMM (native/blas.ts) when the product is large enough to pay for it
 * (or when forced); the same matrix up to the summation order, so the same rounding margin.
 */
export async function smallSideGramAuto(
  weight: ArrayLike<number>,
  rows: number,
  cols: number,
  scale = 1,
  native?: boolean,
): Promise<{ g: Float64Array; n: number; k: number; frob2: number; native: boolean }> {
  const n = Math.min(rows, cols);
  const k = Math.max(rows, cols);
  const useNative = native ?? n * n * k >= NATIVE_MIN_MACS;
  if (!useNative) return { ...smallSideGram(weight, rows, cols, scale), native: false };
  let frob2 = 0;
  const g = await gramNative(n, k, (c0, w, out) => {
    // out[i][c] = A[i][c0 + c], A = W (rows <= cols) or W^T
    if (rows <= cols) {
      for (let i = 0; i < n; i++) {
        const src = i * cols + c0;
        const dst = i * w;
        for (let c = 0; c < w; c++) {
          const v = weight[src + c] / scale;
          out[dst + c] = v;
          frob2 += v * v;
        }
      }
    } else {
      for (let c = 0; c < w; c++) {
        const src = (c0 + c) * cols;
        for (let i = 0; i < n; i++) {
          const v = weight[src + i] / scale;
          out[i * w + c] = v;
          frob2 += v * v;
        }
      }
    }
  });
  return { g, n, k, frob2, native: true };
}

/**
 * Certify lambda_max(G) for a real symmetric PSD Gram matrix against `target` (shared with other
 * matrices). formError bounds ||G_hat - G_true||_2. `start` (a guess of the top eigenvector, never
 * trusted) replaces the seeded start vector. Returns the last iterate (an estimate of that eigenvector).
 */
export async function certifyRealGram(g: Float64Array, n: number, target: EigenTarget, formError: number, maxIter: number, seed = 1, start?: Float64Array): Promise<Float64Array> {
  return withScratch('cholesky', n * n, async (work) => {
    const ops = realGramOps(g, n, work);
    const bufs = { x: start && start.length === n ? Float64Array.from(start) : normalArray(n, seed), y: new Float64Array(n), z: new Float64Array(n) };
    // Large n: each Cholesky test costs far more than products with G, so start from a Lanczos Ritz
    // vector converged well below the target spacing: the first test is then the one that passes.
    // Its products run on native DGEMM: a product streams G from memory either way, twice as fast there.
    if (n >= NATIVE_CHOLESKY_MIN) {
      const apply = async (x: Float64Array, y: Float64Array) => y.set(await multiplyABt(x, 1, g, n, n));
      target.iterations += await lanczosStart(apply, n, bufs.x, LANCZOS_STEPS, target.spacing / 8);
    }
    await certifyGram(ops, target, bufs, formError, n >= NATIVE_CHOLESKY_MIN ? 2 : 30, maxIter);
    return bufs.x;
  });
}

export async function denseSpectralNorm(
  weight: Float32Array | Float64Array,
  rows: number,
  cols: number,
  tolerance: number,
  native?: boolean,
): Promise<DenseNormResult> {
  const t0 = performance.now();
  if (weight.length !== rows * cols) throw new RangeError(`dense weight has ${weight.length} entries, expected ${rows}x${cols}`);
  const { maxAbs, scale } = weightScale(weight, 'dense weight');
  if (maxAbs === 0 || rows === 0 || cols === 0) return { value: 0, lower: 0, iterations: 0, certified: true, gram: 'none', ms: performance.now() - t0 };
  const { g, n, k, frob2, native: usedNative } = await smallSideGramAuto(weight, rows, cols, scale, native);
  const target = newTarget(effectiveTolerance(tolerance));
  await certifyRealGram(g, n, target, 2 * (k + 4) * UNIT_ROUNDOFF * frob2, 2000);
  return {
    value: roundUp(Math.sqrt(target.tau)) * scale,
    lower: Math.sqrt(target.lower) * scale,
    iterations: target.iterations,
    certified: true,
    gram: usedNative ? 'native float64 DGEMM' : 'js',
    ms: performance.now() - t0,
  };
}

/** Tolerances below ~1e-9 would fight the rounding margins; clamp (documented in the result's tolerance). */
export function effectiveTolerance(tolerance: number): number {
  if (!(tolerance > 0)) return 1e-4;
  return Math.max(tolerance, 1e-9);
}
