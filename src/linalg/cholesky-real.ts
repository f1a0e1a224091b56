// Cholesky tests of t*I - G for a real symmetric G, the certificate behind every dense / 1x1 bound
// (and the spectral route's complex tests through their real embedding, and the dense route): a
// plain version for small n and a blocked one whose O(n^3) parts run as float64 DGEMM (native/blas.ts).
// Scheme, margin and why blocking keeps it: docs/derivations.md#blocked-cholesky-keeps-the-certificate
import { multiplyAtB, subtractAtB } from '../native/blas.js';

/**
 * Cholesky (dot-product / Crout form, row by row, contiguous inner loops) of t*I - G into the lower
 * triangle of `l`. Returns -1 on success, else the failing row i with x = L_unit^{-T} e_i (leading
 * block), which satisfies x^T (t I - G) x = pivot_i <= 0.
 */
export function choleskyTestReal(g: Float64Array, n: number, t: number, l: Float64Array, x: Float64Array): number {
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j < i; j++) {
      const rj = j * n;
      let s = -g[ri + j];
      for (let p = 0; p < j; p++) s -= l[ri + p] * l[rj + p];
      l[ri + j] = s / l[rj + j];
    }
    let d = t - g[ri + i];
    for (let p = 0; p < i; p++) d -= l[ri + p] * l[ri + p];
    if (!(d > 0)) return failureVector(l, n, i, x);
    l[ri + i] = Math.sqrt(d);
  }
  return -1;
}

/**
 * After a real Cholesky of t*I - G failed at row i: x = L_unit^{-T} e_i, so x^T (t I - G) x =
 * pivot_i <= 0. Returns i. Reads only l[r][j] for j < r <= i and l[j][j] for j < i, which must be
 * final. Storage: without `panel`, L row-major n x n; with it, U = L^T in the column panels of
 * choleskyTestRealNative (panel = their width).
 */
function failureVector(l: Float64Array, n: number, i: number, x: Float64Array, panel?: number): number {
  // L[r][j] sits at start(r) + j * step(r): in panel storage, U[j][r] in the panel holding column r
  const start = (r: number) => (panel === undefined ? r * n : (r - (r % panel)) * n + (r % panel));
  const step = (r: number) => (panel === undefined ? 1 : Math.min(panel, n - r + (r % panel)));
  const diag = new Float64Array(i);
  for (let j = 0; j < i; j++) diag[j] = l[start(j) + j * step(j)];
  // Solve L_unit^T x = e_i with L_unit[r][j] = l[r][j] / l[j][j]; rows processed from i down.
  x.fill(0);
  x[i] = 1;
  for (let r = i; r > 0; r--) {
    const xr = x[r];
    if (xr === 0) continue;
    const o = start(r);
    const st = step(r);
    for (let j = 0; j < r; j++) x[j] -= (l[o + j * st] / diag[j]) * xr;
  }
  return i;
}

/** Rows per step of the blocked Cholesky = width of the factor's column panels. */
const CHOLESKY_BLOCK = 256;
/** Rows per JS leaf (JS work ~ n^2 leaf / 4 in all; the rest is DGEMM). */
const CHOLESKY_LEAF = 16;
/** Between block and leaf, groups shrink by this factor (256, 64, 16). */
const GROUP_RATIO = 4;

/**
 * choleskyTestReal for large n: left-looking and blocked, its O(n^3) part as float64 DGEMM with
 * contiguous operands and small outputs.
 *
 * Storage: U = L^T (upper triangle) in column panels of width b = block, panel J (columns J b ..)
 * a row-major n x b matrix, so U[0:k, panel J] is contiguous and goes to onnxruntime as is (slicing
 * inside the graph copied O(n^3 / b) entries into fresh buffers). Step J (rows c0 = J b .. c0 + b of
 * U) forms X = (t I - G)[rows, c0:] - U[0:c0, panel J]^T U[0:c0, c0:], one DGEMM per panel (k = c0,
 * output b x b), then factors X by groups of rows: each group is updated by the rows of X above it
 * (one DGEMM), then split the same way into smaller groups, down to `leaf` rows done in JS. Every
 * entry is computed once, as (a_ij - sum l_ki l_kj) / l_ii with the sum in some grouping
 * (docs/derivations.md#blocked-cholesky-keeps-the-certificate). DGEMM outputs stay small because
 * onnxruntime-node copies each into a fresh buffer, and fresh pages are slow (~20 us per 4 KB page on
 * the benchmark VM). It reads rows of G where the plain version reads columns: every caller stores G
 * exactly symmetric (mirrored), so the numbers are the same.
 */
