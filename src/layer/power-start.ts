// A start vector for power iteration on a conv layer's real operator: the plane wave at the frequency
// where the spectral route saw its largest value, carrying the top right singular vector of the symbol
// there. On large inputs it is close to the operator's top singular vector (exactly it for a 1x1 conv),
// so Lanczos needs far fewer steps. Only a start: power's value is ||A x|| / ||x|| of vectors it ran.
import type { ConvLayer } from '../model/layer.js';
import type { Kernel2D } from './kernel.js';
import { lanczosStart } from '../linalg/lanczos.js';
import { realMatVec } from '../linalg/gram.js';
import { smallSideGramAuto } from './dense-norm.js';
import { normalArray } from '../util/random.js';
import { kernelsFor, withKernelArrays } from '../wasm/kernels.js';

/** Shortest input axis, in kernel lengths, on which a kxk conv starts from waves (1x1 convs: any). */
const MIN_WAVE_LENGTH = 4;

/** Lanczos steps on M^H M for the symbol's top right singular vector (small: cout x cin per step). */
const SYMBOL_STEPS = 40;
/** Its relative tolerance on sigma^2: the climb compares sigmas, and a start needs no more. */
const SYMBOL_TOL = 1e-7;

/** What spectral saw on an exact variant: its blocks (one per group) and where each peaked. */
export interface StartHint {
  /** The variant's blocks, one per group (stride-1 kernels on the layer's lattice). */
  blocks: Kernel2D[];
  /** Per block, the frequency of its largest value seen by spectral (null: none recorded). */
  omegas: ([number, number] | null)[];
  /** Per block, spectral's top eigenvector estimate there (SpectralResult.blockVectors): a warm start, or absent. */
  vectors?: (Float64Array | null)[];
  /** The variant is the polyphase form (input channels x phases) rather than the kernel itself. */
  polyphase: boolean;
}

/**
 * The plane-wave start for `layer` (input laid out [c, ...spatial]), or null where it does not apply
 * (dilation, ConvTranspose, unknown size). A strided conv's exact variant is a stride-1 conv on the
 * coarse lattice whose input channels are (channel, phase) pairs (kernel-variants.ts): the wave lives
 * there, and phase a of axis i holds the fine positions q with (q + pad) mod s = a, at P = (q + pad - a) / s.
 * Groups make the operator block diagonal, and a start confined to one group would stay there: every
 * group gets its own wave, scaled to unit norm (on small maps the group with the largest symbol need
 * not have the largest operator), or the seeded vector on its channels where spectral recorded no peak.
 */
