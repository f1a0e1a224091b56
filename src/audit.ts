// The pipeline every command runs on one model: load -> bound each layer -> walk the graph.
// Shared by `lipcheck <model>` and `lipcheck diff a b`, so both audit a checkpoint the same way.
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import os from 'node:os';
import { boundLayer } from './layer/engine.js';
import { statSync } from 'node:fs';
import { EarlyChildren, autoJobs, boundLayersParallel } from './parallel-layers.js';
import { releaseScratch } from './util/scratch.js';
import { DEFAULT_NETWORK_EFFORT, findBlocks, refineBlocks, type NetworkMethod, type Refinement } from './network/blocks.js';
import { localNetworkBound, type InputRange, type LocalBound } from './network/local.js';
import { naiveProduct, networkBound, type NetworkBound } from './network/walk.js';
import type { EngineOptions, LayerBounds } from './layer/types.js';
import { InputError } from './errors.js';
import type { Layer, LoadedModel } from './model/layer.js';
import { loadModel, type LoadOptions } from './onnx/load.js';
import { formatDuration } from './report/format.js';
import { frequencyMap } from './layer/frequency-map.js';
import type { HeatMapPick, HtmlFrequencyMap } from './report/html.js';

export interface AuditOptions {
  /** The model path as the user typed it (errors name it so), resolved against `cwd`. */
  file: string;
  cwd: string;
  inputShape?: number[];
  engine: EngineOptions;
  /** Only bound layers whose name passes (--layers); the network bound then needs every layer and is skipped. */
  select?: { pattern: string; matches: (name: string) => boolean };
  /** Structural rules the network bound may use beyond the plain walk (default: all, 'averaging'). */
  networkMethod?: NetworkMethod;
  /** --network-effort: work merged operators may add, as a share of the per-layer spectral work (estimated); default DEFAULT_NETWORK_EFFORT. */
  networkEffort?: number;
  /** --input-range: also bound the network over this input box (interval propagation; network/local.ts). */
  inputRange?: InputRange;
  /** Processes bounding layers: this one and jobs - 1 children on the same file (default: autoJobs). */
  jobs?: number;
  onProgress?: (text: string) => void;
}

/** The benchmark's parallel run: two processes where there are two cores (the CLI's default is autoJobs). */
export const DEFAULT_JOBS = Math.min(2, os.availableParallelism());

export interface Audit {
  model: LoadedModel;
  /** The layers bounded (all, or the --layers selection), and the engine's result for each. */
  layers: Layer[];
  bounds: LayerBounds[];
  /** Graph-aware bound; null when only a subset of layers was bounded. */
  network: NetworkBound | null;
  /** The local bound over --input-range; null without a range (or a --layers subset). */
  local: LocalBound | null;
  naiveProduct: number | null;
  loadMs: number;
  boundsMs: number;
  /** Processes that bounded the layers (this one and its children). */
  processes: number;
}

export async function auditModel(o: AuditOptions): Promise<Audit> {
  // resolve('') is the working directory: say what was given
  if (o.file === '') throw new InputError('the model path is empty');
  const modelPath = path.resolve(o.cwd, o.file);
  o.onProgress?.(`loading ${o.file}`);
  const loadOptions = o.inputShape ? { inputShape: o.inputShape } : {};
  const early = earlyChildren(modelPath, loadOptions, o.jobs);
  try {
    return await audit(o, modelPath, loadOptions, early);
  } finally {
    early?.kill();
  }
}

/** A model file below this size holds too little layer work to fork a child before knowing the layers (autoJobs decides after the load). */
const EARLY_CHILD_MIN_BYTES = 4 * 2 ** 20;
/**
 * Above this size no child forks before the load: should autoJobs then choose one process (a large file
 * with little conv work: dense layers), the child's copy of the model would have doubled the load's
 * memory for nothing. A child wanted after all forks after the load, as before.
 */
const EARLY_CHILD_MAX_BYTES = 2 ** 30;

/**
 * Children to fork before the load, so that they load the model while this process does: where a
 * child is likely to be wanted (two cores, --jobs not 1, a model file of some size but not huge).
 * Unused ones are dropped once autoJobs has decided.
 */
export function earlyForks(fileBytes: number, jobs: number | undefined, cores: number): number {
  const count = Math.min(jobs ?? 2, cores) - 1; // autoJobs chooses at most 2
  return count >= 1 && fileBytes >= EARLY_CHILD_MIN_BYTES && fileBytes <= EARLY_CHILD_MAX_BYTES ? count : 0;
}

function earlyChildren(file: string, load: LoadOptions, jobs: number | undefined): EarlyChildren | null {
  let size = 0;
  try {
    size = statSync(file).size;
  } catch {
    return null; // the load names the problem
  }
  const count = earlyForks(size, jobs, os.availableParallelism());
  return count > 0 ? new EarlyChildren(file, load, count) : null;
}

