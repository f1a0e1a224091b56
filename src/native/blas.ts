// float64 matrix products at native speed (onnxruntime's CPU Gemm on double tensors, MLAS DGEMM) for
// the O(n^2 k) and O(n^3) parts of the certified bounds. Why double, and why the thread count does not
// matter: docs/derivations.md#native-float64-products-why-double-why-thread-count-independent
import os from 'node:os';
import type * as Ort from 'onnxruntime-node';
import { onnxruntime } from './onnxruntime.js';
import { attr, buildModel, node, valueInfo } from '../onnx/build.js';
import { DataType } from '../onnx/schema.js';
import { native } from './clock.js';
import { KEEP_LAYER_BUFFER, withScratch } from '../util/scratch.js';

/** Below this many multiply-adds the JS kernels win (session start-up and copies dominate). */
export const NATIVE_MIN_MACS = 3e7;

let threads = os.availableParallelism();
interface Sessions {
  ort: typeof Ort;
  xyt: Ort.InferenceSession;
  atb: Ort.InferenceSession;
  cmatb: Ort.InferenceSession;
}
let sessions: Promise<Sessions> | null = null;

/** onnxruntime intra-op threads for later sessions (tests check the thread count does not matter). */
export function setGemmThreads(n: number): Promise<void> {
  threads = Math.max(1, Math.floor(n));
  return releaseGemm();
}

/** Release the cached sessions (they are created on first use and shared by every layer). */
export async function releaseGemm(): Promise<void> {
  const s = sessions;
  sessions = null;
  if (s) {
    const all = await s;
    await Promise.all([all.xyt, all.atb, all.cmatb].map((x) => x.release()));
  }
}

function getSessions(): Promise<Sessions> {
  if (!sessions) {
    const D = DataType.DOUBLE;
    // Z = X Y^T
    const xyt = buildModel({
      nodes: [node('Gemm', ['x', 'y'], ['z'], { transB: attr.i(1) })],
      inputs: [valueInfo('x', ['p', 'c'], D), valueInfo('y', ['q', 'c'], D)],
      outputs: [valueInfo('z', ['p', 'q'], D)],
    });
    // Z = A^T B and Z = C - A^T B (the blocked Cholesky: A, B are row blocks of its factor U = L^T)
    const atb = buildModel({
      nodes: [node('Gemm', ['a', 'b'], ['z'], { transA: attr.i(1) })],
      inputs: [valueInfo('a', ['k', 'p'], D), valueInfo('b', ['k', 'q'], D)],
      outputs: [valueInfo('z', ['p', 'q'], D)],
    });
    const cmatb = buildModel({
      nodes: [node('Gemm', ['a', 'b', 'c'], ['z'], { transA: attr.i(1), alpha: attr.f(-1), beta: attr.f(1) })],
      inputs: [valueInfo('a', ['k', 'p'], D), valueInfo('b', ['k', 'q'], D), valueInfo('c', ['p', 'q'], D)],
      outputs: [valueInfo('z', ['p', 'q'], D)],
    });
    // The Cholesky alternates two sessions (each with its own thread pool) with JS work: idle pools
    // spinning for work took the cores from the JS and from each other (leaf CPU time 3x its wall time).
    // The products' pool too: with --jobs 2 its spinning took the other process's core (ResNet-50 over two
    // processes, back to back: 17.6 / 17.2 s spinning, 16.6 / 15.1 s not; VGG-16 and one process unchanged).
    const calm: Ort.InferenceSession.SessionOptions = { intraOpNumThreads: threads, interOpNumThreads: 1, extra: { session: { intra_op: { allow_spinning: '0' } } } };
    sessions = onnxruntime().then(async (ort) => {
      const [a, b, c] = await native(() => Promise.all([
        ort.InferenceSession.create(xyt, calm),
        ort.InferenceSession.create(atb, calm),
        ort.InferenceSession.create(cmatb, calm),
      ]));
      return { ort, xyt: a, atb: b, cmatb: c };
    });
  }
  return sessions;
}

/** X Y^T for row-major X (p x c) and Y (q x c), float64. */
export async function multiplyABt(x: Float64Array, p: number, y: Float64Array, q: number, c: number): Promise<Float64Array> {
  const { ort, xyt } = await getSessions();
  const out = await native(() => xyt.run({ x: new ort.Tensor('float64', x, [p, c]), y: new ort.Tensor('float64', y, [q, c]) }));
  return out.z.data as Float64Array;
}

