// The diff report: the JSON contract of `lipcheck diff a.onnx b.onnx` ("kind": "diff", schemaVersion 1),
// also read by the diff's table and markdown renderers. Same conventions as the main report: keys
// are stable, numbers are finite or null (with a note), never strings or NaN.
import type { MethodName } from '../layer/types.js';
import type { MatchedBy } from './match.js';
import type { EngineSettings } from '../report/types.js';

export const DIFF_SCHEMA_VERSION = 1;

/** One checkpoint's numbers for one layer. */
export interface DiffSideLayer {
  name: string;
  best: number | null;
  bestMethod: MethodName | null;
  bounds: Record<MethodName, number | null>;
}

export interface DiffLayer {
  /** b's name (the newer checkpoint); `a.name` differs when matched by order and shape. */
  name: string;
  matchedBy: MatchedBy;
  op: string;
  weightShape: number[] | null;
  a: DiffSideLayer;
  b: DiffSideLayer;
  /** b.best / a.best; null when either is missing or a.best is 0 (see notes). */
  ratio: number | null;
  /** b / a for every method key (null when not run, missing, or a is 0). */
  ratios: Record<MethodName, number | null>;
  /** The --max-growth check on `ratio`; null without --max-growth. */
  gate: GrowthCheck | null;
  notes: string[];
}

export interface GrowthCheck {
  limit: number;
  passed: boolean;
  /** Why it failed; null when it passed. */
  reason: string | null;
}

export interface UnmatchedLayer {
  /** Position among the model's layers (0-based, graph order). */
  index: number;
  name: string;
  op: string;
  weightShape: number[] | null;
  best: number | null;
}

export interface DiffSide {
  path: string;
  sha256: string;
  layerCount: number;
}

export interface DiffNetwork {
  /** Graph-aware network bounds of a and b (null when not certified), and b / a. */
  a: number | null;
  b: number | null;
  ratio: number | null;
  /** Naive products of the layer bounds, and b / a (shown for comparison; gated only when no graph-aware ratio exists). */
  naiveA: number | null;
  naiveB: number | null;
  naiveRatio: number | null;
  /** The ratio --max-growth gates: 'graph' (graph-aware), 'naive' (fallback), or null (none). */
  gated: 'graph' | 'naive' | null;
  notes: string[];
}

export interface GrowthFailure {
  scope: 'network' | 'layer';
  /** Layer name (b's); null for the network. */
  name: string | null;
  ratio: number | null;
  limit: number;
  reason: string;
}

export interface DiffReport {
  schemaVersion: typeof DIFF_SCHEMA_VERSION;
  kind: 'diff';
  tool: { name: 'lipcheck'; version: string };
  a: DiffSide;
  b: DiffSide;
  settings: EngineSettings & { maxGrowth: number | null };
  /** Matched layers, in a's graph order. */
  layers: DiffLayer[];
  /** Up to 5 matched layers whose best bound grew (ratio > 1), largest ratio first. */
  grewMost: { name: string; ratio: number }[];
  unmatched: { a: UnmatchedLayer[]; b: UnmatchedLayer[] };
  network: DiffNetwork;
  gate: { maxGrowth: number | null; passed: boolean; failures: GrowthFailure[] };
  timing: { totalMs: number };
  warnings: string[];
}
