// The benchmark's result records: what a per-model child process measures and the JSON file holds.
import type { MethodName } from '../src/layer/types.js';
import type { ReferenceMethod } from './reference.js';

/** What the parent passes to each per-model child. */
export interface BenchConfig {
  methods: MethodName[];
  samples: number;
  /** Engine / onnxruntime threads; null = the engine's default. */
  threads: number | null;
  /** Reference methods to time against the engine (subset of toeplitz, spectral). */
  reference: ReferenceMethod[];
  /** Spectral reference: grid points evaluated per block (time extrapolated to the full grid); 0 = all. */
  referenceFrequencies: number;
  /** Only layers with at most this many weights get a reference run (a fast check); 0 = no limit. */
  referenceMaxWeights: number;
  checkThreads: boolean;
  /** Processes of the extra all-methods run as the CLI makes it (--jobs); 1 = no such run. */
  jobs: number;
  /** Input box of the local bound (`--input-range` syntax), or null to skip it. */
  inputRange: string | null;
}

export interface LayerValue {
  name: string;
  value: number | null;
  ms: number;
  error?: string;
  /** route / variant that gave the value (spectral: sup or torus; conv: stride-1 or polyphase). */
  route?: string;
  /** Threads the method reported using (power: onnxruntime intra-op threads). */
  threads?: number;
}

/** One method's numbers over all layers of one run. */
export interface MethodSummary {
  kind: 'upper' | 'lower';
  /** Layers with a value, and layers whose method failed. */
  count: number;
  errors: number;
  sumLayerMs: number;
  sum: number;
  /** log10 of the product of the values (the product overflows on deep nets). */
  log10Product: number;
  min: number | null;
  max: number | null;
  layers: LayerValue[];
}

export interface RunRecord {
  /** 'toeplitz', ..., or 'all' for every requested method in one pass. */
  label: string;
  methods: MethodName[];
  wallMs: number;
  /** Of wallMs, time inside onnxruntime (session runs and creation: src/native/clock.ts); the rest is JS. */
  nativeMs: number;
  /** onnxruntime calls in this run. */
  nativeCalls: number;
  /** Of wallMs, time inside the WebAssembly kernels (src/wasm/kernels.ts's clock; absent in older results). */
  wasmMs?: number;
  /** Kernel-tracked peak RSS during this run (VmHWM reset before it), MB; null off Linux. */
  peakRssMB: number | null;
  /** Max of process.memoryUsage().rss sampled every 20 ms (samples only land between layers). */
  sampledPeakRssMB: number;
  perMethod: Partial<Record<MethodName, MethodSummary>>;
  /** Processes that bounded the layers (absent: 1). With more, native time and RSS are this process's only. */
  processes?: number;
}

/** Engine vs reference on one representative layer. */
export interface ReferenceLayer {
  name: string;
  shape: string;
  kind: 'conv' | 'dense';
  /** Layers of the model sharing this shape (the reference time counts once per such layer in the extrapolation). */
  sameShape: number;
  oursMs: number;
  refMs: number;
  /** Reference time for the full grid (= refMs unless the spectral reference sampled frequencies). */
  refFullGridMs: number;
  refFrequencies: string;
  oursValue: number | null;
  refValue: number | null;
  /** ours / reference value. */
  valueRatio: number | null;
  speedup: number | null;
  /** toeplitz: ours <= ref (1 + 1e-9); spectral: null (the reference is not certified). */
  sameOrBetter: boolean | null;
  error?: string;
}

export interface ReferenceRecord {
  method: ReferenceMethod;
  certified: boolean;
  layers: ReferenceLayer[];
  /** Over the conv layers of the subset: sum of reference (full-grid) time / sum of our time. */
  convSpeedup: number | null;
  convOursMs: number;
  convRefMs: number;
  /** The same for dense layers (our dense value is the certified spectral norm, the reference's is not comparable work). */
  denseSpeedup: number | null;
  /** Reference time for every layer of the model, each counted at its shape's measured time. */
  extrapolatedModelRefMs: number;
  /** Every reference run covered its full grid (else the values are not comparable, only the times). */
  fullGrid: boolean;
  /** All subset layers: ours <= reference (toeplitz only). */
  allSameOrBetter: boolean | null;
  maxValueRatio: number | null;
}

export interface ThreadsCheck {
  threads: [number, number];
  /** power's details.threads as actually used by each run (shows whether the engine honoured the option). */
  powerThreadsUsed: [number | null, number | null];
  compared: number;
  maxRelDiff: number;
  mismatches: { layer: string; method: MethodName; a: number | null; b: number | null }[];
  identical: boolean;
}

export interface ModelRecord {
  model: string;
  file: string;
  fileMB: number;
  layers: { total: number; conv: number; dense: number; unsupported: number };
  load: { ms: number; peakRssMB: number | null };
  runs: RunRecord[];
  reference: ReferenceRecord[];
  threadsCheck?: ThreadsCheck;
  /** The network bound from the `all` run's layer bounds: the plain walk, and with merges and ReLU averaging (the CLI's default), with the time that adds. */
  network?: { graphBound: number | null; bound: number | null; method: string; blocks: number; ms: number };
  /**
   * The local bound over the input box (as `--input-range`), its time, and onnxruntime's lower
   * estimate inside the same box (random pairs and ascent: the bound must never be below it).
   */
  local?: { range: string; bound: number | null; certified: boolean; ms: number; empirical: number; empiricalMs: number };
  /** Peak RSS of the whole child process (load + every run + reference), MB. */
  processPeakRssMB: number;
  error?: string;
}

export interface BenchResults {
  date: string;
  machine: {
    cpus: number;
    availableParallelism: number;
    cpuModel: string;
    totalMemMB: number;
    platform: string;
    arch: string;
    node: string;
  };
  config: BenchConfig & { models: string[]; seed: number };
  models: ModelRecord[];
}
