// Runs one mutant through the loader (and the engine's cheap methods on what loads) and
// classifies the outcome. Shared by test/fuzz.test.ts and scripts/fuzz.ts.
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { boundLayer } from '../../src/layer/engine.js';
import { networkBound } from '../../src/network/walk.js';
import type { EngineOptions } from '../../src/layer/types.js';
import { InputError } from '../../src/errors.js';
import type { Layer, LoadedModel } from '../../src/model/layer.js';
import { loadModel } from '../../src/onnx/load.js';
import { MODEL_FILE, OUTSIDE_FILE, type Mutant } from './mutate.js';

export type Outcome =
  | { kind: 'loaded'; layers: number; engineErrors: string[] }
  | { kind: 'input-error'; message: string }
  /** Anything else: a non-InputError exception, or a loaded model / bound that breaks an invariant. */
  | { kind: 'crash'; message: string; stack?: string };

/** Cheap engine methods only (power starts onnxruntime); a coarse grid keeps each case fast. */
const ENGINE: EngineOptions = { methods: ['toeplitz', 'frobenius'], samples: 8, iterations: 10, tolerance: 1e-3, seed: 1 };
/** Layers larger than this skip the engine (the fixtures' layers are far smaller). */
const MAX_ENGINE_WEIGHTS = 20_000;

/** Folders for one fuzz run: `cases` is rewritten per case, `outside` is what escaping paths aim at. */
export interface FuzzDirs {
  cases: string;
  outside: string;
}

export function makeFuzzDirs(root: string): FuzzDirs {
  const dirs = { cases: path.join(root, 'case'), outside: path.join(root, 'outside') };
  fs.mkdirSync(dirs.outside, { recursive: true });
  fs.writeFileSync(path.join(dirs.outside, OUTSIDE_FILE), new Uint8Array(4096).fill(0x3f));
  return dirs;
}

/** Writes the mutant (model + its files) into a fresh `dirs.cases`; returns the model path. */
export function writeMutant(dirs: FuzzDirs, mutant: Mutant): string {
  fs.rmSync(dirs.cases, { recursive: true, force: true });
  fs.mkdirSync(dirs.cases, { recursive: true });
  for (const f of mutant.files) {
    const p = path.join(dirs.cases, f.name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    if ('symlinkOutside' in f) fs.symlinkSync(path.join(dirs.outside, OUTSIDE_FILE), p);
    else fs.writeFileSync(p, f.bytes);
  }
  const file = path.join(dirs.cases, MODEL_FILE);
  fs.writeFileSync(file, mutant.bytes);
  return file;
}

const product = (a: number[]) => a.reduce((x, y) => x * y, 1);

/** What a layer record must satisfy for the engine to be handed it; null when it does. */
export function layerProblem(l: Layer): string | null {
  if (l.kind === 'unsupported') return l.reason ? null : 'unsupported layer without a reason';
  if (!l.weightShape.every((d) => Number.isSafeInteger(d) && d >= 0)) return `weight shape [${l.weightShape}]`;
  if (l.weight.length !== product(l.weightShape)) return `weight length ${l.weight.length} != shape [${l.weightShape}]`;
  for (let i = 0; i < l.weight.length; i++) if (!Number.isFinite(l.weight[i])) return 'non-finite weight reached the engine';
  if (l.kind === 'dense') return l.weightShape.length === 2 ? null : `dense shape [${l.weightShape}]`;
  const n = l.spatialDims;
  const positive = (a: number[]) => a.length === n && a.every((v) => Number.isSafeInteger(v) && v >= 1);
  if (l.weightShape.length !== n + 2) return `conv rank ${l.weightShape.length} for ${n} spatial dims`;
  if (!positive(l.strides) || !positive(l.dilations)) return `strides [${l.strides}] / dilations [${l.dilations}]`;
  if (l.pads.length !== 2 * n || !l.pads.every((p) => Number.isSafeInteger(p) && p >= 0)) return `pads [${l.pads}]`;
  if (!Number.isSafeInteger(l.group) || l.group < 1) return `group ${l.group}`;
  return null;
}

async function boundWhatLoaded(model: LoadedModel): Promise<Outcome> {
  const engineErrors: string[] = [];
  const bests: (number | null)[] = [];
  for (const l of model.layers) {
    const problem = layerProblem(l);
    if (problem) return { kind: 'crash', message: `invalid layer record '${l.name}': ${problem}` };
    bests.push(null);
    if (l.kind === 'unsupported' || l.weight.length > MAX_ENGINE_WEIGHTS) continue;
    const b = await boundLayer(l, ENGINE);
    bests[bests.length - 1] = b.best;
    for (const [m, r] of Object.entries(b.methods)) {
      if (r.error) engineErrors.push(`${m}: ${r.error}`);
      else if (r.value === null || !Number.isFinite(r.value) || r.value < 0) return { kind: 'crash', message: `${l.name}: ${m} gave ${r.value}` };
    }
  }
  // The graph walk for the network bound: cycles, duplicate producers and dangling inputs must end
  // in a number or "not certified", never a loop.
  if (!model.graph) return { kind: 'crash', message: 'no graph summary' };
  const net = networkBound(model.graph, bests);
  if (net.bound !== null && !(Number.isFinite(net.bound) && net.bound >= 0)) return { kind: 'crash', message: `network bound ${net.bound}` };
  if (net.certified !== (net.bound !== null)) return { kind: 'crash', message: `network bound ${net.bound} with certified ${net.certified}` };
  return { kind: 'loaded', layers: model.layers.length, engineErrors };
}

/** Loads the mutant written at `file`; never throws. */
export async function runCase(file: string): Promise<Outcome> {
  try {
    return await boundWhatLoaded(await loadModel(file));
  } catch (e) {
    if (e instanceof InputError) {
      if (/[\u0000-\u001f\u007f]/.test(e.message) || e.message.trim() === '') return { kind: 'crash', message: `InputError not one printable line: ${JSON.stringify(e.message)}` };
      return { kind: 'input-error', message: e.message };
    }
    const err = e instanceof Error ? e : new Error(String(e));
    return { kind: 'crash', message: `${err.name}: ${err.message}`, stack: err.stack };
  }
}

/** An error message with names, numbers and lists stripped: the "class" of an error. */
export function errorClass(message: string): string {
  return message
    .replace(/'[^']*'/g, "'…'")
    .replace(/\[[^\]]*\]/g, '[…]')
    .replace(/\([^)]*\)/g, '(…)')
    .replace(/-?\d+(\.\d+)?(e[+-]?\d+)?/gi, 'N')
    .replace(/N( N)+/g, 'N');
}

