// Resize per-axis constants (src/network/resize.ts) against onnxruntime itself: one-node Resize
// models built with src/onnx/build.ts, their explicit matrices read off by feeding basis vectors,
// and exact norms from those matrices (dense SVD, test/helpers/exact.ts; for a selection matrix
// sqrt of the largest column count). Bounds are checked one-sided (>= the measured norm), the
// known-length routes also for tightness, the size-free values at every length 1..64.
import { describe, expect, it } from 'vitest';
import * as ort from 'onnxruntime-node';
import { attr, buildModel, floatTensor, intTensor, node, valueInfo } from '../src/onnx/build.js';
import { DataType } from '../src/onnx/schema.js';
import { type CoordinateMode, type NearestMode, resizeLinearAxisNorm, resizeNearestAxisCopies } from '../src/network/resize.js';
import { explicitOperator } from './helpers/empirical.js';
import { largestSingularValue } from './helpers/exact.js';

const COORDS: CoordinateMode[] = ['half_pixel', 'half_pixel_symmetric', 'pytorch_half_pixel', 'align_corners', 'asymmetric'];
const NEAREST: NearestMode[] = ['round_prefer_floor', 'round_prefer_ceil', 'floor', 'ceil'];
type Mode = NearestMode | 'linear';
const MODES: Mode[] = [...NEAREST, 'linear'];

/** Resize (opset 19) of x[N, ...rest] along `axes`, by float32 scales or by int64 sizes. */
function resizeModel(rest: (number | string)[], axes: number[], by: { scales: number[] } | { sizes: number[] }, coord: CoordinateMode, mode: Mode): Uint8Array {
  const attrs = {
    mode: attr.s(mode === 'linear' ? 'linear' : 'nearest'),
    coordinate_transformation_mode: attr.s(coord),
    axes: attr.ints(axes),
    ...(mode === 'linear' ? {} : { nearest_mode: attr.s(mode) }),
  };
  const [inputs, init] = 'scales' in by
    ? [['x', '', 'scales'], floatTensor('scales', [by.scales.length], by.scales)]
    : [['x', '', '', 'sizes'], intTensor('sizes', [by.sizes.length], by.sizes, DataType.INT64)];
  return buildModel({ opset: 19, nodes: [node('Resize', inputs, ['y'], attrs)], initializers: [init], inputs: [valueInfo('x', ['N', ...rest])], outputs: [valueInfo('y', null)] });
}

/** floor(a / b) for safe integers a and b > 0, exactly. */
const floorDiv = (a: number, b: number) => (a - (((a % b) + b) % b)) / b;

/**
 * The spec's nearest map in exact rational arithmetic (independent of src/): scale = num/den
 * (a float32 scale is num / 2^k; sizes give out/in), coordinate P/Q, rounded and clamped.
 */
function specNearestMap(n: number, m: number, num: number, den: number, coord: CoordinateMode, mode: NearestMode): number[] {
  return Array.from({ length: m }, (_, x) => {
    let P: number;
    let Q: number;
    if (coord === 'asymmetric') [P, Q] = [x * den, num];
    else if (coord === 'align_corners') [P, Q] = m === 1 ? [0, 1] : [x * (n - 1), m - 1];
    else if (coord === 'pytorch_half_pixel' && m === 1) [P, Q] = [0, 1];
    // (x + 1/2)/s - 1/2, plus for half_pixel_symmetric (n/2)(1 - m/(s n)) = n/2 - m/(2s)
    else if (coord === 'half_pixel_symmetric') [P, Q] = [(n - 1) * num + (2 * x + 1 - m) * den, 2 * num];
    else [P, Q] = [(2 * x + 1) * den - num, 2 * num];
    let i: number;
    if (mode === 'floor') i = floorDiv(P, Q);
    else if (mode === 'ceil') i = -floorDiv(-P, Q);
    else if (mode === 'round_prefer_floor') i = -floorDiv(-(2 * P - Q), 2 * Q);
    else i = floorDiv(2 * P + Q, 2 * Q);
    return Math.min(n - 1, Math.max(0, i));
  });
}

