// Per-frequency ||F(w)||_F^2 of a conv layer's stride-1 kernel over a grid, for the HTML report's heat
// maps. Not a bound: a picture of where (in spatial frequency) the layer puts its gain.
// Derivation: docs/derivations.md#row-autocorrelations-the-papers-bound
import type { ConvLayer } from '../model/layer.js';
import { rowAutocorrelations } from './autocorr.js';
import { kernelVariants } from './kernel-variants.js';

/** Grid points per axis are capped: a picture needs no more, and the cost grows with their square. */
export const MAX_MAP_SAMPLES = 64;

export interface FrequencyMap {
  /** [m1, m2]: points along w1 (kernel height axis) and w2 (width axis); m2 = 1 for a 1-D conv. */
  grid: [number, number];
  /** Row-major m1 x m2: values[a * m2 + b] at w1 = -pi + 2 pi a / m1, w2 = -pi + 2 pi b / m2 (0 in the centre). */
  values: Float64Array;
  /** What `values` holds, for the legend. */
  quantity: string;
  min: number;
  max: number;
  /** Where the maximum sits (the first grid point attaining it). */
  peak: { w1: number; w2: number };
}

export const FREQUENCY_MAP_QUANTITY = '||F(w)||_F^2 (stride-1 kernel symbol, summed over channel pairs)';

/** The per-frequency map of a conv layer on a grid of min(samples, 64) points per spatial axis. */
export function frequencyMap(layer: ConvLayer, samples: number): FrequencyMap {
  if (!Number.isInteger(samples) || samples < 1) throw new Error(`samples must be a positive integer, got ${samples}`);
  const m = Math.min(samples, MAX_MAP_SAMPLES);
  const { variants } = kernelVariants(layer);
  const blocks = variants[0].blocks; // the stride-1 kernel itself (every group a block)
  const { kh, kw } = blocks[0];
  const m1 = m;
  const m2 = layer.spatialDims === 1 ? 1 : m;
  const lh = 2 * kh - 1;
  const lw = 2 * kw - 1;
  // R(d) = sum over every row of every block of r_i(d): sum_i P_i(w) is the Fourier series of R.
  const total = new Float64Array(lh * lw);
  for (const block of blocks) {
    const ac = rowAutocorrelations(block);
    for (let i = 0; i < ac.rows; i++) {
      const off = i * lh * lw;
      for (let d = 0; d < total.length; d++) total[d] += ac.r[off + d];
    }
  }
  const angle = (index: number, count: number) => -Math.PI + (2 * Math.PI * index) / count;
  const values = new Float64Array(m1 * m2);
  let min = Infinity;
  let max = -Infinity;
  let peak = { w1: 0, w2: 0 };
  for (let a = 0; a < m1; a++) {
    const w1 = angle(a, m1);
    for (let b = 0; b < m2; b++) {
      const w2 = m2 === 1 ? 0 : angle(b, m2);
      // R is even (R(-d) = R(d)), so the series is real: sum_d R(d) cos(d . w).
      let v = 0;
      for (let dh = 1 - kh; dh < kh; dh++) {
        const row = (dh + kh - 1) * lw + kw - 1;
        for (let dw = 1 - kw; dw < kw; dw++) v += total[row + dw] * Math.cos(dh * w1 + dw * w2);
      }
      // a sum of |f_ij(w)|^2 is never negative: clamp rounding noise so a log colour scale stays valid
      v = Math.max(v, 0);
      values[a * m2 + b] = v;
      if (v < min) min = v;
      if (v > max) {
        max = v;
        peak = { w1, w2 };
      }
    }
  }
  return { grid: [m1, m2], values, quantity: FREQUENCY_MAP_QUANTITY, min, max, peak };
}
