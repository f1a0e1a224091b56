// Everything measured on one model, in one process (so peak RSS belongs to this model alone):
// load, each method on its own over all layers, all methods in one pass, the engine against the
// naive reference on one layer per distinct shape, and optionally bounds at 1 vs 2 threads.
// Progress goes to stderr; the result is plain data.
import fs from 'node:fs';
import { loadModel } from '../src/onnx/load.js';
import { EarlyChildren, boundLayersParallel } from '../src/parallel-layers.js';
import { walkGraph } from '../src/audit.js';
import { DEFAULT_ENGINE_OPTIONS, type EngineOptions, type LayerBounds, type MethodName } from '../src/layer/types.js';
import type { ConvLayer, DenseLayer, Layer, LoadedModel } from '../src/model/layer.js';
import { referenceBound, type ReferenceMethod } from './reference.js';
import { measure, processPeakRssMB } from './memory.js';
import { nativeTime } from '../src/native/clock.js';
import { wasmTime } from '../src/wasm/kernels.js';
import { inputBox, localNetworkBound, parseInputRange } from '../src/network/local.js';
import { empiricalLipschitzInBox } from '../test/helpers/empirical.js';
import type { BenchConfig, LayerValue, MethodSummary, ModelRecord, ReferenceLayer, ReferenceRecord, RunRecord, ThreadsCheck } from './types.js';

/** Allowance on "ours <= reference": the engine adds a rounding margin the naive code leaves out. */
export const SAME_OR_BETTER_REL = 1e-9;
/** Bounds must agree to this relative difference whatever the thread count (issue 6). */
export const THREADS_REL = 1e-6;

/** The engine's options plus a thread count, forwarded to the engine (and its power iteration) when set. */
type BenchEngineOptions = EngineOptions & { threads?: number };

function engineOptions(config: BenchConfig, methods: MethodName[], threads = config.threads): BenchEngineOptions {
  const opts: BenchEngineOptions = { ...DEFAULT_ENGINE_OPTIONS, methods, samples: config.samples };
  if (threads !== null) opts.threads = threads;
  return opts;
}

function progress(line: string): void {
  process.stderr.write(`${line}\n`);
}

function routeOf(d: Record<string, unknown>): string | undefined {
  const parts = [d.route, d.variant].filter((x): x is string => typeof x === 'string');
  return parts.length ? parts.join(', ') : undefined;
}

/** Per-method numbers over all layers (unsupported layers carry no method results and are left out). */
function summarise(results: LayerBounds[], m: MethodName): MethodSummary {
  const layers: LayerValue[] = [];
  let sum = 0;
  let log10Product = 0;
  let min: number | null = null;
  let max: number | null = null;
  let sumLayerMs = 0;
  let errors = 0;
  for (const b of results) {
    const r = b.methods[m];
    if (!r) continue;
    const lv: LayerValue = { name: b.name, value: r.value, ms: r.ms };
    const route = routeOf(r.details);
    if (route) lv.route = route;
    if (r.error) lv.error = r.error;
    if (typeof r.details.threads === 'number') lv.threads = r.details.threads;
    layers.push(lv);
    sumLayerMs += r.ms;
    if (r.value === null) {
      errors++;
      continue;
    }
    sum += r.value;
    log10Product += Math.log10(r.value);
    min = min === null ? r.value : Math.min(min, r.value);
    max = max === null ? r.value : Math.max(max, r.value);
  }
  const kind = m === 'power' ? 'lower' : 'upper';
  return { kind, count: layers.length - errors, errors, sumLayerMs, sum, log10Product, min, max, layers };
}

/**
 * Every layer with `opts`, in this process (jobs 1) or over `jobs` processes as the CLI runs them
 * (the children's native time and memory are not in the record: only wall time compares then).
 */
