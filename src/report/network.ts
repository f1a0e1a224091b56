// Arranges the engine's whole-network bound for the report. Computes nothing: the graph walk
// (src/network/walk.ts) produced the numbers; this only states why a number is missing.
import type { NetworkBound } from '../network/walk.js';
import type { LocalBound } from '../network/local.js';
import type { NetworkReport } from './types.js';

export interface NetworkScope {
  /** Layers bounded after a --layers filter, and layers in the model: a subset has no network bound. */
  selected: number;
  total: number;
}

/**
 * `net` is the engine's graph-aware result (null when the walk was not run: a --layers subset,
 * or a model without a graph summary); `naive` is the engine's product of the selected layers' bounds.
 */
export function networkReport(net: NetworkBound | null, naive: number | null, scope: NetworkScope, local: LocalBound | null = null): NetworkReport {
  const localReport = local === null ? null : { ...local, notes: [...local.notes], uncertifiedOps: [...local.uncertifiedOps] };
  const notes: string[] = [];
  if (scope.total === 0) notes.push('no layers to bound');
  if (net === null) {
    notes.push(
      scope.selected < scope.total
        ? `no network bound: --layers selected ${scope.selected} of ${scope.total} layers`
        : 'no network bound: the graph could not be walked',
    );
    return { bound: null, method: 'graph', graphBound: null, blocks: [], certified: false, notes, naiveProduct: naive, uncertifiedOps: [], layerCount: scope.selected, perOutput: [], local: localReport, gated: null };
  }
  notes.push(...net.notes);
  if (net.naiveProduct !== null && net.bound !== null && net.naiveProduct < net.bound) {
    notes.push('the naive product of layer bounds is below the graph-aware bound: the graph is not a plain chain (residual or concatenated paths), so the product is not a valid bound here');
  }
  return {
    bound: net.bound,
    method: net.method,
    graphBound: net.graphBound,
    blocks: net.blocks.map((b) => ({ ...b })),
    certified: net.certified && net.bound !== null,
    notes,
    naiveProduct: net.naiveProduct,
    uncertifiedOps: [...net.uncertifiedOps],
    layerCount: scope.selected,
    perOutput: net.perOutput.map((o) => ({ name: o.name, bound: o.bound })),
    local: localReport,
    gated: null,
  };
}
