// The independent symbol reference for spectral tests: F(w) by direct summation over the taps and
// sigma_max from the dense eigensolver on the real embedding [[Re, -Im], [Im, Re]].
import type { Kernel2D } from '../../src/layer/kernel.js';
import { largestSingularValue } from './exact.js';

export function kernel(cout: number, cin: number, kh: number, kw: number, data: ArrayLike<number>): Kernel2D {
  return { cout, cin, kh, kw, data: Float64Array.from(data) };
}

/** Entry (i, j) of F(w1, w2) = sum_{h,w} K[i, j, h, w] e^{-i (h w1 + w w2)}, straight from the definition: [re, im]. */
export function symbolEntry(data: ArrayLike<number>, cin: number, kh: number, kw: number, i: number, j: number, w1: number, w2: number): [number, number] {
  let re = 0;
  let im = 0;
  for (let h = 0; h < kh; h++) {
    for (let w = 0; w < kw; w++) {
      const v = data[((i * cin + j) * kh + h) * kw + w];
      re += v * Math.cos(h * w1 + w * w2);
      im -= v * Math.sin(h * w1 + w * w2);
    }
  }
  return [re, im];
}

/** sigma_max(F(w1, w2)) by direct summation + dense eigensolve of the real embedding. */
export function sigmaAt(k: Kernel2D, w1: number, w2: number): number {
  const { cout, cin, kh, kw, data } = k;
  const C = 2 * cin;
  const m = new Float64Array(4 * cout * cin);
  for (let i = 0; i < cout; i++) {
    for (let j = 0; j < cin; j++) {
      const [re, im] = symbolEntry(data, cin, kh, kw, i, j, w1, w2);
      m[i * C + j] = re;
      m[i * C + cin + j] = -im;
      m[(cout + i) * C + j] = im;
      m[(cout + i) * C + cin + j] = re;
    }
  }
  return largestSingularValue(m, 2 * cout, 2 * cin);
}
