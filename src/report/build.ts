// Assembles the report (the JSON contract) from the loader's layers and the engine's bounds.
// It computes nothing numeric beyond ratios; it only arranges, checks budgets, and turns
// anything non-finite into null with a note.
import { ALL_METHODS, type LayerBounds, type MethodName, type MethodResult } from '../layer/types.js';
import type { Layer, ModelInfo } from '../model/layer.js';
import { checkLayerBudget, checkNetworkBudget, type BudgetSettings } from './budget.js';
import type { NetworkBound } from '../network/walk.js';
import type { LocalBound } from '../network/local.js';
import { networkReport } from './network.js';
import { SCHEMA_VERSION, type BudgetFailure, type DetailValue, type LipcheckReport, type MethodDetails, type ReportLayer } from './types.js';

export interface ReportInput {
  toolVersion: string;
  model: ModelInfo;
  settings: Omit<LipcheckReport['settings'], 'inputShape' | 'inputShapeSource'> & { inputShape: number[] | null };
  /** The layers that were bounded (after --layers), and the engine's result for each, same order. */
  layers: readonly Layer[];
  bounds: readonly LayerBounds[];
  /** Layers in the model before --layers: a subset gets no network bound. */
  totalLayers: number;
  /** The engine's graph-aware network bound; null when not computed (--layers subset). */
  network: NetworkBound | null;
  /** The local bound over --input-range, when one was asked for. */
  local?: LocalBound | null;
  /** The engine's product of the bounded layers' best bounds. */
  naiveProduct: number | null;
  budgets: BudgetSettings;
  timing: LipcheckReport['timing'];
  warnings: string[];
}

export function buildReport(input: ReportInput): LipcheckReport {
  if (input.layers.length !== input.bounds.length) {
    throw new Error(`engine returned ${input.bounds.length} results for ${input.layers.length} layers`);
  }
  const layers = input.layers.map((layer, i) => reportLayer(layer, input.bounds[i], input.budgets));
  const network = networkReport(input.network, input.naiveProduct, { selected: input.layers.length, total: input.totalLayers }, input.local ?? null);
  // a network budget gates the global bound when certified, else the local bound over the input range
  const local = network.local?.certified ? network.local : null;
  if (input.budgets.network) network.gated = network.certified ? 'global' : local ? 'local' : null;
  const networkCheck = checkNetworkBudget(
    network.gated === 'local' ? local!.bound : network.bound,
    input.budgets,
    network.gated === 'local' ? `local network bound over ${local!.range}` : undefined,
  );

  const failures: BudgetFailure[] = [];
  if (networkCheck && !networkCheck.passed) {
    failures.push({ scope: 'network', name: null, value: networkCheck.value, limit: networkCheck.limit, reason: networkCheck.reason ?? '' });
  }
  for (const l of layers) {
    if (l.budget && !l.budget.passed) {
      failures.push({ scope: 'layer', name: l.name, value: l.budget.value, limit: l.budget.limit, reason: l.budget.reason ?? '' });
    }
  }

  const { model } = input;
  return {
    schemaVersion: SCHEMA_VERSION,
    tool: { name: 'lipcheck', version: input.toolVersion },
    model: { path: model.path, sha256: model.sha256, opset: model.opset, producer: model.producer, irVersion: model.irVersion },
    settings: { ...input.settings, inputShape: model.inputShape ?? input.settings.inputShape, inputShapeSource: model.inputShapeSource },
    layers,
    network,
    budget: { limit: input.budgets.network?.limit ?? null, passed: failures.length === 0, failures },
    baseline: null,
    timing: {
      totalMs: finiteOr0(input.timing.totalMs), loadMs: finiteOr0(input.timing.loadMs), boundsMs: finiteOr0(input.timing.boundsMs),
      ...(input.timing.processes === undefined ? {} : { processes: input.timing.processes }),
    },
    warnings: [...input.warnings],
  };
}

function reportLayer(layer: Layer, result: LayerBounds, budgets: BudgetSettings): ReportLayer {
  if (result.name !== layer.name) throw new Error(`engine result ${result.name} does not match layer ${layer.name}`);
  const notes = [...layer.notes];
  const bounds = {} as Record<MethodName, number | null>;
  const details: Partial<Record<MethodName, MethodDetails>> = {};
  for (const method of ALL_METHODS) {
    const run = result.methods[method];
    bounds[method] = run ? methodValue(method, run, notes) : null;
    if (run) details[method] = methodDetails(run);
  }
  let best = result.best;
  if (best !== null && !Number.isFinite(best)) {
    notes.push(`best: non-finite value ${best} reported as null`);
    best = null;
  }
  const power = bounds.power;
  const conv = layer.kind === 'conv' ? layer : null;
  const out: ReportLayer = {
    name: layer.name,
    op: layer.op,
    kind: layer.kind,
    weightShape: layer.kind === 'unsupported' ? null : [...layer.weightShape],
    inputShape: layer.kind === 'unsupported' ? null : layer.inputShape,
    outputShape: layer.kind === 'unsupported' ? null : layer.outputShape,
    strides: conv ? conv.strides : null,
    pads: conv ? conv.pads : null,
    dilations: conv ? conv.dilations : null,
    group: conv ? conv.group : null,
    foldedBatchNorm: layer.kind === 'conv' ? layer.foldedBatchNorm : false,
    bounds,
    best,
    bestMethod: best === null ? null : result.bestMethod,
    tightness: best !== null && power !== null && power > 0 ? best / power : null,
    details,
    handling: [...result.handling],
    notes,
    unsupportedReason: layer.kind === 'unsupported' ? layer.reason : null,
    budget: null,
  };
  out.budget = checkLayerBudget(out, budgets);
  return out;
}

/** The method's number, or null with a note saying why there is none. */
function methodValue(method: MethodName, run: MethodResult, notes: string[]): number | null {
  if (run.value !== null && Number.isFinite(run.value)) return run.value;
  if (run.value !== null) notes.push(`${method}: non-finite value ${run.value} reported as null`);
  else notes.push(`${method}: ${run.error ?? 'no value'}`);
  return null;
}

function methodDetails(run: MethodResult): MethodDetails {
  const clean: Record<string, DetailValue> = {};
  for (const [key, value] of Object.entries(run.details)) clean[key] = finiteDetail(value);
  return { ...clean, kind: run.kind, ms: finiteOr0(run.ms), error: run.error ?? null };
}

function finiteDetail(value: DetailValue): DetailValue {
  if (typeof value === 'number') return Number.isFinite(value) ? value : null;
  if (Array.isArray(value)) return value.every(Number.isFinite) ? [...value] : null;
  return value;
}

function finiteOr0(ms: number): number {
  return Number.isFinite(ms) ? ms : 0;
}
