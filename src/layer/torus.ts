// Torus size for the spectral bound's torus route: the N1 x N2 torus whose circular conv contains the
// layer's real operator (input size, padding, stride, dilation) as a compression.
// Derivation: docs/derivations.md#spectral-bound-per-frequency-certificate-sup-and-torus-routes
import type { ConvLayer } from '../model/layer.js';
import { convTransposeOutputSize } from '../native/normal-operator.js';
import { gcd } from '../util/numbers.js';


/**
 * N for one axis, or null when the data does not determine it. With the kernel length k, a stride-1
 * undilated axis gets the smaller torus on which the real operator is a compression of the circular
 * conv on both sides (rows and columns): N = max(n + max(pb, pe), m), m = n + pb + pe - k + 1 outputs.
 */
export function axisTorus(n: number, padBegin: number, padEnd: number, stride: number, dilation: number, k?: number): number | null {
  const ints = [n, padBegin, padEnd, stride, dilation];
  if (!ints.every((v) => Number.isInteger(v)) || n < 1 || padBegin < 0 || padEnd < 0 || stride < 1 || dilation < 1) return null;
  if (stride === 1 && dilation === 1 && k !== undefined && Number.isInteger(k) && k >= 1) {
    return Math.max(n + Math.max(padBegin, padEnd), n + padBegin + padEnd - k + 1);
  }
  const np = n + padBegin + padEnd;
  const e = gcd(stride, dilation);
  const n1 = Math.ceil(np / e);
  const s = stride / e;
  const d = dilation / e;
  return s === 1 ? Math.ceil(n1 / d) : Math.ceil(n1 / s);
}

/**
 * Torus [N1, N2] (N2 = 1 for 1-D) for the layer's exact kernel variant, or null when the input shape is
 * unknown or malformed (the caller then uses the sup route). `compact`: the smaller torus of a stride-1
 * undilated axis (axisTorus with k). Both are valid; neither grid max is always the smaller.
 */
export function layerTorus(layer: ConvLayer, compact = false): number[] | null {
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
    const N = axisTorus(n, pb, pe, s, d, compact ? kernel[a] : undefined);
    if (N === null) return null;
    out.push(N);
  }
  if (nd === 1) out.push(1);
  return out;
}