async function audit(o: AuditOptions, modelPath: string, loadOptions: LoadOptions, early: EarlyChildren | null): Promise<Audit> {
  const loadStart = performance.now();
  const model = await loadModel(modelPath, loadOptions).catch((err: unknown) => {
    // Name the file as the user typed it.
    if (err instanceof InputError && (err.file === undefined || err.file === modelPath)) throw new InputError(err.message, o.file);
    throw err;
  });
  const loadMs = performance.now() - loadStart;

  // a per-channel range that does not fit the input is a bad flag, not an uncertified bound
  const shape = model.info.inputShape;
  if (o.inputRange?.axis === 'channel' && shape && (shape.length < 2 || shape[1] !== o.inputRange.lo.length)) {
    throw new InputError(`--input-range gives ${o.inputRange.lo.length} channel ranges, the model input ${shape.length < 2 ? 'has no channel axis' : `has ${shape[1]} channels`}`, o.file);
  }

  const layers = o.select ? model.layers.filter((l) => o.select!.matches(l.name)) : model.layers;
  if (layers.length === 0 && model.layers.length > 0) {
    const names = model.layers.map((l) => l.name);
    const shown = names.length > 8 ? `${names.slice(0, 8).join(', ')}, ...` : names.join(', ');
    throw new InputError(`no layer matches --layers ${o.select?.pattern} (layers: ${shown})`, o.file);
  }

  const boundsStart = performance.now();
  const source = { file: modelPath, load: loadOptions, indices: layers.map((l) => model.layers.indexOf(l)) };
  const jobs = o.jobs ?? autoJobs(layers, o.engine.samples, os.availableParallelism());
  const progress = (done: number, total: number, name: string) => {
    // the ETA scales elapsed time by layers left: rough (layers differ in cost), but it moves
    const elapsed = performance.now() - boundsStart;
    const left = done < total ? `, ~${formatDuration((elapsed / done) * (total - done))} left` : '';
    o.onProgress?.(`[${done}/${total}] ${name} (${formatDuration(elapsed)} elapsed${left})`);
  };
  const { bounds, processes } = await boundLayersParallel(layers, o.engine, source, jobs, progress, early ?? undefined);
  const best = bounds.map((b) => b.best);
  const walked = layers.length === model.layers.length && model.graph ? await walkGraph(model, best, o) : null;
  let local: LocalBound | null = null;
  if (walked && o.inputRange) {
    o.onProgress?.('network: local bound over the input range');
    local = await localNetworkBound(model.graph!, model.layers, best, o.inputRange, model.info.inputShape, walked.refinements);
  }
  return { model, layers, bounds, network: walked?.network ?? null, local, naiveProduct: naiveProduct(best), loadMs, boundsMs: performance.now() - boundsStart, processes };
}

/**
 * Grid points per axis for merged operators: where the sup grid beats the torus (large maps), a 3x3
 * merge costs 512 frequencies instead of 1684 on 56x56 for a grid correction of 1.02 instead of 1.008.
 */
const MERGED_SAMPLES = 32;

/**
 * The network bound: the plain walk, tightened where blocks.ts finds exact merges and ReLU-averaged
 * blocks. Merged operators are bounded by the per-layer engine with the run's upper-bound methods.
 */
export async function walkGraph(model: LoadedModel, best: (number | null)[], o: Pick<AuditOptions, 'engine' | 'networkMethod' | 'networkEffort' | 'onProgress'>): Promise<{ network: NetworkBound; refinements?: Map<number, Refinement[]> }> {
  const graph = model.graph!;
  const upper = o.engine.methods.filter((m) => m !== 'power');
  const plans = upper.length > 0 ? findBlocks(graph, model.layers, o.networkMethod ?? 'averaging') : [];
  if (plans.length === 0) return { network: networkBound(graph, best) };
  let merged = 0;
  const start = performance.now();
  // the tightest upper method the run asked for bounds each merged operator
  const methods = upper.includes('spectral') ? ['spectral' as const] : upper;
  const refinements = await refineBlocks(
    plans,
    model.layers,
    best,
    async (layer, spent) => {
      // the share of the work cap is the progress measure (the last purchases may leave some unspent)
      const pct = Math.round(100 * spent);
      o.onProgress?.(`network: merged operator ${++merged} (${layer.name}), ${pct}% of the work cap, ${formatDuration(performance.now() - start)} elapsed`);
      return (await boundLayer(layer, { ...o.engine, methods, samples: Math.min(o.engine.samples, MERGED_SAMPLES) })).best;
    },
    { samples: o.engine.samples, mergedSamples: Math.min(o.engine.samples, MERGED_SAMPLES), budgetShare: o.networkEffort ?? DEFAULT_NETWORK_EFFORT },
  );
  // merged operators went through the per-layer engine: its kept matrices are not needed past them
  releaseScratch();
  return { network: networkBound(graph, best, refinements), refinements };
}

/** The per-frequency maps (a picture, not a bound) of the conv layers the HTML report picked. */
export function frequencyMapsFor(picks: readonly HeatMapPick[], layers: readonly Layer[], samples: number): HtmlFrequencyMap[] {
  return picks.flatMap((pick) => {
    const layer = layers[pick.index];
    return layer.kind === 'conv' ? [{ ...pick, map: frequencyMap(layer, samples) }] : [];
  });
}
