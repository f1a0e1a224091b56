// Large float64 scratch arrays kept between layers. On the machines lipcheck is measured on, first
// touching fresh memory costs about 3 ms per MB (page faults: a new 537 MB array takes 1.75 s to fill,
// the same array again 32 ms), more than the O(n^2) work done on it; a dense route on a few layers
// would spend seconds faulting in its Gram and Cholesky matrices.

import { releaseKernelMemory } from '../wasm/kernels.js';

const pool = new Map<string, Float64Array>();
const lent = new Set<string>();

/**
 * Runs f on a Float64Array of `length` entries, backed by the buffer kept under `key` (grown when too
 * small) unless that buffer is already lent to a caller still running (async callers interleave):
 * then on a fresh array. Contents are arbitrary: callers that need zeros fill them. The array must
 * not be kept past f. A buffer longer than `keepUpTo` entries is dropped afterwards, not kept.
 */
export async function withScratch<T>(key: string, length: number, f: (a: Float64Array) => Promise<T>, keepUpTo = Infinity): Promise<T> {
  if (lent.has(key)) return f(new Float64Array(length));
  let buf = pool.get(key);
  if (!buf || buf.length < length) {
    pool.delete(key); // the old one goes first: never both at once
    buf = new Float64Array(length);
    pool.set(key, buf);
  }
  lent.add(key);
  try {
    return await f(buf.subarray(0, length));
  } finally {
    lent.delete(key);
    if (buf.length > keepUpTo && pool.get(key) === buf) pool.delete(key);
  }
}

/**
 * keepUpTo for per-layer buffers: small ones are kept between layers (fresh memory costs ~3 ms per MB
 * to fault in), large ones go back, so that a few of them idle in the pool do not add to the peak
 * (VGG-16 over two processes: 2187 MB with every one kept, against 1929 MB before they were pooled).
 */
export const KEEP_LAYER_BUFFER = 2 * 1024 * 1024;

/** Drop the kept buffers and the WebAssembly kernels' memory (it goes back once unreferenced). */
export function releaseScratch(): void {
  pool.clear();
  releaseKernelMemory();
}
