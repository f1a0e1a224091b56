// Lanczos with full reorthogonalisation, the one implementation: the recurrence (Lanczos), the basis
// storages it runs on (float32 KrylovBasis for onnxruntime's operators, float64 for Gram matrices),
// the small dense eigensolver, and lanczosStart (the certificate's start vector). docs/derivations.md#lanczos
import { dot } from './vector.js';

/** Elements per block in the basis sweeps: a block of the float64 work vector stays in L1/L2 cache. */
const BLOCK = 2048;
/**
 * The second Gram-Schmidt pass runs when the first leaves more than this fraction of ||w|| along
 * the basis: the float32 basis is orthonormal to ~1e-7 at best, so removing less gains nothing.
 */
export const REORTH_ETA = 1e-7;

/**
 * All eigenpairs of a small dense symmetric matrix (cyclic Jacobi; m <= ~100), largest first.
 * `a` is row-major m x m and is not modified. vectors[p * m + i] is component i of eigenvector p.
 * Jacobi rather than a tridiagonal QR because after a thick restart the projected matrix is an
 * arrowhead plus a tridiagonal, not tridiagonal; at m <= 40 its cost is negligible next to one
 * operator product.
 */
export function symmetricEigen(a: Float64Array, m: number): { values: Float64Array; vectors: Float64Array } {
  const s = Float64Array.from(a.subarray(0, m * m));
  const v = new Float64Array(m * m);
  for (let i = 0; i < m; i++) v[i * m + i] = 1;
  let scale = 0;
  for (let i = 0; i < m * m; i++) scale += s[i] * s[i];
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < m; p++) for (let q = p + 1; q < m; q++) off += s[p * m + q] ** 2;
    if (!(off > 1e-32 * scale)) break;
    for (let p = 0; p < m; p++) {
      for (let q = p + 1; q < m; q++) {
        const apq = s[p * m + q];
        if (apq === 0) continue;
        const theta = (s[q * m + q] - s[p * m + p]) / (2 * apq);
        const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const sn = t * c;
        for (let k = 0; k < m; k++) {
          const akp = s[k * m + p];
          const akq = s[k * m + q];
          s[k * m + p] = c * akp - sn * akq;
          s[k * m + q] = sn * akp + c * akq;
        }
        for (let k = 0; k < m; k++) {
          const apk = s[p * m + k];
          const aqk = s[q * m + k];
          s[p * m + k] = c * apk - sn * aqk;
          s[q * m + k] = sn * apk + c * aqk;
        }
        for (let k = 0; k < m; k++) {
          const vkp = v[k * m + p];
          const vkq = v[k * m + q];
          v[k * m + p] = c * vkp - sn * vkq;
          v[k * m + q] = sn * vkp + c * vkq;
        }
      }
    }
  }
  const order = Array.from({ length: m }, (_, i) => i).sort((x, y) => s[y * m + y] - s[x * m + x]);
  const values = new Float64Array(m);
  const vectors = new Float64Array(m * m);
  order.forEach((col, p) => {
    values[p] = s[col * m + col];
    for (let i = 0; i < m; i++) vectors[p * m + i] = v[i * m + col];
  });
  return { values, vectors };
}

/**
 * Up to `capacity` orthonormal vectors of length n, stored in float32: the operator consumes
 * float32 anyway, and it halves the memory (40 vectors of a 64x112x112 input: 128 MB). Each stored
 * vector is exactly what is fed to the operator. Orthogonalisation runs in float64 against the
 * stored values, so the basis stays orthonormal to float32 rounding (~1e-7).
 */
export class KrylovBasis implements KrylovStorage<Float32Array> {
  readonly data: Float32Array;
  /** Vectors currently held (slots 0..count-1). */
  count = 0;

  constructor(readonly n: number, readonly capacity: number) {
    this.data = new Float32Array(n * capacity);
  }

  vector(i: number): Float32Array {
    return this.data.subarray(i * this.n, (i + 1) * this.n);
  }