/** The exact rational num/den of a float32 scale. */
function ratio(s: number): [number, number] {
  let den = 1;
  while (!Number.isInteger(s * den)) den *= 2;
  return [s * den, den];
}

const maxCount = (map: number[]) => Math.max(...map.map((i) => map.filter((j) => j === i).length));

/** Largest number of rows with a nonzero in one column, after checking A is a selection (one 1 per row). */
function selectionCopies(a: Float64Array, rows: number, cols: number): number {
  const counts = new Array<number>(cols).fill(0);
  for (let r = 0; r < rows; r++) {
    const nz: number[] = [];
    for (let c = 0; c < cols; c++) if (a[r * cols + c] !== 0) nz.push(c);
    expect(nz.length).toBe(1);
    expect(a[r * cols + nz[0]]).toBe(1);
    counts[nz[0]]++;
  }
  return Math.max(...counts);
}

const sessionCache = new Map<string, ort.InferenceSession>();
async function sessionFor(bytes: Uint8Array, key: string): Promise<ort.InferenceSession> {
  let s = sessionCache.get(key);
  if (!s) sessionCache.set(key, (s = await ort.InferenceSession.create(bytes)));
  return s;
}

/** The explicit matrix of a 1-D model x[N, L] -> y[N, M] at length L, from one session (basis vectors as a batch). */
async function matrixAtLength(session: ort.InferenceSession, len: number): Promise<{ a: Float64Array; rows: number; cols: number }> {
  const data = new Float32Array(len * len);
  for (let i = 0; i < len; i++) data[i * len + i] = 1;
  const y = (await session.run({ x: new ort.Tensor('float32', data, [len, len]) })).y;
  const rows = Number(y.dims[1]);
  const a = new Float64Array(rows * len);
  const v = y.data as Float32Array;
  for (let i = 0; i < len; i++) for (let r = 0; r < rows; r++) a[r * len + i] = v[i * rows + r];
  return { a, rows, cols: len };
}

/** Max row sum and max column sum of a nonnegative matrix. */
function rowColMax(a: Float64Array, rows: number, cols: number): [number, number] {
  let row = 0;
  const col = new Float64Array(cols);
  for (let r = 0; r < rows; r++) {
    let s = 0;
    for (let c = 0; c < cols; c++) {
      expect(a[r * cols + c]).toBeGreaterThanOrEqual(0);
      s += a[r * cols + c];
      col[c] += a[r * cols + c];
    }
    row = Math.max(row, s);
  }
  return [row, Math.max(...col)];
}

/** (in, scale) pairs given by scales and (in, out) pairs given by sizes: up, down, non-integer. */
const BY_SCALES: [number, number][] = [[4, 2], [5, 1.5], [7, 0.5], [10, 0.6], [6, 3], [8, 0.75], [5, 2.5], [12, 1.1]];
const BY_SIZES: [number, number][] = [[4, 9], [9, 21], [6, 4], [10, 3], [5, 13], [7, 16], [12, 5], [3, 8]];

describe('Resize known lengths: per-axis constants vs onnxruntime matrices', () => {
  for (const coord of COORDS)
    for (const mode of MODES)
      it(`${coord} ${mode}: >= the exact norm; tight`, async () => {
        const cases = [
          ...BY_SCALES.map(([n, s]) => ({ n, m: Math.floor(n * Math.fround(s)), by: { scales: [s] }, scale: Math.fround(s) as number | null })),
          ...BY_SIZES.map(([n, m]) => ({ n, m, by: { sizes: [m] }, scale: null })),
        ];
        for (const c of cases) {
          const { a, rows, cols } = await explicitOperator(resizeModel([c.n], [1], c.by, coord, mode), [1, c.n]);
          expect(rows).toBe(c.m);
          const exact = largestSingularValue(a, rows, cols);
          const ax = { inDim: c.n, outDim: c.m, scale: c.scale, coord };
          const bound = mode === 'linear' ? resizeLinearAxisNorm(ax, 'linear')! : Math.sqrt(resizeNearestAxisCopies(ax, [mode])!);
          const what = `${c.n} -> ${c.m} (${'scales' in c.by ? 'scale ' + c.scale : 'sizes'}): bound ${bound}, exact ${exact}`;
          expect(bound, what).toBeGreaterThanOrEqual(exact);
          if (mode !== 'linear') {
            // a selection: the norm is sqrt(max copies), both integers
            expect(selectionCopies(a, rows, cols) ** 0.5).toBeCloseTo(exact, 9);
            // near-tie outputs count toward both indices, so the union of the spec's and onnxruntime's
            // assignments may exceed either by one (see the tie test below)
            const [num, den] = c.scale === null ? [c.m, c.n] : ratio(c.scale);
            const spec = maxCount(specNearestMap(c.n, c.m, num, den, coord, mode));
            const measured = selectionCopies(a, rows, cols);
            expect(resizeNearestAxisCopies(ax, [mode]), what).toBeLessThanOrEqual(Math.max(spec, measured) + 1);
          } else expect(bound, what).toBeLessThanOrEqual(exact * 1.01);
        }
      });
});

