// The bound engine: runs the requested methods on each layer record and returns plain data.
// Pure numeric orchestration: no printing, no file I/O (power iteration runs onnxruntime in memory).
//
// Conv layers are reduced to stride-1 kernel blocks (kernel-variants.ts); every reduction ("variant") is a
// valid bound, so each upper method reports the smallest certified value over variants.
// Dense layers: the certified spectral norm of W is what toeplitz and spectral both report (for a
// matrix they coincide); frobenius reports ||W||_F.
import type { ConvLayer, DenseLayer, Layer } from '../model/layer.js';
import type { KernelVariant } from './kernel.js';
import type { EngineOptions, LayerBounds, MethodName, MethodResult } from './types.js';
import { kernelVariants } from './kernel-variants.js';
import { toeplitzBound } from './toeplitz.js';
import { frobeniusBound, frobeniusNorm } from './frobenius.js';
import { spectralBound, spectralTorusBound, halfGridSize } from './spectral.js';
import { planeWaveStart, type StartHint } from './power-start.js';
import { chooseGrid } from './grid-correction.js';
import { layerTorus } from './torus.js';
import { denseSpectralNorm } from './dense-norm.js';
import { convGroupPattern, denseGroupsBaseCost, denseGroupsNorm } from './dense-groups.js';
import { denseFullNorm, fullGramPlan, fullGramWork } from './dense-full.js';
import { releaseScratch } from '../util/scratch.js';
import { roundUp } from '../linalg/rounding.js';
import type { PowerOptions } from '../native/power.js';

/** Power iteration runs onnxruntime: loaded on first use, so upper-bound-only runs never load the native addon. */
async function powerIteration(layer: ConvLayer | DenseLayer, opts: PowerOptions): Promise<MethodResult> {
  const native = await import('../native/power.js');
  return native.powerIteration(layer, opts);
}

type Details = MethodResult['details'];
type DetailValue = Details[string];

/** Preference among equal certified values (dense layers report one number under two names). */
const BEST_ORDER: MethodName[] = ['spectral', 'toeplitz', 'frobenius'];

function isDetailValue(v: unknown): v is DetailValue {
  return (
    v === null ||
    typeof v === 'number' ||
    typeof v === 'string' ||
    typeof v === 'boolean' ||
    (Array.isArray(v) && v.every((x) => typeof x === 'number'))
  );
}

/** The JSON-safe fields of another module's result object, minus its value (reported separately). */
function plainDetails(o: object): Details {
  const d: Details = {};
  for (const [k, v] of Object.entries(o)) if (k !== 'value' && isDetailValue(v)) d[k] = v;
  return d;
}

function failed(kind: MethodResult['kind'], error: string, ms = 0, details: Details = {}): MethodResult {
  return { value: null, kind, ms, details, error };
}

/** Runs one method, timing it; exceptions and non-finite values become errors, never NaN. */
async function timed(
  kind: MethodResult['kind'],
  run: () => Promise<{ value: number; details: Details } | MethodResult>,
): Promise<MethodResult> {
  const t0 = performance.now();
  try {
    const out = await run();
    const ms = performance.now() - t0;
    if ('kind' in out) {
      // a full MethodResult from another module (power): keep its own timing and error
      if (out.value !== null && !Number.isFinite(out.value)) return failed(kind, 'non-finite result', out.ms, out.details);
      return out;
    }
    if (!Number.isFinite(out.value)) return failed(kind, 'non-finite result', ms, out.details);
    return { value: out.value, kind, ms, details: out.details };
  } catch (e) {
    return failed(kind, e instanceof Error ? e.message : String(e), performance.now() - t0);
  }
}

/** Evaluates a bound on every variant and keeps the smallest, recording all of them. */
async function minOverVariants<R extends { value: number }>(
  variants: KernelVariant[],
  bound: (v: KernelVariant) => R | Promise<R>,
): Promise<{ result: R; variant: string; variants: string }> {
  let best: { result: R; variant: string } | null = null;
  const all: string[] = [];
  for (const v of variants) {
    const r = await bound(v);
    all.push(`${v.label}: ${r.value.toPrecision(6)}`);
    if (best === null || r.value < best.result.value) best = { result: r, variant: v.label };
  }
  if (best === null) throw new Error('no kernel variant');
  return { ...best, variants: all.join('; ') };
}

