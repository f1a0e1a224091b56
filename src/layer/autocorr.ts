// The paper's per-row polynomial P_i(w) = sum_j |f_ij(w)|^2, as the Fourier series of row i's
// autocorrelation, evaluated separably on a grid.
// Derivation: docs/derivations.md#row-autocorrelations-the-papers-bound
import type { Kernel2D } from './kernel.js';

/** Autocorrelations of every row of a kernel, rows taken over the smaller of cout and cin. */
export interface RowAutocorrelations {
  /** Number of rows i = min(cout, cin). */
  rows: number;
  kh: number;
  kw: number;
  /** rows x (2kh-1) x (2kw-1), lag (dh, dw) at [(dh + kh - 1) * (2kw - 1) + dw + kw - 1]. */
  r: Float64Array;
  /**
   * Per row, sum_j (sum_p |K_ijp|)^2: bounds sum_d |r_i(d)| and every |P_i(w)|, so it scales the
   * floating-point error of anything computed from r_i.
   */
  absSum: Float64Array;
  /** Summands behind each r_i(d) (cols * kh * kw at most), for the rounding margin. */
  terms: number;
}

/**
 * r_i for i over the smaller side of K: the paper transposes K when cout > cin (both choices bound
 * ||F(w)||_F^2, the smaller side needs fewer suprema).
 */
export function rowAutocorrelations(k: Kernel2D): RowAutocorrelations {
  const { cout, cin, kh, kw, data } = k;
  const taps = kh * kw;
  const transpose = cout > cin;
  const rows = transpose ? cin : cout;
  const cols = transpose ? cout : cin;
  const lw = 2 * kw - 1;
  const lagSize = (2 * kh - 1) * lw;
  const r = new Float64Array(rows * lagSize);
  const absSum = new Float64Array(rows);
  // lag index of the pair (p, q) of taps = index of (q - p), precomputed once per kernel shape
  const lagOf = new Int32Array(taps * taps);
  for (let p = 0; p < taps; p++) {
    const ph = Math.floor(p / kw);
    const pw = p % kw;
    for (let q = 0; q < taps; q++) {
      const qh = Math.floor(q / kw);
      const qw = q % kw;
      lagOf[p * taps + q] = (qh - ph + kh - 1) * lw + (qw - pw + kw - 1);
    }
  }
  // per row, its weights tap-major (W[t][j]): r_i(d) = sum over tap pairs (p, q) at lag d of the dot
  // product of columns p and q over j, contiguous loops instead of a scattered update per weight pair
  // (the same terms summed in another order: the margin counts terms, not their order)
  const W = new Float64Array(taps * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const base = (transpose ? j * cin + i : i * cin + j) * taps;
      let l1 = 0;
      for (let t = 0; t < taps; t++) {
        const a = data[base + t];
        W[t * cols + j] = a;
        l1 += Math.abs(a);
      }
      absSum[i] += l1 * l1;
    }
    const out = i * lagSize;
    for (let p = 0; p < taps; p++) {
      const wp = p * cols;
      for (let q = p; q < taps; q++) {
        const wq = q * cols;
        let s = 0;
        for (let j = 0; j < cols; j++) s += W[wp + j] * W[wq + j];
        r[out + lagOf[p * taps + q]] += s;
        if (q !== p) r[out + lagOf[q * taps + p]] += s;
      }
    }
  }
  return { rows, kh, kw, r, absSum, terms: cols * taps };
}

/** cos/sin(n * 2 pi a / m) for n in [0, degree], a in [0, count): shared by every row of a kernel. */
interface TrigTable {
  cos: Float64Array;
  sin: Float64Array;
}

function trigTable(degree: number, m: number, count: number): TrigTable {
  const cos = new Float64Array((degree + 1) * count);
  const sin = new Float64Array((degree + 1) * count);
  for (let n = 0; n <= degree; n++) {
    for (let a = 0; a < count; a++) {
      // reduce n*a mod m before scaling so large products keep full precision
      const t = (2 * Math.PI * ((n * a) % m)) / m;
      cos[n * count + a] = Math.cos(t);
      sin[n * count + a] = Math.sin(t);
    }
  }
  return { cos, sin };
}

/** Evaluates the rows' polynomials on one m1 x m2 grid. */
export class RowPolynomialGrid {
  private readonly t1: TrigTable;
  private readonly t2: TrigTable;
  /** P(-w) = P(w): half of the first axis (a in [0, m1/2]) covers the whole grid. */
  private readonly half1: number;
  private readonly c: Float64Array;
  private readonly s: Float64Array;

  constructor(
    private readonly kh: number,
    private readonly kw: number,
    private readonly m1: number,
    private readonly m2: number,
  ) {
    this.half1 = Math.floor(m1 / 2) + 1;
    this.t1 = trigTable(kh - 1, m1, this.half1);
    this.t2 = trigTable(kw - 1, m2, m2);
    this.c = new Float64Array(kh * m2);
    this.s = new Float64Array(kh * m2);
  }

  /** max over the grid of P_i for row i of `ac`. */
  rowMax(ac: RowAutocorrelations, i: number): number {
    const { kh, kw, m2, half1, t1, t2, c, s } = this;
    const lw = 2 * kw - 1;
    const r = ac.r;
    const base = i * (2 * kh - 1) * lw;
    // Stage 1, along w2, for lags dh >= 0 only (r(-dh,-dw) = r(dh,dw) gives the rest):
    //   C_dh(w2) = sum_dw r(dh,dw) cos(dw w2),  S_dh(w2) = sum_dw r(dh,dw) sin(dw w2).
    c.fill(0);
    s.fill(0);
    for (let dh = 0; dh < kh; dh++) {
      const row = base + (dh + kh - 1) * lw + (kw - 1);
      for (let dw = 0; dw < kw; dw++) {
        const rp = r[row + dw];
        const rm = r[row - dw];
        const sumC = dw === 0 ? rp : rp + rm;
        const difS = rp - rm;
        for (let b = 0; b < m2; b++) {
          c[dh * m2 + b] += sumC * t2.cos[dw * m2 + b];
          if (dw > 0) s[dh * m2 + b] += difS * t2.sin[dw * m2 + b];
        }
      }
    }
    // Stage 2, along w1: P = C_0 + 2 sum_{dh>0} (C_dh cos(dh w1) - S_dh sin(dh w1)).
    let best = -Infinity;
    for (let a = 0; a < half1; a++) {
      for (let b = 0; b < m2; b++) {
        let p = c[b];
        for (let dh = 1; dh < kh; dh++) {
          p += 2 * (c[dh * m2 + b] * t1.cos[dh * half1 + a] - s[dh * m2 + b] * t1.sin[dh * half1 + a]);
        }
        if (p > best) best = p;
      }
    }
    return best;
  }
}
