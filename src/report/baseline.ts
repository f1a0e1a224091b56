// Baseline files (--write-baseline, --baseline): a small record of one run's numbers that a later run
// gates growth against without the old checkpoint, with the same matching and gate as `lipcheck diff`.
// Stable on purpose (sorted keys, graph order, no timings, trailing newline) so it diffs well in a PR.
// Reading is lenient within a schemaVersion (unknown keys ignored, keys added later defaulted) and
// strict across versions (a newer schemaVersion is refused).
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { buildDiffReport, type DiffSideInput } from '../diff/build.js';
import { InputError } from '../errors.js';
import { ALL_METHODS, type MethodName } from '../layer/types.js';
import { DEFAULT_NETWORK_EFFORT } from '../network/blocks.js';
import { formatNumber, formatShape } from './format.js';
import type { BaselineComparison, EngineSettings, LipcheckReport } from './types.js';

export const BASELINE_SCHEMA_VERSION = 1;
export const BASELINE_KIND = 'lipcheck-baseline';

/** The settings that produced the numbers (and the ones a later run must share). */
export interface BaselineSettings extends EngineSettings {
  /** Where the input shape came from ('assumed' = certified values use size-free rules only). */
  inputShapeSource: string;
  /** --network-method. */
  networkMethod: string;
  /** --network-effort (which merged operators the network bound could afford). */
  networkEffort: number;
  /** --layers, or null for every layer. */
  layers: string | null;
}

export interface BaselineLayer {
  name: string;
  op: string;
  weightShape: number[] | null;
  /** Every method key; null when not run or no number. */
  bounds: Record<MethodName, number | null>;
  best: number | null;
  bestMethod: MethodName | null;
  unsupportedReason: string | null;
}

export interface Baseline {
  schemaVersion: number;
  kind: typeof BASELINE_KIND;
  tool: { name: 'lipcheck'; version: string };
  model: { sha256: string };
  settings: BaselineSettings;
  layers: BaselineLayer[];
  network: { bound: number | null; certified: boolean; method: string; graphBound: number | null; naiveProduct: number | null };
}

export function baselineOf(report: LipcheckReport): Baseline {
  const s = report.settings;
  const { networkMethod, networkEffort } = s;
  return {
    schemaVersion: BASELINE_SCHEMA_VERSION,
    kind: BASELINE_KIND,
    tool: { name: 'lipcheck', version: report.tool.version },
    model: { sha256: report.model.sha256 },
    settings: {
      methods: [...s.methods], samples: s.samples, iterations: s.iterations, tolerance: s.tolerance, seed: s.seed,
      inputShape: s.inputShape, inputShapeSource: s.inputShapeSource, networkMethod, networkEffort, layers: s.layers,
    },
    layers: report.layers.map((l) => ({
      name: l.name, op: l.op, weightShape: l.weightShape, bounds: { ...l.bounds }, best: l.best, bestMethod: l.bestMethod, unsupportedReason: l.unsupportedReason,
    })),
    network: {
      bound: report.network.bound, certified: report.network.certified, method: report.network.method,
      graphBound: report.network.graphBound, naiveProduct: report.network.naiveProduct,
    },
  };
}

export function renderBaseline(baseline: Baseline): string {
  return `${stableJson(baseline, '')}\n`;
}