export interface CaseRecord {
  label: string;
  kinds: string[];
  outcome: Outcome;
  ms: number;
}

/** Counts per outcome and per error class, the slowest case, and every crash. */
export class FuzzStats {
  cases = 0;
  loaded = 0;
  readonly errorClasses = new Map<string, number>();
  readonly engineErrorClasses = new Map<string, number>();
  /** How often each mutation kind was applied. */
  readonly kinds = new Map<string, number>();
  readonly crashes: CaseRecord[] = [];
  slowest: CaseRecord | null = null;

  add(rec: CaseRecord): void {
    this.cases++;
    for (const k of rec.kinds) bump(this.kinds, k);
    if (!this.slowest || rec.ms > this.slowest.ms) this.slowest = rec;
    const o = rec.outcome;
    if (o.kind === 'crash') this.crashes.push(rec);
    else if (o.kind === 'loaded') {
      this.loaded++;
      for (const e of new Set(o.engineErrors.map(errorClass))) bump(this.engineErrorClasses, e);
    } else bump(this.errorClasses, errorClass(o.message));
  }

  summary(): string {
    const sorted = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).map(([k, n]) => `  ${String(n).padStart(6)}  ${k}`);
    return [
      `cases: ${this.cases}  loaded: ${this.loaded}  input errors: ${this.cases - this.loaded - this.crashes.length}  crashes: ${this.crashes.length}`,
      `slowest: ${this.slowest ? `${this.slowest.ms.toFixed(1)} ms  ${this.slowest.label}` : '-'}`,
      `mutations: ${[...this.kinds].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`,
      `error classes (${this.errorClasses.size}):`,
      ...sorted(this.errorClasses),
      `engine method errors on loaded models (${this.engineErrorClasses.size}):`,
      ...sorted(this.engineErrorClasses),
      ...this.crashes.slice(0, 20).map((c) => `CRASH ${c.label}\n  ${c.outcome.kind === 'crash' ? c.outcome.message : ''}`),
    ].join('\n');
  }
}

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

/** Times one case. */
export async function timeCase(file: string): Promise<{ outcome: Outcome; ms: number }> {
  const t0 = performance.now();
  const outcome = await runCase(file);
  return { outcome, ms: performance.now() - t0 };
}