function allFinite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

function uniqueMethods(methods: MethodName[]): MethodName[] {
  return [...new Set(methods)];
}

const kindOf = (m: MethodName): MethodResult['kind'] => (m === 'power' ? 'lower' : 'upper');

/** The torus route is taken when its grid has at most this many times the sup route's frequencies. */
const TORUS_COST_RATIO = 2;
/**
 * Dense per group route (dense-groups.ts): largest order of a group's Gram matrix, and most multiply-adds
 * per layer; past them (or if the work runs over) the torus / sup value stands. Measured: README.
 */
const DENSE_GROUPS_MAX_ORDER = 1024;
const DENSE_GROUPS_MAX_WORK = 1e8;
/**
 * Dense route for one-group convs (dense-full.ts), where the banded one does not apply: largest Gram
 * order (two n^2 float64 matrices: 1.07 GB at 8192), and when it runs: on tiny maps (every input axis
 * at most TINY_MAP_KERNELS kernel extents: there the torus and sup routes are loosest, 10% on CIFAR
 * ResNet-18's 4x4 maps: 2.6e10) or when it is cheap anyway (fullGramWork, whatever the weights).
 */
const DENSE_FULL_MAX_ORDER = 8192;
const DENSE_FULL_MAX_WORK = 5e10;
const DENSE_FULL_CHEAP_WORK = 2e8;
const TINY_MAP_KERNELS = 2;
/** Largest compact torus (per axis) also run next to the padded-length one (tiny maps: a few frequencies). */
const SMALL_TORUS = 6;

/**
 * [spectral] on a conv layer. The spectral quantity of an exact variant is the lattice operator's norm,
 * below every other variant's: only exact variants run (spectral is the expensive method). Two routes:
 * sup (any input size, grid-corrected) and torus (the layer's own input size, exact on its DFT grid,
 * never above the sup: torus.ts). Both are certified and torus <= sup up to the tolerance, so the
 * torus route alone is run whenever it costs at most TORUS_COST_RATIO x the sup's frequencies.
 */