async function runMethods(label: string, layers: Layer[], opts: BenchEngineOptions, model: string, parallel?: { file: string; jobs: number; early: EarlyChildren }): Promise<RunRecord> {
  let last = 0;
  const native0 = nativeTime();
  const wasm0 = wasmTime();
  const source = parallel ? { file: parallel.file, load: {}, indices: layers.map((_, i) => i) } : null;
  const { value: run, wallMs, peakRssMB, sampledPeakRssMB } = await measure(() =>
    boundLayersParallel(layers, opts, source, parallel?.jobs ?? 1, (done, total) => {
      const now = performance.now();
      if (now - last > 2000 || done === total) {
        last = now;
        progress(`  ${model} ${label}: ${done}/${total} layers`);
      }
    }, parallel?.early),
  );
  const results = run.bounds;
  const native1 = nativeTime();
  const wasmMs = wasmTime().ms - wasm0.ms;
  const perMethod: RunRecord['perMethod'] = {};
  for (const m of opts.methods) perMethod[m] = summarise(results, m);
  const nativeMs = native1.ms - native0.ms;
  const nativeCalls = native1.calls - native0.calls;
  return { label, methods: opts.methods, wallMs, nativeMs, nativeCalls, wasmMs, peakRssMB, sampledPeakRssMB, perMethod, ...(run.processes > 1 ? { processes: run.processes } : {}) };
}

/** What makes two layers cost the same to bound: kind, op, weight shape, stride, dilation, groups. */
function shapeKey(l: ConvLayer | DenseLayer): string {
  const w = l.weightShape.join('x');
  if (l.kind === 'dense') return `dense ${w}`;
  const extra = [
    l.strides.some((s) => s !== 1) ? `s${l.strides.join(',')}` : '',
    l.dilations.some((d) => d !== 1) ? `d${l.dilations.join(',')}` : '',
    l.group !== 1 ? `g${l.group}` : '',
  ].filter(Boolean);
  return [l.op, w, ...extra].join(' ');
}

/** One layer per distinct shape (the first met), with how many layers share it. */
export function representativeLayers(layers: Layer[]): { layer: ConvLayer | DenseLayer; key: string; count: number }[] {
  const byKey = new Map<string, { layer: ConvLayer | DenseLayer; key: string; count: number }>();
  for (const l of layers) {
    if (l.kind === 'unsupported') continue;
    const key = shapeKey(l);
    const e = byKey.get(key);
    if (e) e.count++;
    else byKey.set(key, { layer: l, key, count: 1 });
  }
  return [...byKey.values()];
}

function ratio(a: number, b: number): number | null {
  return b > 0 && Number.isFinite(a / b) ? a / b : null;
}

async function referenceComparison(
  method: ReferenceMethod,
  reps: ReturnType<typeof representativeLayers>,
  ours: MethodSummary | undefined,
  config: BenchConfig,
  model: string,
): Promise<ReferenceRecord> {
  const opts = engineOptions(config, [method]);
  const refOpts = { samples: config.samples, iterations: opts.iterations, tolerance: opts.tolerance, seed: opts.seed, frequencies: config.referenceFrequencies };
  // our side: the per-layer time and value from the method's own run over the model (no rerun: a
  // VGG-16 dense layer costs seconds)
  const oursByName = new Map((ours?.layers ?? []).map((l) => [l.name, l]));
  const rows: ReferenceLayer[] = [];
  for (const [i, { layer, key, count }] of reps.entries()) {
    const o = oursByName.get(layer.name);
    const oursMs = o?.ms ?? 0;
    const row: ReferenceLayer = {
      name: layer.name,
      shape: key,
      kind: layer.kind,
      sameShape: count,
      oursMs,
      refMs: 0,
      refFullGridMs: 0,
      refFrequencies: '',
      oursValue: o?.value ?? null,
      refValue: null,
      valueRatio: null,
      speedup: null,
      sameOrBetter: null,
    };
    if (!o) row.error = 'engine: no result for this layer';
    else if (o.error) row.error = `engine: ${o.error}`;
    try {
      const ref = referenceBound(layer, method, refOpts);
      Object.assign(row, {
        refMs: ref.ms,
        refFullGridMs: ref.fullGridMs,
        refFrequencies: `${ref.evaluated}/${ref.gridPoints}`,
        refValue: ref.value,
        speedup: ratio(ref.fullGridMs, oursMs),
      });
      if (row.oursValue !== null) {
        row.valueRatio = ratio(row.oursValue, ref.value);
        if (ref.certified) row.sameOrBetter = row.oursValue <= ref.value * (1 + SAME_OR_BETTER_REL);
      }
    } catch (e) {
      row.error = [row.error, `reference: ${e instanceof Error ? e.message : String(e)}`].filter(Boolean).join('; ');
    }
    rows.push(row);
    progress(`  ${model} reference ${method} ${i + 1}/${reps.length}: ${key} ours ${oursMs.toFixed(0)} ms, ref ${row.refFullGridMs.toFixed(0)} ms (${row.refFrequencies})`);
  }
  const sumOf = (rs: ReferenceLayer[], f: (r: ReferenceLayer) => number) => rs.reduce((s, r) => s + f(r), 0);
  const ok = rows.filter((r) => r.refValue !== null && r.oursValue !== null);
  const conv = ok.filter((r) => r.kind === 'conv');
  const dense = ok.filter((r) => r.kind === 'dense');
  const convOursMs = sumOf(conv, (r) => r.oursMs);
  const convRefMs = sumOf(conv, (r) => r.refFullGridMs);
  const checks = rows.map((r) => r.sameOrBetter);
  const ratios = ok.map((r) => r.valueRatio).filter((x): x is number => x !== null);
  return {
    method,
    certified: method === 'toeplitz',
    layers: rows,
    convSpeedup: ratio(convRefMs, convOursMs),
    convOursMs,
    convRefMs,
    denseSpeedup: ratio(sumOf(dense, (r) => r.refFullGridMs), sumOf(dense, (r) => r.oursMs)),
    extrapolatedModelRefMs: sumOf(rows, (r) => r.refFullGridMs * r.sameShape),
    fullGrid: rows.every((r) => r.refFrequencies === '' || r.refFrequencies.split('/')[0] === r.refFrequencies.split('/')[1]),
    allSameOrBetter: method === 'toeplitz' ? checks.length > 0 && checks.every((c) => c === true) : null,
    maxValueRatio: ratios.length ? Math.max(...ratios) : null,
  };
}