/** JSON with sorted keys, one value per line, arrays of plain values (shapes, method lists) on one line. */
export function stableJson(value: unknown, indent: string): string {
  const inner = `${indent}  `;
  if (Array.isArray(value)) {
    if (value.every((v) => v === null || typeof v !== 'object')) return `[${value.map((v) => JSON.stringify(v)).join(', ')}]`;
    return `[\n${value.map((v) => inner + stableJson(v, inner)).join(',\n')}\n${indent}]`;
  }
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>;
    const keys = Object.keys(obj).filter((k) => obj[k] !== undefined).sort();
    if (keys.length === 0) return '{}';
    return `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${stableJson(obj[k], inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(value);
}

export async function readBaseline(cwd: string, file: string): Promise<Baseline> {
  let text: string;
  try {
    text = await readFile(path.resolve(cwd, file), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(code === 'ENOENT' ? 'baseline not found (write one with --write-baseline)' : code === 'EISDIR' ? 'is a directory, not a baseline file' : `cannot read: ${(err as Error).message}`, file);
  }
  return parseBaseline(text, file);
}

/** Validate a baseline file's text; every problem is a one-line InputError naming the file. */
export function parseBaseline(text: string, file: string): Baseline {
  const bad = (where: string, expected: string): never => {
    throw new InputError(`not a lipcheck baseline: ${where}: expected ${expected}`, file);
  };
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new InputError(`not a lipcheck baseline: invalid JSON (${(err as Error).message})`, file);
  }
  if (!isObject(raw)) return bad('top level', 'an object');
  if (raw.kind !== BASELINE_KIND) {
    if ('budget' in raw && 'layers' in raw) throw new InputError('this is a lipcheck --json report, not a baseline: write one with --write-baseline', file);
    return bad('kind', JSON.stringify(BASELINE_KIND));
  }
  const version = raw.schemaVersion;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) return bad('schemaVersion', 'a positive integer');
  if (version > BASELINE_SCHEMA_VERSION) {
    throw new InputError(`baseline schemaVersion ${version} is newer than this lipcheck reads (${BASELINE_SCHEMA_VERSION}): upgrade lipcheck or rewrite the baseline with --write-baseline`, file);
  }

  const obj = (v: unknown, where: string) => (isObject(v) ? v : bad(where, 'an object'));
  const str = (v: unknown, where: string) => (typeof v === 'string' ? v : bad(where, 'a string'));
  const strOrNull = (v: unknown, where: string) => (v === null || v === undefined ? null : str(v, where));
  const nonNegative = (v: unknown, where: string) => (typeof v === 'number' && v >= 0 && Number.isFinite(v) ? v : bad(where, 'a number >= 0'));
  const int = (v: unknown, where: string, min: number) => (typeof v === 'number' && Number.isSafeInteger(v) && v >= min ? v : bad(where, `an integer >= ${min}`));
  const bound = (v: unknown, where: string) => (v === null || v === undefined ? null : typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : bad(where, 'a non-negative number or null'));
  const shape = (v: unknown, where: string) => {
    if (v === null) return null;
    if (!Array.isArray(v)) return bad(where, 'an array of integers or null');
    return v.map((d, i) => int(d, `${where}[${i}]`, 0));
  };
  const method = (v: unknown, where: string) => (ALL_METHODS.includes(v as MethodName) ? (v as MethodName) : bad(where, `one of ${ALL_METHODS.join(', ')}`));

  const tool = obj(raw.tool, 'tool');
  const model = obj(raw.model, 'model');
  const sha256 = str(model.sha256, 'model.sha256');
  if (!/^[0-9a-f]{64}$/.test(sha256)) bad('model.sha256', '64 hex digits');
  const s = obj(raw.settings, 'settings');
  if (!Array.isArray(s.methods) || s.methods.length === 0) bad('settings.methods', 'a non-empty array of method names');
  const tolerance = s.tolerance;
  if (typeof tolerance !== 'number' || !(tolerance > 0 && tolerance < 1)) bad('settings.tolerance', 'a number between 0 and 1');
  const settings: BaselineSettings = {
    methods: (s.methods as unknown[]).map((m, i) => method(m, `settings.methods[${i}]`)),
    samples: int(s.samples, 'settings.samples', 1),
    iterations: int(s.iterations, 'settings.iterations', 1),
    tolerance: tolerance as number,
    seed: int(s.seed, 'settings.seed', 0),
    inputShape: s.inputShape === undefined ? bad('settings.inputShape', 'an array of integers or null') : shape(s.inputShape, 'settings.inputShape'),
    // keys a later lipcheck added within schemaVersion 1 default to what a run without them did
    inputShapeSource: strOrNull(s.inputShapeSource, 'settings.inputShapeSource') ?? 'unknown',
    networkMethod: strOrNull(s.networkMethod, 'settings.networkMethod') ?? 'graph',
    // baselines from before --network-effort had no such knob (an older work cap and cost estimate that
    // cannot be reproduced): they are compared as the default
    networkEffort: s.networkEffort === undefined ? DEFAULT_NETWORK_EFFORT : nonNegative(s.networkEffort, 'settings.networkEffort'),
    layers: strOrNull(s.layers, 'settings.layers'),
  };
  if (!Array.isArray(raw.layers)) bad('layers', 'an array');
  const layers = (raw.layers as unknown[]).map((v, i): BaselineLayer => {
    const where = `layers[${i}]`;
    const l = obj(v, where);
    const b = l.bounds === undefined ? {} : obj(l.bounds, `${where}.bounds`);
    const bounds = {} as Record<MethodName, number | null>;
    for (const m of ALL_METHODS) bounds[m] = bound(b[m], `${where}.bounds.${m}`);
    return {
      name: str(l.name, `${where}.name`),
      op: str(l.op, `${where}.op`),
      weightShape: l.weightShape === undefined ? bad(`${where}.weightShape`, 'an array of integers or null') : shape(l.weightShape, `${where}.weightShape`),
      bounds,
      best: l.best === undefined ? bad(`${where}.best`, 'a non-negative number or null') : bound(l.best, `${where}.best`),
      bestMethod: l.bestMethod === null || l.bestMethod === undefined ? null : method(l.bestMethod, `${where}.bestMethod`),
      unsupportedReason: strOrNull(l.unsupportedReason, `${where}.unsupportedReason`),
    };
  });
  const n = obj(raw.network, 'network');
  if (typeof n.certified !== 'boolean') bad('network.certified', 'true or false');
  const netBound = n.bound === undefined ? bad('network.bound', 'a non-negative number or null') : bound(n.bound, 'network.bound');
  return {
    schemaVersion: version,
    kind: BASELINE_KIND,
    tool: { name: 'lipcheck', version: str(tool.version, 'tool.version') },
    model: { sha256 },
    settings,
    layers,
    network: {
      bound: netBound,
      certified: n.certified as boolean,
      method: strOrNull(n.method, 'network.method') ?? 'graph',
      graphBound: n.graphBound === undefined ? netBound : bound(n.graphBound, 'network.graphBound'),
      naiveProduct: bound(n.naiveProduct, 'network.naiveProduct'),
    },
  };
}

/**
 * Settings of this run that differ from the baseline's. `errors`: they can change a gated number
 * (a layer's best certified bound, the network bound), so the ratios would compare different things.
 * `warnings`: they change only power, a lower estimate the gate does not use.
 */
export function settingsDifferences(base: BaselineSettings, now: BaselineSettings): { errors: string[]; warnings: string[] } {
  const errors: string[] = [];
  const warnings: string[] = [];
  const shown = (v: unknown) => (Array.isArray(v) ? (v.length === 0 ? '[]' : v.join(v.every((x) => typeof x === 'number') ? 'x' : ',')) : v === null ? 'none' : String(v));
  const differs = (key: keyof BaselineSettings) => JSON.stringify(base[key]) !== JSON.stringify(now[key]);
  const say = (key: string, a: unknown, b: unknown) => `${key} ${shown(a)} in the baseline, ${shown(b)} now`;
  const certified = (ms: MethodName[]) => ms.filter((m) => m !== 'power').sort();
  if (JSON.stringify(certified(base.methods)) !== JSON.stringify(certified(now.methods))) errors.push(say('methods', base.methods, now.methods));
  else if (differs('methods')) warnings.push(`${say('methods', base.methods, now.methods)} (only power differs: the gate does not use it)`);
  // samples and tolerance reach the certified numbers only through the grid methods (toeplitz, spectral,
  // the dense spectral norm) and the network's merged operators
  const gridded = now.methods.some((m) => m === 'toeplitz' || m === 'spectral');
  for (const key of ['samples', 'tolerance'] as const) {
    if (!differs(key)) continue;
    if (gridded || (key === 'samples' && now.networkMethod !== 'graph')) errors.push(say(key, base[key], now[key]));
    else warnings.push(`${say(key, base[key], now[key])} (no certified method here uses it)`);
  }
  for (const key of ['iterations', 'seed'] as const) {
    if (differs(key)) warnings.push(`${say(key, base[key], now[key])} (changes only power: the gate does not use it)`);
  }
  if (differs('networkMethod')) errors.push(say('network method', base.networkMethod, now.networkMethod));
  else if (differs('networkEffort') && now.networkMethod !== 'graph') errors.push(say('network effort', base.networkEffort, now.networkEffort));
  if (differs('layers')) errors.push(say('--layers', base.layers, now.layers));
  if (differs('inputShape')) errors.push(say('input shape', base.inputShape, now.inputShape));
  else if ((base.inputShapeSource === 'assumed') !== (now.inputShapeSource === 'assumed')) errors.push(say('input shape source', base.inputShapeSource, now.inputShapeSource));
  return { errors, warnings };
}

/** The growth gate of this run against the baseline: `lipcheck diff`'s matching and rules, side a = the baseline. */
export function compareToBaseline(baseline: Baseline, file: string, report: LipcheckReport, maxGrowth: number | null): BaselineComparison {
  const a: DiffSideInput = { model: { path: file, sha256: baseline.model.sha256 }, layers: baseline.layers, network: baseline.network };
  const d = buildDiffReport({ toolVersion: report.tool.version, a, b: report, maxGrowth, totalMs: 0, warnings: [], labels: { a: 'the baseline', b: 'this run' } });
  return {
    file,
    toolVersion: baseline.tool.version,
    sha256: baseline.model.sha256,
    sameModel: baseline.model.sha256 === report.model.sha256,
    maxGrowth,
    layers: d.layers,
    grewMost: d.grewMost,
    unmatched: { baseline: d.unmatched.a, current: d.unmatched.b },
    network: d.network,
    gate: d.gate,
  };
}

/** Plain-text lines of the comparison for the table and markdown footers (names made printable by the caller). */
export function baselineSummaryLines(c: BaselineComparison): { text: string; tone: 'plain' | 'warn' | 'pass' | 'fail' }[] {
  const ratio = (r: number | null) => (r === null ? 'no ratio' : `${formatNumber(r)}x`);
  const net = c.network.gated === 'naive' ? `naive product ${ratio(c.network.naiveRatio)}` : ratio(c.network.ratio);
  const grew = c.grewMost.length > 0 ? `grew most: ${c.grewMost.map((g) => `${g.name} ${ratio(g.ratio)}`).join(', ')}` : 'no layer grew';
  const lines: { text: string; tone: 'plain' | 'warn' | 'pass' | 'fail' }[] = [
    { text: `baseline ${c.file} (lipcheck ${c.toolVersion}${c.sameModel ? ', same model' : ''}): ${c.layers.length} matched layer${c.layers.length === 1 ? '' : 's'}, network ${net}; ${grew}`, tone: 'plain' },
  ];
  for (const u of c.unmatched.baseline) lines.push({ text: `only in the baseline: ${u.name} (${u.op} ${formatShape(u.weightShape)})`, tone: 'warn' });
  for (const u of c.unmatched.current) lines.push({ text: `not in the baseline: ${u.name} (${u.op} ${formatShape(u.weightShape)})`, tone: 'warn' });
  if (c.gate.maxGrowth !== null) {
    const n = c.gate.failures.length;
    lines.push(n === 0
      ? { text: `growth within ${formatNumber(c.gate.maxGrowth)}x of the baseline`, tone: 'pass' }
      : { text: `growth over ${formatNumber(c.gate.maxGrowth)}x of the baseline: ${n} failure${n === 1 ? '' : 's'} (${c.gate.failures.map((f) => f.name ?? 'network').join(', ')})`, tone: 'fail' });
  }
  return lines;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