async function spectralConv(layer: ConvLayer, variants: KernelVariant[], opts: EngineOptions, ctx: LayerContext): Promise<{ value: number; details: Details }> {
  const exact = variants.filter((v) => v.exact);
  const pool = exact.length > 0 ? exact : variants;
  const sopts = { samples: opts.samples, tolerance: opts.tolerance };
  // the torus route is exact for one input size: never for an assumed one (the sup holds for every size)
  const torus = exact.length > 0 && !layer.inputSizeAssumed ? layerTorus(layer) : null;
  // dense per group: the real operator on the layer's own (known) input size, when every group is small;
  // it is the exact norm, so it is below the torus and sup routes up to the tolerance
  const pattern = convGroupPattern(layer, DENSE_GROUPS_MAX_ORDER, DENSE_GROUPS_MAX_WORK);
  // the torus values of the exact variant's blocks (one per group) let most groups skip their certificate
  const filter = torus !== null && exact.length > 0 ? { blocks: exact[0].blocks, torus } : undefined;
  const banded = pattern !== null && denseGroupsBaseCost(pattern, filter) <= DENSE_GROUPS_MAX_WORK;
  const plan = banded ? null : fullGramPlan(layer, DENSE_FULL_MAX_ORDER);
  const work = plan === null ? Infinity : fullGramWork(plan);
  let denseFailure: string | undefined;
  if (plan !== null && plan.geo.taps > 1 && ((tinyMaps(layer) && work <= DENSE_FULL_MAX_WORK) || work <= DENSE_FULL_CHEAP_WORK)) {
    // the torus / sup routes would be looser: this route alone, unless it fails (then they still give a value)
    try {
      const e = await denseFullNorm(layer, plan, { tolerance: opts.tolerance, seed: opts.seed, threads: opts.threads });
      return { value: e.value, details: plainDetails(e) };
    } catch (err) {
      denseFailure = `dense per group: ${(err as Error).message}`;
    }
  }
  // on tiny maps the compact torus (one fewer point per same-padded axis) is cheap and often smaller:
  // both are run and the smaller kept (neither grid max is always below the other)
  const compact = torus ? layerTorus(layer, true) : null;
  const second = compact && compact.join() !== torus!.join() && compact.every((N) => N <= SMALL_TORUS) ? compact : null;
  const count = (v: KernelVariant, grid: (kh: number, kw: number) => [number, number]) =>
    v.blocks.reduce((s, b) => s + halfGridSize(...grid(b.kh, b.kw)), 0);
  const axis = (k: number, m: number) => (k > 1 ? m : 1);
  const supGrid = (kh: number, kw: number): [number, number] => {
    const g = chooseGrid(kh, kw, opts.samples);
    return [g.m1, g.m2];
  };
  const b = await minOverVariants(pool, async (v) => {
    const fits = torus !== null && v.blocks.every((blk) => blk.kh <= torus[0] && blk.kw <= torus[1]);
    if (fits) {
      const torusGrid = (kh: number, kw: number): [number, number] => [axis(kh, torus[0]), axis(kw, torus[1])];
      const nt = count(v, torusGrid);
      const ns = count(v, supGrid);
      if (nt <= TORUS_COST_RATIO * ns) {
        if (!second || !v.blocks.every((blk) => blk.kh <= second[0] && blk.kw <= second[1]))
          return { ...(await spectralTorusBound(v.blocks, torus, sopts)), torusFrequencies: nt, supFrequencies: ns };
        // the compact torus first (fewer frequencies); the other stops as soon as it cannot beat it
        const r2 = await spectralTorusBound(v.blocks, second, sopts);
        const r = await spectralTorusBound(v.blocks, torus, { ...sopts, abortAbove: r2.value });
        const n2 = count(v, (kh, kw) => [axis(kh, second[0]), axis(kw, second[1])]);
        const both = `${r2.route}: ${r2.value.toPrecision(6)}; ${r.route}: ${Number.isFinite(r.value) ? r.value.toPrecision(6) : 'above, stopped'}`;
        return { ...(r.value < r2.value ? r : r2), torusFrequencies: nt + n2, supFrequencies: ns, tori: both };
      }
    }
    return spectralBound(v.blocks, sopts);
  });
  const details = { variant: b.variant, variants: b.variants, ...plainDetails(b.result) };
  // an exact variant's blocks are the layer's groups: where each peaked places power's start
  const won = pool.find((v) => v.label === b.variant);
  if (won) ctx.start = { blocks: won.blocks, omegas: b.result.blockMaxima, vectors: b.result.blockVectors, polyphase: won.label.startsWith('polyphase') };
  // each value carries its own tolerance: keep the smaller
  const d = banded ? await denseGroupsNorm(pattern, layer.weight, opts.tolerance, DENSE_GROUPS_MAX_WORK, filter) : null;
  if (d !== null) {
    const other = `${b.result.route}: ${b.result.value.toPrecision(6)}`;
    if (d.value < b.result.value) return { value: d.value, details: { ...plainDetails(d), variant: b.variant, variants: b.variants, factor: 1, otherRoute: other } };
    return { value: b.result.value, details: { ...details, otherRoute: `${d.route}: ${d.value.toPrecision(6)}`, otherRouteMs: d.ms } };
  }
  return { value: b.result.value, details: denseFailure ? { ...details, otherRoute: denseFailure } : details };
}

/** Every spatial input axis within TINY_MAP_KERNELS kernel extents (dilated). */
function tinyMaps(layer: ConvLayer): boolean {
  const nd = layer.spatialDims;
  const shape = layer.inputShape;
  if (!shape) return false;
  for (let a = 0; a < nd; a++) {
    const extent = (layer.dilations[a] ?? 1) * (layer.weightShape[2 + a] - 1) + 1;
    if (shape[1 + a] > TINY_MAP_KERNELS * extent) return false;
  }
  return true;
}

/** What one method leaves for another on the same layer. */
interface LayerContext {
  /** Where spectral saw its largest value: power starts from the plane wave there. */
  start?: StartHint;
}

