// Conv / pool / ConvTranspose geometry from the ONNX operator spec (pure numeric).
import type { AutoPad } from '../model/layer.js';

export function parseAutoPad(s: string): AutoPad | null {
  return s === 'NOTSET' || s === 'SAME_UPPER' || s === 'SAME_LOWER' || s === 'VALID' ? s : null;
}

/** Effective kernel extent with dilation. */
function extent(k: number, d: number): number {
  return (k - 1) * d + 1;
}

/**
 * Explicit pads [begins..., ends...] of a Conv/pool for one input size. SAME_* pads so that
 * out = ceil(in / stride); SAME_UPPER puts the odd extra pixel at the end, SAME_LOWER at the start.
 * `input` null (unknown size) is only allowed for NOTSET/VALID.
 */
export function resolveConvPads(
  autoPad: AutoPad,
  input: number[] | null,
  kernel: number[],
  strides: number[],
  dilations: number[],
  explicit: number[],
): number[] {
  const n = kernel.length;
  if (autoPad === 'NOTSET') return explicit.length ? explicit : new Array<number>(2 * n).fill(0);
  if (autoPad === 'VALID') return new Array<number>(2 * n).fill(0);
  if (!input) throw new Error('resolveConvPads: SAME padding needs the input size');
  const begins: number[] = [];
  const ends: number[] = [];
  for (let i = 0; i < n; i++) {
    const out = Math.ceil(input[i] / strides[i]);
    const total = Math.max(0, (out - 1) * strides[i] + extent(kernel[i], dilations[i]) - input[i]);
    const small = Math.floor(total / 2);
    begins.push(autoPad === 'SAME_UPPER' ? small : total - small);
    ends.push(autoPad === 'SAME_UPPER' ? total - small : small);
  }
  return [...begins, ...ends];
}

/** Conv output spatial sizes (floor mode); pool ops may ask for ceil mode. */
export function convOutputSize(
  input: number[],
  kernel: number[],
  strides: number[],
  dilations: number[],
  pads: number[],
  ceilMode = false,
): number[] {
  const n = kernel.length;
  return input.map((size, i) => {
    const span = size + pads[i] + pads[i + n] - extent(kernel[i], dilations[i]);
    let out = (ceilMode ? Math.ceil(span / strides[i]) : Math.floor(span / strides[i])) + 1;
    // ONNX/PyTorch ceil mode: the last window must start inside the input or its begin padding.
    if (ceilMode && (out - 1) * strides[i] >= size + pads[i]) out--;
    return out;
  });
}

/**
 * ConvTranspose pads and output sizes. With output_shape (or SAME_*), pads are derived from
 * total_padding = stride*(in-1) + output_padding + extent - out, split as the spec says
 * (SAME_UPPER: begin = total/2 floored; otherwise the extra pixel goes to the begin).
 */
export function resolveConvTransposeGeometry(
  autoPad: AutoPad,
  input: number[] | null,
  kernel: number[],
  strides: number[],
  dilations: number[],
  outputPadding: number[],
  explicitPads: number[],
  outputShape: number[] | null,
): { pads: number[]; output: number[] | null } {
  const n = kernel.length;
  const full = (i: number, inSize: number) => strides[i] * (inSize - 1) + outputPadding[i] + extent(kernel[i], dilations[i]);
  let target = outputShape;
  if (!target && (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') && input) target = input.map((s, i) => s * strides[i]);
  if (target) {
    if (!input) throw new Error('resolveConvTransposeGeometry: output_shape needs the input size');
    const begins: number[] = [];
    const ends: number[] = [];
    for (let i = 0; i < n; i++) {
      const total = full(i, input[i]) - target[i];
      const half = Math.floor(total / 2);
      begins.push(autoPad === 'SAME_UPPER' ? half : total - half);
      ends.push(autoPad === 'SAME_UPPER' ? total - half : half);
    }
    return { pads: [...begins, ...ends], output: [...target] };
  }
  const pads = autoPad === 'VALID' || explicitPads.length === 0 ? new Array<number>(2 * n).fill(0) : explicitPads;
  const output = input ? input.map((s, i) => full(i, s) - pads[i] - pads[i + n]) : null;
  return { pads, output };
}
