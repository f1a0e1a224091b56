// The small shared pieces under the certified bounds, against independent values: native float64
// products (onnxruntime DGEMM) against plain float64 sums within gamma_k |A|^T |B|, the weight scale
// against its definition, and pooled scratch (fresh when lent, grown when short, never aliased).
import { describe, expect, it } from 'vitest';
import { gamma, weightScale } from '../src/linalg/rounding.js';
import { gramNative, multiplyAtB, subtractAtB } from '../src/native/blas.js';
import { normalArray } from '../src/util/random.js';
import { releaseScratch, withScratch } from '../src/util/scratch.js';

/** A^T B for row-major A (k x p), B (k x q), and sum |a||b| per entry, in plain float64 loops. */
function reference(a: Float64Array, b: Float64Array, k: number, p: number, q: number): { ab: Float64Array; abs: Float64Array } {
  const ab = new Float64Array(p * q);
  const abs = new Float64Array(p * q);
  for (let r = 0; r < k; r++)
    for (let i = 0; i < p; i++)
      for (let j = 0; j < q; j++) {
        ab[i * q + j] += a[r * p + i] * b[r * q + j];
        abs[i * q + j] += Math.abs(a[r * p + i] * b[r * q + j]);
      }
  return { ab, abs };
}

describe('native float64 products', () => {
  const [k, p, q] = [70, 13, 9];
  const a = normalArray(k * p, 1);
  const b = normalArray(k * q, 2);
  const { ab, abs } = reference(a, b, k, p, q);
  // both sums are within gamma_k |A|^T |B| of the exact one
  const within = (got: Float64Array, want: (i: number) => number) => got.every((v, i) => Math.abs(v - want(i)) <= 2 * gamma(k) * abs[i] + 1e-300);

  it('A^T B and C - A^T B, entry by entry within 2 gamma_k |A|^T |B| of a float64 reference', async () => {
    expect(within(await multiplyAtB(a, b, k, p, q, new Float64Array(p * q)), (i) => ab[i])).toBe(true);
    const c = normalArray(p * q, 3);
    expect(within(await subtractAtB(c, a, b, k, p, q, new Float64Array(p * q)), (i) => c[i] - ab[i])).toBe(true);
    // a wrong product (B's columns shifted) is far outside
    const shifted = await multiplyAtB(a, Float64Array.from(b, (_, i) => b[(i + 1) % b.length]), k, p, q, new Float64Array(p * q));
    expect(within(shifted, (i) => ab[i])).toBe(false);
  });

  it('gramNative: A A^T exactly symmetric, within 2 gamma_k |A||A|^T, into a given buffer (zeroed first)', async () => {
    const rows = 11;
    const x = normalArray(rows * k, 4);
    const xt = new Float64Array(k * rows);
    for (let i = 0; i < rows; i++) for (let r = 0; r < k; r++) xt[r * rows + i] = x[i * k + r];
    const ref = reference(xt, xt, k, rows, rows);
    const out = new Float64Array(rows * rows).fill(7);
    const g = await gramNative(rows, k, (c0, w, dst) => {
      for (let i = 0; i < rows; i++) dst.set(x.subarray(i * k + c0, i * k + c0 + w), i * w);
    }, out);
    expect(g).toBe(out);
    for (let i = 0; i < rows; i++)
      for (let j = 0; j < rows; j++) {
        expect(g[i * rows + j]).toBe(g[j * rows + i]);
        expect(Math.abs(g[i * rows + j] - ref.ab[i * rows + j])).toBeLessThanOrEqual(2 * gamma(k) * ref.abs[i * rows + j]);
      }
  });
});

describe('weightScale', () => {
  it('max |w| and the power of two nearest it (log2 rounded), 1 for zeros; non-finite refused', () => {
    for (const [w, maxAbs, scale] of [
      [[0.3, -5, 2], 5, 4],
      [[0, 0], 0, 1],
      [[1e-300, -3e-300], 3e-300, 2 ** Math.round(Math.log2(3e-300))],
      [[-0.75], 0.75, 1],
      [[6], 6, 8],
    ] as [number[], number, number][]) {
      expect(weightScale(w)).toEqual({ maxAbs, scale });
      expect(Number.isInteger(Math.log2(weightScale(w).scale))).toBe(true);
    }
    expect(() => weightScale([1, NaN, 2], 'kernel')).toThrow(/kernel has non-finite entries/);
    expect(() => weightScale([NaN, 5])).toThrow(/non-finite/);
    expect(() => weightScale([1, -Infinity])).toThrow(/non-finite/);
  });
});

describe('pooled scratch', () => {
  it('the same buffer again once returned, a fresh one while lent, a larger one when short; never aliased', async () => {
    releaseScratch();
    let first: Float64Array | null = null;
    await withScratch('t', 8, async (a) => {
      first = a;
      a.fill(1);
      // lent: a nested caller with the same key gets its own array
      await withScratch('t', 8, async (b) => {
        expect(b.buffer).not.toBe(a.buffer);
        b.fill(2);
      });
      expect(a.every((v) => v === 1)).toBe(true);
    });
    await withScratch('t', 4, async (a) => expect(a.buffer).toBe(first!.buffer));
    await withScratch('t', 16, async (a) => {
      expect(a.length).toBe(16);
      expect(a.buffer).not.toBe(first!.buffer);
    });
    releaseScratch();
  });

  it('keepUpTo: a buffer within it is kept for the next caller, a longer one is not', async () => {
    releaseScratch();
    let kept: ArrayBufferLike | null = null;
    await withScratch('k', 8, async (a) => void (kept = a.buffer), 8);
    await withScratch('k', 8, async (a) => expect(a.buffer).toBe(kept), 8);
    let dropped: ArrayBufferLike | null = null;
    await withScratch('k', 16, async (a) => void (dropped = a.buffer), 8);
    await withScratch('k', 16, async (a) => expect(a.buffer).not.toBe(dropped), 8);
    releaseScratch();
  });
});
