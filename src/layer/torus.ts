// Torus size for the spectral bound's torus route: the N1 x N2 torus whose circular conv contains the
// layer's REAL operator (its input size, padding, stride, dilation) as a compression, for the blocks of
// the layer's exact kernel variant (reduce.ts). Its norm is the max of sigma_max(F) over the N1 x N2
// DFT grid, exactly: no grid correction, and never above the sup over all frequencies.
//
// Per spatial axis, with input length n, pads pb, pe, stride s, dilation d, kernel k:
//  * Zero padding is an isometric embedding of x into the padded signal of length n_p = n + pb + pe,
//    and the layer is the VALID conv on it: ||layer|| <= ||valid conv on n_p||.
//  * Only padded positions s p + d h, multiples of e = gcd(s, d), are read: keep every e-th sample
//    (length ceil(n_p / e)), leaving stride s' = s/e and dilation d' = d/e (coprime), as in reduce.ts.
//  * s' = 1: the valid dilated conv splits into d' independent sub-grids (residues mod d') of length
//    <= ceil(n1 / d'), each a valid UNDILATED conv (reduce.ts drops the dilation): N = ceil(n1 / d').
//  * s' > 1 (polyphase): with d' h = s' t + a, output p reads phase x_a at p + t, and the largest index
//    used, s' (p + t) + a <= n1 - 1, gives p + t <= ceil(n1 / s') - 1: a valid stride-1 conv of the
//    polyphase kernel on phases zero-extended to length N = ceil(n1 / s').
//  * A stride-1 valid conv on length N is a row subset of the circular conv on the N-torus (the
//    indices p + t <= N - 1 never wrap), whose norm is the max of sigma_max over the N-point DFT grid.
//  * ConvTranspose is the adjoint of the Conv with the same attributes acting on the ConvTranspose's
//    OUTPUT length, so that length plays n. Groups: every block lives on the same torus.
// Any torus at least this large also works (zero-extend further); a smaller one need not.
import type { ConvLayer } from '../model/layer.js';
import { convTransposeOutputSize } from '../native/normal-operator.js';

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** N for one axis, or null when the data does not determine it. */
export function axisTorus(n: number, padBegin: number, padEnd: number, stride: number, dilation: number): number | null {
  const ints = [n, padBegin, padEnd, stride, dilation];
  if (!ints.every((v) => Number.isInteger(v)) || n < 1 || padBegin < 0 || padEnd < 0 || stride < 1 || dilation < 1) return null;
  const np = n + padBegin + padEnd;
  const e = gcd(stride, dilation);
  const n1 = Math.ceil(np / e);
  const s = stride / e;
  const d = dilation / e;
  return s === 1 ? Math.ceil(n1 / d) : Math.ceil(n1 / s);
}

/**
 * Torus [N1, N2] (N2 = 1 for 1-D) for the layer's exact kernel variant, or null when the input shape is
 * unknown or malformed (the caller then uses the sup route).
 */
export function layerTorus(layer: ConvLayer): number[] | null {
  const nd = layer.spatialDims;
  const shape = layer.inputShape;
  if (!shape || shape.length !== nd + 1 || (nd !== 1 && nd !== 2)) return null;
  const kernel = layer.weightShape.slice(2);
  const out: number[] = [];
  for (let a = 0; a < nd; a++) {
    const s = layer.strides[a] ?? 1;
    const d = layer.dilations[a] ?? 1;
    const pb = layer.pads[a] ?? 0;
    const pe = layer.pads[a + nd] ?? 0;
    let n = shape[1 + a];
    if (layer.op === 'ConvTranspose') n = convTransposeOutputSize(n, kernel[a], s, d, pb, pe, layer.outputPadding[a] ?? 0);
    const N = axisTorus(n, pb, pe, s, d);
    if (N === null) return null;
    out.push(N);
  }
  if (nd === 1) out.push(1);
  return out;
}