export async function choleskyTestRealNative(
  g: Float64Array,
  n: number,
  t: number,
  u: Float64Array,
  x: Float64Array,
  block = CHOLESKY_BLOCK,
  leaf = CHOLESKY_LEAF,
): Promise<number> {
  const b = Math.min(n, Math.max(1, Math.floor(block)));
  const groups = [b];
  const lf = Math.min(b, Math.max(1, Math.floor(leaf)));
  for (let s = Math.ceil(b / GROUP_RATIO); s > lf; s = Math.ceil(s / GROUP_RATIO)) groups.push(s);
  if (lf < b) groups.push(lf);
  const panels = Math.ceil(n / b);
  // Scratch, reused by every step so that its pages fault in once: X (b x (n - c0)) in rows b.. of
  // panel 0 (all of panel 0 at step 0), the rest in rows 2b.. of panel 1; those rows are never part
  // of U (below the diagonal). Small n: a fresh buffer. One output buffer serves the outer DGEMMs
  // (b x b) and the inner ones (groups[1] x (n - c0)), which never overlap in time.
  const m1 = groups.length > 1 ? groups[1] : 1;
  const sizes = [Math.max(b * b, m1 * n), b * m1];
  const need = sizes[0] + sizes[1];
  const [zs, al] = panels > 2 && need <= (n - 2 * b) * b ? carve(u.subarray(n * b + 2 * b * b), sizes) : carve(new Float64Array(need), sizes);

  for (let jp = 0; jp < panels; jp++) {
    const c0 = jp * b;
    const bb = Math.min(b, n - c0);
    const w = n - c0;
    const xo = c0 === 0 ? 0 : b * b;
    const xs = u.subarray(xo, xo + bb * w);
    const a = u.subarray(c0 * n, c0 * n + c0 * bb);
    for (let kp = jp; kp < panels; kp++) {
      const col0 = kp * b;
      const wk = Math.min(b, n - col0);
      const z = c0 > 0 ? await multiplyAtB(a, u.subarray(col0 * n, col0 * n + c0 * wk), c0, bb, wk, zs.subarray(0, bb * wk)) : null;
      startRows(g, n, t, c0, bb, col0, wk, z, xs);
    }
    const fail = await factorRows(xs, w, 0, bb, groups, 1, zs, al);
    // Left-looking: rows above c0 are final, and within X a row is finished (all columns) before any
    // later row is touched, so at a failure every row above it is final: store them for failureVector.
    storeRows(u, xo, fail < 0 ? bb : fail, c0, n, b);
    if (fail >= 0) return failureVector(u, n, c0 + fail, x, b);
  }
  return -1;
}

/** Consecutive subarrays of the given sizes. */
function carve(pool: Float64Array, sizes: number[]): Float64Array[] {
  let o = 0;
  return sizes.map((s) => pool.subarray(o, (o += s)));
}

/**
 * Columns col0..col0+wk of X (rows c0..c0+b of U, row length n - c0, first column c0) =
 * (t I - G) - Z, Z the b x wk DGEMM output (none when c0 = 0).
 */
function startRows(g: Float64Array, n: number, t: number, c0: number, b: number, col0: number, wk: number, z: Float64Array | null, xs: Float64Array): void {
  const w = n - c0;
  for (let i = 0; i < b; i++) {
    const gi = (c0 + i) * n + col0;
    const xi = i * w + col0 - c0;
    const zi = i * wk;
    if (z) for (let c = 0; c < wk; c++) xs[xi + c] = -g[gi + c] - z[zi + c];
    else for (let c = 0; c < wk; c++) xs[xi + c] = -g[gi + c];
  }
  // the diagonal as (t - g_ii) - sum, like the plain version
  if (col0 === c0) for (let i = 0; i < b; i++) xs[i * w + i] = t - g[(c0 + i) * (n + 1)] - (z ? z[i * wk + i] : 0);
}

/**
 * Rows 0..rows of X (at offset xo of u, row length n - c0, first column c0) to U's panels (width p),
 * upper triangle only. At step 0, X is panel 0 itself: its row i moves from i w to i p, below every
 * unread row, so rows are moved in order, each after its other panels are written.
 */
