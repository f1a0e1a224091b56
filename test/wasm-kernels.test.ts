// The WebAssembly SIMD kernels against the JS loops they replace: the complex Cholesky test decides as
// the JS factorisation does next to lambda_max (exact, from the real embedding) and its witness beats the
// target; the Hermitian product is bit-identical; the spectral bound (Gram former, product and test in
// WebAssembly) agrees with its all-JS run. Plus the arrays' lease and the encoder's refusals.
import { describe, expect, it } from 'vitest';
import { symbolNormalProduct } from '../src/layer/power-start.js';
import { spectralBound, spectralTorusBound } from '../src/layer/spectral.js';
import { choleskyTestHermitian, factorHermitian } from '../src/linalg/cholesky-complex.js';
import { hermitianLowerMatVec } from '../src/linalg/gram.js';
import { normalArray } from '../src/util/random.js';
import { encodeModule } from '../src/wasm/encode.js';
import { kernelsFor, releaseKernelMemory, wasmKernels, wasmTime, withKernelArrays } from '../src/wasm/kernels.js';
import { hermitianGram, hermitianLambdaMax, hermitianRayleigh } from './helpers/hermitian.js';
import { kernel } from './helpers/symbol.js';


describe('WebAssembly kernels', () => {
  it('compile on this runtime (Node >= 16.4 has WebAssembly SIMD)', () => {
    expect(wasmKernels()).not.toBeNull();
  });

  // orders around the 2 x 2 blocking (odd, even, 1), and wider than it; G = A A^H of rank min(n, m)
  const cases: Array<[number, number]> = [[1, 1], [2, 3], [3, 2], [4, 4], [5, 9], [8, 3], [9, 12], [33, 40], [64, 64], [130, 70]];
  for (const [n, m] of cases) {
    it(`Cholesky test, order ${n} (rank ${Math.min(n, m)}): the JS verdict at 1.001, 1 +- 1e-9, 0.999 and 0.3 lambda_max; a witness on failure`, async () => {
      const g0 = hermitianGram(n, m, 40 + n, true);
      const lmax = hermitianLambdaMax(g0, n);
      await withKernelArrays([2 * n * n, 2 * n * n], async ([g, l]) => {
        expect(kernelsFor([g, 2 * n * n], [l, 2 * n * n])).not.toBeNull();
        g.set(g0);
        for (const t of [lmax * 1.001, lmax * (1 + 1e-9), lmax * (1 - 1e-9), lmax * 0.999, lmax * 0.3]) {
          const lj = new Float64Array(2 * n * n);
          const js = factorHermitian(g0, n, t, lj);
          const calls = wasmTime().calls;
          const x = new Float64Array(2 * n);
          const fail = choleskyTestHermitian(g, n, t, l, x);
          expect(wasmTime().calls).toBe(calls + 1);
          expect(fail).toBe(js);
          expect(fail < 0).toBe(t > lmax);
          if (fail >= 0) expect(hermitianRayleigh(g0, n, x)).toBeGreaterThanOrEqual(t * (1 - 1e-12));
          // the factor itself: the same sums grouped otherwise, so equal to rounding (scale: sqrt(t))
          const rows = fail < 0 ? n : fail;
          let diff = 0;
          for (let i = 0; i < rows; i++) for (let j = 0; j <= i; j++) for (const c of [0, 1]) diff = Math.max(diff, Math.abs(l[2 * (i * n + j) + c] - lj[2 * (i * n + j) + c]));
          expect(diff).toBeLessThanOrEqual(1e-11 * Math.sqrt(t));
        }
      });
    });
  }

  it('the Cholesky test reads the lower triangle only', async () => {
    const n = 11;
    const g0 = hermitianGram(n, 14, 3, true);
    const lmax = hermitianLambdaMax(g0, n);
    await withKernelArrays([2 * n * n, 2 * n * n], async ([g, l]) => {
      g.set(g0);
      for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) g.fill(NaN, 2 * (i * n + j), 2 * (i * n + j) + 2);
      const x = new Float64Array(2 * n);
      expect(choleskyTestHermitian(g, n, lmax * 1.001, l, x)).toBe(-1);
      expect(choleskyTestHermitian(g, n, lmax * 0.999, l, x)).toBeGreaterThanOrEqual(0);
    });
  });

  it('a short array in the kernels\' memory is never handed to the kernel: the JS loop runs and fails safe', async () => {
    // l is too short for order 4: the kernel would read and write g behind it; JS reads undefined -> NaN
    const n = 4;
    const g0 = hermitianGram(n, 2, 5, true);
    await withKernelArrays([4, 2 * n * n], async ([l, g]) => {
      g.set(g0);
      const calls = wasmTime().calls;
      expect(choleskyTestHermitian(g, n, 10 * hermitianLambdaMax(g0, n), l, new Float64Array(2 * n))).toBeGreaterThanOrEqual(0);
      expect(wasmTime().calls).toBe(calls);
      expect([...g]).toEqual([...g0]);
    });
  });

  for (const n of [1, 2, 3, 7, 64]) {
    it(`Hermitian product from the lower triangle, order ${n}: bit-identical to the JS loop`, async () => {
      const g0 = hermitianGram(n, n + 2, 70 + n);
      const x0 = normalArray(2 * n, 5);
      const ref = new Float64Array(2 * n);
      hermitianLowerMatVec(g0, n, x0, ref);
      await withKernelArrays([2 * n * n, 2 * n, 2 * n], async ([g, x, y]) => {
        g.set(g0);
        x.set(x0);
        y.fill(NaN);
        wasmKernels()!.lowerMatVec(g.byteOffset, x.byteOffset, y.byteOffset, n);
        expect([...y]).toEqual([...ref]);
      });
    });
  }

  for (const [rows, cols] of [[1, 2], [3, 8], [20, 6], [64, 130]]) {
    it(`symbol product M^H M x, ${rows} x ${cols}: the JS loop's values (row sums grouped by lane)`, async () => {
      const mr = normalArray(rows * cols, rows);
      const mi = normalArray(rows * cols, rows + 1);
      const x0 = normalArray(2 * cols, 3);
      const ref = new Float64Array(2 * cols);
      symbolNormalProduct(mr, mi, rows, cols, x0, ref);
      await withKernelArrays([rows * cols, rows * cols, 2 * cols, 2 * cols], async ([kr, ki, x, y]) => {
        kr.set(mr);
        ki.set(mi);
        x.set(x0);
        y.fill(NaN);
        wasmKernels()!.symbolNormal(kr.byteOffset, ki.byteOffset, x.byteOffset, y.byteOffset, rows, cols);
        const scale = Math.max(...ref.map(Math.abs));
        for (let i = 0; i < 2 * cols; i++) expect(Math.abs(y[i] - ref[i])).toBeLessThanOrEqual(1e-13 * scale * rows);
      });
    });
  }

  // the Gram former's matrices are bit-identical, the Cholesky's verdicts those of JS except at a rounding-level
  // gap: the values agree to far below the tolerance. Inside an outer lease the run gets plain arrays: all JS.
  const shapes: Array<[string, number, number, number]> = [['6 x 5, 3x3', 6, 5, 3], ['17 x 16, 3x3', 17, 16, 3], ['40 x 24, 5x5', 40, 24, 5]];
  for (const [name, cout, cin, k] of shapes) {
    it(`spectral bound (${name}): the WebAssembly run agrees with the JS run`, async () => {
      const blocks = [kernel(cout, cin, k, k, normalArray(cout * cin * k * k, cout + cin))];
      for (const route of ['sup', 'torus'] as const) {
        const run = () => (route === 'sup' ? spectralBound(blocks, { samples: 16, tolerance: 1e-4 }) : spectralTorusBound(blocks, [12, 12], { samples: 16, tolerance: 1e-4 }));
        const calls = wasmTime().calls;
        const wasm = await run();
        expect(wasmTime().calls).toBeGreaterThan(calls);
        const after = wasmTime().calls;
        const js = await withKernelArrays([1], () => run());
        expect(wasmTime().calls).toBe(after);
        expect(Math.abs(wasm.value - js.value)).toBeLessThanOrEqual(1e-12 * js.value);
        expect(wasm.frequencies).toBe(js.frequencies);
      }
    });
  }

  it('lends its memory to one caller at a time, 16-byte aligned, growing it as needed', async () => {
    const big = 3_000_000; // 24 MB: past the initial page
    await withKernelArrays([3, big, 5], async ([a, b, c]) => {
      expect(kernelsFor([a, 3], [b, big], [c, 5])).not.toBeNull();
      // an array shorter than the kernel would address is refused
      expect(kernelsFor([a, 4])).toBeNull();
      for (const v of [a, b, c]) expect(v.byteOffset % 16).toBe(0);
      expect([a.length, b.length, c.length]).toEqual([3, big, 5]);
      // views do not overlap
      a.fill(1);
      b.fill(2);
      c.fill(3);
      expect([a[2], b[0], b[big - 1], c[0]]).toEqual([1, 2, 2, 3]);
      await withKernelArrays([4], async ([inner]) => {
        expect(kernelsFor([inner, 4])).toBeNull();
        expect(inner.length).toBe(4);
      });
    });
    expect(kernelsFor([new Float64Array(4), 4])).toBeNull();
  });

  it('gives its memory back on release (not while lent), and works on the fresh one', async () => {
    const first = wasmKernels()!.memory;
    await withKernelArrays([4], async () => {
      releaseKernelMemory();
      expect(wasmKernels()!.memory).toBe(first);
    });
    releaseKernelMemory();
    const fresh = wasmKernels()!.memory;
    expect(fresh).not.toBe(first);
    const g0 = hermitianGram(5, 6, 9, true);
    const lmax = hermitianLambdaMax(g0, 5);
    await withKernelArrays([50, 50], async ([g, l]) => {
      expect(g.buffer).toBe(fresh.buffer);
      g.set(g0);
      expect(choleskyTestHermitian(g, 5, lmax * 1.001, l, new Float64Array(10))).toBe(-1);
    });
  });

  it('the encoder refuses what it cannot encode', () => {
    const f = (body: string) => ({ name: 'f', params: [], results: [], locals: [], body, exported: true });
    expect(() => encodeModule([f('f64.fma')])).toThrow(/unknown instruction f64.fma/);
    expect(() => encodeModule([f('block $a')])).toThrow(/not closed/);
    expect(() => encodeModule([f('i32.const 1 drop end')])).toThrow(/end without a block/);
    expect(() => encodeModule([f('block $a br $b end')])).toThrow(/no enclosing label \$b/);
    expect(() => encodeModule([f('local.get $x drop')])).toThrow(/unknown local \$x/);
    expect(() => encodeModule([f('call $g')])).toThrow(/unknown function \$g/);
    // and what it encodes validates
    expect(WebAssembly.validate(encodeModule([f('block $a loop $b i32.const 1 br_if $a br $b end end')]))).toBe(true);
  });
});