describe('Resize nearest: float32 coordinate ties', () => {
  it('half_pixel ceil 9 -> 21 (sizes): exact rounding copies 3 times, onnxruntime 4, the bound says 4', async () => {
    // scale = 21/9; onnxruntime's float32(21/9) makes (x + 0.5)/s - 0.5 land just above an integer
    // where the real value is exactly that integer, so ceil moves one output to the next index
    const exactCount = maxCount(specNearestMap(9, 21, 21, 9, 'half_pixel', 'ceil'));
    expect(exactCount).toBe(3);
    // onnxruntime's own float32 arithmetic, step by step
    const s32 = Math.fround(21 / 9);
    const f32map = Array.from({ length: 21 }, (_, x) => Math.min(8, Math.max(0, Math.ceil(Math.fround(Math.fround(Math.fround(x + 0.5) / s32) - 0.5)))));
    expect(maxCount(f32map)).toBe(4);
    const { a, rows, cols } = await explicitOperator(resizeModel([9], [1], { sizes: [21] }, 'half_pixel', 'ceil'), [1, 9]);
    expect(selectionCopies(a, rows, cols)).toBe(4);
    expect(resizeNearestAxisCopies({ inDim: 9, outDim: 21, scale: null, coord: 'half_pixel' }, ['ceil'])).toBeGreaterThanOrEqual(4);
  });

  it('asymmetric round_prefer_floor 9 -> 42 and half_pixel_symmetric floor 3 -> 11 (sizes): also one more copy in float32', async () => {
    for (const [coord, mode, n, m] of [['asymmetric', 'round_prefer_floor', 9, 42], ['half_pixel_symmetric', 'floor', 3, 11]] as const) {
      const exactCount = maxCount(specNearestMap(n, m, m, n, coord, mode));
      const { a, rows, cols } = await explicitOperator(resizeModel([n], [1], { sizes: [m] }, coord, mode), [1, n]);
      const measured = selectionCopies(a, rows, cols);
      expect(measured).toBe(exactCount + 1);
      expect(resizeNearestAxisCopies({ inDim: n, outDim: m, scale: null, coord }, [mode])).toBeGreaterThanOrEqual(measured);
    }
  });
});