  /** Restarts the basis from x as is (x is then exactly the vector the operator was run on). */
  reset(x: Float32Array): void {
    this.data.set(x, 0);
    this.count = 1;
  }

  /** Appends w / ||w|| (rounded to float32); returns the stored vector. */
  push(w: Float64Array, norm: number): Float32Array {
    const q = this.vector(this.count++);
    const inv = 1 / norm;
    for (let r = 0; r < this.n; r++) q[r] = w[r] * inv;
    return q;
  }

  /**
   * w <- z - Q (Q^T z) against every stored vector (classical Gram-Schmidt, full
   * reorthogonalisation), coefficients to coef[0..count) (the measured column of Q^T B Q: with a
   * float32 basis its entries off the tridiagonal are not negligible); returns ||w||. What one pass leaves
   * along the basis is measured, not assumed: the second pass's dot products are fused into the
   * first pass's update sweep, and its update runs when they exceed REORTH_ETA * ||w|| ("twice is
   * enough"). One pass alone is not enough, even in float64: against a float32 basis the leftover
   * compounds from step to step (docs/derivations.md#lanczos). Sweeps are blocked (the w block stays
   * in cache) and unrolled over vectors: on cheap layers these sweeps, not the operator, dominate a step.
   */
  orthogonalise(z: ArrayLike<number>, w: Float64Array, coef: Float64Array): number {
    const { n, count: k } = this;
    const c1 = new Float64Array(k);
    const c2 = new Float64Array(k);
    for (let b = 0; b < n; b += BLOCK) this.dotsBlock(b, Math.min(n, b + BLOCK), z, c1);
    let ww = 0;
    for (let b = 0; b < n; b += BLOCK) {
      const e = Math.min(n, b + BLOCK);
      for (let r = b; r < e; r++) w[r] = z[r];
      this.addBlock(b, e, c1, -1, w, 0);
      this.dotsBlock(b, e, w, c2);
      for (let r = b; r < e; r++) ww += w[r] * w[r];
    }
    for (let i = 0; i < k; i++) coef[i] = c1[i];
    let left = 0;
    for (let i = 0; i < k; i++) left += c2[i] * c2[i];
    if (left <= REORTH_ETA ** 2 * ww) return Math.sqrt(ww);
    ww = 0;
    for (let b = 0; b < n; b += BLOCK) {
      const e = Math.min(n, b + BLOCK);
      this.addBlock(b, e, c2, -1, w, 0);
      for (let r = b; r < e; r++) ww += w[r] * w[r];
    }
    for (let i = 0; i < k; i++) coef[i] += c2[i];
    return Math.sqrt(ww);
  }

  /** acc[i] += q_i[b..e) . w[b..e) for every stored vector (eight, four, then single vectors per sweep of the block). */
  private dotsBlock(b: number, e: number, w: ArrayLike<number>, acc: Float64Array): void {
    const { n, count: k, data } = this;
    let i = 0;
    for (; i + 8 <= k; i += 8) {
      const o0 = i * n;
      const [o1, o2, o3, o4, o5, o6, o7] = [o0 + n, o0 + 2 * n, o0 + 3 * n, o0 + 4 * n, o0 + 5 * n, o0 + 6 * n, o0 + 7 * n];
      let [s0, s1, s2, s3, s4, s5, s6, s7] = [0, 0, 0, 0, 0, 0, 0, 0];
      for (let r = b; r < e; r++) {
        const x = w[r];
        s0 += data[o0 + r] * x;
        s1 += data[o1 + r] * x;
        s2 += data[o2 + r] * x;
        s3 += data[o3 + r] * x;
        s4 += data[o4 + r] * x;
        s5 += data[o5 + r] * x;
        s6 += data[o6 + r] * x;
        s7 += data[o7 + r] * x;
      }
      acc[i] += s0;
      acc[i + 1] += s1;
      acc[i + 2] += s2;
      acc[i + 3] += s3;
      acc[i + 4] += s4;
      acc[i + 5] += s5;
      acc[i + 6] += s6;
      acc[i + 7] += s7;
    }
    for (; i + 4 <= k; i += 4) {
      const o0 = i * n;
      const [o1, o2, o3] = [o0 + n, o0 + 2 * n, o0 + 3 * n];
      let [s0, s1, s2, s3] = [0, 0, 0, 0];
      for (let r = b; r < e; r++) {
        const x = w[r];
        s0 += data[o0 + r] * x;
        s1 += data[o1 + r] * x;
        s2 += data[o2 + r] * x;
        s3 += data[o3 + r] * x;
      }
      acc[i] += s0;
      acc[i + 1] += s1;
      acc[i + 2] += s2;
      acc[i + 3] += s3;
    }
    for (; i < k; i++) {
      const o = i * n;
      let s = 0;
      for (let r = b; r < e; r++) s += data[o + r] * w[r];
      acc[i] += s;
    }
  }

