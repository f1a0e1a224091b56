// Assembles the diff report from the two checkpoints' reports: matches layers, takes ratios b / a,
// ranks growth and applies the --max-growth gate. Ratios are the only arithmetic here.
import { ALL_METHODS, type MethodName } from '../layer/types.js';
import { formatNumber } from '../report/format.js';
import type { EngineSettings, NetworkReport, ReportLayer } from '../report/types.js';
import { matchLayers } from './match.js';
import { DIFF_SCHEMA_VERSION, type DiffLayer, type DiffNetwork, type DiffReport, type GrowthCheck, type GrowthFailure, type UnmatchedLayer } from './types.js';

/** What the diff reads of one side: a checkpoint's report, or a baseline file's record of one. */
export interface DiffSideInput {
  model: { path: string; sha256: string };
  layers: readonly DiffableLayer[];
  network: Pick<NetworkReport, 'bound' | 'certified' | 'naiveProduct'>;
}

export type DiffableLayer = Pick<ReportLayer, 'name' | 'op' | 'weightShape' | 'bounds' | 'best' | 'bestMethod' | 'unsupportedReason'>;

export interface DiffInput {
  toolVersion: string;
  /** The two sides (checkpoint reports, or a baseline and a report), computed with the same settings. */
  a: DiffSideInput;
  b: DiffSideInput & { settings: EngineSettings };
  /** How messages name the sides (default 'a' and 'b'; the baseline gate says 'the baseline' and 'this run'). */
  labels?: SideLabels;
  maxGrowth: number | null;
  totalMs: number;
  warnings: string[];
}

const GREW_MOST = 5;

export interface SideLabels {
  a: string;
  b: string;
}

/** b / a, or null when it is not a finite number. */
export function growthRatio(a: number | null, b: number | null): number | null {
  if (a === null || b === null || !(a > 0)) return null;
  const r = b / a;
  return Number.isFinite(r) ? r : null;
}

export function buildDiffReport(input: DiffInput): DiffReport {
  const { a, b, maxGrowth } = input;
  const labels = input.labels ?? { a: 'a', b: 'b' };
  const matching = matchLayers(a.layers, b.layers);
  const layers = matching.pairs.map((p) => diffLayer(a.layers[p.a], b.layers[p.b], p.matchedBy, maxGrowth, labels));
  const network = diffNetwork(a, b, labels);

  const failures: GrowthFailure[] = [];
  if (maxGrowth !== null) {
    const ratio = network.gated === 'graph' ? network.ratio : network.gated === 'naive' ? network.naiveRatio : null;
    const check = growthCheck(ratio, maxGrowth, network.gated === 'naive' ? 'network (naive product)' : 'network bound', `no network ratio: the network bound is missing in ${labels.a} or ${labels.b}`);
    if (!check.passed) failures.push({ scope: 'network', name: null, ratio, limit: maxGrowth, reason: check.reason ?? '' });
    for (const l of layers) {
      if (l.gate && !l.gate.passed) failures.push({ scope: 'layer', name: l.name, ratio: l.ratio, limit: maxGrowth, reason: l.gate.reason ?? '' });
    }
  }
  const grewMost = layers
    .filter((l): l is DiffLayer & { ratio: number } => l.ratio !== null && l.ratio > 1)
    .sort((x, y) => y.ratio - x.ratio)
    .slice(0, GREW_MOST)
    .map((l) => ({ name: l.name, ratio: l.ratio }));
  const side = (r: DiffSideInput) => ({ path: r.model.path, sha256: r.model.sha256, layerCount: r.layers.length });
  const unmatched = (r: DiffSideInput, indices: number[]): UnmatchedLayer[] =>
    indices.map((i) => {
      const l = r.layers[i];
      return { index: i, name: l.name, op: l.op, weightShape: l.weightShape, best: l.best };
    });
  const s = b.settings;
  return {
    schemaVersion: DIFF_SCHEMA_VERSION,
    kind: 'diff',
    tool: { name: 'lipcheck', version: input.toolVersion },
    a: side(a),
    b: side(b),
    settings: { methods: [...s.methods], samples: s.samples, iterations: s.iterations, tolerance: s.tolerance, seed: s.seed, inputShape: s.inputShape, maxGrowth },
    layers,
    grewMost,
    unmatched: { a: unmatched(a, matching.unmatchedA), b: unmatched(b, matching.unmatchedB) },
    network,
    gate: { maxGrowth, passed: failures.length === 0, failures },
    timing: { totalMs: Number.isFinite(input.totalMs) ? input.totalMs : 0 },
    warnings: [...input.warnings],
  };
}