export async function planeWaveStart(layer: ConvLayer, hint: StartHint, seed = 1): Promise<Float64Array | null> {
  const nd = layer.spatialDims;
  const shape = layer.inputShape;
  if (layer.op !== 'Conv' || (nd !== 1 && nd !== 2) || !shape || shape.length !== nd + 1 || layer.inputSizeAssumed) return null;
  if (layer.dilations.some((d) => d !== 1)) return null;
  const g = layer.group || 1;
  const cig = layer.weightShape[1];
  const ks = [layer.weightShape[2], nd === 2 ? layer.weightShape[3] : 1];
  const strides = [layer.strides[0] ?? 1, nd === 2 ? (layer.strides[1] ?? 1) : 1];
  const pads = [layer.pads[0] ?? 0, nd === 2 ? (layer.pads[1] ?? 0) : 0];
  // phases reached by the taps of each axis (kernel-variants.ts with dilation 1); [0] for the kernel itself
  const phases = [0, 1].map((a) => (hint.polyphase ? [...new Set(Array.from({ length: ks[a] }, (_, h) => h % strides[a]))].sort((x, y) => x - y) : [0]));
  const [p1, p2] = [phases[0].length, phases[1].length];
  if (hint.blocks.length !== g || hint.omegas.length !== g || shape[0] !== cig * g || hint.blocks.some((b) => b.cin !== cig * p1 * p2)) return null;
  if (!hint.polyphase && strides.some((s, a) => s !== 1 && ks[a] !== 1)) return null;
  // on a short axis the operator's top vector is far from any wave, and a start made of waves can make
  // Lanczos stop early below the top (a 5x5 depthwise conv on 6 x 160 maps: 3% short): seeded there
  if (ks.some((k, a) => k > 1 && shape[1 + a] < MIN_WAVE_LENGTH * k)) return null;

  const [n1, n2] = nd === 2 ? shape.slice(1) : [shape[1], 1];
  const plane = n1 * n2;
  const x = new Float64Array(shape.reduce((a, b) => a * b, 1));
  // the seeded vector only where a group has no peak (drawn whole: the same values as before, on its channels)
  let seeded: Float64Array | null = null;
  // a sine envelope vanishing past the borders (the top eigenvector's profile for a tridiagonal
  // Toeplitz matrix): the wave then loses energy at the borders only to second order
  const envelope = (q: number, n: number) => (n > 1 && ks.some((k) => k > 1) ? Math.sin((Math.PI * (q + 1)) / (n + 1)) : 1);
  let any = false;
  for (let gr = 0; gr < g; gr++) {
    const omega = hint.omegas[gr];
    // M = sum_t e^{-i t.w} K_t: the operator maps v e^{-i w.P} (coarse lattice) to M v e^{-i w.(p + const)}
    const top = omega ? await refineMaximiser(hint.blocks[gr], nd === 2 ? omega : [omega[0], 0], hint.vectors?.[gr] ?? undefined) : null;
    const lo = gr * cig * plane;
    const hi = (gr + 1) * cig * plane;
    if (!top) {
      seeded ??= normalArray(x.length, seed);
      x.set(seeded.subarray(lo, hi), lo);
    } else {
      any = true;
      const [w1, w2] = top.omega;
      const [vr, vi] = alignPhase(top.re, top.im);
      for (let q1 = 0; q1 < n1; q1++) {
        const a1 = phases[0].indexOf((q1 + pads[0]) % strides[0]);
        if (a1 < 0) continue;
        const P1 = Math.floor((q1 + pads[0]) / strides[0]);
        for (let q2 = 0; q2 < n2; q2++) {
          const a2 = phases[1].indexOf((q2 + pads[1]) % strides[1]);
          if (a2 < 0) continue;
          const P2 = Math.floor((q2 + pads[1]) / strides[1]);
          const th = -(P1 * w1 + P2 * w2);
          const env = envelope(q1, n1) * envelope(q2, n2);
          const [c0, s0] = [env * Math.cos(th), env * Math.sin(th)];
          for (let c = 0; c < cig; c++) {
            const j = (c * p1 + a1) * p2 + a2;
            x[(gr * cig + c) * plane + q1 * n2 + q2] = vr[j] * c0 - vi[j] * s0;
          }
        }
      }
    }
    let ss = 0;
    for (let i = lo; i < hi; i++) ss += x[i] * x[i];
    if (ss > 0) for (let i = lo; i < hi; i++) x[i] /= Math.sqrt(ss);
  }
  return any ? x : null;
}

/** The symbol in rows x ld row-major arrays (columns past cin are zero): a kernel's matrix layout. */
interface Symbol {
  mr: Float64Array;
  mi: Float64Array;
}

/**
 * M(w) = sum_t e^{-i t.w} K_t into m (row stride ld, the padding columns zeroed); taps innermost, as K
 * stores them. Written in place: on a 512 x 2048 polyphase block a fresh pair costs 16 MB of first-touch
 * page faults per call, several times the arithmetic.
 */
function symbolInto(K: Kernel2D, w: [number, number], m: Symbol, ld: number): void {
  const { cout: rows, cin: cols, kh, kw } = K;
  const taps = kh * kw;
  const [cs, sn] = [new Float64Array(taps), new Float64Array(taps)];
  for (let h = 0; h < kh; h++)
    for (let v = 0; v < kw; v++) {
      const th = h * w[0] + v * w[1];
      [cs[h * kw + v], sn[h * kw + v]] = [Math.cos(th), Math.sin(th)];
    }
  const { mr, mi } = m;
  const data = K.data;
  for (let o = 0, base = 0; o < rows; o++) {
    const row = o * ld;
    for (let c = 0; c < cols; c++) {
      let re = 0;
      let im = 0;
      for (let t = 0; t < taps; t++, base++) {
        const k = data[base];
        re += k * cs[t];
        im -= k * sn[t];
      }
      mr[row + c] = re;
      mi[row + c] = im;
    }
    for (let c = cols; c < ld; c++) mr[row + c] = mi[row + c] = 0;
  }
}

