// Output-shape rules of the tensor-manipulation ops (pure; null = cannot be known).
import { broadcastShapes } from '../model/shape.js';

export type Shape = number[];

export function normalizeAxis(axis: number, rank: number): number | null {
  const a = axis < 0 ? axis + rank : axis;
  return a >= 0 && a < rank ? a : null;
}

export function reshapeShape(input: Shape, target: ArrayLike<number>, allowZero: boolean): Shape | null {
  const out = Array.from(target, (d, i) => (d === 0 && !allowZero ? input[i] : d));
  if (out.some((d) => d === undefined)) return null;
  const total = input.reduce((a, b) => a * b, 1);
  const inferred = out.filter((d) => d === -1).length;
  if (inferred > 1 || out.some((d) => d < -1)) return null;
  const known = out.reduce((a, d) => (d === -1 ? a : a * d), 1);
  if (inferred === 1) {
    if (known === 0 || total % known !== 0) return null;
    return out.map((d) => (d === -1 ? total / known : d));
  }
  return known === total ? out : null;
}

export function transposeShape(input: Shape, perm: number[] | null): Shape | null {
  const p = perm && perm.length ? perm : input.map((_, i) => input.length - 1 - i);
  if (p.length !== input.length) return null;
  return p.map((a) => input[a]);
}

export function squeezeShape(input: Shape, axes: number[] | null): Shape | null {
  if (!axes || axes.length === 0) return input.filter((d) => d !== 1);
  const norm = axes.map((a) => normalizeAxis(a, input.length));
  if (norm.some((a) => a === null || input[a] !== 1)) return null;
  return input.filter((_, i) => !norm.includes(i));
}

export function unsqueezeShape(input: Shape, axes: number[]): Shape | null {
  const rank = input.length + axes.length;
  const norm = axes.map((a) => normalizeAxis(a, rank));
  if (norm.some((a) => a === null)) return null;
  const out: number[] = [];
  let j = 0;
  for (let i = 0; i < rank; i++) out.push(norm.includes(i) ? 1 : input[j++]);
  return out;
}

export function flattenShape(input: Shape, axis: number): Shape | null {
  const a = axis < 0 ? axis + input.length : axis;
  if (a < 0 || a > input.length) return null;
  const prod = (s: number[]) => s.reduce((x, y) => x * y, 1);
  return [prod(input.slice(0, a)), prod(input.slice(a))];
}

export function concatShape(inputs: (Shape | null)[], axis: number): Shape | null {
  if (inputs.length === 0 || inputs.some((s) => s === null)) return null;
  const list = inputs as Shape[];
  const a = normalizeAxis(axis, list[0].length);
  if (a === null) return null;
  const out = [...list[0]];
  for (const s of list.slice(1)) {
    if (s.length !== out.length || s.some((d, i) => i !== a && d !== out[i])) return null;
    out[a] += s[a];
  }
  return out;
}

/** numpy.matmul shape rule. */
export function matmulShape(a: Shape, b: Shape): Shape | null {
  if (a.length === 0 || b.length === 0) return null;
  const a2 = a.length === 1 ? [1, a[0]] : a;
  const b2 = b.length === 1 ? [b[0], 1] : b;
  if (a2[a2.length - 1] !== b2[b2.length - 2]) return null;
  const batch = broadcastShapes([a2.slice(0, -2), b2.slice(0, -2)]);
  if (!batch) return null;
  const out = [...batch];
  if (a.length > 1) out.push(a2[a2.length - 2]);
  if (b.length > 1) out.push(b2[b2.length - 1]);
  return out;
}

/** Reduce* ops: axes null = all axes. */
export function reduceShape(input: Shape, axes: number[] | null, keepDims: boolean): Shape | null {
  const norm = axes && axes.length ? axes.map((a) => normalizeAxis(a, input.length)) : input.map((_, i) => i);
  if (norm.some((a) => a === null)) return null;
  return keepDims ? input.map((d, i) => (norm.includes(i) ? 1 : d)) : input.filter((_, i) => !norm.includes(i));
}

/** Row-major N-d transpose of a tensor's data. */
export function transposeData<T extends { length: number; [i: number]: number }>(
  data: T,
  dims: number[],
  perm: number[],
  make: (n: number) => T,
): T {
  const rank = dims.length;
  const outDims = perm.map((p) => dims[p]);
  const inStrides = new Array<number>(rank);
  let s = 1;
  for (let i = rank - 1; i >= 0; i--) {
    inStrides[i] = s;
    s *= dims[i];
  }
  const permStrides = perm.map((p) => inStrides[p]);
  const out = make(data.length);
  const idx = new Array<number>(rank).fill(0);
  for (let o = 0; o < data.length; o++) {
    let src = 0;
    for (let k = 0; k < rank; k++) src += idx[k] * permStrides[k];
    out[o] = data[src];
    for (let k = rank - 1; k >= 0; k--) {
      if (++idx[k] < outDims[k]) break;
      idx[k] = 0;
    }
  }
  return out;
}