function storeRows(u: Float64Array, xo: number, rows: number, c0: number, n: number, p: number): void {
  const w = n - c0;
  for (let i = 0; i < rows; i++) {
    const r = c0 + i;
    const xi = xo + i * w - c0;
    for (let col0 = c0 + p; col0 < n; col0 += p) {
      const wk = Math.min(p, n - col0);
      u.copyWithin(col0 * n + r * wk, xi + col0, xi + col0 + wk);
    }
    const bb = Math.min(p, w);
    u.copyWithin(c0 * n + r * bb + i, xi + r, xi + c0 + bb);
  }
}

/**
 * Cholesky of rows r0..r1 of the row-major X (row length w; rows of U, so its diagonal starts at
 * column 0), every row above r0 already applied to them. Groups of sizes[level] rows: each is updated
 * by the rows r0..start of this range in one DGEMM (C - A^T B, A = X[r0:start, group],
 * B = X[r0:start, :]), then factored with the next size, or by JS at the last. The DGEMMs run over
 * whole rows, so the part left of the diagonal holds junk; each output column depends only on the
 * same column of B, so the junk never reaches U. Returns the failing row, or -1.
 */
async function factorRows(xs: Float64Array, w: number, r0: number, r1: number, sizes: number[], level: number, out: Float64Array, al: Float64Array): Promise<number> {
  if (level >= sizes.length) return leafRows(xs, w, r0, r1);
  const s = sizes[level];
  for (let g0 = r0; g0 < r1; g0 += s) {
    const g1 = Math.min(r1, g0 + s);
    const m = g1 - g0;
    const k = g0 - r0;
    if (k > 0) {
      for (let i = 0; i < k; i++) {
        const o = (r0 + i) * w;
        for (let c = 0; c < m; c++) al[i * m + c] = xs[o + g0 + c];
      }
      const z = await subtractAtB(xs.subarray(g0 * w, g1 * w), al.subarray(0, k * m), xs.subarray(r0 * w, g0 * w), k, m, w, out.subarray(0, m * w));
      xs.set(z, g0 * w);
    }
    const f = await factorRows(xs, w, g0, g1, sizes, level + 1, out, al);
    if (f >= 0) return f;
  }
  return -1;
}

/** Columns per pass of a JS leaf, so that its rows stay in cache. */
const LEAF_COLUMNS = 512;

/**
 * Rows r0..r1 of X (row length w), already updated by every row above r0: each row j takes the
 * contributions of rows r0..j (four at a time), then its pivot, then is divided by its square root.
 * Done in column chunks (the first holds the leaf's own columns, so every multiplier is final before
 * the later chunks): each entry sees the same operations in the same order as in one pass. After a
 * failing pivot the rows above it are still finished, over all chunks.
 */
function leafRows(xs: Float64Array, w: number, r0: number, r1: number): number {
  let end = r1;
  let fail = -1;
  const chunk = Math.max(LEAF_COLUMNS, r1 - r0);
  for (let q0 = r0; q0 < w; q0 += chunk) {
    const q1 = Math.min(w, q0 + chunk);
    for (let j = r0; j < end; j++) {
      const xj = j * w;
      const lo = Math.max(j, q0);
      let k = r0;
      for (; k + 4 <= j; k += 4) {
        const a = k * w;
        const b = a + w;
        const c = b + w;
        const d = c + w;
        const ca = xs[a + j];
        const cb = xs[b + j];
        const cc = xs[c + j];
        const cd = xs[d + j];
        for (let q = lo; q < q1; q++) xs[xj + q] -= ca * xs[a + q] + cb * xs[b + q] + cc * xs[c + q] + cd * xs[d + q];
      }
      for (; k < j; k++) {
        const a = k * w;
        const ca = xs[a + j];
        for (let q = lo; q < q1; q++) xs[xj + q] -= ca * xs[a + q];
      }
      if (q0 === r0) {
        const d = xs[xj + j];
        if (!(d > 0)) {
          fail = j;
          end = j;
          break;
        }
        xs[xj + j] = Math.sqrt(d);
      }
      const l = xs[xj + j];
      for (let q = Math.max(j + 1, q0); q < q1; q++) xs[xj + q] /= l;
    }
  }
  return fail;
}