/**
 * A^T B for row-major A (k x p) and B (k x q), float64. `out` (p x q) is bound as the output, so
 * onnxruntime allocates nothing: onnxruntime-node still copies every output into a fresh ArrayBuffer,
 * whose pages fault in (~20 us per 4 KB page on the benchmark VM), so callers keep p * q small.
 */
export async function multiplyAtB(a: Float64Array, b: Float64Array, k: number, p: number, q: number, out: Float64Array): Promise<Float64Array> {
  const { ort, atb } = await getSessions();
  const res = await native(() => atb.run(
    { a: new ort.Tensor('float64', a, [k, p]), b: new ort.Tensor('float64', b, [k, q]) },
    { z: new ort.Tensor('float64', out, [p, q]) },
  ));
  return res.z.data as Float64Array;
}

/** C - A^T B for row-major A (k x p), B (k x q), C (p x q), float64, with `out` (p x q) as in multiplyAtB. */
export async function subtractAtB(c: Float64Array, a: Float64Array, b: Float64Array, k: number, p: number, q: number, out: Float64Array): Promise<Float64Array> {
  const { ort, cmatb } = await getSessions();
  const res = await native(() => cmatb.run(
    { a: new ort.Tensor('float64', a, [k, p]), b: new ort.Tensor('float64', b, [k, q]), c: new ort.Tensor('float64', c, [p, q]) },
    { z: new ort.Tensor('float64', out, [p, q]) },
  ));
  return res.z.data as Float64Array;
}

/**
 * Row blocks of a Gram product: block I is multiplied against rows 0..end of I only, so B blocks
 * do (B + 1) / (2B) of the full product; blocks under ~256 rows lose more to DGEMM efficiency than
 * they save (docs/derivations.md#native-float64-products-why-double-why-thread-count-independent).
 */
const GRAM_ROW_BLOCKS = 16;
const GRAM_MIN_BLOCK_ROWS = 256;

/** Cap on one column chunk of A, in float64 entries (64 MB). */
const CHUNK_ENTRIES = 8 * 1024 * 1024;

/**
 * G = A A^T (rows x rows, full symmetric storage, exactly symmetric) of a rows x k matrix delivered in
 * column chunks: fill(c0, w, out) writes A[:, c0 : c0 + w] row-major (rows x w) into out. Only the
 * lower block triangle is multiplied (row blocks I against rows 0..I: 17/32 of the full product for 16
 * blocks). `g`: where to write it (pooled scratch), else a new array.
 */
export async function gramNative(rows: number, k: number, fill: (c0: number, w: number, out: Float64Array) => void, g: Float64Array = new Float64Array(rows * rows)): Promise<Float64Array> {
  g.fill(0);
  const width = Math.max(1, Math.min(k, Math.floor(CHUNK_ENTRIES / Math.max(1, rows))));
  const blocks = Math.max(1, Math.min(GRAM_ROW_BLOCKS, Math.floor(rows / GRAM_MIN_BLOCK_ROWS)));
  const rb = Math.ceil(rows / blocks);
  // the chunk in scratch memory: a fresh one (up to 64 MB) faults its pages in at ~3 ms per MB here
  await withScratch('gram-chunk', rows * width, async (buf) => {
    for (let c0 = 0; c0 < k; c0 += width) {
      const w = Math.min(width, k - c0);
      const a = w === width ? buf : buf.subarray(0, rows * w);
      fill(c0, w, a);
      for (let i0 = 0; i0 < rows; i0 += rb) {
        const i1 = Math.min(rows, i0 + rb);
        const z = await multiplyABt(a.subarray(i0 * w, i1 * w), i1 - i0, a.subarray(0, i1 * w), i1, w);
        for (let i = i0; i < i1; i++) {
          const zo = (i - i0) * i1;
          const go = i * rows;
          for (let j = 0; j <= i; j++) g[go + j] += z[zo + j];
        }
      }
    }
  }, KEEP_LAYER_BUFFER);
  for (let i = 0; i < rows; i++) for (let j = 0; j < i; j++) g[j * rows + i] = g[i * rows + j];
  return g;
}
