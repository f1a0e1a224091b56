// Pure numeric pieces of a thick-restart Lanczos method on a large symmetric operator whose
// product is computed elsewhere (onnxruntime, in float32): a Krylov basis stored in float32 with
// float64 orthogonalisation, and a dense symmetric eigensolver for the small projected matrix.
// Nothing here applies the operator, so everything is testable on plain arrays.

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
export class KrylovBasis {
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
   * reorthogonalisation), coefficients to coef[0..count); returns ||w||. What one pass leaves
   * along the basis is measured, not assumed: the second pass's dot products are fused into the
   * first pass's update sweep, and its update runs when they exceed REORTH_ETA * ||w|| ("twice is
   * enough"). Even in float64 one pass is not enough on its own: against a float32 basis the
   * leftover compounds from step to step (x1.7 a step on a random 48x128 operator, garbage after
   * ~30 steps). Sweeps are blocked (the w block stays in cache) and unrolled over vectors: on cheap
   * layers these sweeps, not the operator, dominate a Lanczos step.
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