  /**
   * out[r - shift] += scale * sum_i c[i] q_i[r] for r in [b, e): the one kernel behind the
   * Gram-Schmidt update (scale -1, out = w), Ritz vectors and the thick restart (out = a block buffer).
   */
  private addBlock(b: number, e: number, c: ArrayLike<number>, scale: number, out: Float64Array, shift: number): void {
    const { n, count: k, data } = this;
    let i = 0;
    for (; i + 8 <= k; i += 8) {
      const o0 = i * n + shift; // data index r = t + shift
      const [o1, o2, o3, o4, o5, o6, o7] = [o0 + n, o0 + 2 * n, o0 + 3 * n, o0 + 4 * n, o0 + 5 * n, o0 + 6 * n, o0 + 7 * n];
      const [c0, c1, c2, c3, c4, c5, c6, c7] = [0, 1, 2, 3, 4, 5, 6, 7].map((d) => scale * c[i + d]);
      for (let t = b - shift; t < e - shift; t++) {
        out[t] +=
          c0 * data[o0 + t] + c1 * data[o1 + t] + c2 * data[o2 + t] + c3 * data[o3 + t] +
          c4 * data[o4 + t] + c5 * data[o5 + t] + c6 * data[o6 + t] + c7 * data[o7 + t];
      }
    }
    for (; i + 4 <= k; i += 4) {
      const o0 = i * n + shift;
      const [o1, o2, o3] = [o0 + n, o0 + 2 * n, o0 + 3 * n];
      const [c0, c1, c2, c3] = [0, 1, 2, 3].map((d) => scale * c[i + d]);
      for (let t = b - shift; t < e - shift; t++) out[t] += c0 * data[o0 + t] + c1 * data[o1 + t] + c2 * data[o2 + t] + c3 * data[o3 + t];
    }
    for (; i < k; i++) {
      const o = i * n + shift;
      const ci = scale * c[i];
      for (let t = b - shift; t < e - shift; t++) out[t] += ci * data[o + t];
    }
  }

  /** out = sum_i y[i] * q_i over the stored vectors (a Ritz vector), accumulated in float64. */
  combine(y: ArrayLike<number>, out: Float32Array): void {
    const acc = new Float64Array(BLOCK);
    for (let b = 0; b < this.n; b += BLOCK) {
      const e = Math.min(this.n, b + BLOCK);
      acc.fill(0);
      this.addBlock(b, e, y, 1, acc, b);
      for (let r = b; r < e; r++) out[r] = acc[r - b];
    }
  }

  /**
   * Thick restart: replaces the basis by the `keep` combinations sum_i Y[p*stride + i] q_i
   * (p < keep; the Ritz vectors), computed in place block by block.
   */
  compress(y: Float64Array, stride: number, keep: number): void {
    const { n, data } = this;
    const tmp = new Float64Array(keep * BLOCK);
    for (let b = 0; b < n; b += BLOCK) {
      const e = Math.min(n, b + BLOCK);
      tmp.fill(0);
      for (let p = 0; p < keep; p++) this.addBlock(b, e, y.subarray(p * stride, (p + 1) * stride), 1, tmp, b - p * BLOCK);
      for (let p = 0; p < keep; p++) for (let r = b; r < e; r++) data[p * n + r] = tmp[p * BLOCK + r - b];
    }
    this.count = keep;
  }
}

