// Per-layer bounds on two cores. The work is mostly JS (the spectral certificates, Lanczos), and
// onnxruntime-node's binding loads once per process, so worker threads cannot share it: a forked
// child loads the same model file and takes layers from the same queue as this process. Each layer
// is computed by the same code with the same options and seed wherever it runs, so the values do
// not depend on the split (onnxruntime's DGEMM gives the same products whatever the thread count).
import { fork, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { boundLayer } from './layer/engine.js';
import { setGemmThreads } from './native/blas.js';
import { spectralCostEstimate } from './network/blocks.js';
import type { EngineOptions, LayerBounds } from './layer/types.js';
import type { Layer } from './model/layer.js';
import type { LoadOptions } from './onnx/load.js';
import { releaseScratch } from './util/scratch.js';

/** What the child needs to rebuild the same layers: the model file and the loader's options. */
export interface LayerSource {
  file: string;
  load: LoadOptions;
  /** Index in the loaded model's layer list of each layer to bound (same order as `layers`). */
  indices: number[];
}

export type ChildRequest = { kind: 'init'; file: string; load: LoadOptions; threads: number } | { kind: 'layer'; index: number; name: string; opts: EngineOptions };
export type ChildReply = { kind: 'ready' } | { kind: 'result'; index: number; result: LayerBounds } | { kind: 'error'; message: string };

/**
 * The child script: the compiled one, or the TypeScript source when this process runs under tsx
 * (the benchmark; fork passes the loader on). Null under other loaders (vitest): no child then.
 */
function childScript(): string | null {
  const ts = import.meta.url.endsWith('.ts');
  if (ts && !process.execArgv.some((a) => a.includes('tsx'))) return null;
  const file = fileURLToPath(new URL(ts ? './layer-child.ts' : './layer-child.js', import.meta.url));
  return existsSync(file) ? file : null;
}

/** A child process that bounds one layer at a time; null when it cannot be started or loaded. */
async function startChild(source: LayerSource, threads: number): Promise<{ child: ChildProcess; bound: (index: number, name: string, opts: EngineOptions) => Promise<LayerBounds> } | null> {
  const script = childScript();
  if (!script) return null;
  let child: ChildProcess;
  try {
    child = fork(script, [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  } catch {
    return null;
  }
  let pending: { resolve: (r: ChildReply) => void } | null = null;
  const next = () => new Promise<ChildReply>((resolve) => (pending = { resolve }));
  const failed: ChildReply = { kind: 'error', message: 'layer child exited' };
  child.on('message', (m: ChildReply) => {
    const p = pending;
    pending = null;
    p?.resolve(m);
  });
  child.on('exit', () => {
    const p = pending;
    pending = null;
    p?.resolve(failed);
  });
  child.on('error', () => undefined);
  const ready = next();
  child.send({ kind: 'init', file: source.file, load: source.load, threads } satisfies ChildRequest);
  if ((await ready).kind !== 'ready') {
    child.kill();
    return null;
  }
  const bound = async (index: number, name: string, opts: EngineOptions): Promise<LayerBounds> => {
    const reply = next();
    child.send({ kind: 'layer', index, name, opts } satisfies ChildRequest);
    const r = await reply;
    if (r.kind !== 'result') throw new Error(r.kind === 'error' ? r.message : 'unexpected reply');
    return r.result;
  };
  return { child, bound };
}

/**
 * boundLayers over `jobs` processes: this one and jobs - 1 children on `source`. Results in the
 * order of `layers`. A child that cannot start, or fails on a layer, leaves that work to this
 * process, so the result is the same in every case.
 */
export async function boundLayersParallel(
  layers: Layer[],
  opts: EngineOptions,
  source: LayerSource | null,
  jobs: number,
  onProgress?: (done: number, total: number, name: string) => void,
): Promise<{ bounds: LayerBounds[]; processes: number }> {
  const results: (LayerBounds | undefined)[] = new Array(layers.length);
  let done = 0;
  // largest first (estimated spectral work), so the last layers to finish are small ones
  const queue = layers.map((_, i) => i);
  if (source && jobs > 1) {
    const cost = layers.map((l) => spectralCostEstimate(l, opts.samples));
    queue.sort((a, b) => cost[b] - cost[a] || a - b);
  }
  let nextIndex = 0;
  const finish = (i: number, r: LayerBounds) => {
    results[i] = r;
    onProgress?.(++done, layers.length, layers[i].name);
  };
  const wanted = source ? Math.min(jobs, layers.length) - 1 : 0;
  // onnxruntime threads per process: the cores shared out (idle pools spin and take cores from the JS)
  const threads = Math.max(1, Math.floor(os.availableParallelism() / (wanted + 1)));
  const helpers = (await Promise.all(Array.from({ length: Math.max(0, wanted) }, () => startChild(source!, threads)))).filter((h) => h !== null);
  if (helpers.length > 0) {
    await setGemmThreads(threads);
    opts = { ...opts, threads: opts.threads ?? threads };
  }
  // every process takes the next layer of one queue; a layer a child fails on is redone here
  const childLoop = async (helper: NonNullable<(typeof helpers)[number]>) => {
    while (nextIndex < layers.length) {
      const i = queue[nextIndex++];
      try {
        finish(i, await helper.bound(source!.indices[i], layers[i].name, opts));
      } catch {
        finish(i, await boundLayer(layers[i], opts));
        return;
      }
    }
  };
  const ownLoop = async () => {
    while (nextIndex < layers.length) {
      const i = queue[nextIndex++];
      finish(i, await boundLayer(layers[i], opts));
      // let the children's replies and pending I/O (progress output) through between layers
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  try {
    await Promise.all([...helpers.map(childLoop), ownLoop()]);
  } finally {
    for (const h of helpers) h.child.kill();
    if (helpers.length > 0) await setGemmThreads(os.availableParallelism());
  }
  // the dense routes' kept matrices (up to ~1 GB) are not needed past the model
  releaseScratch();
  return { bounds: results as LayerBounds[], processes: helpers.length + 1 };
}