async function convMethod(m: MethodName, layer: ConvLayer, variants: KernelVariant[], opts: EngineOptions, ctx: LayerContext): Promise<MethodResult> {
  switch (m) {
    case 'toeplitz':
      return timed('upper', async () => {
        const b = await minOverVariants(variants, (v) => toeplitzBound(v.blocks, { samples: opts.samples }));
        const r = b.result;
        return {
          value: r.value,
          details: {
            variant: b.variant,
            variants: b.variants,
            grid: r.grid,
            gridMax: r.gridMax,
            factor: r.factor,
            samples: opts.samples,
            gridEnlarged: r.enlarged,
            cappedRows: r.capped,
          },
        };
      });
    case 'spectral':
      return timed('upper', () => spectralConv(layer, variants, opts, ctx));
    case 'frobenius':
      return timed('upper', async () => {
        const b = await minOverVariants(variants, (v) => ({ value: frobeniusBound(v.blocks) }));
        return { value: b.result.value, details: { variant: b.variant, variants: b.variants } };
      });
    case 'power':
      return timed('lower', async () => {
        const t0 = performance.now();
        const start = ctx.start ? await planeWaveStart(layer, ctx.start, opts.seed) : null;
        const startMs = performance.now() - t0;
        const r = await powerIteration(layer, { iterations: opts.iterations, tolerance: opts.tolerance, seed: opts.seed, threads: opts.threads, start: start ?? undefined });
        // the start's cost is power's: its own timing covers only the iteration
        r.ms += startMs;
        if (start) r.details = { ...r.details, start: 'plane wave', startMs };
        return layer.inputSizeAssumed ? { ...r, details: { ...r.details, assumedInputShape: layer.inputShape } } : r;
      });
  }
}

async function denseMethods(layer: DenseLayer, methods: MethodName[], opts: EngineOptions): Promise<LayerBounds['methods']> {
  const [rows, cols] = layer.weightShape;
  const out: LayerBounds['methods'] = {};
  // toeplitz and spectral are the same number for a matrix: compute it once, report it under both
  let shared: { from: MethodName; result: MethodResult } | null = null;
  for (const m of methods) {
    if (m === 'power') {
      out.power = await timed('lower', () => powerIteration(layer, { iterations: opts.iterations, tolerance: opts.tolerance, seed: opts.seed, threads: opts.threads }));
    } else if (m === 'frobenius') {
      out.frobenius = await timed('upper', async () => ({ value: frobeniusNorm(layer.weight), details: { route: '||W||_F' } }));
    } else if (shared !== null) {
      const r = shared.result;
      out[m] = { ...r, ms: 0, details: { ...r.details, sharedWith: shared.from } };
    } else {
      const r = await timed('upper', async () => {
        const d = await denseSpectralNorm(layer.weight, rows, cols, opts.tolerance);
        return { value: d.value, details: { route: 'dense spectral norm (certified)', tolerance: opts.tolerance, ...plainDetails(d) } };
      });
      shared = { from: m, result: r };
      out[m] = r;
    }
  }
  return out;
}

/**
 * The quantities satisfy sup ||F||_2 <= paper bound <= frobenius, so a smaller certified value of a
 * looser method also certifies the tighter one. Certified values can cross (a one-row block makes the
 * paper bound exact and its triangle cap can beat the spectral grid factor; equal values differ in
 * rounding margins): report the min so the printed chain is always spectral <= toeplitz <= frobenius.
 * Every upper method keeps its own certified value in details.ownValue (set before any min is taken),
 * so the chain and each method's guarantee can be checked on what the method itself computed.
 */
function enforceChain(methods: LayerBounds['methods']): void {
  const chain: MethodName[] = ['frobenius', 'toeplitz', 'spectral'];
  for (const m of chain) {
    const r = methods[m];
    if (r && r.kind === 'upper' && r.value !== null) r.details = { ...r.details, ownValue: r.value };
  }
  for (let k = 1; k < chain.length; k++) {
    const looser = methods[chain[k - 1]];
    const tighter = methods[chain[k]];
    if (!looser || !tighter || looser.value === null || tighter.value === null) continue;
    if (looser.value < tighter.value) {
      tighter.details = { ...tighter.details, tightenedBy: chain[k - 1] };
      tighter.value = looser.value;
    }
  }
}

function pickBest(b: LayerBounds): void {
  for (const m of BEST_ORDER) {
    const r = b.methods[m];
    if (r && r.kind === 'upper' && r.value !== null && (b.best === null || r.value < b.best)) {
      b.best = r.value;
      b.bestMethod = m;
    }
  }
}