function relDiff(a: number, b: number): number {
  const s = Math.max(Math.abs(a), Math.abs(b));
  return s === 0 ? 0 : Math.abs(a - b) / s;
}

/** Every method at 1 and at 2 threads: the values must agree to THREADS_REL. */
async function threadsCheck(layers: Layer[], config: BenchConfig, model: string): Promise<ThreadsCheck> {
  const threads: [number, number] = [1, 2];
  const [a, b] = [
    await runMethods(`all @1 thread`, layers, engineOptions(config, config.methods, 1), model),
    await runMethods(`all @2 threads`, layers, engineOptions(config, config.methods, 2), model),
  ];
  // power reports the onnxruntime thread count it used: shows whether the option reached it
  const used = (r: RunRecord): number | null => r.perMethod.power?.layers.find((l) => l.threads !== undefined)?.threads ?? null;
  const mismatches: ThreadsCheck['mismatches'] = [];
  let compared = 0;
  let maxRelDiff = 0;
  for (const m of config.methods) {
    const la = a.perMethod[m]?.layers ?? [];
    const lb = b.perMethod[m]?.layers ?? [];
    la.forEach((x, i) => {
      const y = lb[i];
      compared++;
      const d = x.value === null || y?.value == null ? (x.value === (y?.value ?? null) ? 0 : Infinity) : relDiff(x.value, y.value);
      maxRelDiff = Math.max(maxRelDiff, d);
      if (d > THREADS_REL) mismatches.push({ layer: x.name, method: m, a: x.value, b: y?.value ?? null });
    });
  }
  return { threads, powerThreadsUsed: [used(a), used(b)], compared, maxRelDiff, mismatches, identical: mismatches.length === 0 };
}

/** The record of a model whose benchmark could not run (load failure, crashed process). */
export function failedRecord(model: string, file: string, error: string): ModelRecord {
  return {
    model,
    file,
    fileMB: 0,
    layers: { total: 0, conv: 0, dense: 0, unsupported: 0 },
    load: { ms: 0, peakRssMB: null },
    runs: [],
    reference: [],
    processPeakRssMB: 0,
    error,
  };
}