/** Gradient steps on sigma_max(M(w)) from spectral's grid point (at most this many). */
const REFINE_STEPS = 8;
/**
 * The climb stops once a step's first-order gain is below this share of sigma: far under power's
 * tolerance (1e-4 by default), so the start is as good; on ResNet-50's conv_99, whose grid point is
 * the peak, six of eight steps used to fail by less (0.4 of its 0.9 s start).
 */
const CLIMB_MIN_GAIN = 1e-6;

/**
 * The grid point is within a cell of the sup, and the wave at the grid point converges to a Ritz value
 * near sigma(grid)^2, not the top: climb sigma_max(M(w)) first. d sigma / d w_k = Re(u^H dM/dw_k v)
 * with u = M v / sigma and dM/dw_k = sum_t (-i t_k) e^{-i t.w} K_t; a step is kept only if sigma grows.
 * The current and trial symbols live in the WebAssembly kernels' memory (rows even-length, a zero
 * column changing nothing), where the Lanczos products read them without a copy.
 */
async function refineMaximiser(K: Kernel2D, omega: [number, number], gramVector?: Float64Array): Promise<{ omega: [number, number]; re: Float64Array; im: Float64Array } | null> {
  const { cout: rows, cin: cols, kh, kw } = K;
  let w: [number, number] = [...omega];
  const u = gramVector?.length === 2 * Math.min(rows, cols) ? gramVector : undefined;
  if (kh === 1 && kw === 1) {
    // a constant real symbol: spectral's vector on the smaller side is already its top one, else the
    // Gram matrix's there; taken to the input side
    const side = u ?? (await smallSideTop(K.data, rows, cols));
    const v = unit(rightVector({ mr: K.data, mi: null }, rows, cols, cols, side).re);
    return v && { omega: w, re: v, im: new Float64Array(cols) };
  }
  const ld = cols + (cols % 2);
  return withKernelArrays([rows * ld, rows * ld, rows * ld, rows * ld, 2 * ld, 2 * ld], async ([ar, ai, br, bi, kx, ky]) => {
    let m: Symbol = { mr: ar, mi: ai };
    let mt: Symbol = { mr: br, mi: bi };
    const k = kernelsFor([ar, rows * ld], [ai, rows * ld], [br, rows * ld], [bi, rows * ld], [kx, 2 * ld], [ky, 2 * ld]);
    const top = (s: Symbol, warm?: { re: Float64Array; im: Float64Array }) => topRightSingular(s, rows, cols, ld, k && { k, kx, ky }, warm);
    symbolInto(K, w, m, ld);
    let best = await top(m, u && rightVector(m, rows, cols, ld, u));
    if (!best) return null;
    let sigma = best.sigma;
    let step = Math.PI / 16;
    const taps = kh * kw;
    const [ur, ui] = [new Float64Array(rows), new Float64Array(rows)];
    const [zr, zi, kr, ki] = [new Float64Array(taps), new Float64Array(taps), new Float64Array(taps), new Float64Array(taps)];
    for (let it = 0; it < REFINE_STEPS && step > 1e-6; it++) {
      // u = M v (unnormalised: only the gradient's direction is used)
      symbolTimes(m, rows, cols, ld, best.re, best.im, ur, ui);
      // Re(u^H (-i t_k) e^{-i t.w} K_t v) summed over taps; z_t = u^H K_t v, taps innermost (K's layout)
      zr.fill(0);
      zi.fill(0);
      const [data, vre, vim] = [K.data, best.re, best.im];
      for (let o = 0, base = 0; o < rows; o++) {
        kr.fill(0);
        ki.fill(0);
        for (let c = 0; c < cols; c++) {
          const vr = vre[c];
          const vi = vim[c];
          for (let t = 0; t < taps; t++, base++) {
            const kv = data[base];
            kr[t] += kv * vr;
            ki[t] += kv * vi;
          }
        }
        // conj(u_o) (kr + i ki)
        for (let t = 0; t < taps; t++) {
          zr[t] += ur[o] * kr[t] + ui[o] * ki[t];
          zi[t] += ur[o] * ki[t] - ui[o] * kr[t];
        }
      }
      const grad = [0, 0];
      for (let h = 0; h < kh; h++)
        for (let v = 0; v < kw; v++) {
          const th = h * w[0] + v * w[1];
          const t = h * kw + v;
          // Re((-i)(c0 - i s0)(zr + i zi)) = c0 zi - s0 zr
          const d = Math.cos(th) * zi[t] - Math.sin(th) * zr[t];
          grad[0] += h * d;
          grad[1] += v * d;
        }
      const g = Math.hypot(grad[0], grad[1]);
      // u = M v has length sigma, so g is sigma |d sigma / d w|: the gain step |d sigma / d w| against CLIMB_MIN_GAIN sigma
      if (!(g > 0) || step * g <= CLIMB_MIN_GAIN * sigma * sigma) break;
      const trial: [number, number] = [w[0] + (step * grad[0]) / g, w[1] + (step * grad[1]) / g];
      symbolInto(K, trial, mt, ld);
      const t = await top(mt, best);
      if (t && t.sigma > sigma) {
        [w, m, mt, best, sigma] = [trial, mt, m, t, t.sigma];
        step *= 1.5;
      } else step /= 4;
    }
    return { omega: w, re: best.re, im: best.im };
  });
}