/**
 * Derived weights (BN fold, Gemm alpha, dequantization, double source) are stored rounded to float32:
 * the model's real weight is W + E with ||E||_F <= r ||W||_F, r = layer.weightRounding (extract.ts).
 * The methods bounded W, so by the triangle inequality each upper value V becomes V + ||op(E)||.
 * A conv operator is a sum over its T kernel taps of a shift (norm <= 1) times that tap's matrix E_t,
 * so ||op(E)|| <= sum_t ||E_t||_2 <= sum_t ||E_t||_F <= sqrt(T) ||E||_F (Cauchy-Schwarz over taps).
 * Strides, padding and the input size keep a subset of its rows / columns, dilation only moves the
 * shifts, groups make it block diagonal, ConvTranspose is the adjoint: none increases it. A matrix:
 * ||E||_2 <= ||E||_F. So V' = V + r sqrt(T) ||W||_F, rounded up; power (a lower estimate) is unchanged.
 */
function addWeightRounding(layer: ConvLayer | DenseLayer, out: LayerBounds): void {
  const r = layer.weightRounding ?? 0;
  if (r === 0) return;
  const taps = layer.kind === 'conv' ? layer.weightShape.slice(2).reduce((a, b) => a * b, 1) : 1;
  const term = roundUp(r * Math.sqrt(taps) * frobeniusNorm(layer.weight));
  for (const m of Object.values(out.methods)) {
    if (!m || m.kind !== 'upper' || m.value === null) continue;
    m.value = roundUp(m.value + term);
    m.details = { ...m.details, weightRounding: r, weightRoundingTerm: term };
  }
  out.handling.push(`weights derived and rounded to float32 (relative error <= ${r.toPrecision(3)}): upper bounds include + ${term.toPrecision(3)}`);
}

/** Bounds one layer with the requested methods. Never throws for a layer record; failures become method errors. */
export async function boundLayer(layer: Layer, opts: EngineOptions): Promise<LayerBounds> {
  const out: LayerBounds = { name: layer.name, op: layer.op, kind: layer.kind, methods: {}, best: null, bestMethod: null, handling: [] };
  if (layer.kind === 'conv' && layer.inputSizeAssumed)
    out.handling.push(`input size assumed (${layer.inputShape?.join('x') ?? '?'}): upper bounds use only size-free routes; power runs at the assumed size`);
  if (layer.kind === 'unsupported') {
    out.handling.push(`not bounded: ${layer.reason}`);
    return out;
  }
  const methods = uniqueMethods(opts.methods);
  const failAll = (error: string) => {
    for (const m of methods) out.methods[m] = failed(kindOf(m), error);
  };
  if (!allFinite(layer.weight)) {
    failAll('non-finite weights (NaN or Inf)');
    out.handling.push('weights contain NaN or Inf: no bound');
    return out;
  }
  if (layer.kind === 'dense') {
    out.handling.push(`dense ${layer.weightShape.join('x')}: certified spectral norm of W (toeplitz = spectral), frobenius = ||W||_F`);
    out.methods = await denseMethods(layer, methods, opts);
    addWeightRounding(layer, out);
  } else {
    let variants: KernelVariant[];
    try {
      const red = kernelVariants(layer);
      variants = red.variants;
      out.handling.push(...red.handling);
    } catch (e) {
      failAll(e instanceof Error ? e.message : String(e));
      return out;
    }
    // spectral first: its maximiser is power's start; results keep the requested order
    const ctx: LayerContext = {};
    const results = new Map<MethodName, MethodResult>();
    for (const m of [...methods].sort((a, b) => Number(b === 'spectral') - Number(a === 'spectral'))) results.set(m, await convMethod(m, layer, variants, opts, ctx));
    for (const m of methods) out.methods[m] = results.get(m)!;
    addWeightRounding(layer, out);
  }
  enforceChain(out.methods);
  pickBest(out);
  return out;
}

/** Bounds every layer in order, reporting progress after each. */
export async function boundLayers(
  layers: Layer[],
  opts: EngineOptions,
  onProgress?: (done: number, total: number, name: string) => void,
): Promise<LayerBounds[]> {
  const results: LayerBounds[] = [];
  for (const [i, layer] of layers.entries()) {
    results.push(await boundLayer(layer, opts));
    onProgress?.(i + 1, layers.length, layer.name);
    // let pending I/O (progress output) through between layers
    await new Promise((resolve) => setImmediate(resolve));
  }
  // the dense routes' kept matrices (up to ~1 GB) are not needed past the model
  releaseScratch();
  return results;
}
