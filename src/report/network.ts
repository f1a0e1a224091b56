// The network bound for now: the product of the per-layer certified bounds, valid for a plain
// chain of these layers with 1-Lipschitz activations (ReLU, tanh, max-pool...) in between,
// because the Lipschitz constant of a composition is at most the product of the constants.
// A graph-aware bound (residual branches, concatenations) is a later issue and will replace
// `bound` while `naiveProduct` keeps this number.
import type { NetworkReport } from './types.js';

export interface ChainLayer {
  name: string;
  best: number | null;
  unsupportedReason: string | null;
}

export interface ChainScope {
  /** Layers bounded after a --layers filter, and layers in the model: a subset has no network bound. */
  selected: number;
  total: number;
}

export function chainProductBound(layers: readonly ChainLayer[], scope: ChainScope): NetworkReport {
  const notes: string[] = [
    'product of the per-layer best certified bounds: valid for a plain chain of these layers with 1-Lipschitz activations between them; residual or branching graphs are not accounted for yet',
  ];
  const uncertifiedOps = layers.filter((l) => l.best === null).map((l) => l.name);
  let product: number | null = null;
  if (uncertifiedOps.length === 0 && layers.length > 0) {
    product = layers.reduce((acc, l) => acc * (l.best as number), 1);
    if (!Number.isFinite(product)) {
      notes.push('the product overflows a double; reported as null');
      product = null;
    }
  }
  if (uncertifiedOps.length > 0) {
    const unsupported = layers.filter((l) => l.best === null && l.unsupportedReason !== null).map((l) => l.name);
    const failed = uncertifiedOps.filter((name) => !unsupported.includes(name));
    if (unsupported.length > 0) notes.push(`no network bound: unsupported layers ${unsupported.join(', ')}`);
    if (failed.length > 0) notes.push(`no network bound: no certified bound for ${failed.join(', ')}`);
  }
  let bound = product;
  if (scope.selected < scope.total) {
    notes.push(`no network bound: --layers selected ${scope.selected} of ${scope.total} layers`);
    bound = null;
  }
  if (layers.length === 0) notes.push('no layers to bound');
  return {
    bound,
    method: 'product',
    certified: bound !== null,
    notes,
    naiveProduct: product,
    uncertifiedOps,
    layerCount: layers.length,
  };
}