/** Where a Lanczos run keeps its basis: the storage fixes the precision and the orthogonalisation. */
export interface KrylovStorage<V extends Float32Array | Float64Array> {
  readonly n: number;
  readonly capacity: number;
  /** Vectors currently held. */
  readonly count: number;
  vector(i: number): V;
  /** Appends w / norm as the next basis vector. */
  push(w: Float64Array, norm: number): V;
  /**
   * With z = B q_last: w <- z orthogonalised against the basis (w may be z itself), column[0..count)
   * <- the last column of the projected matrix Q^T B Q; returns ||w||.
   */
  orthogonalise(z: ArrayLike<number>, w: Float64Array, column: Float64Array): number;
  /** out = sum_i y[i] q_i over the stored vectors (a Ritz vector). */
  combine(y: ArrayLike<number>, out: V): void;
}

/**
 * Up to `capacity` orthonormal float64 vectors of length n, for operators applied in float64 (Gram
 * matrices). Modified Gram-Schmidt twice per step; the projected matrix is the Lanczos tridiagonal
 * (alpha_j = q_j . B q_j before orthogonalisation, beta_{j-1} the norm q_j was divided by).
 */
export class Float64KrylovBasis implements KrylovStorage<Float64Array> {
  readonly data: Float64Array;
  count = 0;
  /** Norm the newest vector was divided by: beta_{count-2}. */
  private lastNorm = 0;

  constructor(readonly n: number, readonly capacity: number) {
    this.data = new Float64Array(n * capacity);
  }

  vector(i: number): Float64Array {
    return this.data.subarray(i * this.n, (i + 1) * this.n);
  }

  push(w: Float64Array, norm: number): Float64Array {
    const q = this.vector(this.count++);
    for (let r = 0; r < this.n; r++) q[r] = w[r] / norm;
    this.lastNorm = norm;
    return q;
  }

  orthogonalise(z: ArrayLike<number>, w: Float64Array, column: Float64Array): number {
    const { n, count: k } = this;
    if (w !== z) for (let r = 0; r < n; r++) w[r] = z[r];
    column.fill(0, 0, k);
    column[k - 1] = dot(this.vector(k - 1), w, n);
    if (k > 1) column[k - 2] = this.lastNorm;
    for (let pass = 0; pass < 2; pass++) {
      for (let i = 0; i < k; i++) {
        const qi = this.vector(i);
        const c = dot(qi, w, n);
        for (let r = 0; r < n; r++) w[r] -= c * qi[r];
      }
    }
    return Math.sqrt(dot(w, w, n));
  }

  combine(y: ArrayLike<number>, out: Float64Array): void {
    const { n, data } = this;
    out.fill(0);
    for (let i = 0; i < this.count; i++) {
      const c = y[i];
      for (let r = 0; r < n; r++) out[r] += c * data[i * n + r];
    }
  }
}

/** The state after a Lanczos step: the eigenpairs of the projected matrix and the top pair's residual. */
export interface RitzState {
  /** Order of the projected matrix (basis vectors). */
  m: number;
  /** Ritz values, largest first; vectors[p * m + i] is coordinate i (in the basis) of Ritz vector p. */
  values: Float64Array;
  vectors: Float64Array;
  /** Top Ritz value. */
  theta: number;
  /** ||w||, the norm of the new residual (the next beta). */
  beta: number;
  /** |beta y_m|: residual norm of the top Ritz pair (y_m its last coordinate), cheap and unmeasured. */
  residual: number;
  /** theta - theta_2, or null while m = 1. */
  gap: number | null;
}

