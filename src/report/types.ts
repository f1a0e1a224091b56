// The report: the JSON contract (schemaVersion 1) that the table and markdown renderers also read.
// Keys are stable: a key that does not apply to a layer is present with the value null.
// Numbers are finite JSON numbers or null (with a note saying why), never strings or NaN.
import type { MethodName } from '../layer/types.js';

import type { InputShapeSource } from '../model/layer.js';
import type { DiffLayer, DiffNetwork, GrowthFailure, UnmatchedLayer } from '../diff/types.js';

export const SCHEMA_VERSION = 1;

export type DetailValue = number | string | boolean | null | number[];

/** One method's trust data for one layer: the engine's details plus its kind, time and error. */
export interface MethodDetails {
  kind: 'upper' | 'lower';
  ms: number;
  error: string | null;
  [key: string]: DetailValue;
}

/** Outcome of one budget check (a layer's, or the network's). */
export interface BudgetCheck {
  limit: number;
  /** The gated number (a layer's best certified bound, or the --budget-method value); null if none. */
  value: number | null;
  passed: boolean;
  /** Where the limit came from: `--layer-budget`, `lipcheck.config.json: layers["conv*"]`, ... */
  source: string;
  /** Why it failed; null when it passed. */
  reason: string | null;
}

export interface ReportLayer {
  name: string;
  op: string;
  kind: 'conv' | 'dense' | 'unsupported';
  weightShape: number[] | null;
  inputShape: number[] | null;
  outputShape: number[] | null;
  strides: number[] | null;
  pads: number[] | null;
  dilations: number[] | null;
  group: number | null;
  foldedBatchNorm: boolean;
  /** Every method key is present; null when not run or when it produced no number (see notes). */
  bounds: Record<MethodName, number | null>;
  /** Smallest certified upper bound; null when there is none. */
  best: number | null;
  bestMethod: MethodName | null;
  /** best / power (>= 1 up to power's tolerance): how far the certified bound may be above the truth. */
  tightness: number | null;
  /** Only the methods that ran. */
  details: Partial<Record<MethodName, MethodDetails>>;
  handling: string[];
  notes: string[];
  unsupportedReason: string | null;
  budget: BudgetCheck | null;
}

export interface BudgetFailure {
  scope: 'network' | 'layer';
  /** Layer name; null for the network. */
  name: string | null;
  value: number | null;
  limit: number;
  reason: string;
}

export interface NetworkReport {
  /** Certified bound on the whole network (input -> all outputs jointly), from the graph walk; null if not certified. */
  bound: number | null;
  /** The rule that produced `bound`: 'graph' (per-layer bounds composed over the graph), 'merged' (exact merges of linear layers), 'block-averaging' (ReLU averaging over residual blocks and chains). */
  method: 'graph' | 'merged' | 'block-averaging';
  /** The plain graph walk's bound, for comparison (equals bound when method is 'graph'). */
  graphBound: number | null;
  /** Where a structural rule beat the plain walk: node, rule, what it merged or averaged, the rule's and the walk's value there. */
  blocks: { node: string; rule: 'merged' | 'block-averaging'; detail: string; bound: number; graphBound: number }[];
  certified: boolean;
  notes: string[];
  /** Product of the per-layer best bounds: valid only for a plain chain; shown for comparison. */
  naiveProduct: number | null;
  /** "Op (node)" for every graph node that prevented certification (unsupported layers, ops with no known constant). */
  uncertifiedOps: string[];
  layerCount: number;
  /** Bound per graph output. */
  perOutput: { name: string; bound: number | null }[];
  /** The local bound over the input box of --input-range (interval propagation); null without a range. */
  local: { range: string; bound: number | null; certified: boolean; method: 'local'; notes: string[]; uncertifiedOps: string[] } | null;
  /** Which bound the network budget gated: the global one when certified, else the local one; null without a budget. */
  gated: 'global' | 'local' | null;
}

/** The engine settings a report was made with (shared by the report and the diff report). */
export interface EngineSettings {
  methods: MethodName[];
  samples: number;
  iterations: number;
  tolerance: number;
  seed: number;
  inputShape: number[] | null;
}

export interface LipcheckReport {
  schemaVersion: typeof SCHEMA_VERSION;
  tool: { name: 'lipcheck'; version: string };
  model: { path: string; sha256: string; opset: number | null; producer: string; irVersion: number };
  settings: EngineSettings & {
    /**
     * Where inputShape came from: 'model' (declared), 'flag' (--input-shape), 'assumed' (symbolic dims
     * filled with a default: certified values then use only rules valid for every input size), 'unknown'.
     */
    inputShapeSource: InputShapeSource;
    /** The --layers filter, or null when every layer was bounded. */
    layers: string | null;
    /** The method whose value budgets gate; null = each layer's best certified bound. */
    budgetMethod: MethodName | null;
    /** The network rules (--network-method) and the work cap (--network-effort) behind network.bound. */
    networkMethod: 'graph' | 'merged' | 'averaging';
    networkEffort: number;
    /** The input box of the local bound (--input-range or config), as LO:HI[,...]; null without one. */
    inputRange: string | null;
  };
  layers: ReportLayer[];
  network: NetworkReport;
  budget: {
    /** The network budget (--budget or config `budget`); null when none. */
    limit: number | null;
    /** The overall verdict: network and every layer budget (exit code 0 vs 1). */
    passed: boolean;
    failures: BudgetFailure[];
  };
  /** The --baseline growth gate (same rules as `lipcheck diff`, side a = the baseline); null without --baseline. */
  baseline: BaselineComparison | null;
  /** processes: how many processes bounded the layers (--jobs; absent in reports written before it). */
  timing: { totalMs: number; loadMs: number; boundsMs: number; processes?: number };
  warnings: string[];
}

/** This run against a baseline file: ratios now / baseline, matched as `lipcheck diff` matches. */
export interface BaselineComparison {
  /** The baseline file as given on the command line. */
  file: string;
  /** What the baseline records: lipcheck version, model sha256 (and whether it is this model's). */
  toolVersion: string;
  sha256: string;
  sameModel: boolean;
  /** --max-growth, or null (ratios reported, nothing gated). */
  maxGrowth: number | null;
  /** Matched layers in baseline order; `a` is the baseline's record, `b` this run. */
  layers: DiffLayer[];
  grewMost: { name: string; ratio: number }[];
  unmatched: { baseline: UnmatchedLayer[]; current: UnmatchedLayer[] };
  network: DiffNetwork;
  gate: { maxGrowth: number | null; passed: boolean; failures: GrowthFailure[] };
}
