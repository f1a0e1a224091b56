// Per-layer bounds on two cores. The work is mostly JS (the spectral certificates, Lanczos), and
// onnxruntime-node's binding loads once per process, so worker threads cannot share it: a forked
// child loads the same model file and takes layers from the same queue as this process. Each layer
// is computed by the same code with the same options and seed wherever it runs, so the values do
// not depend on the split (nor on power iteration's thread count, which the split changes).
import os from 'node:os';
import { fork, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { boundLayer } from './layer/engine.js';
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

export type ChildRequest = { kind: 'init'; file: string; load: LoadOptions } | { kind: 'layer'; index: number; name: string; layerHash: string; opts: EngineOptions };
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

/** A loaded child: bounds one layer at a time. */
interface Helper {
  child: ChildProcess;
  bound: (index: number, layer: Layer, opts: EngineOptions) => Promise<LayerBounds>;
}

/** A forked child loading `file`; `ready` settles with it once loaded, or null if it could not start or load. */
interface Spawned {
  child: ChildProcess;
  file: string;
  load: LoadOptions;
  ready: Promise<Helper | null>;
}

/** Forks a child and sends it the model to load (null when no child script or fork fails). */
function spawnChild(file: string, load: LoadOptions): Spawned | null {
  const script = childScript();
  if (!script) return null;
  let child: ChildProcess;
  try {
    child = fork(script, [], { serialization: 'advanced', stdio: ['ignore', 'ignore', 'ignore', 'ipc'] });
  } catch {
    return null;
  }
  // one request at a time; a child that exits or fails to start or to receive answers every request with an error
  let dead = false;
  let pending: ((r: ChildReply) => void) | null = null;
  const answer = (r: ChildReply) => {
    const p = pending;
    pending = null;
    p?.(r);
  };
  const die = (message: string) => {
    dead = true;
    answer({ kind: 'error', message });
  };
  child.on('message', (m: ChildReply) => answer(m));
  child.on('exit', () => die('layer child exited'));
  child.on('error', (err) => die(`layer child: ${err.message}`));
  const request = (m: ChildRequest) =>
    new Promise<ChildReply>((resolve) => {
      if (dead) return resolve({ kind: 'error', message: 'layer child is not running' });
      pending = resolve;
      child.send(m, (err) => err && die(`layer child: ${err.message}`));
    });
  const ready = request({ kind: 'init', file, load }).then((r): Helper | null => {
    if (r.kind !== 'ready') {
      child.kill();
      return null;
    }
    const bound = async (index: number, layer: Layer, opts: EngineOptions): Promise<LayerBounds> => {
      const res = await request({ kind: 'layer', index, name: layer.name, layerHash: layerHash(layer), opts });
      if (res.kind !== 'result') throw new Error(res.kind === 'error' ? res.message : 'unexpected reply');
      return res.result;
    };
    return { child, bound };
  });
  return { child, file, load, ready };
}

/**
 * Children forked before this process loads the model (the CLI): each loads the same file meanwhile,
 * so the children join the layers soon after this process does (ResNet-50: ~0.5 s after, against ~1.2 s
 * when forked after the load). boundLayersParallel takes them; kill() drops those it did not take.
 */
export class EarlyChildren {
  private readonly waiting: Spawned[] = [];

  constructor(file: string, load: LoadOptions, count: number) {
    for (let c = 0; c < count; c++) {
      const s = spawnChild(file, load);
      if (s) this.waiting.push(s);
    }
  }

  /** One child loading `file` with `load` (the same options as this process), if one is left. */
  take(file: string, load: LoadOptions): Spawned | undefined {
    const i = this.waiting.findIndex((s) => s.file === file && JSON.stringify(s.load) === JSON.stringify(load));
    return i < 0 ? undefined : this.waiting.splice(i, 1)[0];
  }

  kill(): void {
    for (const s of this.waiting.splice(0)) s.child.kill();
  }
}

/**
 * The layer as the child must find it, weights and every attribute (input shape, strides, pads, ...):
 * a file changed between the two loads, even with the same weights, is refused.
 */
export function layerHash(layer: Layer): string {
  const h = createHash('sha1');
  h.update(JSON.stringify(layer, (_, v: unknown) => (ArrayBuffer.isView(v) ? undefined : v)));
  if (layer.kind !== 'unsupported') h.update(new Uint8Array(layer.weight.buffer, layer.weight.byteOffset, layer.weight.byteLength));
  return h.digest('hex');
}

/** Estimated work (spectralCostEstimate units, ~3.5e9 a second here) below which a child costs more than it saves. */
export const PARALLEL_MIN_WORK = 5e9;

/**
 * Processes worth using on these layers: `cores` (at most 2) when their estimated spectral work is
 * large, else 1 (the child's start and model load would outweigh it: measured 0.86-0.92x on the
 * benchmark's small stacks, 1.10-1.47x from 7e9 units up).
 */
export function autoJobs(layers: readonly Layer[], samples: number, cores: number): number {
  const work = layers.reduce((a, l) => a + spectralCostEstimate(l, samples), 0);
  return work >= PARALLEL_MIN_WORK ? Math.min(2, cores) : 1;
}

/**
 * boundLayers over `jobs` processes (at most one per core and per layer): this one and children on
 * `source`. Results in the order of `layers`. A child that cannot start, or fails on a layer, leaves
 * that work to this process's queue, so the result is the same in every case. `processes` counts
 * those that bounded at least one layer.
 */
export async function boundLayersParallel(
  layers: Layer[],
  opts: EngineOptions,
  source: LayerSource | null,
  jobs: number,
  onProgress?: (done: number, total: number, name: string) => void,
  early?: EarlyChildren,
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
  let stopped = false;
  // layers a child failed on: this process redoes them, one at a time like every other layer
  const retry: number[] = [];
  const take = (): number | undefined => retry.shift() ?? (nextIndex < layers.length ? queue[nextIndex++] : undefined);
  const workers = new Set<string>();
  const finish = (i: number, r: LayerBounds, by: string) => {
    results[i] = r;
    workers.add(by);
    onProgress?.(++done, layers.length, layers[i].name);
  };
  const wanted = source ? Math.min(jobs, layers.length, os.availableParallelism()) - 1 : 0;
  // With children, power iteration's sessions take a share of the cores each (unless threads were set);
  // the DGEMM sessions keep theirs (VGG-16's fc6 Gram needs both). Over two processes, back to back,
  // two threads each vs one: ResNet-50 15.7 / 15.4 s vs 14.5 / 15.4 s (lipcheck --jobs 2), 15.5 / 15.2 s
  // vs 14.8 / 13.8 s (layers only); VGG-16 42.5 vs 42.7 s. Values do not depend on the thread count.
  const run = wanted > 0 && opts.threads === undefined ? { ...opts, threads: Math.max(1, Math.floor(os.availableParallelism() / (wanted + 1))) } : opts;
  const spawned = new Set<ChildProcess>();
  const ready = new Set<ChildProcess>();
  // every process takes the next layer of one queue (this one starts while the children load the model)
  const childLoop = async (c: number) => {
    const started = early?.take(source!.file, source!.load) ?? spawnChild(source!.file, source!.load);
    if (!started) return;
    spawned.add(started.child);
    const helper = await started.ready;
    if (!helper) return;
    ready.add(helper.child);
    for (let i = stopped ? undefined : take(); i !== undefined; i = stopped ? undefined : take()) {
      try {
        finish(i, await helper.bound(source!.indices[i], layers[i], run), `child ${c}`);
      } catch {
        retry.push(i);
        return;
      }
    }
  };
  const ownLoop = async () => {
    for (let i = take(); i !== undefined && !stopped; i = take()) {
      finish(i, await boundLayer(layers[i], run), 'parent');
      // let the children's replies and pending I/O (progress output) through between layers
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  try {
    const childRuns = Array.from({ length: Math.max(0, wanted) }, (_, c) => childLoop(c + 1));
    await ownLoop().catch((err: unknown) => {
      stopped = true;
      throw err;
    });
    // the queue is empty here: a child still loading has nothing left to do; one mid-layer finishes it
    // (or fails it, and this process takes it back below)
    for (const c of spawned) if (!ready.has(c)) c.kill();
    await Promise.all(childRuns);
    await ownLoop();
  } finally {
    stopped = true;
    for (const c of spawned) c.kill();
    early?.kill();
  }
  // the dense routes' kept matrices (up to ~1 GB) are not needed past the model
  releaseScratch();
  return { bounds: results as LayerBounds[], processes: Math.max(1, workers.size) };
}