function diffLayer(la: DiffableLayer, lb: DiffableLayer, matchedBy: DiffLayer['matchedBy'], maxGrowth: number | null, labels: SideLabels): DiffLayer {
  const notes: string[] = [];
  if (matchedBy === 'name' && (la.op !== lb.op || JSON.stringify(la.weightShape) !== JSON.stringify(lb.weightShape))) {
    notes.push(`same name, different layer: ${labels.a} is ${la.op} ${JSON.stringify(la.weightShape)}, ${labels.b} is ${lb.op} ${JSON.stringify(lb.weightShape)}`);
  }
  if (matchedBy === 'order+shape') notes.push(`renamed: ${la.name} in ${labels.a}`);
  const ratios = {} as Record<MethodName, number | null>;
  for (const m of ALL_METHODS) ratios[m] = growthRatio(la.bounds[m], lb.bounds[m]);
  const ratio = growthRatio(la.best, lb.best);
  if (ratio === null) notes.push(missingRatioReason(la, lb, labels));
  const gate = maxGrowth === null ? null : growthCheck(ratio, maxGrowth, 'best bound', missingRatioReason(la, lb, labels));
  const side = (l: DiffableLayer) => ({ name: l.name, best: l.best, bestMethod: l.bestMethod, bounds: { ...l.bounds } });
  return { name: lb.name, matchedBy, op: lb.op, weightShape: lb.weightShape, a: side(la), b: side(lb), ratio, ratios, gate, notes };
}

function missingRatioReason(la: DiffableLayer, lb: DiffableLayer, labels: SideLabels): string {
  if (la.unsupportedReason !== null || lb.unsupportedReason !== null) return `no ratio: unsupported (${la.unsupportedReason ?? lb.unsupportedReason})`;
  if (la.best === null || lb.best === null) return `no ratio: no certified bound in ${la.best === null ? labels.a : labels.b}`;
  return `no ratio: best bound in ${labels.a} is ${la.best}`;
}

// A missing ratio fails the gate, as a missing bound fails a budget: CI must not pass what it could not check.
function growthCheck(ratio: number | null, limit: number, label: string, missing: string): GrowthCheck {
  if (ratio === null) return { limit, passed: false, reason: missing };
  const passed = ratio <= limit;
  return { limit, passed, reason: passed ? null : `${label} grew ${formatNumber(ratio)}x > max growth ${formatNumber(limit)}x` };
}

function diffNetwork(a: DiffSideInput, b: DiffSideInput, labels: SideLabels): DiffNetwork {
  const notes: string[] = [];
  const bound = (r: DiffSideInput) => (r.network.certified ? r.network.bound : null);
  const na = bound(a);
  const nb = bound(b);
  const ratio = growthRatio(na, nb);
  const naiveRatio = growthRatio(a.network.naiveProduct, b.network.naiveProduct);
  let gated: DiffNetwork['gated'] = ratio !== null ? 'graph' : null;
  if (ratio === null) {
    notes.push(`no graph-aware ratio: the network bound is not certified in ${na === null && nb === null ? `${labels.a} and ${labels.b}` : na === null ? labels.a : labels.b}`);
    if (naiveRatio !== null) {
      gated = 'naive';
      notes.push('the growth gate uses the ratio of the naive products instead');
    }
  }
  return { a: na, b: nb, ratio, naiveA: a.network.naiveProduct, naiveB: b.network.naiveProduct, naiveRatio, gated, notes };
}