/**
 * The right singular vector that goes with u, an eigenvector of A A^H for A = M (rows <= cols) or
 * M^T (u complex interleaved, min(rows, cols) entries): M^H u, or conj(u). Not normalised.
 */
function rightVector(m: { mr: ArrayLike<number>; mi: ArrayLike<number> | null }, rows: number, cols: number, ld: number, u: Float64Array): { re: Float64Array; im: Float64Array } {
  const re = new Float64Array(cols);
  const im = new Float64Array(cols);
  if (rows > cols) {
    for (let c = 0; c < cols; c++) [re[c], im[c]] = [u[2 * c], -u[2 * c + 1]];
    return { re, im };
  }
  // (M^H u)_c = sum_o conj(M[o][c]) u_o (mi null: a real M)
  const { mr, mi } = m;
  for (let o = 0; o < rows; o++) {
    const [a, b] = [u[2 * o], u[2 * o + 1]];
    const row = o * ld;
    for (let c = 0; c < cols; c++) {
      const [x, y] = [mr[row + c], mi ? mi[row + c] : 0];
      re[c] += x * a + y * b;
      im[c] += x * b - y * a;
    }
  }
  return { re, im };
}

/** rightVector of the symbol of K at w, in refineMaximiser's layout (rows padded to even length): for tests of the convention. */
export function symbolRightVector(K: Kernel2D, w: [number, number], u: Float64Array): { re: Float64Array; im: Float64Array } {
  const ld = K.cin + (K.cin % 2);
  const m = { mr: new Float64Array(K.cout * ld), mi: new Float64Array(K.cout * ld) };
  symbolInto(K, w, m, ld);
  return rightVector(m, K.cout, K.cin, ld, u);
}

/** v / ||v||, or null if v vanishes. */
function unit(v: Float64Array): Float64Array | null {
  let s = 0;
  for (const e of v) s += e * e;
  if (!(s > 0) || !Number.isFinite(s)) return null;
  const norm = Math.sqrt(s);
  return v.map((e) => e / norm);
}

/** u = M v for M = mr + i mi (rows x cols, row stride ld), v = vr + i vi. */
function symbolTimes(m: Symbol, rows: number, cols: number, ld: number, vr: Float64Array, vi: Float64Array, ur: Float64Array, ui: Float64Array): void {
  const { mr, mi } = m;
  for (let o = 0; o < rows; o++) {
    let sr = 0;
    let si = 0;
    for (let c = 0; c < cols; c++) {
      const a = mr[o * ld + c];
      const b = mi[o * ld + c];
      sr += a * vr[c] - b * vi[c];
      si += a * vi[c] + b * vr[c];
    }
    ur[o] = sr;
    ui[o] = si;
  }
}

/**
 * Top right singular vector of M (rows x cols, row stride ld): Lanczos on M^H M in its real form
 * (x = [re; im] of length 2 cols), on the WebAssembly kernel when M lives in its memory, or null for M = 0.
 */