/** The network bound as the CLI computes it, from a run's per-layer bounds (the smallest upper value per layer). */
async function networkRecord(loaded: LoadedModel, run: RunRecord | undefined, config: BenchConfig, model: string) {
  if (!run || !loaded.graph) return undefined;
  // summaries leave unsupported layers out: match by name, not position
  const upper = Object.values(run.perMethod).filter((m) => m && m.kind === 'upper').map((m) => new Map(m!.layers.map((l) => [l.name, l.value])));
  const best = loaded.layers.map((layer) => {
    const values = upper.map((byName) => byName.get(layer.name) ?? null).filter((v): v is number => v !== null);
    return values.length > 0 ? Math.min(...values) : null;
  });
  progress(`  ${model} network: merges and ReLU averaging`);
  const { value, wallMs } = await measure(() => walkGraph(loaded, best, { engine: engineOptions(config, run.methods) }));
  const n = value.network;
  const record: ModelRecord['network'] = { graphBound: n.graphBound, bound: n.bound, method: n.method, blocks: n.blocks.length, ms: wallMs };
  return { record, best, refinements: value.refinements };
}

/** The local bound over the input box as the CLI computes it, and onnxruntime's lower estimate inside the box. */
async function localRecord(loaded: LoadedModel, file: string, net: NonNullable<Awaited<ReturnType<typeof networkRecord>>>, range: string, model: string): Promise<ModelRecord['local']> {
  const shape = loaded.info.inputShape;
  if (!loaded.graph || !shape) return undefined;
  progress(`  ${model} local bound over ${range}`);
  const r = parseInputRange(range);
  const { value, wallMs } = await measure(() => localNetworkBound(loaded.graph!, loaded.layers, net.best, r, shape, net.refinements));
  const box = inputBox(r, shape);
  if (typeof box === 'string') throw new Error(box);
  progress(`  ${model} empirical lower bound inside the box (onnxruntime)`);
  const t0 = performance.now();
  const empirical = await empiricalLipschitzInBox(new Uint8Array(fs.readFileSync(file)), shape, box.lo, box.hi, { pairs: 8, steps: 4, seed: 1 });
  return { range: value.range, bound: value.bound, certified: value.certified, ms: wallMs, empirical, empiricalMs: performance.now() - t0 };
}

export async function benchmarkModel(model: string, file: string, config: BenchConfig): Promise<ModelRecord> {
  const loaded = await measure(() => loadModel(file));
  const layers = loaded.value.layers;
  const count = (k: Layer['kind']) => layers.filter((l) => l.kind === k).length;
  const rec: ModelRecord = {
    model,
    file,
    fileMB: fs.statSync(file).size / 2 ** 20,
    layers: { total: layers.length, conv: count('conv'), dense: count('dense'), unsupported: count('unsupported') },
    load: { ms: loaded.wallMs, peakRssMB: loaded.peakRssMB },
    runs: [],
    reference: [],
    processPeakRssMB: 0,
  };
  progress(`${model}: loaded ${layers.length} layers in ${loaded.wallMs.toFixed(0)} ms`);
  for (const m of config.methods) rec.runs.push(await runMethods(m, layers, engineOptions(config, [m]), model));
  if (config.methods.length > 1) rec.runs.push(await runMethods('all', layers, engineOptions(config, config.methods), model));
  const one = rec.runs[rec.runs.length - 1];
  if (config.jobs > 1) {
    // as the CLI runs it (audit.ts): the children fork before this process loads the model and load it
    // meanwhile; the run is timed from the end of this process's load, like every run above
    const early = new EarlyChildren(file, {}, config.jobs - 1);
    try {
      const again = (await loadModel(file)).layers;
      rec.runs.push(await runMethods(`all, ${config.jobs} proc`, again, engineOptions(config, config.methods), model, { file, jobs: config.jobs, early }));
    } finally {
      early.kill();
    }
  }
  const net = await networkRecord(loaded.value, one, config, model);
  rec.network = net?.record;
  if (net && config.inputRange) rec.local = await localRecord(loaded.value, file, net, config.inputRange, model);
  const max = config.referenceMaxWeights;
  const reps = representativeLayers(layers).filter((r) => max === 0 || r.layer.weight.length <= max);
  for (const m of config.reference) {
    const own = rec.runs.find((r) => r.label === m)?.perMethod[m];
    rec.reference.push(await referenceComparison(m, reps, own, config, model));
  }
  if (config.checkThreads) rec.threadsCheck = await threadsCheck(layers, config, model);
  rec.processPeakRssMB = processPeakRssMB();
  return rec;
}