/**
 * The Lanczos recurrence on a symmetric B over a basis storage: the caller applies B to the newest
 * basis vector and passes the product to step(), which orthogonalises it, updates the projected
 * matrix and solves it; extend() then appends the residual. Stopping rules, restarts and what to
 * do with the Ritz vector are the caller's.
 */
export class Lanczos<V extends Float32Array | Float64Array> {
  /** The projected matrix Q^T B Q (capacity x capacity, row-major), packed m x m to be solved. */
  private readonly h: Float64Array;
  private readonly packed: Float64Array;
  private readonly column: Float64Array;
  /** Residual of the last step (the next basis vector before normalisation); also a product buffer. */
  readonly w: Float64Array;
  private beta = 0;

  constructor(readonly basis: KrylovStorage<V>) {
    const cap = basis.capacity;
    this.h = new Float64Array(cap * cap);
    this.packed = new Float64Array(cap * cap);
    this.column = new Float64Array(cap);
    this.w = new Float64Array(basis.n);
  }

  /** z = B q_j for the newest basis vector q_j (z may be this.w). */
  step(z: ArrayLike<number>): RitzState {
    const { basis, h, packed, column } = this;
    const cap = basis.capacity;
    const j = basis.count - 1;
    const beta = basis.orthogonalise(z, this.w, column);
    this.beta = beta;
    for (let i = 0; i <= j; i++) h[i * cap + j] = h[j * cap + i] = column[i];
    const m = j + 1;
    for (let r = 0; r < m; r++) for (let c = 0; c < m; c++) packed[r * m + c] = h[r * cap + c];
    const { values, vectors } = symmetricEigen(packed, m);
    const theta = values[0];
    return { m, values, vectors, theta, beta, residual: Math.abs(beta * vectors[j]), gap: m > 1 ? theta - values[1] : null };
  }

  /** Appends the last step's residual w / beta to the basis. */
  extend(): V {
    return this.basis.push(this.w, this.beta);
  }

  /**
   * After the caller restarted the basis: the projected matrix becomes diag(values[0..keep)) (a
   * thick restart onto the top Ritz vectors) or empty (keep = 0, a restart from one vector).
   */
  restartProjection(values: ArrayLike<number> = [], keep = 0): void {
    const cap = this.basis.capacity;
    this.h.fill(0);
    for (let p = 0; p < keep; p++) this.h[p * cap + p] = values[p];
  }
}

/** y = G x, possibly on native code (hence the promise). */
export type MatVec = (x: Float64Array, y: Float64Array) => void | Promise<void>;

/**
 * Lanczos (float64 basis) on a real symmetric n x n G, from x: leaves in x the Ritz vector of the
 * largest Ritz value theta once its estimated error is below relTol * theta (or after maxSteps);
 * returns the products used. Only a start vector for the certificate, which never trusts it: far
 * fewer products than power iteration when the top of the spectrum is clustered (wide layers).
 * Error estimate: min(res, res^2 / (theta_1 - theta_2)) (docs/derivations.md#lanczos).
 */
export async function lanczosStart(apply: MatVec, n: number, x: Float64Array, maxSteps: number, relTol: number): Promise<number> {
  const steps = Math.max(1, Math.min(maxSteps, n));
  const lz = new Lanczos(new Float64KrylovBasis(n, steps));
  let nx = Math.sqrt(dot(x, x, n));
  if (!(nx > 0) || !Number.isFinite(nx)) {
    x.fill(1);
    nx = Math.sqrt(n);
  }
  lz.basis.push(x, nx);
  for (;;) {
    await apply(lz.basis.vector(lz.basis.count - 1), lz.w);
    const s = lz.step(lz.w);
    const res = s.residual;
    const err = s.gap !== null && s.gap > 0 ? Math.min(res, (res * res) / s.gap) : res;
    if (err <= relTol * Math.abs(s.theta) || !(s.beta > 0) || s.m === steps) {
      lz.basis.combine(s.vectors.subarray(0, s.m), x);
      return s.m;
    }
    lz.extend();
  }
}