async function topRightSingular(
  m: Symbol,
  rows: number,
  cols: number,
  ld: number,
  wasm: { k: NonNullable<ReturnType<typeof kernelsFor>>; kx: Float64Array; ky: Float64Array } | null,
  warm?: { re: Float64Array; im: Float64Array },
): Promise<{ re: Float64Array; im: Float64Array; sigma: number } | null> {
  const apply = wasm
    ? (x: Float64Array, y: Float64Array) => {
        const { k, kx, ky } = wasm;
        kx.fill(0);
        kx.set(x.subarray(0, cols));
        kx.set(x.subarray(cols, 2 * cols), ld);
        k.symbolNormal(m.mr.byteOffset, m.mi.byteOffset, kx.byteOffset, ky.byteOffset, rows, ld);
        y.set(ky.subarray(0, cols));
        y.set(ky.subarray(ld, ld + cols), cols);
      }
    : (x: Float64Array, y: Float64Array) => symbolNormalProduct(m.mr, m.mi, rows, cols, x, y, ld);
  const x = warm ? Float64Array.from([...warm.re, ...warm.im]) : normalArray(2 * cols, 1);
  await lanczosStart(apply, 2 * cols, x, SYMBOL_STEPS, SYMBOL_TOL);
  let s = 0;
  for (const v of x) s += v * v;
  if (!(s > 0) || !Number.isFinite(s)) return null;
  // sigma^2 = x^T (M^H M) x / |x|^2
  const y = new Float64Array(2 * cols);
  apply(x, y);
  let xy = 0;
  for (let i = 0; i < 2 * cols; i++) xy += x[i] * y[i];
  const norm = Math.sqrt(s);
  return { re: x.slice(0, cols).map((v) => v / norm), im: x.slice(cols).map((v) => v / norm), sigma: Math.sqrt(Math.max(0, xy / s)) };
}

/**
 * y = M^H (M x) in JS for M rows x cols (row stride ld, default cols), x and y laid out [re (cols); im (cols)]
 * (the WebAssembly kernel's reference and fallback).
 */
export function symbolNormalProduct(mr: Float64Array, mi: Float64Array, rows: number, cols: number, x: Float64Array, y: Float64Array, ld = cols): void {
  const ur = new Float64Array(rows);
  const ui = new Float64Array(rows);
  symbolTimes({ mr, mi }, rows, cols, ld, x.subarray(0, cols), x.subarray(cols), ur, ui);
  y.fill(0);
  for (let o = 0; o < rows; o++) {
    const [a0, b0] = [ur[o], ui[o]];
    for (let c = 0; c < cols; c++) {
      const a = mr[o * ld + c];
      const b = mi[o * ld + c];
      y[c] += a * a0 + b * b0;
      y[cols + c] += a * b0 - b * a0;
    }
  }
}

/**
 * Top eigenvector of a real rows x cols matrix's Gram matrix on the smaller side (formed once: a step
 * then costs min(rows, cols)^2, against 4 rows cols on M^H M), complex interleaved as spectral's
 * vectors are (SpectralResult.blockVectors), for rightVector.
 */
async function smallSideTop(k: ArrayLike<number>, rows: number, cols: number): Promise<Float64Array> {
  const { g, n } = await smallSideGramAuto(k, rows, cols);
  const x = normalArray(n, 1);
  await lanczosStart((a, b) => realMatVec(g, n, a, b), n, x, SYMBOL_STEPS, SYMBOL_TOL);
  const u = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) u[2 * i] = x[i];
  return u;
}

/**
 * v e^{i a} with the phase a that maximises ||Re(v e^{i a})||: at w = 0 (a 1x1 conv) the plane wave is
 * Re(v), which a badly phased v would shrink to nothing.
 */
function alignPhase(re: Float64Array, im: Float64Array): [Float64Array, Float64Array] {
  // ||Re(v e^{ia})||^2 = (||v||^2 + Re(e^{2ia} sum v_c^2)) / 2
  let sr = 0;
  let si = 0;
  for (let c = 0; c < re.length; c++) {
    sr += re[c] * re[c] - im[c] * im[c];
    si += 2 * re[c] * im[c];
  }
  const a = -Math.atan2(si, sr) / 2;
  const [ca, sa] = [Math.cos(a), Math.sin(a)];
  return [re.map((r, c) => r * ca - im[c] * sa), im.map((v, c) => re[c] * sa + v * ca)];
}