describe('Resize size-free values hold at every length 1..64', () => {
  const SCALES = [2, 1.5, 0.5, 3, Math.fround(1.1), 0.75];
  for (const coord of COORDS)
    for (const mode of MODES)
      it(`${coord} ${mode}`, async () => {
        for (const s of SCALES) {
          const session = await sessionFor(resizeModel(['L'], [1], { scales: [s] }, coord, mode), `${coord}/${mode}/${s}`);
          const ax = { inDim: null, outDim: null, scale: s, coord };
          const copies = mode === 'linear' ? null : resizeNearestAxisCopies(ax, [mode])!;
          const norm = mode === 'linear' ? resizeLinearAxisNorm(ax, 'linear')! : Math.sqrt(copies!);
          expect(norm).toBeGreaterThan(0);
          let worst = 0;
          for (let len = 1; len <= 64; len++) {
            if (Math.floor(len * s) < 1) continue;
            const { a, rows, cols } = await matrixAtLength(session, len);
            if (mode === 'linear') {
              // the Schur test sqrt(max row sum * max column sum) of the measured matrix is >= its norm;
              // the dense SVD (slow) on the shorter lengths as well
              const [row, col] = rowColMax(a, rows, cols);
              expect(norm ** 2, `s=${s} len=${len} Schur`).toBeGreaterThanOrEqual(row * col);
              const exact = len <= 16 ? largestSingularValue(a, rows, cols) : Math.sqrt(row * col);
              expect(norm, `s=${s} len=${len}`).toBeGreaterThanOrEqual(exact);
              worst = Math.max(worst, exact);
            } else {
              const measured = selectionCopies(a, rows, cols);
              expect(copies, `s=${s} len=${len}`).toBeGreaterThanOrEqual(measured);
              worst = Math.max(worst, Math.sqrt(measured));
            }
          }
          // not vacuous: near the worst length's norm (the size-free sup may lie past 64 or need the fuzz)
          expect(norm, `s=${s}`).toBeLessThanOrEqual(worst * 1.25 + 1e-9);
        }
      });
});

describe('Resize 2-D: the product of per-axis values bounds the whole operator', () => {
  const cases: { hw: [number, number]; s: [number, number]; coord: CoordinateMode }[] = [
    { hw: [4, 5], s: [2, 1.5], coord: 'half_pixel' },
    { hw: [6, 3], s: [0.5, 2.5], coord: 'align_corners' },
    { hw: [5, 4], s: [1.5, 0.75], coord: 'asymmetric' },
    { hw: [3, 6], s: [3, 0.5], coord: 'pytorch_half_pixel' },
    { hw: [5, 5], s: [1.1, 2], coord: 'half_pixel_symmetric' },
  ];
  for (const c of cases)
    for (const mode of ['linear', 'round_prefer_floor', 'floor'] as Mode[])
      it(`${c.coord} ${mode} ${c.hw.join('x')} scales ${c.s.join(',')}`, async () => {
        const [h, w] = c.hw;
        const scales = c.s.map(Math.fround);
        const { a, rows, cols } = await explicitOperator(resizeModel([1, h, w], [2, 3], { scales }, c.coord, mode), [1, 1, h, w]);
        const exact = largestSingularValue(a, rows, cols);
        const axes = c.hw.map((n, k) => ({ inDim: n, outDim: Math.floor(n * scales[k]), scale: scales[k], coord: c.coord }));
        expect(rows).toBe(axes[0].outDim * axes[1].outDim);
        const perAxis = axes.map((ax) => (mode === 'linear' ? resizeLinearAxisNorm(ax, 'linear')! : Math.sqrt(resizeNearestAxisCopies(ax, [mode as NearestMode])!)));
        expect(perAxis[0] * perAxis[1]).toBeGreaterThanOrEqual(exact);
        expect(perAxis[0] * perAxis[1]).toBeLessThanOrEqual(exact * 1.02);
        const free = axes.map((ax) => ({ ...ax, inDim: null, outDim: null }));
        const freeNorm = free.map((ax) => (mode === 'linear' ? resizeLinearAxisNorm(ax, 'linear')! : Math.sqrt(resizeNearestAxisCopies(ax, [mode as NearestMode])!)));
        expect(freeNorm[0] * freeNorm[1]).toBeGreaterThanOrEqual(exact);
      });
});

describe('Resize: what is refused', () => {
  it('unknown lengths and unknown scale, cubic, non-positive scales: null', () => {
    expect(resizeNearestAxisCopies({ inDim: null, outDim: 8, scale: null, coord: 'half_pixel' }, ['floor'])).toBeNull();
    expect(resizeLinearAxisNorm({ inDim: null, outDim: null, scale: null, coord: 'half_pixel' }, 'linear')).toBeNull();
    expect(resizeLinearAxisNorm({ inDim: 4, outDim: 8, scale: 2, coord: 'half_pixel' }, 'cubic')).toBeNull();
    expect(resizeNearestAxisCopies({ inDim: null, outDim: null, scale: 0, coord: 'asymmetric' }, ['floor'])).toBeNull();
  });
});
